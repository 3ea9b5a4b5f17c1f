"""Media in and out: the documented conversions, and clear errors for what cannot be read."""

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from walloc import io
from walloc.errors import MediaError


@pytest.mark.parametrize("mode, channels, depth", [("L", 1, 8), ("RGB", 3, 8), ("RGBA", 4, 8), ("LA", 2, 8),
                                                    ("1", 1, 8), ("I;16", 1, 16), ("CMYK", 3, 8)])
def test_image_modes(tmp_path, mode, channels, depth):
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    Image.new(mode, (7, 5)).save(path)
    x, meta = io.read_image(path)
    assert x.shape == (channels, 5, 7) and meta.bit_depth == depth


def test_palette_becomes_rgb(tmp_path):
    im = Image.new("P", (4, 4))
    im.putpalette([255, 0, 0] * 256)
    im.save(tmp_path / "p.png")
    x, _ = io.read_image(tmp_path / "p.png")
    assert x.shape == (3, 4, 4) and torch.allclose(x[0], torch.ones(4, 4))


def test_16bit_round_trip_keeps_depth(tmp_path):
    arr = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(arr).save(tmp_path / "a.png")
    x, meta = io.read_image(tmp_path / "a.png")
    io.write_image(tmp_path / "b.png", x, meta)
    back = np.asarray(Image.open(tmp_path / "b.png"))
    assert np.array_equal(back.astype(np.uint16), arr)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_npy_any_channel_count(tmp_path, dtype):
    arr = (np.random.default_rng(0).random((6, 5, 7)) * (255 if dtype == np.uint8 else 1)).astype(dtype)
    np.save(tmp_path / "a.npy", arr)
    x, meta = io.read_image(tmp_path / "a.npy")
    assert x.shape == (7, 6, 5)
    io.write_image(tmp_path / "b.npy", x, meta)
    assert np.load(tmp_path / "b.npy").dtype == arr.dtype


def test_unreadable_images(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(MediaError):
        io.read_image(tmp_path / "empty.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    with pytest.raises(MediaError):
        io.read_image(tmp_path / "cut.png")
    with pytest.raises(MediaError, match="directory"):
        io.read_image(tmp_path)
    with pytest.raises(MediaError, match="cannot read"):
        io.read_image(tmp_path / "missing.png")
    with pytest.raises(MediaError, match="only be written as .npy"):
        io.write_image(tmp_path / "x.png", torch.zeros(5, 4, 4), io.ImageMeta())


@pytest.mark.parametrize("subtype, depth, is_float", [("PCM_16", 16, False), ("PCM_24", 24, False), ("FLOAT", 32, True)])
def test_audio_formats_keep_rate_and_depth(tmp_path, subtype, depth, is_float):
    data = np.random.default_rng(0).uniform(-0.5, 0.5, (1000, 2))
    sf.write(tmp_path / "a.wav", data, 22050, subtype=subtype)
    x, meta = io.read_audio(tmp_path / "a.wav")
    assert x.shape == (2, 1000) and meta == io.AudioMeta(22050, depth, is_float)
    io.write_audio(tmp_path / "b.wav", x, meta)
    assert sf.info(tmp_path / "b.wav").subtype == subtype


def test_bad_audio(tmp_path):
    sf.write(tmp_path / "nan.wav", np.array([[0.0], [np.nan]]), 8000, subtype="FLOAT")
    with pytest.raises(MediaError, match="NaN"):
        io.read_audio(tmp_path / "nan.wav")
    sf.write(tmp_path / "zero.wav", np.zeros((0, 1)), 8000)
    with pytest.raises(MediaError, match="no samples"):
        io.read_audio(tmp_path / "zero.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + bytes(40))
    with pytest.raises(MediaError):
        io.read_audio(tmp_path / "junk.wav")
    with pytest.raises(MediaError, match=".wav or .flac"):
        io.write_audio(tmp_path / "x.mp3", torch.zeros(1, 10), io.AudioMeta(8000))


def test_decompression_bomb_is_a_clean_error(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)  # claims 200 MP
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(MediaError, match="too large"):
        io.read_image(tmp_path / "bomb.png")
