"""Media files to arrays and back, keeping what is needed to write them out as they came in.

Images: Pillow (PNG, JPEG, WebP, TIFF, BMP, ...) and ``.npy`` arrays (H, W) or (H, W, C) of uint8,
uint16 or floats in [0, 1], for any channel count up to 64. Pixels are read channels first, as integers
at their bit depth (8 or 16, kept in :class:`ImageMeta`) or floats; JPEG EXIF orientation is applied.
Audio: soundfile (WAV, FLAC, Ogg, MP3). Samples are read channels first, as int16 or floats in [-1, 1];
the sample rate and the sample format are kept.

``read_image_array`` / ``read_audio_array`` return numpy arrays and need no torch (the encoder's path);
``read_image`` / ``read_audio`` return torch tensors (floats unless ``native``). Writers take either.

Documented conversions: palette images become RGB (RGBA if they have transparency), 1-bit images
become 8-bit grayscale, CMYK/YCbCr/LAB become RGB; 16-bit PNGs keep 16 bits (grayscale, gray + alpha,
RGB, RGBA; read here, since Pillow reduces the colour ones to 8 bits); 32-bit integer images are read
as 16-bit. What cannot be kept is refused (16-bit colour TIFF, interlaced 16-bit colour PNG), never
silently reduced; so is writing 16 bits to a format that holds 8. Float images (from a float ``.npy``)
keep their floats as ``.npy`` and are written as 8-bit pixels to picture formats.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, Union

import numpy as np

from .errors import MediaError

if TYPE_CHECKING:
    import torch

Source = Union[str, Path, bytes, BinaryIO]
Target = Union[str, Path, BinaryIO]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".npy"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3"}
# sample formats we can write back, by bit depth code kept in the header
AUDIO_SUBTYPES = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
MAX_NPY_CHANNELS = 64
UNKNOWN_FRAMES = (1 << 63) - 1  # libsndfile's frame count for a file that does not give its length
AUDIO_BLOCK = 1 << 16           # frames per read of such a file

# What each output format holds: channel counts, and whether 16 bits per sample survive (1: grayscale only).
IMAGE_FORMATS = {"png": ((1, 2, 3, 4), 4), "tif": ((1, 2, 3, 4), 1), "tiff": ((1, 2, 3, 4), 1),
                 "jpg": ((1, 3), 0), "jpeg": ((1, 3), 0), "webp": ((3, 4), 0), "bmp": ((1, 3), 0), "npy": (None, None)}
AUDIO_FORMATS = {"wav": None, "flac": 8}  # most channels the format holds (None: any)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageMeta:
    bit_depth: int = 8      # 8 or 16 bits per sample
    float_array: bool = False  # came from a float .npy array


@dataclass(frozen=True)
class AudioMeta:
    sample_rate: int
    bit_depth: int = 16     # 8, 16, 24 or 32 (integer PCM) ...
    float_samples: bool = False  # ... or float samples


def _open(source: Source) -> BinaryIO:
    if isinstance(source, (bytes, bytearray)):
        return _io.BytesIO(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise MediaError(f"{path} is a directory, not a file")
        try:
            return open(path, "rb")
        except OSError as e:
            raise MediaError(f"cannot read {path}: {e.strerror}") from None
    return source


def _name(source: Source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "input"


@contextlib.contextmanager
def _quiet() -> Iterator[list[str]]:
    """Keep what the readers print off the user's terminal: libtiff and mpg123 write warnings and
    errors to file descriptor 2 from C, Pillow warns through Python. A refusal must be one line, so
    the C lines are collected (after the block) for the refusal to quote, and warnings are dropped.
    Only in the main thread: the descriptor and the warning filters belong to the whole process, and
    swapping them from several threads at once could leave them pointing at the wrong place."""
    lines: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield lines
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to guard
        saved = None
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if saved is not None:
            os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            lines.extend(line.strip() for line in sink.read().decode("utf-8", "replace").splitlines() if line.strip())


def _reason(error: BaseException, printed: list[str]) -> str:
    """One line saying why a reader failed: the first line its C library printed (more telling than
    libsndfile's "not a regular file" or Pillow's "decoder error -2"), else its exception."""
    if printed:
        return printed[0].split("] ", 1)[-1][:200]  # mpg123 starts with [source:function():line]
    return " ".join(str(getattr(error, "error_string", None) or error or type(error).__name__).split())


# -- images -------------------------------------------------------------------------------------------------
def read_image_array(source: Source) -> tuple[np.ndarray, ImageMeta]:
    """Read an image as a (C, H, W) array: uint8 or uint16 pixels at the file's bit depth, or float32 in
    [0, 1] for a float ``.npy``. Needs no torch."""
    name = _name(source)
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".npy":
        arr, meta = _read_npy(source)
    else:
        stream = _open(source)
        try:
            arr, meta = _read_picture(stream, name)
        finally:
            if isinstance(source, (str, Path)):
                stream.close()
    if arr.size == 0:
        raise MediaError(f"{name}: the image is empty")
    return np.ascontiguousarray(arr.transpose(2, 0, 1)), meta


def read_image(source: Source, native: bool = False) -> tuple["torch.Tensor", ImageMeta]:
    """Read an image as a (C, H, W) float tensor in [0, 1].

    ``native`` keeps 8-bit images as uint8 (a quarter of the memory; the codec takes either).
    """
    import torch

    arr, meta = read_image_array(source)
    if arr.dtype == np.uint8 and native:
        return torch.from_numpy(arr), meta
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)
    return torch.from_numpy(arr), meta


def _read_picture(stream: BinaryIO, name: str) -> tuple[np.ndarray, ImageMeta]:
    """(H, W, C) pixels of any picture file: 16-bit colour PNGs here, everything else through Pillow."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    with _quiet() as printed:  # huge images are what tiling is for; Pillow's hard limit still holds
        try:
            head = stream.read(33)
            stream.seek(-len(head), 1)
            if _is_png16_colour(head):
                return _read_png16(stream.read(), name), ImageMeta(bit_depth=16)
            with Image.open(stream) as im:
                _refuse_reduced_tiff(im, name)
                _refuse_frames(im, name)
                im.load()
                meta = ImageMeta(bit_depth=16 if im.mode in ("I;16", "I;16B", "I;16L", "I") else 8)
                ImageOps.exif_transpose(im, in_place=True)  # as a viewer shows it (no copy without EXIF)
                return _pixels(im, name), meta
        except MediaError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever a damaged or unusual file makes Pillow raise
            failure = e
    if isinstance(failure, UnidentifiedImageError):
        raise MediaError(f"{name}: not an image Pillow can read")
    if isinstance(failure, Image.DecompressionBombError):
        raise MediaError(f"{name}: too large to decode safely ({failure})")
    raise MediaError(f"{name}: damaged, truncated or unsupported image ({_reason(failure, printed)})")


def _refuse_reduced_tiff(im, name: str) -> None:
    """Pillow reads colour TIFFs of more than 8 bits per sample as 8-bit: refuse rather than lose bits."""
    bits = getattr(im, "tag_v2", {}).get(258) if im.format == "TIFF" else None
    if bits and max(bits if isinstance(bits, tuple) else (bits,)) > 8 and im.mode in ("LA", "RGB", "RGBA"):
        raise MediaError(f"{name}: a {max(bits)}-bit colour TIFF cannot be read without losing bits; "
                         "save it as a 16-bit PNG or an (H, W, C) uint16 .npy")


def _refuse_frames(im, name: str) -> None:
    """Animations (GIF, APNG, WebP) and multi-page files (TIFF) hold several pictures, and walloc codes
    one: refuse rather than code the first silently. MPO files are exempt: their first picture is the
    photo, the others are renditions of it (a stereo view, a gain map) that viewers do not show."""
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":
        raise MediaError(f"{name}: {frames} frames (an animation or a multi-page file); walloc codes one still "
                         "image: extract a frame first")


def _pixels(im, name: str = "input") -> np.ndarray:
    """Pillow image -> (H, W, C) array, applying the documented mode conversions; a tRNS key colour
    (a colour or gray value marked transparent) becomes an alpha channel."""
    key = im.info.get("transparency") if im.mode in ("1", "L", "RGB", "I", "I;16", "I;16B", "I;16L") else None
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif im.mode == "F":
        raise MediaError(f"{name}: 32-bit float images are not supported; save as 8- or 16-bit, or as .npy")
    arr = np.array(im)  # a writable copy: torch tensors must not alias read-only memory
    if im.mode == "I":
        arr = np.clip(arr, 0, 65535).astype(np.uint16)
    elif arr.dtype != np.uint8:
        arr = arr.astype(np.uint16)  # I;16B and friends: native byte order
    return _keyed(arr.reshape(arr.shape[0], arr.shape[1], -1), key)


def _keyed(arr: np.ndarray, key: Any) -> np.ndarray:
    """(H, W, C) pixels with an alpha channel added that is zero where every channel equals ``key`` (PNG's
    tRNS for gray and RGB images); unchanged when the key is malformed or marks no pixel."""
    values = (key,) if isinstance(key, int) else key
    if not isinstance(values, tuple) or len(values) != arr.shape[2] or not all(isinstance(v, int) for v in values):
        return arr
    clear = np.all(arr == np.asarray(values, dtype=np.int64).astype(arr.dtype), axis=2)
    if not clear.any():
        return arr
    alpha = np.where(clear, 0, np.iinfo(arr.dtype).max).astype(arr.dtype)
    return np.concatenate([arr, alpha[:, :, None]], axis=2)


def _is_png16_colour(head: bytes) -> bool:
    """A PNG of 16 bits per sample with colour or alpha (type 2, 4 or 6), which Pillow would reduce."""
    return (len(head) >= 26 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
            and head[24] == 16 and head[25] in (2, 4, 6))


def _read_png16(data: bytes, name: str) -> np.ndarray:
    """(H, W, C) uint16 pixels of a non-interlaced 16-bit PNG (colour types 2, 4, 6)."""
    from PIL import Image

    chunks, pos, idat = {}, 8, []
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + size]
        if len(body) < size or data[pos + 8 + size: pos + 12 + size] != struct.pack(">I", zlib.crc32(kind + body)):
            raise MediaError(f"{name}: damaged or truncated image (bad {kind.decode('latin-1')} chunk)")
        if kind == b"IDAT":
            idat.append(body)
        else:
            chunks.setdefault(kind, body)
        pos += 12 + size
        if kind == b"IEND":
            break
    width, height, _, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    channels = {2: 3, 4: 2, 6: 4}[colour]
    if interlace:
        raise MediaError(f"{name}: interlaced 16-bit colour PNGs are not supported; save it without interlacing")
    if Image.MAX_IMAGE_PIXELS and width * height > 2 * Image.MAX_IMAGE_PIXELS:  # Pillow's own limit
        raise MediaError(f"{name}: too large to decode safely ({width * height} pixels)")
    stride = width * channels * 2
    size = height * (stride + 1)
    try:
        decoder = zlib.decompressobj()
        raw = decoder.decompress(b"".join(idat), size)
    except zlib.error as e:
        raise MediaError(f"{name}: damaged or truncated image ({e})") from None
    if len(raw) != size or not width * height:
        raise MediaError(f"{name}: damaged or truncated image (pixel data of {len(raw)} bytes, not {size})")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    pixels = _unfilter(rows[:, 0], rows[:, 1:].reshape(height, width, channels * 2), name)
    key = struct.unpack(">3H", chunks[b"tRNS"]) if colour == 2 and len(chunks.get(b"tRNS", b"")) == 6 else None
    return _keyed(pixels.view(">u2").astype(np.uint16), key)


def _unfilter(kinds: np.ndarray, x: np.ndarray, name: str) -> np.ndarray:
    """Undo the PNG filters of each row (``kinds``) on the bytes ``x`` (H, W, bytes per pixel).

    None, Sub and Up need only the row above, so rows using only those are undone a row at a time;
    Average and Paeth also need the reconstructed pixel to the left, so images using them are undone
    along anti-diagonals: pixel (r, c) needs only (r, c-1), (r-1, c) and (r-1, c-1), all on earlier ones.
    """
    if kinds.max(initial=0) > 4:
        raise MediaError(f"{name}: damaged image (unknown PNG filter {kinds.max()})")
    h, w, _ = x.shape
    if not kinds.any():
        return x
    if kinds.max() <= 2:
        out = np.empty_like(x)
        above = np.zeros_like(x[0])
        for r, kind in enumerate(kinds):
            row = x[r] + above if kind == 2 else x[r]
            out[r] = np.cumsum(row, axis=0, dtype=np.uint8) if kind == 1 else row  # uint8 wraps as PNG does
            above = out[r]
        return out
    out = np.zeros((h + 1, w + 1, x.shape[2]), np.int16)  # a zero row above and a zero column to the left
    for d in range(h + w - 1):
        r = np.arange(max(0, d - w + 1), min(h, d + 1))
        c = d - r
        a, b, ul = out[r + 1, c], out[r, c + 1], out[r, c]
        p = a + b - ul
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - ul)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, ul))
        k = kinds[r][:, None]
        guess = np.select([k == 1, k == 2, k == 3, k == 4], [a, b, (a + b) >> 1, paeth], 0)
        out[r + 1, c + 1] = (x[r, c] + guess) & 255
    return out[1:, 1:].astype(np.uint8)


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG of (H, W, C) uint16 pixels, C in 1..4 (filter None, zlib level 6)."""
    h, w, c = arr.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.zeros((h, 1 + w * c * 2), np.uint8)
    rows[:, 1:] = np.ascontiguousarray(arr, dtype=">u2").view(np.uint8).reshape(h, -1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    idat = zlib.compress(rows.tobytes(), 6)
    parts = [chunk(b"IDAT", idat[i: i + (1 << 30)]) for i in range(0, len(idat), 1 << 30)]
    return PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)) + b"".join(parts) + chunk(b"IEND", b"")


def _read_npy(path: Source) -> tuple[np.ndarray, ImageMeta]:
    """(H, W, C) array of a ``.npy`` image, refusing layouts and dtypes that are not an image."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MediaError(f"{path}: not a readable .npy array ({e})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.size == 0:
        raise MediaError(f"{path}: expected an (H, W) or (H, W, C) array, got shape {arr.shape}")
    if arr.shape[0] <= 4 < arr.shape[2]:
        raise MediaError(f"{path}: shape {arr.shape} looks like (C, H, W); .npy images are (H, W, C): "
                         "save np.transpose(a, (1, 2, 0))")
    if arr.shape[2] > MAX_NPY_CHANNELS:
        raise MediaError(f"{path}: {arr.shape[2]} channels in the last axis (at most {MAX_NPY_CHANNELS}); "
                         ".npy images are (H, W) or (H, W, C)")
    if arr.dtype in (np.uint8, np.uint16):
        return arr, ImageMeta(8 * arr.dtype.itemsize)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise MediaError(f"{path}: the array holds NaN or infinite values")
        return np.clip(arr, 0, 1).astype(np.float32), ImageMeta(float_array=True)
    raise MediaError(f"{path}: unsupported array dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")


def check_image_format(fmt: str, channels: int, bit_depth: int) -> None:
    """Refuse, before any work, an image format that cannot hold these channels at this bit depth."""
    if fmt not in IMAGE_FORMATS:
        raise MediaError(f"images are written as {_listed(IMAGE_FORMATS)}, not .{fmt}")
    counts, deep = IMAGE_FORMATS[fmt]
    if counts is not None and channels not in counts:
        where = ", ".join(f".{f}" for f, (n, _) in IMAGE_FORMATS.items() if n is None or channels in n)
        raise MediaError(f"a {channels}-channel image cannot be written as .{fmt}; use {where}")
    if deep is not None and bit_depth > 8 and channels > deep:
        raise MediaError(f"a 16-bit {channels}-channel image would lose bits as .{fmt}; use .png or .npy")


def write_image(path: Target, x: Any, meta: ImageMeta, fmt: str | None = None) -> None:
    """Write a (C, H, W) array or tensor (floats in [0, 1], uint8 or uint16); the format comes from the
    name unless given, and must hold the image (:func:`check_image_format`)."""
    fmt = _format_of(path, fmt, "png")
    arr = _numpy(x)
    c = arr.shape[0]
    bits = 0 if meta.float_array and fmt == "npy" else meta.bit_depth
    check_image_format(fmt, c, bits)
    pixels = _quantized(arr, bits).transpose(1, 2, 0)
    if fmt == "npy":
        _emit(path, lambda f: np.save(f, np.ascontiguousarray(pixels), allow_pickle=False))
        return
    if bits == 16 and c > 1:
        _emit(path, lambda f: f.write(_png16(pixels)))
        return
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if c == 1 else pixels))  # L, I;16, LA, RGB, RGBA
    pil_format = {"jpg": "JPEG", "tif": "TIFF"}.get(fmt, fmt.upper())
    try:
        _emit(path, lambda f: im.save(f, format=pil_format))
    except (KeyError, ValueError) as e:
        raise MediaError(f"cannot write a {c}-channel image as {fmt}: {e}") from None


def _quantized(arr: np.ndarray, bits: int) -> np.ndarray:
    """Pixels as integers of ``bits`` (8 or 16), or floats in [0, 1] for 0; exact when already so."""
    target = {0: np.float32, 8: np.uint8, 16: np.uint16}[bits]
    if arr.dtype == target:
        return arr
    scale = np.float32(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else np.float32(1)
    unit = np.clip(arr.astype(np.float32) / scale, 0, 1)
    return unit if bits == 0 else np.round(unit * ((1 << bits) - 1)).astype(target)


# -- audio --------------------------------------------------------------------------------------------------
def read_audio_array(source: Source, native: bool = True) -> tuple[np.ndarray, AudioMeta]:
    """Read audio as a (C, L) array: int16 for 8/16-bit PCM and lossy formats when ``native``, else
    float32 in [-1, 1]. Needs no torch."""
    import soundfile as sf

    name = _name(source)
    stream = _open(source)
    with _quiet() as printed:  # mpg123 prints its warnings from C
        try:
            with sf.SoundFile(stream) as f:
                subtype, rate = f.subtype, f.samplerate
                as_int16 = native and AUDIO_SUBTYPES.get(subtype, 16) <= 16
                data = _samples(f, "int16" if as_int16 else "float32")
            failure = None
        except Exception as e:  # noqa: BLE001 - whatever a damaged or unusual file makes soundfile raise
            failure = e
        finally:
            if isinstance(source, (str, Path)):
                stream.close()
    if failure is not None:
        raise MediaError(f"{name}: not audio soundfile can read ({_reason(failure, printed)})")
    if data.shape[0] == 0:
        raise MediaError(f"{name}: the audio has no samples")
    is_float = subtype in ("FLOAT", "DOUBLE")
    meta = AudioMeta(sample_rate=rate, bit_depth=AUDIO_SUBTYPES.get(subtype, 16), float_samples=is_float)
    if data.dtype != np.int16:
        if not np.isfinite(data).all():
            raise MediaError(f"{name}: the audio holds NaN or infinite samples")
        data = np.clip(data, -1, 1)
    return np.ascontiguousarray(data.T), meta


def _samples(f, dtype: str) -> np.ndarray:
    """All samples of an open SoundFile as (L, C). A file that cannot seek (GSM 6.10 WAV) or does not
    give its length (a FLAC from a streaming encoder declares none) is read a block at a time to its end."""
    if f.frames >= UNKNOWN_FRAMES:
        # soundfile asks libsndfile for the position before each read of a seekable file, which such a
        # FLAC cannot give ("psf_fseek() failed"): read it forward only
        f._info.seekable = 0
    if f.seekable():
        return f.read(dtype=dtype, always_2d=True)
    blocks = []
    while len(block := f.read(AUDIO_BLOCK, dtype=dtype, always_2d=True)):
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, f.channels), dtype)


def read_audio(source: Source, native: bool = False) -> tuple["torch.Tensor", AudioMeta]:
    """Read audio as a (C, L) float tensor in [-1, 1].

    ``native`` reads 8/16-bit PCM and lossy formats as int16 (half the memory; the codec takes either).
    """
    import torch

    data, meta = read_audio_array(source, native)
    return torch.from_numpy(data), meta


def check_audio_format(fmt: str, channels: int) -> None:
    """Refuse, before any work, an audio format that cannot hold this many channels."""
    if fmt not in AUDIO_FORMATS:
        raise MediaError(f"audio is written as .wav or .flac, not .{fmt}")
    most = AUDIO_FORMATS[fmt]
    if most is not None and channels > most:
        raise MediaError(f".{fmt} holds at most {most} channels, not {channels}; use .wav")


def write_audio(path: Target, x: Any, meta: AudioMeta, fmt: str | None = None) -> None:
    """Write a (C, L) array or tensor (floats in [-1, 1] or int16); WAV keeps the original sample
    format, FLAC the nearest it supports. Built in memory, so a pipe gets a valid stream."""
    import soundfile as sf

    fmt = _format_of(path, fmt, "wav")
    data = _numpy(x)
    check_audio_format(fmt, data.shape[0])
    if fmt == "flac":
        subtype = {8: "PCM_S8", 24: "PCM_24"}.get(meta.bit_depth, "PCM_16")
    elif meta.float_samples:
        subtype = "FLOAT" if meta.bit_depth == 32 else "DOUBLE"
    else:
        subtype = {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}.get(meta.bit_depth, "PCM_16")
    samples = data.T if data.dtype == np.int16 else np.clip(data.astype(np.float32), -1, 1).T
    _emit(path, lambda f: sf.write(f, samples, meta.sample_rate, subtype=subtype, format=fmt.upper()))


# -- shared -------------------------------------------------------------------------------------------------
def _format_of(path: Target, fmt: str | None, default: str) -> str:
    """The format asked for, else the suffix of the target's name, else ``default`` for a stream."""
    if fmt:
        return fmt.lower().lstrip(".")
    name = path if isinstance(path, (str, Path)) else getattr(path, "name", None)
    suffix = Path(name).suffix.lstrip(".").lower() if isinstance(name, (str, Path)) else ""
    if suffix:
        return suffix
    if isinstance(path, (str, Path)):
        raise MediaError(f"{path} has no suffix to tell its format; name one (e.g. .{default})")
    return default


def _listed(formats: dict) -> str:
    return ", ".join(f".{f}" for f in formats)


def _numpy(x: Any) -> np.ndarray:
    """A numpy view of an array or a (CPU or GPU) torch tensor."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _emit(target: Target, build: Callable[[BinaryIO], Any]) -> None:
    """Build a file in memory and write it out in one go: writers that seek (WAV headers, TIFF) then
    work on pipes too, and a path gets its bytes only once they are complete."""
    buffer = _io.BytesIO()
    build(buffer)
    if isinstance(target, (str, Path)):
        with open(target, "wb") as f:
            f.write(buffer.getbuffer())
    else:
        target.write(buffer.getbuffer())


def modality_of(path: Union[str, Path], head: bytes = b"") -> str:
    """'image' or 'audio', from the name, else from the first bytes."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if head[:4] in (b"RIFF", b"fLaC", b"OggS") or head[:3] == b"ID3":
        return "audio" if head[8:12] != b"WEBP" else "image"
    if head:
        return "image"
    raise MediaError(f"{path}: cannot tell whether this is an image or audio from its name")
