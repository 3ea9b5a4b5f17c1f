"""The codec end to end: shapes, channel counts, determinism, latents, model identity."""

import dataclasses

import numpy as np

import pytest
import torch

import walloc
from walloc import bitstream, coder, io, metrics
from walloc.codec import Codec
from walloc.errors import BitstreamError, MediaError, ModelError

from conftest import AUDIO, KODAK, benchmark, needs_audio, needs_kodak


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
                  [tiny_rgb.quality(q) for q in tiny_rgb.stream.qualities])
    with pytest.raises(ModelError, match="another version"):
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
    monkeypatch.setattr("walloc.bands.BAND_LATENTS", 64)  # bands of the minimum height for encoding and decoding: 5 here
    x = torch.rand(3, 800, 16)
    seen = []
    data = tiny_rgb.compress(x, progress=seen.append)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0
    seen.clear()
    assert tiny_rgb.decompress_full(data, progress=seen.append).signal.shape == x.shape
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_one_non_finite_sample_anywhere_is_refused(tiny_rgb, tiny_stereo, monkeypatch, bad):
    monkeypatch.setattr("walloc.bands.BAND_LATENTS", 64)  # several bands: the sample may lie in any
    gen = torch.Generator().manual_seed(0)
    for codec, shape in ((tiny_rgb, (3, 300, 20)), (tiny_stereo, (2, 5000))):
        for dtype in (torch.float32, torch.float64):  # read directly by the C++ encoder, or converted first
            x = torch.rand(shape, generator=gen, dtype=dtype)
            x.view(-1)[int(torch.randint(x.numel(), (1,), generator=gen))] = bad
            with pytest.raises(MediaError, match="NaN or infinite"):
                codec.compress(x)


# -- no shared mutable state ------------------------------------------------------------------------------

@pytest.fixture
def tiny_zoo(tiny_models, monkeypatch):
    """walloc.load() finds the tiny models."""
    from walloc import zoo

    monkeypatch.setattr(zoo, "MODEL_DIR", tiny_models)


def test_a_failed_move_changes_nothing_and_breaks_no_other_caller(tiny_zoo):
    a = walloc.load("tiny-rgb")
    bad = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(walloc.DeviceError, match="not available"):
        a.to(bad)
    assert a.device == torch.device("cpu") and next(a.net.parameters()).device.type == "cpu"
    x = torch.rand(3, 16, 16)
    assert a.decompress(a.compress(x)).shape == x.shape  # a still works ...
    assert walloc.load("tiny-rgb").compress(x) == a.compress(x)  # ... and so does everyone else's


def test_load_hands_out_codecs_of_their_own(tiny_zoo):
    a, b = walloc.load("tiny-rgb"), walloc.load("tiny-rgb")
    assert a is not b and a.net is not b.net
    x = torch.rand(3, 16, 16)
    before = b.compress(x)
    with torch.no_grad():
        a.net.encoder.weight.zero_()  # what one caller does to its codec ...
    assert b.compress(x) == before and walloc.load("tiny-rgb").compress(x) == before  # ... no other sees
    assert a.compress(x) != before


@pytest.mark.parametrize("device", ["tpu", "cuda:7", "nonsense:1", "mps"] + ([] if torch.cuda.is_available() else ["cuda"]))
def test_unknown_or_unavailable_devices_are_refused_everywhere(tiny_rgb, device):
    from walloc import features

    data = tiny_rgb.compress(torch.rand(3, 16, 16))
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    for call in (lambda: tiny_rgb.to(device), lambda: features.encode(tiny_rgb, torch.rand(3, 16, 16), device=device),
                 lambda: tiny_rgb.stream.read_latents_batch([data], device=device),
                 lambda: features.from_bytes(data, codec=tiny_rgb, device=device)):
        with pytest.raises(walloc.DeviceError) as e:
            call()
        assert "\n" not in str(e.value)
    assert tiny_rgb.device == torch.device("cpu")


def test_features_on_another_device_leave_the_codec_where_it_is(tiny_rgb, monkeypatch):
    """features.encode(device=...) runs on a copy: the caller's codec is not moved (the copy is made
    on the CPU here, as it would be for a GPU)."""
    from walloc import features

    moved = []
    monkeypatch.setattr(Codec, "to", lambda self, d: moved.append(self) or self)
    monkeypatch.setattr(walloc.codec, "checked_device", lambda d: torch.device("cpu", 0) if str(d) == "elsewhere" else torch.device(d))
    x = torch.rand(2, 3, 16, 16)
    y = features.encode(tiny_rgb, x, device="elsewhere")
    assert moved and all(m is not tiny_rgb for m in moved) and tiny_rgb.device == torch.device("cpu")
    assert torch.equal(y, tiny_rgb.encode(x))


# -- inputs are what they say or refused -------------------------------------------------------------------

def test_numpy_arrays_code_like_tensors(tiny_rgb, tiny_stereo):
    x = torch.rand(3, 20, 28)
    assert tiny_rgb.compress(x.numpy()) == tiny_rgb.compress(x) == tiny_rgb.compress(x.double()) == tiny_rgb.compress(x.numpy().astype(">f4"))
    pixels = torch.randint(0, 256, (3, 20, 28), dtype=torch.uint8)
    assert tiny_rgb.compress(pixels.numpy()) == tiny_rgb.compress(pixels) == tiny_rgb.compress(pixels.float() / 255)
    assert torch.equal(tiny_rgb.encode(x[None].numpy()), tiny_rgb.encode(x[None]))
    assert tiny_rgb.compress(x.bfloat16()) == tiny_rgb.compress(x.bfloat16().float())
    pcm = torch.randint(-32768, 32768, (2, 1000), dtype=torch.int16)
    assert tiny_stereo.compress(pcm.numpy()) == tiny_stereo.compress(pcm) == tiny_stereo.compress(pcm.float() / 32768)
    flipped = np.ascontiguousarray(x.numpy()[:, ::-1])
    assert tiny_rgb.compress(x.numpy()[:, ::-1]) == tiny_rgb.compress(flipped)  # negative strides


def test_uint16_pixels_are_coded_and_decoded_at_16_bits(tiny_rgb):
    x = torch.randint(0, 65536, (3, 24, 20), dtype=torch.int32).to(torch.uint16)
    data = tiny_rgb.compress(x)
    assert walloc.peek_header(data).bit_depth == 16
    same = tiny_rgb.compress(x.numpy().astype(np.float32) / np.float32(65535))  # converted exactly
    assert torch.equal(tiny_rgb.read_latents(data)[1], tiny_rgb.read_latents(same)[1])
    decoded = tiny_rgb.decompress_full(data, dtype=torch.int32)
    floats = tiny_rgb.decompress(data)
    assert decoded.meta.bit_depth == 16 and decoded.signal.max() > 255
    assert torch.equal(decoded.signal, (floats * 65535).round().to(torch.int32))
    eight = tiny_rgb.compress(x.numpy().astype(np.float32) / 65535)  # floats: 8-bit unless meta says more
    assert walloc.peek_header(eight).bit_depth == 8
    assert tiny_rgb.decompress_full(eight, dtype=torch.int32).signal.max() <= 255


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.int8, torch.complex64, torch.int16])
def test_image_dtypes_that_are_not_pixels_are_refused(tiny_rgb, dtype):
    x = torch.zeros(3, 16, 16, dtype=dtype)
    with pytest.raises(MediaError, match=r"dtype .* not accepted; use float16/32/64 in \[0, 1\], uint8 or uint16$"):
        tiny_rgb.compress(x)
    with pytest.raises(MediaError, match="not accepted"):
        tiny_rgb.encode(x[None])


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.uint8, np.uint16, np.complex128])
def test_audio_dtypes_that_are_not_samples_are_refused(tiny_stereo, dtype):
    with pytest.raises(MediaError, match=r"not accepted; use float16/32/64 in \[-1, 1\], int16 or int32$"):
        tiny_stereo.compress(np.zeros((2, 100), dtype=dtype))


def test_wrong_layouts_are_refused_in_one_line(tiny_rgb, tiny_stereo):
    x = torch.rand(3, 512, 768)
    with pytest.raises(MediaError, match=r"looks like \(H, W, C\).*permute\(2, 0, 1\)"):
        tiny_rgb.compress(x.permute(1, 2, 0))
    with pytest.raises(MediaError, match=r"looks like \(H, W, C\)"):
        tiny_rgb.encode(x.permute(1, 2, 0)[None])
    with pytest.raises(MediaError, match=r"looks like \(L, C\)"):
        tiny_stereo.compress(torch.rand(44100, 2))
    for bad in (torch.rand(1, 3, 16, 16), torch.rand(16)):
        with pytest.raises(MediaError, match=r"\(C, H, W\) arrays or tensors, got \d axes"):
            tiny_rgb.compress(bad)
    with pytest.raises(MediaError, match="numpy array or torch tensor"):
        tiny_rgb.compress([[[0.5]]])


def _sine(freq: float, dbfs: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(44100 * seconds)) / 44100
    return np.stack([10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


@pytest.mark.parametrize("dbfs, gain", [(-1, 3), (-3, 3), (-12, 0)])
def test_loud_steady_audio_is_coded_at_a_lower_level(dbfs, gain):
    """A sine near full scale saturated the latents' bound (15.4 dB at -3 dBFS, 11.0 at -1 dBFS);
    the encoder now codes it at a level that keeps them inside, and decoding restores the level."""
    codec = walloc.load("stereo-5x")
    x = _sine(1000, dbfs)
    data = codec.compress(x)
    assert bitstream.peek_header(data).gain == gain
    assert metrics.psnr(codec.decompress(data), torch.from_numpy(x)) > 32.0


@pytest.mark.parametrize("dbfs", [-1, -3])
def test_loud_sines_keep_35_db_at_the_default_quality(dbfs):
    """stereo-5x version 1 gave 32.7 and 34.4 dB at its default step (3.0); version 2's default is 2.0."""
    codec = walloc.load("stereo-5x")
    x = _sine(1000, dbfs, 2.0)
    assert metrics.psnr(codec.decompress(codec.compress(x)), torch.from_numpy(x)) >= 35.0


@needs_audio
def test_decoded_music_has_no_steady_line():
    """Version 1's decoder added a constant to some packet channels: a line at 12.58 kHz, 13.5 dB
    above the music clip's own level there (benchmarks/bench_audio.py's measure, limit 6 dB)."""
    bench = benchmark("bench_audio")
    codec = walloc.load("stereo-5x")
    x = bench.as_float(io.read_audio_array(AUDIO / bench.MUSIC)[0])
    for quality in (2, codec.stream.default_quality):
        y = codec.decompress(codec.compress(x, quality)).numpy()
        assert bench.lines(x, y)["excess_db"] <= 6.0, quality


def test_digital_silence_decodes_to_digital_silence():
    codec = walloc.load("stereo-5x")
    x = np.zeros((2, 44100 * 2), np.int16)
    x[:, 30000:30100] = 1000  # a click between two silences
    y = codec.decompress(codec.compress(x)).numpy()
    assert bitstream.peek_header(codec.compress(x)).silence == ((0, 30000), (30100, 58100))
    assert not y[:, :30000].any() and not y[:, 30100:].any() and y[:, 30000:30100].any()


def test_silent_runs_span_slices_and_fit_the_format(monkeypatch):
    from walloc import level

    monkeypatch.setattr(level, "_SILENCE_SLICE", 1000)
    x = np.ones((2, 5000), np.float32) * 0.1
    x[:, 900:2600] = 2.0 ** -17           # below half a 16-bit step: silent
    x[1, 4000:4300] = 0                   # one channel only: not silent
    x[:, 4500:4700] = 0                   # shorter than a run worth recording
    assert level.silent_runs(x) == ((900, 1700),)
    monkeypatch.setattr(level, "MAX_SILENT_RUNS", 2)
    y = np.zeros((1, 5000), np.int16)
    y[0, [300, 900, 1500, 4800]] = 1       # runs of 300, 599, 599, 3299 and 199
    assert level.silent_runs(y) == ((1501, 3299),)  # only the longer runs, when too many
