"""Training pipeline: data, the loop, and export into the model zoo."""

from .loop import TrainConfig, train

__all__ = ["TrainConfig", "train"]
