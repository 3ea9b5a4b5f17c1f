"""The level must not decide the quality: a model with a target level codes a quiet take as well as a
loud one (stream format 3 for the amplified ones), while every other model writes the bytes it wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import walloc
from walloc import bitstream, encoder, io, metrics

from conftest import DATA

FIXTURES = Path(__file__).parent / "fixtures"
SPEECH = DATA / "speech"
HELD_OUT = SPEECH / "7312"  # one of mono-speech-4x's evaluation speakers (configs/mono-speech-4x.toml): never trained on
needs_speech = pytest.mark.skipif(not HELD_OUT.is_dir(), reason=f"held-out speech not found at {HELD_OUT}")


def test_rms_and_level_codes():
    t = np.arange(16000) / 16000
    sine = (0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)[None]          # RMS 0.5 / sqrt 2: -9.03 dBFS
    assert encoder.rms_db(sine) == pytest.approx(-9.031, abs=1e-3)
    assert encoder.rms_db(np.round(sine * 32768).astype(np.int16)) == pytest.approx(-9.031, abs=1e-3)
    assert encoder.level_code(sine, -23.0) == 5                                   # 13.97 dB down: 4.64 codes
    assert encoder.level_code(sine * 0.01, -23.0) == -9                           # -49.03 dBFS: 26 dB up, 8.65 codes
    assert encoder.level_code(np.zeros((1, 100), np.float32), -23.0) == 0         # silence: nothing to bring up
    assert encoder.level_code(sine * 1e-5, -23.0) == -bitstream.MAX_GAIN          # at most 48 dB up


@needs_speech
def test_a_quiet_take_decodes_at_the_snr_of_the_loud_one():
    """The same utterance 20 dB quieter decodes within 2 dB of the same SNR (before the encoder brought
    quiet streams up, it lost 6 to 14 dB of SNR at -20 dB)."""
    codec = walloc.load("mono-speech-4x")
    for path in sorted(HELD_OUT.glob("*.flac"))[:2]:
        x, meta = io.read_audio(path)
        snrs = {}
        for db in (0, -20):
            quiet = x * 10 ** (db / 20)
            data = codec.compress(quiet, meta=meta)
            snrs[db] = metrics.snr(codec.decompress(data), quiet)
            if db:
                header = bitstream.peek_header(data)
                assert header.gain < 0 and header.format_version == bitstream.LEVEL_VERSION
        assert abs(snrs[0] - snrs[-20]) <= 2.0, (path.name, snrs)


def test_amplification_stops_at_the_saturation_limit():
    """A model with a target level still never codes a loud steady tone past its bound."""
    enc = encoder.Encoder.load("mono-speech-4x")
    t = np.arange(32000) / 16000
    loud = (0.9 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]
    gain = enc.choose_gain(loud)
    assert gain == enc.saturation_code(loud, encoder.level_code(loud, enc.target_rms_db)) and gain >= 0


def test_models_without_a_target_level_write_the_bytes_they_always_wrote():
    """stereo-5x attenuates only: the released fixture stream is written again byte for byte, and a
    quiet clip stays a version 2 stream at gain 0."""
    sys.path.insert(0, str(FIXTURES))
    from make_streams import source_audio

    codec = walloc.load("stereo-5x")
    assert codec.stream.config.get("target_rms_db") is None
    version = codec.config["version"]
    fixture = FIXTURES / f"stereo-5x@{version}-format2.wlc"
    meta = io.AudioMeta(sample_rate=44100)
    assert codec.compress(source_audio(), meta=meta) == fixture.read_bytes()
    header = bitstream.peek_header(codec.compress(torch.from_numpy(source_audio() // 100), meta=meta))
    assert (header.format_version, header.gain) == (2, 0)
