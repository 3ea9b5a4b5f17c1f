"""benchmarks/bench_separate.py end to end on a few synthetic clips: every variant is trained and scored
by SI-SDR, the mixtures hold their sources, and bad input ends in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import ROOT, benchmark

SCRIPT = ROOT / "benchmarks" / "bench_separate.py"


def _clips(folder, n, rate, channels, seed, seconds=1.2):
    """Tones that change pitch ("speech") or chords ("music"), as FLAC."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    for i in range(n):
        f = rng.uniform(100, 2000, 3)
        x = sum(np.sin(2 * np.pi * fk * t * (1 + 0.2 * np.sin(2 * np.pi * t))) for fk in f) / 4
        sf.write(folder / f"{i}.flac", np.repeat(x[:, None], channels, 1).astype(np.float32), rate)
    return folder


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_every_variant_is_trained_and_scored(tmp_path):
    speech, test_speech = _clips(tmp_path / "s" / "a", 3, 16000, 1, 0), _clips(tmp_path / "ts", 2, 16000, 1, 1)
    music, test_music = _clips(tmp_path / "m", 2, 44100, 2, 2), _clips(tmp_path / "tm", 1, 44100, 2, 3)
    out = tmp_path / "r.json"
    r = _run("--speech", speech.parent, "--music", music, "--test-speech", test_speech, "--test-music", test_music,
             "--out", out, "--items", 8, "--batch", 4, "--epochs", 2, "--model", "stereo-5x")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["train_utterances"] == 3 and doc["test_mixtures"] == 2 and doc["model"] == "stereo-5x"
    assert list(doc["variants"]) == ["mixture", "latents", "samples_down", "samples_full", "codec_ceiling"]
    assert doc["variants"]["mixture"]["si_sdri"] == 0
    for name in ("latents", "samples_down", "samples_full"):
        v = doc["variants"][name]
        assert v["train_s"] > 0 and v["params"] > 0 and v["infer_ms_per_item"] > 0 and len(v["loss_history"]) == 2
    assert doc["variants"]["samples_down"]["input"] == "1x3456" and doc["variants"]["latents"]["input"] == "108x32 stereo-5x"
    assert doc["variants"]["codec_ceiling"]["si_sdr"] > doc["variants"]["mixture"]["si_sdr"]
    table = benchmark("bench_separate").table(doc)
    assert table.count("\n") == 1 + len(doc["variants"]) and "`samples_full`" in table


def test_si_sdr_and_resampling():
    bench = benchmark("bench_separate")
    g = torch.Generator().manual_seed(0)
    s, n = torch.randn(2, 1, 4000, generator=g), torch.randn(2, 1, 4000, generator=g)
    assert (bench.si_sdr(3 * s, s) > 100).all()  # scale does not count: only float rounding is left
    assert torch.allclose(bench.si_sdr(s + n, s), torch.zeros(2), atol=0.5)  # equal powers: about 0 dB
    low = torch.sin(torch.arange(4096) * 2 * torch.pi * 10 / 4096)[None, None]
    assert torch.allclose(bench.resample(bench.resample(low, 1728), 4096), low, atol=1e-4)  # a tone below both Nyquists


@pytest.mark.parametrize("extra, message", [(["--size", "1000"], "multiple of"), (["--model", "rgb-16x"], "not an audio model")])
def test_bad_input_is_one_line(tmp_path, extra, message):
    speech, music = _clips(tmp_path / "s", 1, 16000, 1, 0), _clips(tmp_path / "m", 1, 16000, 1, 1)
    r = _run("--speech", speech, "--music", music, "--test-speech", speech, "--test-music", music, "--out", tmp_path / "x.json", *extra)
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.json").exists()
    r = _run("--speech", tmp_path / "none", "--music", music, "--test-speech", speech, "--test-music", music, "--out", tmp_path / "x.json")
    assert r.returncode != 0 and "does not exist" in r.stderr and "Traceback" not in r.stderr
