"""Training pipeline: data, the loop, and export into the model zoo."""

from .loop import ConfigError, TrainConfig, train

__all__ = ["ConfigError", "TrainConfig", "train"]
