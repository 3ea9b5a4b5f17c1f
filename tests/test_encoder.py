"""The torch-free encoder: the same bytes as Codec.compress, without importing torch."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import walloc
from walloc import bands, bound, io, tiling, zoo
from walloc.encoder import Encoder

from conftest import AUDIO, KODAK, ROOT, needs_audio, needs_kodak


@pytest.mark.parametrize("shape, dtype", [((3, 64, 48), np.float32), ((3, 37, 53), np.uint8), ((1, 20, 30), np.float64),
                                          ((4, 17, 9), np.uint16), ((3, 300, 20), np.uint8)])
def test_same_bytes_as_the_codec_tiny_image(tiny_models, tiny_rgb, shape, dtype, monkeypatch):
    monkeypatch.setattr(bands, "BAND_LATENTS", 64)  # several bands with margins for the tall one
    rng = np.random.default_rng(0)
    x = rng.random(shape) if dtype in (np.float32, np.float64) else rng.integers(0, np.iinfo(dtype).max, shape)
    x = x.astype(dtype)
    enc = Encoder.load("tiny-rgb", model_dir=tiny_models)
    for q in tiny_rgb.stream.qualities:
        assert enc.compress(x, q) == tiny_rgb.compress(torch.from_numpy(x), q)


@pytest.mark.parametrize("shape, dtype", [((2, 4096), np.float32), ((1, 1000), np.int16), ((6, 333), np.int32)])
def test_same_bytes_as_the_codec_tiny_audio(tiny_models, tiny_stereo, shape, dtype):
    rng = np.random.default_rng(1)
    x = (rng.random(shape) * 2 - 1).astype(dtype) if dtype == np.float32 else rng.integers(-(2 ** 15), 2 ** 15, shape).astype(dtype)
    meta = io.AudioMeta(sample_rate=16000)
    assert Encoder.load(modality="audio", model_dir=tiny_models).compress(x, 1, meta) == tiny_stereo.compress(torch.from_numpy(x), 1, meta)


@needs_kodak
@pytest.mark.parametrize("name", ["rgb-16x", "rgb-4x"])
def test_same_bytes_as_the_codec_on_kodak(name):
    from PIL import Image

    pixels = np.asarray(Image.open(KODAK / "kodim05.png").convert("RGB")).transpose(2, 0, 1)
    codec = walloc.load(name)
    assert Encoder.load(name).compress(pixels) == codec.compress(pixels) == codec.compress(torch.from_numpy(pixels.copy()))


@needs_audio
def test_same_bytes_as_the_codec_on_music():
    x, meta = io.read_audio(AUDIO / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg")
    x = x[:, 44100 * 10: 44100 * 13].contiguous()
    assert Encoder.load(modality="audio").compress(x.numpy(), meta=meta) == walloc.load(modality="audio").compress(x, meta=meta)


@needs_kodak
def test_numpy_bound_gives_the_symbols_of_the_torch_network():
    """The numpy Gaussian-CDF bound (erf in float64, rounded to float32) gives the symbols torch's erf
    gave before it replaced it (the torch path is still what a GPU runs)."""
    from PIL import Image

    codec = walloc.load("rgb-16x")
    pixels = np.asarray(Image.open(KODAK / "kodim23.png").convert("RGB")).transpose(2, 0, 1)
    q = codec.quality()
    old = np.empty_like(codec.encoder().symbols(pixels))

    def keep(g, r0, r1, y):
        old[g, :, r0:r1] = (codec.quantize(y, q.quality) + q.tables.offset).numpy()

    tiling.encode(codec.net, torch.from_numpy(pixels.copy()), torch.device("cpu"), keep)
    assert (old != codec.encoder().symbols(pixels)).mean() < 1e-5


def test_erf_is_erf_to_float32():
    x = np.concatenate([np.linspace(-6, 6, 100_001), np.geomspace(1e-30, 1.0, 2000), [0.0, -0.0]])
    exact = np.array([math.erf(v) for v in x])
    assert np.array_equal(bound.erf(x).astype(np.float32), exact.astype(np.float32))
    inside = np.abs(x) < 4  # beyond, 1 (erfc(4) < 2e-8: 1.0 in float32 too)
    assert np.all(np.abs(bound.erf(x) - exact)[inside] <= 4e-15 * np.abs(exact)[inside])
    assert bound.erf(np.zeros((2, 3))).shape == (2, 3)


def test_encoding_and_reading_latents_import_no_torch(tiny_models, tmp_path):
    """A fresh process encodes an image and reads its latents back without importing torch."""
    script = f"""
import sys
import numpy as np
import walloc
from walloc import stream
from walloc.encoder import Encoder
x = np.random.default_rng(0).integers(0, 256, (3, 40, 24)).astype(np.uint8)
data = Encoder.load("tiny-rgb", model_dir={str(tiny_models)!r}).compress(x)
k = stream.read_latents(data, model_dir={str(tiny_models)!r})
assert k.shape == (1, 6, 10, 6) and k.dtype == np.int32
sys.stdout.buffer.write(data)
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    x = np.random.default_rng(0).integers(0, 256, (3, 40, 24)).astype(np.uint8)
    assert out.stdout == walloc.codec.Codec.load("tiny-rgb", tiny_models).compress(x)


def test_models_json_names_the_hash_streams_record(tiny_models, tiny_rgb):
    info = {m.name: m for m in zoo.list_models(tiny_models)}["tiny-rgb"]
    header = walloc.peek_header(tiny_rgb.compress(torch.rand(3, 16, 16)))
    assert info.to_json()["stream_hash"] == header.model_hash.hex()
    assert json.loads(json.dumps(info.to_json()))["sha256"] == tiny_rgb.sha256


def test_shipped_models_list_without_torch():
    script = "import sys, walloc; assert walloc.list_models(); assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=120).returncode == 0


@pytest.mark.parametrize("signal, meta, message", [
    (np.zeros((1025, 8, 8), np.float32), None, "channel count 1025 is out of range"),
    (np.zeros((2, 64), np.float32), io.AudioMeta(sample_rate=0), "sample rate 0 is out of range"),
    (np.zeros((2, 64), np.float32), io.AudioMeta(sample_rate=2_000_000), "sample rate 2000000 is out of range"),
])
def test_what_no_stream_could_hold_is_refused_before_encoding(tiny_rgb, tiny_stereo, signal, meta, message, monkeypatch):
    """Once, 1,025 channels were encoded into a stream that its decoder refused."""
    codec = tiny_rgb if signal.ndim == 3 else tiny_stereo
    monkeypatch.setattr(Encoder, "symbols", lambda *a, **k: pytest.fail("encoded before refusing"))
    with pytest.raises(walloc.MediaError, match=f"^cannot code this signal: {message}"):
        codec.compress(signal, meta=meta)
