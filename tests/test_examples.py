"""examples/colorize.py and examples/separate.py run end to end on tiny inputs and write their files."""

import subprocess
import sys

import numpy as np
import soundfile as sf
from PIL import Image

from conftest import ROOT


def _run(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "examples" / name), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_colorize_trains_and_writes_a_colour_image_per_test_image(tmp_path):
    rng = np.random.default_rng(0)
    for part, n in (("train", 3), ("test", 2)):
        (tmp_path / part).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)).resize((48, 32)).save(tmp_path / part / f"{i}.png")
    r = _run("colorize.py", tmp_path / "train", tmp_path / "test", tmp_path / "out", "--epochs", 2, "--size", 32)
    assert r.returncode == 0, r.stderr
    assert "epoch 2: loss" in r.stdout
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written] == ["0.png", "1.png"]
    assert all(Image.open(p).size == (32, 32) and Image.open(p).mode == "RGB" for p in written)
    r = _run("colorize.py", tmp_path / "none", tmp_path / "test", tmp_path / "out2")
    assert r.returncode != 0 and "no images in" in r.stderr and "Traceback" not in r.stderr


def test_separate_trains_and_writes_a_speech_estimate_per_mixture(tmp_path):
    rng = np.random.default_rng(0)
    for part, rate in (("speech", 16000), ("music", 44100)):
        (tmp_path / part).mkdir()
        for i in range(2):
            sf.write(tmp_path / part / f"{i}.flac", (0.3 * rng.standard_normal(rate)).astype(np.float32), rate)
    mixture = tmp_path / "mix.wav"
    sf.write(mixture, (0.2 * rng.standard_normal((10000, 2))).astype(np.float32), 16000)
    r = _run("separate.py", tmp_path / "speech", tmp_path / "music", mixture, "--out", tmp_path / "out", "--epochs", 1, "--steps", 2)
    assert r.returncode == 0, r.stderr
    assert "epoch 1: SI-SDR" in r.stdout
    estimate, rate = sf.read(tmp_path / "out" / "mix.wav")
    assert rate == 16000 and estimate.shape == (10000,) and np.isfinite(estimate).all() and np.abs(estimate).max() > 0
    r = _run("separate.py", tmp_path / "none", tmp_path / "music", mixture, "--out", tmp_path / "out2")
    assert r.returncode != 0 and "no audio files in" in r.stderr and "Traceback" not in r.stderr
