"""The codec end to end: shapes, channel counts, determinism, latents, model identity."""

import dataclasses

import pytest
import torch

import walloc
from walloc import bitstream, coder, io, metrics
from walloc.codec import Codec
from walloc.errors import BitstreamError, MediaError, ModelError

from conftest import AUDIO, KODAK, needs_audio, needs_kodak


@pytest.mark.parametrize("shape", [(3, 64, 64), (3, 37, 53), (1, 20, 30), (4, 17, 9), (2, 1, 1), (3, 1, 100), (7, 8, 8)])
def test_image_round_trip_any_shape_and_channels(tiny_rgb, shape):
    x = torch.rand(shape)
    data = tiny_rgb.compress(x)
    y = tiny_rgb.decompress(data)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert 0 <= y.min() and y.max() <= 1
    header = walloc.peek_header(data)
    assert header.channels == shape[0] and header.extent == shape[1:]
    assert header.groups == -(-shape[0] // 3)


@pytest.mark.parametrize("shape", [(2, 4096), (1, 1000), (6, 333), (2, 1), (1, 2)])
def test_audio_round_trip_any_shape_and_channels(tiny_stereo, shape):
    x = torch.rand(shape) * 2 - 1
    data = tiny_stereo.compress(x, meta=io.AudioMeta(sample_rate=16000, bit_depth=24))
    decoded = tiny_stereo.decompress_full(data)
    assert decoded.signal.shape == x.shape
    assert decoded.meta == io.AudioMeta(sample_rate=16000, bit_depth=24)


def test_compression_is_deterministic_and_latents_match(tiny_rgb):
    x = torch.rand(3, 48, 40)
    a, b = tiny_rgb.compress(x, 1), tiny_rgb.compress(x, 1)
    assert a == b
    header, symbols = tiny_rgb.read_latents(a)
    expected = tiny_rgb.quantize(tiny_rgb.encode(x[None]), 1)
    assert torch.equal(symbols, expected)
    assert torch.equal(tiny_rgb.decompress(a), tiny_rgb.decompress(a))


def test_quality_changes_rate(tiny_rgb):
    x = torch.rand(3, 64, 64)
    assert len(tiny_rgb.compress(x, 1)) < len(tiny_rgb.compress(x, 2))
    with pytest.raises(ModelError, match=r"quality must be an integer, one of \[1, 2\]"):
        tiny_rgb.compress(x, 9)


def test_encode_latent_shapes_and_dim_reduction(tiny_rgb):
    y = tiny_rgb.encode(torch.rand(5, 3, 32, 36))
    assert y.shape == (5, 6, 8, 9) and y.is_floating_point()
    assert tiny_rgb.dim_reduction == 48 / 6
    with pytest.raises(MediaError):
        tiny_rgb.encode(torch.rand(5, 1, 32, 32))


def test_bad_signals_are_refused(tiny_rgb):
    with pytest.raises(MediaError, match="NaN"):
        tiny_rgb.compress(torch.full((3, 8, 8), float("nan")))
    with pytest.raises(MediaError, match="empty"):
        tiny_rgb.compress(torch.zeros(3, 0, 8))
    with pytest.raises(MediaError):
        tiny_rgb.compress(torch.zeros(8, 8))


def test_stream_names_its_model(tiny_rgb, tiny_models):
    data = tiny_rgb.compress(torch.rand(3, 16, 16))
    stereo = Codec.load("tiny-stereo", tiny_models)
    with pytest.raises(ModelError, match="tiny-rgb"):
        stereo.read_latents(data)
    # same name, different weights: refused by hash
    other = Codec(tiny_rgb.name, {**tiny_rgb.config, "sha256": "ab" * 32}, tiny_rgb.net, tiny_rgb.density,
                  [tiny_rgb.quality(q) for q in tiny_rgb.qualities])
    with pytest.raises(ModelError, match="different version"):
        other.decompress(data)


def test_forged_shape_with_valid_crc_is_refused(tiny_rgb):
    header, payloads = bitstream.parse(tiny_rgb.compress(torch.rand(3, 16, 16)))
    forged = bitstream.pack(dataclasses.replace(header, extent=(160, 16)), [bytes(p) for p in payloads])
    with pytest.raises(BitstreamError, match="latent shape"):
        tiny_rgb.decompress(forged)


def test_every_available_coder_decodes_the_same(tiny_rgb, monkeypatch):
    x = torch.rand(3, 64, 64)
    streams = {}
    for cid, c in coder.coders().items():
        monkeypatch.setattr(coder, "for_quality", lambda q, _c=c: _c)
        streams[cid] = tiny_rgb.compress(x)
    monkeypatch.undo()
    assert {walloc.peek_header(s).coder for s in streams.values()} == set(coder.coders()) == {1, 2, 3}
    latents = [tiny_rgb.read_latents(s)[1] for s in streams.values()]
    assert all(torch.equal(latents[0], k) for k in latents[1:])


# -- shipped models on real data --------------------------------------------------------------------------

@needs_kodak
def test_shipped_image_model_on_kodak():
    codec = walloc.load("rgb-16x")
    x, meta = io.read_image(KODAK / "kodim23.png")
    data = codec.compress(x)
    y = codec.decompress(data)
    bpp = 8 * len(data) / (x.shape[1] * x.shape[2])
    assert codec.dim_reduction == 16
    assert bpp < 1.0
    assert metrics.psnr_8bit(y, x) > 25.0
    assert torch.equal(walloc.read_latents(data), codec.quantize(codec.encode(x[None])))


def _uint8_matches_floats(codec: Codec, pixels: torch.Tensor) -> None:
    """compress of uint8 pixels (H, W, C), as rd and the CLI hand them over (a channels-first view),
    is byte for byte compress of the same pixels as floats in [0, 1]."""
    x = pixels.permute(2, 0, 1)
    assert codec.compress(x) == codec.compress(x.float() / 255)


@pytest.mark.parametrize("shape", [(48, 40, 3), (37, 53, 3), (9, 7, 4)])
def test_uint8_compresses_like_its_floats(tiny_rgb, shape):
    _uint8_matches_floats(tiny_rgb, torch.randint(0, 256, shape, dtype=torch.uint8))


@needs_kodak
def test_uint8_kodak_compresses_like_its_floats():
    x, _ = io.read_image(KODAK / "kodim01.png", native=True)
    assert x.dtype == torch.uint8
    _uint8_matches_floats(walloc.load("rgb-16x"), x.permute(1, 2, 0).contiguous())


@needs_audio
def test_shipped_audio_model_on_music():
    codec = walloc.load(modality="audio")
    x, meta = io.read_audio(AUDIO / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg")
    x = x[:, 44100 * 10: 44100 * 15]
    data = codec.compress(x, meta=meta)
    y = codec.decompress(data)
    ratio = x.numel() * 16 / (8 * len(data))
    assert ratio > 4
    assert metrics.psnr(y, x) > 25.0


def test_progress_reaches_the_whole_signal_band_by_band(tiny_rgb, monkeypatch):
    for module in ("walloc.tiling", "walloc.encoder"):  # decoding, encoding
        monkeypatch.setattr(f"{module}.BAND_LATENTS", 64)  # bands of the minimum height: 5 of them here
    x = torch.rand(3, 800, 16)
    seen = []
    data = tiny_rgb.compress(x, progress=seen.append)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0
    seen.clear()
    assert tiny_rgb.decompress_full(data, progress=seen.append).signal.shape == x.shape
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_one_non_finite_sample_anywhere_is_refused(tiny_rgb, tiny_stereo, monkeypatch, bad):
    monkeypatch.setattr("walloc.encoder.BAND_LATENTS", 64)  # several bands: the sample may lie in any
    gen = torch.Generator().manual_seed(0)
    for codec, shape in ((tiny_rgb, (3, 300, 20)), (tiny_stereo, (2, 5000))):
        for dtype in (torch.float32, torch.float64):  # read directly by the C++ encoder, or converted first
            x = torch.rand(shape, generator=gen, dtype=dtype)
            x.view(-1)[int(torch.randint(x.numel(), (1,), generator=gen))] = bad
            with pytest.raises(MediaError, match="NaN or infinite"):
                codec.compress(x)
