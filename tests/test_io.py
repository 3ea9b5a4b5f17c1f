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
    with pytest.raises(MediaError, match="cannot be written as .png; use .npy"):
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


# -- 16-bit colour, orientation, layouts, pipes (issue 12) -------------------------------------------------
def _png(arr: np.ndarray, filters, interlace: int = 0) -> bytes:
    """A 16-bit PNG of (H, W, C) uint16 pixels, row r filtered with filters[r % len(filters)] (reference
    filter code, byte by byte, as the PNG specification writes it)."""
    import struct
    import zlib

    h, w, c = arr.shape
    rows = arr.astype(">u2").view(np.uint8).reshape(h, -1).astype(int)
    bpp, out, prior = 2 * c, b"", np.zeros(rows.shape[1], int)
    for r in range(h):
        kind, line, enc = filters[r % len(filters)], rows[r], []
        for i, v in enumerate(line):
            a = line[i - bpp] if i >= bpp else 0
            b, cc = prior[i], (prior[i - bpp] if i >= bpp else 0)
            p = a + b - cc
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - cc) else (b if abs(p - b) <= abs(p - cc) else cc)
            enc.append((v - [0, a, b, (a + b) // 2, paeth][kind]) % 256)
        out += bytes([kind] + enc)
        prior = line

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {2: 4, 3: 2, 4: 6}[c], 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(out)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("channels", [2, 3, 4])
@pytest.mark.parametrize("filters", [[0], [1, 2], [0, 1, 2, 3, 4], [4, 3]])
def test_16bit_colour_png_kept_exactly(tmp_path, channels, filters):
    arr = np.random.default_rng(channels).integers(0, 65536, (6, 9, channels), dtype=np.uint16)
    arr[0, 0] = [0x1234, 0x1299, 0xFF01, 0x0001][:channels]  # differ in the low byte only
    (tmp_path / "a.png").write_bytes(_png(arr, filters))
    x, meta = io.read_image_array(tmp_path / "a.png")
    assert meta.bit_depth == 16 and x.dtype == np.uint16 and np.array_equal(x.transpose(1, 2, 0), arr)
    io.write_image(tmp_path / "b.png", x, meta)
    assert (tmp_path / "b.png").read_bytes()[24] == 16  # IHDR bit depth
    back, meta2 = io.read_image_array(tmp_path / "b.png")
    assert meta2.bit_depth == 16 and np.array_equal(back, x)
    t, _ = io.read_image(tmp_path / "a.png")  # the tensor reader keeps the 16 bits too
    assert torch.equal(torch.round(t * 65535).to(torch.int32), torch.from_numpy(x.astype(np.int32)))


def test_what_16_bits_cannot_be_kept_in_is_refused(tmp_path):
    arr = np.full((4, 5, 3), 0x1234, np.uint16)
    (tmp_path / "i.png").write_bytes(_png(arr, [0], interlace=1))
    with pytest.raises(MediaError, match="interlaced"):
        io.read_image_array(tmp_path / "i.png")
    x, meta = np.ascontiguousarray(arr.transpose(2, 0, 1)), io.ImageMeta(16)
    for fmt in ("jpg", "tif", "webp", "bmp"):
        with pytest.raises(MediaError, match="16-bit|cannot be written"):
            io.write_image(tmp_path / f"o.{fmt}", x, meta)
    (tmp_path / "rgb16.tif").write_bytes(_tiff16(arr))
    with pytest.raises(MediaError, match="16-bit colour TIFF"):
        io.read_image_array(tmp_path / "rgb16.tif")


def _tiff16(arr: np.ndarray) -> bytes:
    """A minimal uncompressed little-endian 16-bit RGB TIFF (which Pillow reads as 8-bit)."""
    import struct

    h, w, _ = arr.shape
    data = arr.astype("<u2").tobytes()
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, 8 + 2 + 12 * 9 + 4), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, 8 + 2 + 12 * 9 + 4 + 6), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(data))]
    ifd = b"".join(struct.pack("<HHII" if kind == 4 or count > 1 else "<HHIHH", tag, kind, count, value, *(() if kind == 4 or count > 1 else (0,)))
                   for tag, kind, count, value in tags)
    return b"II*\0" + struct.pack("<IH", 8, len(tags)) + ifd + struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((4, 8, 3), np.uint8)
    arr[0, 0] = 255  # top-left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    Image.fromarray(arr).save(tmp_path / "p.jpg", exif=exif, quality=100)
    x, _ = io.read_image_array(tmp_path / "p.jpg")
    assert x.shape == (3, 8, 4)  # portrait, as a viewer shows it
    assert x[0, 0, -1] > 200 and x[0, 0, 0] < 50  # the stored top-left is now top-right


def test_npy_layouts(tmp_path):
    np.save(tmp_path / "chw.npy", np.zeros((3, 32, 48), np.uint8))
    with pytest.raises(MediaError, match=r"looks like \(C, H, W\).*transpose"):
        io.read_image_array(tmp_path / "chw.npy")
    np.save(tmp_path / "wide.npy", np.zeros((8, 8, 65), np.uint8))
    with pytest.raises(MediaError, match="65 channels"):
        io.read_image_array(tmp_path / "wide.npy")
    arr = np.random.default_rng(0).integers(0, 65536, (5, 6, 2), dtype=np.uint16)
    np.save(tmp_path / "deep.npy", arr)
    x, meta = io.read_image_array(tmp_path / "deep.npy")
    assert meta.bit_depth == 16 and x.dtype == np.uint16 and np.array_equal(x.transpose(1, 2, 0), arr)
    io.write_image(tmp_path / "back.npy", x, meta)
    assert np.array_equal(np.load(tmp_path / "back.npy"), arr)


def test_audio_to_a_pipe_is_a_valid_stream(tmp_path):
    import os
    import threading

    data = (np.random.default_rng(0).uniform(-0.5, 0.5, (2, 3000)) * 32767).astype(np.int16)
    r, w = os.pipe()
    got = []
    reader = threading.Thread(target=lambda: got.append(os.fdopen(r, "rb").read()))
    reader.start()
    with os.fdopen(w, "wb") as pipe:
        io.write_audio(pipe, data, io.AudioMeta(16000), fmt="wav")
    reader.join()
    back, rate = sf.read(_bytes_io(got[0]), dtype="int16", always_2d=True)
    assert rate == 16000 and np.array_equal(back.T, data)


def _bytes_io(raw: bytes):
    import io as std_io

    return std_io.BytesIO(raw)


def test_readers_need_no_torch(tmp_path):
    import subprocess
    import sys

    Image.new("RGB", (4, 3)).save(tmp_path / "a.png")
    sf.write(tmp_path / "a.wav", np.zeros((10, 1)), 8000)
    code = (f"import sys; from walloc import io; io.read_image_array({str(tmp_path / 'a.png')!r}); "
            f"io.read_audio_array({str(tmp_path / 'a.wav')!r}); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_c_library_messages_are_quoted_not_printed(capfd):
    """libtiff prints its errors to file descriptor 2 from C; the reader keeps them off the terminal
    and quotes the first in its one-line error (fd 2 is restored after), in the main thread and not in others."""
    import sys
    import threading
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "realworld"))
    import make_fixtures

    data = make_fixtures.damaged_strip_tiff()
    with pytest.raises(MediaError, match="TIFFFillStrip"):
        io.read_image_array(data)
    assert capfd.readouterr().err == ""
    errors = []
    worker = threading.Thread(target=lambda: errors.append(pytest.raises(MediaError, io.read_image_array, data)))
    worker.start()
    worker.join()
    assert errors and "TIFFFillStrip" in capfd.readouterr().err  # a worker thread leaves fd 2 alone
