"""Media files to tensors and back, keeping what is needed to write them out as they came in.

Images: Pillow (PNG, JPEG, WebP, TIFF, BMP, ...) and ``.npy`` arrays (H, W, C) for any channel
count. Pixels become floats in [0, 1], channels first; the bit depth (8 or 16) is kept.
Audio: soundfile (WAV, FLAC, Ogg, MP3). Samples become floats in [-1, 1], channels first; the sample
rate and the sample format are kept.

Documented conversions: palette images become RGB (RGBA if they have transparency), 1-bit images
become 8-bit grayscale, CMYK/YCbCr/LAB become RGB; 16-bit grayscale stays 16-bit; 32-bit integer
images are read as 16-bit. Pillow itself reduces 16-bit RGB PNGs to 8 bits.
"""

from __future__ import annotations

import io as _io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch

from .errors import MediaError

Source = Union[str, Path, bytes, BinaryIO]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".npy"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3"}
# sample formats we can write back, by bit depth code kept in the header
AUDIO_SUBTYPES = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}


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


def read_image(source: Source, native: bool = False) -> tuple[torch.Tensor, ImageMeta]:
    """Read an image as a (C, H, W) float tensor in [0, 1].

    ``native`` keeps 8-bit images as uint8 (a quarter of the memory; the codec takes either).
    """
    name = _name(source)
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".npy":
        return _read_npy(source)
    from PIL import Image, UnidentifiedImageError

    stream = _open(source)
    try:
        with warnings.catch_warnings():  # huge images are what tiling is for; Pillow's hard limit still holds
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(stream)
        with im:
            im.load()
            meta = ImageMeta(bit_depth=16 if im.mode in ("I;16", "I;16B", "I;16L", "I") else 8)
            arr = _pixels(im)
    except UnidentifiedImageError:
        raise MediaError(f"{name}: not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise MediaError(f"{name}: too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"{name}: damaged or truncated image ({e})") from None
    finally:
        if isinstance(source, (str, Path)):
            stream.close()
    if arr.size == 0:
        raise MediaError(f"{name}: the image is empty")
    if native and arr.dtype == np.uint8:
        return torch.from_numpy(arr).permute(2, 0, 1), meta
    scale = 65535.0 if meta.bit_depth == 16 else 255.0
    x = torch.from_numpy(arr.astype(np.float32) / scale)
    return x.reshape(x.shape[0], x.shape[1], -1).permute(2, 0, 1).contiguous(), meta


def _pixels(im) -> np.ndarray:
    """Pillow image -> (H, W, C) array, applying the documented mode conversions."""
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif im.mode == "F":
        raise MediaError("32-bit float images are not supported; save as 8- or 16-bit, or as .npy")
    arr = np.array(im)  # a writable copy: torch tensors must not alias read-only memory
    if im.mode == "I":
        arr = np.clip(arr, 0, 65535).astype(np.uint16)
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


def _read_npy(path: Source) -> tuple[torch.Tensor, ImageMeta]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MediaError(f"{path}: not a readable .npy array ({e})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.size == 0:
        raise MediaError(f"{path}: expected an (H, W) or (H, W, C) array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return torch.from_numpy(arr.astype(np.float32) / 255).permute(2, 0, 1).contiguous(), ImageMeta()
    if arr.dtype == np.uint16:
        return torch.from_numpy(arr.astype(np.float32) / 65535).permute(2, 0, 1).contiguous(), ImageMeta(16)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise MediaError(f"{path}: the array holds NaN or infinite values")
        x = torch.from_numpy(np.clip(arr, 0, 1).astype(np.float32)).permute(2, 0, 1).contiguous()
        return x, ImageMeta(float_array=True)
    raise MediaError(f"{path}: unsupported array dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")


def write_image(path: Union[str, Path, BinaryIO], x: torch.Tensor, meta: ImageMeta, fmt: str | None = None) -> None:
    """Write a (C, H, W) tensor, floats in [0, 1] or uint8; the format comes from the name unless given."""
    suffix = (fmt or Path(getattr(path, "name", str(path))).suffix.lstrip(".") or "png").lower()
    c = x.shape[0]

    def pixels(bits: int) -> np.ndarray:
        if x.dtype == torch.uint8 and bits == 8:
            return x.detach().permute(1, 2, 0).cpu().numpy()
        arr = (x.detach().float() / 255 if x.dtype == torch.uint8 else x.detach().float()).clamp(0, 1)
        arr = arr.permute(1, 2, 0).cpu().numpy()
        return arr if bits == 0 else _to_int(arr, bits)

    if suffix == "npy":
        np.save(path, pixels(0 if meta.float_array else meta.bit_depth), allow_pickle=False)
        return
    from PIL import Image

    if c not in (1, 2, 3, 4):
        raise MediaError(f"{c}-channel images can only be written as .npy")
    if meta.bit_depth == 16 and c == 1 and suffix in ("png", "tif", "tiff"):
        im = Image.fromarray(pixels(16)[:, :, 0])
    else:
        arr = pixels(8)
        im = Image.fromarray(arr[:, :, 0] if c == 1 else np.ascontiguousarray(arr), mode={1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c])
    pil_format = {"jpg": "JPEG", "tif": "TIFF"}.get(suffix, suffix.upper())
    try:
        im.save(path, format=pil_format)
    except (KeyError, ValueError, OSError) as e:
        raise MediaError(f"cannot write a {c}-channel image as {suffix}: {e}") from None


def _to_int(arr: np.ndarray, bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    return np.round(arr * top).astype(np.uint16 if bits == 16 else np.uint8)


def read_audio(source: Source, native: bool = False) -> tuple[torch.Tensor, AudioMeta]:
    """Read audio as a (C, L) float tensor in [-1, 1].

    ``native`` reads 8/16-bit PCM and lossy formats as int16 (half the memory; the codec takes either).
    """
    import soundfile as sf

    name = _name(source)
    stream = _open(source)
    try:
        with sf.SoundFile(stream) as f:
            subtype, rate = f.subtype, f.samplerate
            as_int16 = native and AUDIO_SUBTYPES.get(subtype, 16) <= 16
            data = f.read(dtype="int16" if as_int16 else "float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise MediaError(f"{name}: not audio soundfile can read ({e})") from None
    finally:
        if isinstance(source, (str, Path)):
            stream.close()
    if data.shape[0] == 0:
        raise MediaError(f"{name}: the audio has no samples")
    is_float = subtype in ("FLOAT", "DOUBLE")
    meta = AudioMeta(sample_rate=rate, bit_depth=AUDIO_SUBTYPES.get(subtype, 16), float_samples=is_float)
    if data.dtype == np.int16:
        return torch.from_numpy(data).t(), meta
    if not np.isfinite(data).all():
        raise MediaError(f"{name}: the audio holds NaN or infinite samples")
    return torch.from_numpy(np.clip(data, -1, 1)).t().contiguous(), meta


def write_audio(path: Union[str, Path, BinaryIO], x: torch.Tensor, meta: AudioMeta, fmt: str | None = None) -> None:
    """Write a (C, L) tensor (floats in [-1, 1] or int16); WAV keeps the original sample format,
    FLAC the nearest it supports."""
    import soundfile as sf

    suffix = (fmt or Path(getattr(path, "name", str(path))).suffix.lstrip(".") or "wav").lower()
    if suffix not in ("wav", "flac"):
        raise MediaError(f"audio is written as .wav or .flac, not .{suffix}")
    if suffix == "flac":
        subtype = {8: "PCM_S8", 24: "PCM_24"}.get(meta.bit_depth, "PCM_16")
    elif meta.float_samples:
        subtype = "FLOAT" if meta.bit_depth == 32 else "DOUBLE"
    else:
        subtype = {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}.get(meta.bit_depth, "PCM_16")
    data = x.detach().t().cpu().numpy() if x.dtype == torch.int16 else x.detach().float().clamp(-1, 1).t().cpu().numpy()
    sf.write(path, data, meta.sample_rate, subtype=subtype, format=suffix.upper())


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
