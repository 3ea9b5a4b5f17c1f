"""Band-wise coding equals one pass over the whole signal: no seams, bounded working set."""

import math
import threading

import pytest
import torch

from walloc import bands, io, signal, tiling, wavelet


@pytest.fixture
def small_bands(monkeypatch):
    monkeypatch.setattr(bands, "band_rows", lambda net, rest: 5)  # five latent rows per band: many bands


@pytest.fixture(params=["periodic", "symmetric"])
def rgb_and_stereo(request, tiny_models, tiny_symmetric):
    """The tiny image and audio codecs with either packet border rule."""
    from walloc.codec import Codec

    folder = tiny_models if request.param == "periodic" else tiny_symmetric
    return Codec.load("tiny-rgb", folder), Codec.load("tiny-stereo", folder)


@pytest.mark.parametrize("shape", [(3, 200, 24), (4, 131, 17), (1, 64, 8)])
def test_image_bands_match_whole(rgb_and_stereo, small_bands, shape):
    tiny_rgb = rgb_and_stereo[0]
    torch.manual_seed(0)
    x = torch.rand(shape)
    banded = tiny_rgb.read_latents(tiny_rgb.compress(x, 2))[1]
    whole = tiny_rgb.quantize(tiny_rgb.encode(tiling_free_groups(x, 3)), 2)
    assert (banded != whole).float().mean() < 1e-3          # only float-rounding ties may differ
    assert whole.shape[2] > 2 * 5  # several bands
    data = tiny_rgb.compress(x, 2)
    header, symbols = tiny_rgb.read_latents(data)
    y = tiny_rgb.decompress(data)
    ref = tiny_rgb.decode(symbols, 2).flatten(0, 1)[: shape[0], : shape[1], : shape[2]]
    assert (y - ref).abs().max() < 1e-4


def tiling_free_groups(x, m):
    extra = (-x.shape[0]) % m
    if extra:
        x = torch.cat([x, x[-1:].expand(extra, *x.shape[1:])])
    return x.reshape(-1, m, *x.shape[1:])


def test_audio_bands_match_whole(rgb_and_stereo, small_bands):
    tiny_stereo = rgb_and_stereo[1]
    torch.manual_seed(1)
    x = torch.rand(2, 16 * 150 + 5) * 2 - 1
    data = tiny_stereo.compress(x, 1)
    _, symbols = tiny_stereo.read_latents(data)
    whole = tiny_stereo.quantize(tiny_stereo.encode(x[None]), 1)
    assert (symbols != whole).float().mean() < 1e-3
    y = tiny_stereo.decompress(data)
    ref = tiny_stereo.decode(symbols, 1)[0, :, : x.shape[1]]
    assert (y - ref).abs().max() < 1e-4


def test_integer_inputs_and_outputs(tiny_rgb, tiny_stereo):
    img = (torch.rand(3, 40, 40) * 255).round().to(torch.uint8)
    a = tiny_rgb.compress(img)
    assert a == tiny_rgb.compress(img.float() / 255)
    out = tiny_rgb.decompress(a, torch.uint8)
    assert out.dtype == torch.uint8
    assert (out.float() - torch.round(tiny_rgb.decompress(a) * 255)).abs().max() <= 1
    pcm = (torch.rand(2, 4000) * 20000 - 10000).to(torch.int16)
    b = tiny_stereo.compress(pcm, meta=io.AudioMeta(8000))
    assert b == tiny_stereo.compress(pcm.float() / 32768, meta=io.AudioMeta(8000))
    assert tiny_stereo.decompress(b, torch.int16).dtype == torch.int16


def test_integer_bands_reach_the_encoder_as_they_are(tiny_rgb, tiny_stereo, small_bands, monkeypatch):
    """On the CPU, uint8 and int16 bands (several, with wrapped margins and padding) are never
    converted to float: the C++ encoder reads the samples itself."""
    img = torch.randint(0, 256, (3, 90, 37), dtype=torch.uint8)
    pcm = torch.randint(-32768, 32768, (2, 3000), dtype=torch.int16)
    expect = tiny_rgb.compress(img), tiny_stereo.compress(pcm, meta=io.AudioMeta(8000))
    monkeypatch.setattr(tiling, "to_float", lambda x: pytest.fail("integer band converted to float"))
    assert (tiny_rgb.compress(img), tiny_stereo.compress(pcm, meta=io.AudioMeta(8000))) == expect


def test_bands_are_bounded_and_cheap(tiny_rgb, tiny_stereo):
    for codec, rest in ((tiny_rgb, (1250,)), (tiny_stereo, ())):
        rows = bands.band_rows(codec.cfg, rest)
        margins = bands.analysis_margin(codec.cfg.levels) + codec.net.receptive_rows
        assert rows >= 4 * margins
        per_row = codec.cfg.latent_dim * math.prod(rest)
        assert rows * per_row <= max(bands.BAND_LATENTS, 4 * margins * per_row)


def test_margins_cover_the_packet_support():
    # the J-level analysis filter spans (10 - 1) * (2**J - 1) + 1 samples
    for levels in (1, 3, 8):
        assert bands.analysis_margin(levels) * 2 ** levels >= 9 * (2 ** levels - 1)


@pytest.mark.parametrize("banded", [False, True])
def test_native_synthesis_decodes_like_torch(rgb_and_stereo, banded, monkeypatch):
    """The C++ synthesis (walloc._packet) gives the torch path's signal up to float rounding: integer
    outputs differ by one at most, and only where a value sits at a rounding boundary."""
    pytest.importorskip("walloc._packet", reason="C++ extension walloc._packet not built (make setup)")
    tiny_rgb, tiny_stereo = rgb_and_stereo
    if banded:
        monkeypatch.setattr(bands, "band_rows", lambda net, rest: 5)
    torch.manual_seed(2)
    cases = [(tiny_rgb, tiny_rgb.compress(torch.rand(3, 96, 72)), torch.uint8),
             (tiny_stereo, tiny_stereo.compress(torch.rand(2, 16 * 120) * 2 - 1, meta=io.AudioMeta(8000)), torch.int16)]
    for codec, data, dtype in cases:
        native = codec.decompress(data), codec.decompress(data, dtype)
        with monkeypatch.context() as m:
            m.setattr(wavelet, "_packet", None)
            ref = codec.decompress(data), codec.decompress(data, dtype)
        gap = (native[0] - ref[0]).abs().max()
        assert gap < 1e-5
        scaled = ref[0] * signal.scale_of(dtype)
        # a product may also round differently: one float32 ulp of the scale on either side
        tol = (gap + 2 * 2.0 ** -23) * signal.scale_of(dtype)
        tie = ((scaled - scaled.floor() - 0.5).abs() <= tol)
        off = (native[1].int() - ref[1].int()).abs()
        assert off.max() <= 1 and not (off.bool() & ~tie).any()


def test_decode_calls_back_in_order_from_the_calling_thread(tiny_rgb, small_bands):
    """Bands run on a pool, but ``latents`` and ``emit`` stay on the caller's thread, bands in
    order; the caller's torch thread count is left as it was, and the output does not depend on it."""
    torch.manual_seed(3)
    _, symbols = tiny_rgb.read_latents(tiny_rgb.compress(torch.rand(3, 200, 24), 2))
    me, block, rows = threading.get_ident(), tiny_rgb.cfg.block_size, symbols.shape[2]
    emitted: dict[int, list] = {}

    def latents(g, lo, hi):
        assert threading.get_ident() == me
        return symbols[g, :, lo:hi].float()

    before = torch.get_num_threads()
    for threads in (1, 2, 3):
        def emit(g, r0, r1, signal, seen=emitted.setdefault(threads, [])):
            assert threading.get_ident() == me
            seen.append(((g, r0, r1), signal.clone()))

        torch.set_num_threads(threads)
        try:
            tiling.decode(tiny_rgb.net, latents, symbols.shape[0], tuple(symbols.shape[2:]), torch.device("cpu"), emit)
            assert torch.get_num_threads() == threads
        finally:
            torch.set_num_threads(before)
        assert [band for band, _ in emitted[threads]] == [(0, r0 * block, min(r0 + 5, rows) * block) for r0 in range(0, rows, 5)]
    assert all(torch.equal(a, b) for t in (2, 3) for (_, a), (_, b) in zip(emitted[1], emitted[t]))
