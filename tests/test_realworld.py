"""Files from public test corpora that broke walloc, rebuilt by tests/fixtures/realworld/make_fixtures.py,
run through `walloc encode` and `walloc decode` as a user runs them: each is coded correctly or refused
in one line with a non-zero exit and no output; never a traceback, never a silently wrong output."""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli
from walloc import io

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "realworld"))
import make_fixtures  # noqa: E402


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Path]:
    return make_fixtures.write_all(tmp_path_factory.mktemp("realworld"))


def _encode(path: Path, tmp_path: Path):
    out = tmp_path / "x.wlc"
    return run_cli("encode", str(path), "-o", str(out)), out


def _round_trip(path: Path, tmp_path: Path, suffix: str) -> Path:
    r, stream = _encode(path, tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    out = tmp_path / f"x.decoded{suffix}"
    r = run_cli("decode", str(stream), "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    return out


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    peak = float(np.iinfo(x.dtype).max)
    return 10 * math.log10(peak ** 2 / np.mean((x.astype(np.float64) - y) ** 2))


@pytest.mark.parametrize("name, fragment", [
    ("unimplemented.dds", "Unknown pixel format flags"),    # NotImplementedError from Pillow
    ("damaged-strip.tif", "TIFFFillStrip"),                 # libtiff's own line, quoted in walloc's
    ("truncated.mp3", "not audio"),                         # mpg123's own line, quoted in walloc's
    ("not-audio.wav", "not audio"),                         # no Python object in the message
    ("animated.gif", "10 frames"),
    ("animated.png", "3 frames"),
    ("two-pages.tif", "2 frames"),
    ("saturated-gradient.png", "graphics"),                 # PngSuite basn2c08.png: 14.8 dB before
    ("palette-2bit.png", "graphics"),                       # basn3p02.png: 7.2 dB before
    ("bilevel.png", "graphics"),                            # hopper_g4.tif: 11.0 dB before
])
def test_refused_in_one_line(cases, tmp_path, name, fragment):
    r, out = _encode(cases[name], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.count("\n") == 1 and err.startswith("walloc: error: "), err
    assert str(cases[name]) in err and fragment in err and "<_io" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("name", ["unknown-length.flac", "gsm610.wav"])
def test_audio_read_to_its_end(cases, tmp_path, name):
    """A FLAC that gives no length ('array is too big' before) and a GSM 6.10 WAV, which cannot seek
    ('frames must be specified' before), are read whole and coded."""
    out = _round_trip(cases[name], tmp_path, ".wav")
    x, _ = io.read_audio_array(cases[name], native=False)
    y, _ = io.read_audio_array(out, native=False)
    assert x.shape == y.shape and x.shape[1] >= 4000
    assert 10 * math.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((x - y).astype(np.float64) ** 2)) > 10


@pytest.mark.parametrize("name, channels", [("rgb-trns.png", 4), ("gray-trns.png", 2), ("rgb16-trns.png", 4)])
def test_trns_key_colour_becomes_alpha(cases, tmp_path, name, channels):
    """PNG transparency given as a key colour (tRNS) is read as an alpha channel, and the decoded image
    keeps it (it was dropped without a word before)."""
    x, _ = io.read_image_array(cases[name])
    assert x.shape[0] == channels
    alpha = x[-1].astype(np.float64) / np.iinfo(x.dtype).max
    assert (alpha[:, : make_fixtures.KEYED] == 0).all() and (alpha[:, make_fixtures.KEYED:] == 1).all()
    y, _ = io.read_image_array(_round_trip(cases[name], tmp_path, ".png"))
    assert y.shape == x.shape and _psnr(x, y) >= 25
    assert np.abs(y[-1] / np.iinfo(y.dtype).max - alpha).mean() < 0.05


def test_photographs_are_still_coded(tmp_path):
    """The graphics check leaves photographs alone: the shipped sample codes at its usual quality."""
    sample = ROOT / "samples" / "sample.png"
    x, _ = io.read_image_array(sample)
    y, _ = io.read_image_array(_round_trip(sample, tmp_path, ".png"))
    assert _psnr(x, y) >= 25


def test_graphics_are_refused_in_a_batch_too(cases, tmp_path):
    """Many files: the graphic gets its line and no output, the photograph is coded, the exit is 1."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(cases["saturated-gradient.png"], folder / "gradient.png")
    shutil.copy(ROOT / "samples" / "sample.png", folder / "photo.png")
    r = run_cli("encode", str(folder), "-o", str(tmp_path / "out"))
    err = r.stderr.decode()
    assert r.returncode == 1 and "gradient.png: graphics" in err, err
    assert (tmp_path / "out" / "photo.wlc").exists() and not (tmp_path / "out" / "gradient.wlc").exists()
