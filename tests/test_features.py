"""walloc.features: latents from tensors, files and .wlc streams agree with the codec, bit for bit."""

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import walloc
from walloc import coder, features
from walloc.errors import BitstreamError, MediaError


def _image(seed: int, h: int, w: int, c: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(c, h // 4 + 1, w // 4 + 1, generator=g)
    return torch.nn.functional.interpolate(base[None], size=(h, w), mode="bilinear")[0]


def test_encode_int_equals_compressed_latents(tiny_rgb):
    x = torch.stack([_image(i, 20, 28) for i in range(5)])
    y = features.encode(tiny_rgb, x, kind="int", batch_size=2)
    assert y.shape == (5, 6, 5, 7) and y.dtype == torch.int32
    assert torch.equal(y, tiny_rgb.quantize(tiny_rgb.encode(x)))
    for i in range(5):
        header, k = tiny_rgb.read_latents(tiny_rgb.compress(x[i]))
        assert torch.equal(k[0], y[i])
    assert torch.equal(features.encode(tiny_rgb, x, kind="float"), tiny_rgb.encode(x))
    deq = features.encode(tiny_rgb, x, kind="dequantized")
    assert torch.equal(deq, tiny_rgb.dequantize(y))
    assert torch.equal(features.encode(tiny_rgb, x[0], kind="int"), y[0])  # one signal, no batch axis


def test_shipped_model_latents_match_streams():
    codec = walloc.load("rgb-16x")
    x = _image(3, 48, 64)
    data = codec.compress(x)
    assert torch.equal(features.from_bytes(data), codec.quantize(codec.encode(x[None]))[0])
    assert features.from_bytes(data).shape == (12, 6, 8)
    assert torch.equal(walloc.read_latents(data)[0], features.from_bytes(data))


@pytest.mark.parametrize("channels,groups", [(1, 1), (4, 2), (5, 2)])
def test_other_channel_counts_are_grouped_like_compress(tiny_rgb, channels, groups):
    x = _image(channels, 16, 24, channels)
    y = features.encode(tiny_rgb, x[None], kind="int")
    assert y.shape == (1, groups * 6, 4, 6)
    assert torch.equal(y[0], features.from_bytes(tiny_rgb.compress(x), codec=tiny_rgb))


def test_audio_latents(tiny_stereo):
    x = torch.sin(torch.linspace(0, 300, 1000)).repeat(2, 1) * 0.5
    y = features.encode(tiny_stereo, x[None], kind="int")
    assert y.shape == (1, 8, 63)
    assert torch.equal(y[0], features.from_bytes(tiny_stereo.compress(x), codec=tiny_stereo))


def test_batched_stream_decoding_over_many_chunks(tiny_rgb, monkeypatch):
    monkeypatch.setattr(walloc.stream, "CHUNK_SYMBOLS", 50)  # several chunks per stream
    x = torch.stack([_image(10 + i, 40, 24) for i in range(4)])
    streams = [tiny_rgb.compress(s) for s in x]
    assert len(walloc.peek_header(streams[0]).chunks) > 1
    batch = features.decode_streams(streams, codec=tiny_rgb)
    assert torch.equal(batch, tiny_rgb.quantize(tiny_rgb.encode(x)))
    deq = features.decode_streams(streams, codec=tiny_rgb, kind="dequantized", threads=0)
    assert deq.dtype == torch.float32 and torch.equal(deq, tiny_rgb.dequantize(batch))


def test_streams_of_another_coder(tiny_rgb, monkeypatch):
    only_constriction = {coder.ConstrictionCoder.coder_id: coder.ConstrictionCoder()}
    monkeypatch.setattr(coder, "coders", lambda: only_constriction)
    x = torch.stack([_image(20 + i, 16, 16) for i in range(2)])
    streams = [tiny_rgb.compress(s) for s in x]
    assert walloc.peek_header(streams[0]).coder == 1
    assert torch.equal(features.decode_streams(streams, codec=tiny_rgb), tiny_rgb.quantize(tiny_rgb.encode(x)))
    monkeypatch.undo()  # a dataset made across a coder change: one batch holds streams of every coder
    mixed = [streams[0], tiny_rgb.compress(x[1]), streams[1], tiny_rgb.compress(x[0])]
    assert [walloc.peek_header(s).coder for s in mixed] == [1, 3, 1, 3]
    assert torch.equal(features.decode_streams(mixed, codec=tiny_rgb), tiny_rgb.quantize(tiny_rgb.encode(x[[0, 1, 1, 0]])))


def test_bad_batches_and_streams(tiny_rgb):
    a, b = tiny_rgb.compress(_image(1, 16, 16)), tiny_rgb.compress(_image(2, 16, 24))
    with pytest.raises(MediaError, match="latent shape"):
        features.decode_streams([a, b], codec=tiny_rgb)
    with pytest.raises(MediaError, match="quality"):
        features.decode_streams([a, tiny_rgb.compress(_image(1, 16, 16), quality=1)], codec=tiny_rgb)
    bad = bytearray(a)
    bad[-10] ^= 0xFF
    with pytest.raises(BitstreamError):
        features.from_bytes(bytes(bad), codec=tiny_rgb)
    with pytest.raises(MediaError):
        features.decode_streams([], codec=tiny_rgb)
    with pytest.raises(MediaError, match="tensors"):
        features.encode(tiny_rgb, torch.rand(2, 2, 3, 8, 8))
    with pytest.raises(ValueError):
        features.encode(tiny_rgb, torch.rand(1, 3, 8, 8), kind="bits")
    with pytest.raises(ValueError):
        features.from_bytes(a, codec=tiny_rgb, kind="float")


def test_to_size_images_and_audio():
    x = _image(0, 30, 50)
    y = features.to_size(x, 20)
    assert y.shape == (3, 20, 20) and 0 <= y.min() and y.max() <= 1
    assert torch.equal(features.to_size(x, None), x)
    assert torch.equal(features.to_size(x[:, :, :30], 30), x[:, :, :30])  # already square at size: untouched
    crop = features.to_size(_image(0, 20, 40), 20)
    assert torch.equal(crop, _image(0, 20, 40)[:, :, 10:30])  # short side already 20: center crop only
    a = torch.arange(10.0).repeat(2, 1)
    assert torch.equal(features.to_size(a, 4), a[:, 3:7])
    assert torch.equal(features.to_size(a, 12)[:, 10:], torch.zeros(2, 2))
    with pytest.raises(MediaError):
        features.to_size(x, 0)


def test_signals_are_brought_to_one_channel_count():
    rgb = _image(0, 4, 6)
    gray, rgba = rgb[:1], torch.cat([rgb, torch.ones(1, 4, 6)])
    assert torch.equal(features.to_channels(gray, 3), gray.expand(3, -1, -1))
    assert torch.equal(features.to_channels(rgba, 3), rgb)  # alpha dropped
    assert torch.equal(features.to_channels(torch.cat([gray, gray]), 3), gray.expand(3, -1, -1))  # gray + alpha
    luma = features.to_channels(rgb, 1)
    assert luma.shape == (1, 4, 6) and torch.allclose(luma[0], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])
    assert features.to_channels(rgb, None) is rgb and features.to_channels(rgb, 3) is rgb
    pixels = (rgb * 255).round().to(torch.uint8)  # integer pixels: rounded luma, same dtype
    assert torch.equal(features.to_channels(pixels, 1), (0.299 * pixels[0].double() + 0.587 * pixels[1] + 0.114 * pixels[2]).round().to(torch.uint8)[None])
    stereo = torch.tensor([[1.0, -1.0, 0.5], [0.0, 1.0, 0.5]])
    assert torch.equal(features.to_channels(stereo, 1), torch.tensor([[0.5, 0.0, 0.5]]))
    assert torch.equal(features.to_channels(stereo[:1], 2), stereo[:1].expand(2, -1))
    assert torch.equal(features.to_channels(torch.tensor([[100, -7], [101, 8]], dtype=torch.int16), 1),
                       torch.tensor([[100, 0]], dtype=torch.int16))  # PCM: rounded half to even, same dtype
    with pytest.raises(MediaError, match="1 .gray. or 3"):
        features.to_channels(rgb, 2)
    with pytest.raises(MediaError, match="mono mix"):
        features.to_channels(torch.zeros(6, 8), 2)


def test_from_files_media_and_streams(tiny_rgb, tiny_stereo, tmp_path):
    paths = []
    for i, (h, w) in enumerate([(24, 32), (24, 32), (40, 24)]):
        arr = (_image(i, h, w).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    stream = tmp_path / "s.wlc"
    stream.write_bytes(tiny_rgb.compress(walloc.io.read_image(paths[0])[0]))
    out = features.from_files(paths + [stream], tiny_rgb, kind="int", batch_size=8)
    assert [tuple(t.shape) for t in out] == [(6, 6, 8), (6, 6, 8), (6, 10, 6), (6, 6, 8)]
    assert torch.equal(out[0], out[3])
    for p, t in zip(paths, out):
        x = walloc.io.read_image(p)[0]
        assert torch.equal(t, tiny_rgb.quantize(tiny_rgb.encode(x[None]))[0])
    fitted = features.from_files(paths, tiny_rgb, size=16, kind="dequantized")
    assert all(t.shape == (6, 4, 4) and t.is_floating_point() for t in fitted)
    Image.new("RGBA", (16, 16)).save(tmp_path / "rgba.png")  # two groups of channels, or one once brought to RGB
    assert [features.from_files([tmp_path / "rgba.png"], tiny_rgb, channels=c)[0].shape[0] for c in (None, 3)] == [12, 6]
    with pytest.raises(MediaError, match="quantized"):
        features.from_files([stream], tiny_rgb, kind="float")
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros((400, 2), np.float32), 8000)
    assert features.from_files([wav], tiny_stereo, size=256)[0].shape == (8, 16)
    with pytest.raises(MediaError):
        features.from_files([tmp_path / "missing.png"], tiny_rgb)


def test_encode_on_a_device(tiny_models, monkeypatch):
    codec = walloc.codec.Codec.load("tiny-rgb", tiny_models)
    x = _image(5, 16, 16)[None]
    y = features.encode(codec, x, kind="int", device="cpu")
    assert y.device.type == "cpu" and codec.device.type == "cpu"
    if torch.cuda.is_available():
        g = features.encode(codec, x, kind="int", device="cuda")
        assert g.device.type == "cuda" and torch.equal(g.cpu(), y)
        streams = [codec.to("cpu").compress(x[0])]  # context-model streams: decoded on the CPU
        assert torch.equal(features.decode_streams(streams, codec=codec, device="cuda").cpu()[0], y[0])
        monkeypatch.setattr(coder, "for_quality", lambda q: coder.RansCoder())
        streams = [codec.compress(x[0]) for _ in range(3)]  # factorized streams: the CUDA coder decodes them
        assert coder.RansCoder.cuda_ready() and walloc.peek_header(streams[0]).coder == coder.RansCoder.coder_id
        assert torch.equal(features.decode_streams(streams, codec=codec, device="cuda").cpu(), y.expand(3, -1, -1, -1))
