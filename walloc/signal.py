"""Samples: which dtypes a signal may have, and how integer samples map to the codec's floats and back.

One rule for every path: integer samples are ``x / scale`` in the codec's range (images [0, 1], audio
[-1, 1]), with the scale of :data:`SCALE` by dtype; decoded floats go back by ``x * scale``, rounded
half to even and clipped to the dtype. Images asked for as int32, int64 or uint16 are the stream's own
pixel values instead (0..255, or 0..65535 for a 16-bit stream). The numpy encoder, the torch bands
(:mod:`walloc.tiling`) and both decoders read these; torch is imported only by the functions that
take tensors, so this module keeps ``import walloc`` torch-free.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import MediaError

if TYPE_CHECKING:
    import torch

# dtypes a signal may have, by modality: (numpy kind, item size) -> bit depth coded; floats are any size
INTEGER = {"image": {("u", 1): 8, ("u", 2): 16}, "audio": {("i", 2): 16, ("i", 4): 32}}
_ACCEPTED = {"image": "float16/32/64 in [0, 1], uint8 or uint16", "audio": "float16/32/64 in [-1, 1], int16 or int32"}
# integer samples as floats in the codec's range (x / scale); the C++ encoder reads uint8 and int16 itself
SCALE = {("u", 1): 255.0, ("i", 2): 32768.0, ("u", 2): 65535.0, ("i", 4): 2147483648.0}
_NATIVE = {("u", 1), ("i", 2)}
_PIXELS = {("i", 4), ("i", 8), ("u", 2)}  # image outputs at the stream's own pixel values


def numpy_dtype(dtype: Any) -> np.dtype:
    """A numpy dtype or the numpy twin of a torch dtype (torch is not imported for it); bfloat16 reads as float32."""
    if not type(dtype).__module__.startswith("torch"):
        return np.dtype(dtype)
    name = str(dtype).replace("torch.", "")
    try:
        return np.dtype({"bfloat16": "float32", "complex32": "V4", "bool": "?"}.get(name, name))
    except TypeError:
        raise MediaError(f"tensors of dtype {name} are not accepted") from None


def scale_of(dtype: Any) -> float | None:
    """What integer samples of ``dtype`` (numpy or torch) are divided by to become floats; None for floats."""
    try:
        d = numpy_dtype(dtype)
    except MediaError:  # a torch dtype numpy has no twin of (float8, quantized): not integer samples
        return None
    return SCALE.get((d.kind, d.itemsize))


def dtype_of(x: Any) -> np.dtype:
    """The numpy dtype of a numpy array or torch tensor (torch is not imported for it)."""
    if isinstance(x, np.ndarray):
        return x.dtype
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        return numpy_dtype(x.dtype)
    raise MediaError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


def as_array(x: Any) -> np.ndarray:
    """A numpy array or torch tensor as a numpy array (a view where possible), without importing torch."""
    dtype_of(x)
    if isinstance(x, np.ndarray):
        return x
    try:
        return (x.float() if str(x.dtype) == "torch.bfloat16" else x).detach().cpu().numpy()
    except (TypeError, RuntimeError):
        raise MediaError(f"tensors of dtype {str(x.dtype).replace('torch.', '')} are not accepted") from None


def check_signal(x: Any, modality: str, batched: bool = False) -> None:
    """Refuse in one line a signal (array or tensor) whose dtype, number of axes or layout is not what
    a model codes: images (C, H, W), audio (C, L), with a leading batch axis when ``batched``."""
    dtype = dtype_of(x)
    if not (dtype.kind == "f" and dtype.itemsize in (2, 4, 8)) and (dtype.kind, dtype.itemsize) not in INTEGER[modality]:
        raise MediaError(f"{modality} samples of dtype {dtype if dtype.kind != 'V' else 'complex32'} are not accepted; "
                         f"use {_ACCEPTED[modality]}")
    shape = tuple(x.shape)
    dims = (2 if modality == "image" else 1) + 1 + batched
    layout = ("(B, " if batched else "(") + ("C, H, W)" if modality == "image" else "C, L)")
    if len(shape) != dims:
        raise MediaError(f"{modality}s are {layout} arrays or tensors, got {len(shape)} axes {shape}")
    if math.prod(shape) == 0:
        raise MediaError(f"cannot code an empty signal of shape {shape}")
    c, first, last = shape[batched], shape[batched + 1], shape[-1]
    if modality == "image" and last <= 4 and first > 4 * last and c > 4 * last:
        raise MediaError(f"shape {shape} looks like (H, W, C) pixels; images are {layout}: "
                         "pass x.permute(2, 0, 1) (torch) or x.transpose(2, 0, 1) (numpy)")
    if modality == "audio" and last <= 8 and c > 64 * last:
        raise MediaError(f"shape {shape} looks like (L, C) samples; audio is {layout}: pass x.T")


def bit_depth(x: np.ndarray, modality: str, meta: Any) -> int:
    """Bits per sample to record: the meta's (the file's), at least what integer samples hold."""
    given = getattr(meta, "bit_depth", None)
    implied = INTEGER[modality].get((x.dtype.kind, x.dtype.itemsize))
    if given is None:
        return implied or (8 if modality == "image" else 16)
    return max(given, implied) if modality == "image" and implied else given


def readable(band: np.ndarray) -> tuple[np.ndarray, bool]:
    """A band as the C++ encoder reads it (float32, uint8 or int16 in native order, non-negative
    strides), and whether it holds floats that may be NaN or infinite."""
    kind = (band.dtype.kind, band.dtype.itemsize)
    if kind in SCALE and kind not in _NATIVE:  # exact: float32(x) / scale, as to_float converts
        return band.astype(np.float32) / np.float32(SCALE[kind]), False
    if band.dtype.kind == "f":
        band = band.astype(np.float32, copy=False)
    elif not band.dtype.isnative:
        band = band.astype(band.dtype.newbyteorder("="))
    if any(s < 0 or s % band.itemsize for s in band.strides):
        band = np.ascontiguousarray(band)
    return band, band.dtype.kind == "f"


# -- tensors --------------------------------------------------------------------------------------------
def _all_finite(x: torch.Tensor) -> bool:
    """NaN and infinities propagate to the minimum or maximum: one pass over x and no mask the size
    of x (reduced in memory order, so a channels-last view is not copied either)."""
    import torch

    if x.numel() == 0:
        return True
    lo, hi = torch.aminmax(x.permute(sorted(range(x.dim()), key=lambda d: -x.stride(d))))
    return bool(torch.isfinite(lo) and torch.isfinite(hi))


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Integer samples -> floats in the codec's range; floats are checked for NaN/inf."""
    import torch

    scale = scale_of(x.dtype)
    if scale is not None:
        return x.to(torch.float32).div_(scale)
    x = x.to(torch.float32)
    if not _all_finite(x):
        raise MediaError("the signal holds NaN or infinite values")
    return x


# -- decoded samples --------------------------------------------------------------------------------------
def output_scale(modality: str, bit_depth: int, dtype: Any) -> float | None:
    """What clamped decoded floats are multiplied by to become ``dtype`` (numpy or torch): images in
    int32, int64 or uint16 at the stream's own pixel values, other integers by the dtype's scale; None
    for floats."""
    d = numpy_dtype(dtype)
    if modality == "image" and (d.kind, d.itemsize) in _PIXELS:
        return 65535.0 if bit_depth > 8 else 255.0
    return scale_of(dtype)


def from_float(x: Any, dtype: Any, scale: float | None = None) -> Any:
    """Clamped float32 samples (numpy array or torch tensor) -> ``dtype``: times ``scale`` (default the
    dtype's, see :func:`output_scale`), rounded half to even and clipped to the dtype's range; floats
    are only cast. The result is the same kind as ``x``."""
    scale = scale_of(dtype) if scale is None else scale
    if isinstance(x, np.ndarray):
        dtype = np.dtype(dtype)
        if scale is None:
            return x.astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.rint(x * np.float32(scale)), info.min, info.max).astype(dtype)
    import torch

    if scale is None:
        return x.to(dtype)
    info = torch.iinfo(dtype)
    return x.mul(scale).round_().clamp_(info.min, info.max).to(dtype)  # one float temporary, not three
