"""Shared fixtures: real data when present, tiny random models for format and CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def benchmark(name: str):
    """benchmarks/NAME.py imported as a module (the folder is scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = Path(os.environ.get("WALLOC_DATA", ROOT.parent / "shared" / "data"))
KODAK = DATA / "images" / "kodak"
AUDIO = DATA / "audio"

needs_kodak = pytest.mark.skipif(not KODAK.is_dir(), reason=f"Kodak images not found at {KODAK}")
needs_audio = pytest.mark.skipif(not AUDIO.is_dir(), reason=f"audio clips not found at {AUDIO}")


def _tiny(folder: Path, extension: str) -> Path:
    """Small random-weight image and audio models in folder, with the packet's ``extension`` border rule."""
    from walloc.codec import Codec
    from walloc.entropy import FactorizedDensity
    from walloc.model import NetConfig, WallocNet
    from walloc.train.export import fit_context, save_context, save_model

    torch.manual_seed(0)
    for name, cfg, shape in [("tiny-rgb", NetConfig("image", 3, 2, 6, width=8, blocks=1, extension=extension), (3, 64, 48)),
                             ("tiny-stereo", NetConfig("audio", 2, 4, 8, width=8, blocks=1, extension=extension), (2, 4096))]:
        save_model(name, WallocNet(cfg), FactorizedDensity(cfg.latent_dim), [4.0, 1.0], {}, folder, default=True)
        signals = [torch.rand(shape) * (2 if cfg.modality == "audio" else 1) - (1 if cfg.modality == "audio" else 0) for _ in range(3)]
        save_context(name, fit_context(Codec.load(name, folder), signals), {"fitted_on": ["random noise"]}, folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A folder with small random-weight image and audio models (fast; format tests only)."""
    return _tiny(tmp_path_factory.mktemp("models"), "periodic")


@pytest.fixture(scope="session")
def tiny_symmetric(tmp_path_factory) -> Path:
    """The same tiny models (the same weights) with the symmetric packet instead of the periodic one."""
    return _tiny(tmp_path_factory.mktemp("symmetric"), "symmetric")


@pytest.fixture
def tiny_copy(tiny_models, tmp_path) -> Path:
    """A private copy of the tiny models' folder, for tests that damage or edit model files."""
    import shutil

    return Path(shutil.copytree(tiny_models, tmp_path / "models"))


def flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))


@pytest.fixture(scope="session")
def tiny_rgb(tiny_models):
    from walloc.codec import Codec

    return Codec.load("tiny-rgb", tiny_models)


@pytest.fixture(scope="session")
def tiny_stereo(tiny_models):
    from walloc.codec import Codec

    return Codec.load("tiny-stereo", tiny_models)


def run_cli(*args: str, models: Path | None = None, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `walloc` entry point in a fresh interpreter."""
    env = dict(os.environ)
    if models is not None:
        env["WALLOC_MODEL_DIR"] = str(models)
    return subprocess.run([sys.executable, "-m", "walloc", *args], input=stdin, capture_output=True,
                          env=env, cwd=cwd or ROOT, timeout=300)
