"""benchmarks/bench_colorize.py end to end on a few tiny images: every variant is trained and scored,
the JSON and figure are written, and bad input ends in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, benchmark

SCRIPT = ROOT / "benchmarks" / "bench_colorize.py"


def _images(folder, n, seed):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((80, 64), Image.BILINEAR).save(folder / f"{i}.png")
    (folder / "README.md").write_text("not an image")  # other files are passed over
    return folder


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_every_variant_is_trained_scored_and_drawn(tmp_path):
    train, test = _images(tmp_path / "a" / "b", 5, 0), _images(tmp_path / "test", 2, 1)
    out = tmp_path / "r.json"
    r = _run("--train", train.parent, "--test", test, "--out", out, "--size", 64, "--epochs", 2, "--batch", 4)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["train_images"] == 5 and doc["test_images"] == 2 and doc["epochs"] == 2
    assert list(doc["variants"]) == ["gray", "latents", "pixels_down", "pixels_full", "luma_kept", "latents_luma_kept", "codec_ceiling"]
    for name in ("latents", "pixels_down", "pixels_full"):
        v = doc["variants"][name]
        assert v["train_s"] > 0 and v["params"] > 0 and v["infer_ms_per_item"] > 0 and len(v["loss_history"]) == 2
        assert 0 < v["ms_ssim"] <= 1 and 0 < v["psnr"] < 60
    assert doc["variants"]["pixels_down"]["input"] == "1x16x16 gray" and doc["variants"]["latents"]["input"] == "12x8x8 rgb-16x"
    # the colour image through the codec beats its gray version
    assert doc["variants"]["codec_ceiling"]["psnr"] > doc["variants"]["gray"]["psnr"]
    assert (tmp_path / "r.png").stat().st_size > 1000
    table = benchmark("bench_colorize").table(doc)
    assert table.count("\n") == 1 + len(doc["variants"]) and "`latents`" in table


def test_the_widths_share_the_latents_tail():
    bench = benchmark("bench_colorize")
    assert bench.widths(1) == (64, 128, 128)
    assert bench.widths(2) == (32, 64, 128, 128)
    assert bench.widths(8) == (16, 16, 32, 64, 128, 128)


@pytest.mark.parametrize("args, message", [(["--train", "/nonexistent", "--test", "."], "is not a folder"),
                                           (["--train", ".", "--test", ".", "--size", "100"], "multiple of 32")])
def test_bad_input_is_one_line(tmp_path, args, message):
    r = _run(*args, "--out", tmp_path / "x.json")
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_folder_without_images_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    r = _run("--train", tmp_path / "empty", "--test", tmp_path / "empty", "--out", tmp_path / "x.json")
    assert r.returncode != 0 and "no images under" in r.stderr and "Traceback" not in r.stderr
