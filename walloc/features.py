"""Latents to learn on: batched extraction from tensors, media files and ``.wlc`` streams, on any device.

Three sources, one result: the latents of one signal are a (G*K, *s) tensor, where K is the model's
latent dimension, s the signal's extent over 2**J, and G the number of channel groups (1 for RGB and
stereo; see :mod:`walloc.codec` for other channel counts). Batches are (B, G*K, *s).

- :func:`encode` runs the (linear, cheap) encoder on signal tensors, in batches, on any device;
- :func:`from_bytes` / :func:`decode_streams` entropy-decode ``.wlc`` streams through the stream
  layer (:class:`walloc.stream.Stream`); no network runs or is even built. The chunks of a batch of streams decode on CPU
  threads, or with the CUDA rANS coder when the batch is asked for on a GPU, the streams are
  factorized and the extension was built with CUDA (context-model streams decode on the CPU);
- :func:`from_files` does either, per file: media files are read (and optionally brought to a fixed
  size with :func:`load_signal`), ``.wlc`` files are entropy-decoded.

Dense tasks learn (input latents, target latents) pairs: :func:`pairs` from signals and a transform
that makes each input from its target (:func:`gray` for colorization, :func:`mixture` for separation),
:func:`file_pairs` from paired files, or from one list of files and such a transform.

``kind`` picks what comes out: ``"float"`` (encoder output before rounding), ``"int"`` (int32 symbols,
what a stream holds) or ``"dequantized"`` (symbols times the quantizer step: what a classifier should
see). ``encode(..., kind="int")`` equals the latents that ``Codec.compress`` writes, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import io, stream
from .codec import Codec
from .signal import as_array, check_signal
from .errors import MediaError

KINDS = ("float", "int", "dequantized")


def _check_kind(kind: str, allowed: Sequence[str] = KINDS) -> None:
    if kind not in allowed:
        raise ValueError(f"kind must be one of {', '.join(allowed)}, not {kind!r}")


def _codec(codec: Codec | None, model: str | None = None, modality: str = "image") -> Codec:
    if codec is not None:
        return codec
    import walloc

    return walloc.load(model, modality)


# -- tensors ------------------------------------------------------------------------------------------
def _tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    a = as_array(x)
    return torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("=")) if not (a.flags.writeable and a.dtype.isnative) else a)


def encode(codec: Codec, x: torch.Tensor | np.ndarray, *, kind: str = "float", quality: int | None = None,
           batch_size: int = 64, device: str | torch.device | None = None) -> torch.Tensor:
    """Signals (B, C, *S) (or one signal (C, *S)) -> latents (B, G*K, *ceil(S / 2**J)) on ``device``.

    Floats or integer samples (as :meth:`Codec.compress` takes them), torch or numpy. Any channel
    count C is coded in groups of the model's channels, as ``Codec.compress`` does. The encoder runs
    ``batch_size`` signals at a time on ``device`` (default: the codec's device); the codec itself
    stays where it is (another device gets a copy of it).
    """
    _check_kind(kind)
    x = _tensor(x)
    single = x.dim() == codec.cfg.dims + 1
    if single:
        x = x.unsqueeze(0)
    check_signal(x, codec.modality, batched=True)
    if device is not None:
        codec = codec.on(device)
    b, c, m = x.shape[0], x.shape[1], codec.cfg.channels
    groups = -(-c // m)
    out = []
    for start in range(0, b, batch_size):
        part = x[start: start + batch_size]
        if c % m:
            part = torch.cat([part, part[:, -1:].expand(-1, groups * m - c, *part.shape[2:])], 1)
        y = codec.encode(part.reshape(-1, m, *part.shape[2:]))
        if kind != "float":
            y = codec.quantize(y, quality)
            if kind == "dequantized":
                y = codec.dequantize(y, quality)
        out.append(y.reshape(part.shape[0], groups * y.shape[1], *y.shape[2:]))
    y = torch.cat(out)
    return y[0] if single else y


# -- .wlc streams ---------------------------------------------------------------------------------------
def decode_streams(streams: Sequence[bytes], *, codec: Codec | None = None, kind: str = "int",
                   device: str | torch.device | None = None, threads: int = 1) -> torch.Tensor:
    """Streams of one model, quality and latent shape -> latents (B, G*K, *s), by entropy decoding alone.

    Chunks decode on ``threads`` CPU threads (0: all cores), or with the CUDA rANS coder when ``device``
    is a CUDA device, the streams are factorized (coder 2) and ``walloc._rans`` was built with CUDA.
    """
    _check_kind(kind, ("int", "dequantized"))
    if not streams:
        raise MediaError("no streams to decode")
    layer = codec.stream if codec is not None else stream.for_stream(streams[0])
    headers, out = layer.read_latents_batch(streams, threads, device or "cpu")
    first = headers[0]
    out = out.reshape(len(streams), first.groups * first.latent_channels, *first.latent_extent)
    return stream.dequantize(out, layer.quality(first.quality)) if kind == "dequantized" else out


def from_bytes(data: bytes, *, codec: Codec | None = None, kind: str = "int",
               device: str | torch.device | None = None) -> torch.Tensor:
    """One ``.wlc`` stream -> its latents (G*K, *s): int32 symbols, or ``kind="dequantized"`` floats."""
    return decode_streams([data], codec=codec, kind=kind, device=device)[0]


# -- files ------------------------------------------------------------------------------------------------
def to_size(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bring one signal to a fixed size: images (C, H, W) have their short side resized to ``size``
    (bilinear, antialiased) and are center-cropped to size x size; audio (C, L) is center-cropped, or
    zero-padded at the end, to ``size`` samples. ``None`` keeps the signal as it is."""
    if size is None:
        return x
    if size <= 0:
        raise MediaError(f"size must be positive, got {size}")
    if x.dim() == 3:
        h, w = x.shape[1:]
        if min(h, w) != size:
            scale = size / min(h, w)
            h, w = max(size, round(h * scale)), max(size, round(w * scale))
            x = F.interpolate(x[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
        top, left = (h - size) // 2, (w - size) // 2
        return x[:, top: top + size, left: left + size].contiguous()
    n = x.shape[-1]
    if n >= size:
        start = (n - size) // 2
        return x[:, start: start + size].contiguous()
    return F.pad(x, (0, size - n))


fit = to_size  # deprecated name (docs/compressed-learning.md, walloc.data, walloc.ray): "fit" is for fitting models to data

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the weights of Pillow's RGB -> "L"


def to_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Bring one signal to ``channels`` channels, so that a tree of mixed files gives examples of one
    shape (datasets often mix grayscale, colour and RGBA images, or mono and stereo clips). Images
    (C, H, W): alpha is dropped, then gray -> RGB by repeating it, RGB -> gray by BT.601 luma; only 1
    and 3 are image channel counts. Audio (C, L): C -> 1 by the mean (a mono mix), 1 -> N by repeating.
    ``None`` keeps the signal as it is."""
    c = x.shape[0]
    if channels is None or channels == c:
        return x
    if x.dim() == 3:
        if channels not in (1, 3):
            raise MediaError(f"images can be brought to 1 (gray) or 3 (RGB) channels, not {channels}")
        colour = x[:3] if c >= 3 else x[:1]  # RGBA -> RGB, gray + alpha -> gray
        if len(colour) == channels:
            return colour.contiguous()
        if channels == 3:
            return colour.expand(3, -1, -1).contiguous()
        gray = torch.einsum("c,chw->hw", torch.tensor(LUMA, dtype=torch.float64), colour.double())[None]
        return gray.to(x.dtype) if x.is_floating_point() else gray.round().to(x.dtype)  # uint8 pixels stay uint8
    if channels == 1:
        mix = x.double().mean(0, keepdim=True)
        return mix.to(x.dtype) if x.is_floating_point() else mix.round().to(x.dtype)
    if c == 1:
        return x.expand(channels, -1).contiguous()
    raise MediaError(f"audio of {c} channels can be brought to 1 (a mono mix) or to its own {c}, not {channels}")


def load_signal(path: str | Path, size: int | None = None,
                channels: int | None = None) -> tuple[torch.Tensor, io.ImageMeta | io.AudioMeta]:
    """A media file -> (signal, meta): an image (C, H, W) in [0, 1] or audio (C, L) in [-1, 1], brought
    to ``channels`` (see :func:`to_channels`) and brought to ``size`` (see :func:`to_size`)."""
    modality = io.modality_of(path)
    signal, meta = io.read_image(path) if modality == "image" else io.read_audio(path)
    return to_size(to_channels(signal, channels), size), meta


def from_files(paths: Iterable[str | Path], codec: Codec | None = None, *, size: int | None = None,
               kind: str = "float", quality: int | None = None, batch_size: int = 32,
               device: str | torch.device | None = None, channels: int | None = None) -> list[torch.Tensor]:
    """Latents (G*K, *s) of each file, in order: media files are read, brought to ``channels`` and
    to ``size`` (:func:`load_signal`) and encoded in batches of equal shapes; ``.wlc`` files are
    entropy-decoded (``kind`` "int" or "dequantized")."""
    _check_kind(kind)
    out: list[torch.Tensor | None] = []
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        if pending:
            y = encode(codec, torch.stack([s for _, s in pending]), kind=kind, quality=quality,
                       batch_size=batch_size, device=device)
            for (i, _), latents in zip(pending, y):
                out[i] = latents
            pending.clear()

    for path in paths:
        path = Path(path)
        if path.suffix.lower() == ".wlc":
            if kind == "float":
                raise MediaError(f"{path}: a stream holds quantized latents; ask for kind 'int' or 'dequantized'")
            try:
                data = path.read_bytes()
            except OSError as e:
                raise MediaError(f"cannot read {path}: {e.strerror}") from None
            out.append(from_bytes(data, codec=codec, kind=kind, device=device))
            continue
        signal, _ = load_signal(path, size, channels)
        if codec is None:
            codec = _codec(None, None, io.modality_of(path))
        if pending and (pending[0][1].shape != signal.shape or len(pending) >= batch_size):
            flush()
        pending.append((len(out), signal))
        out.append(None)
    flush()
    return out  # type: ignore[return-value]


# -- pairs for dense tasks -------------------------------------------------------------------------------
def gray(x: torch.Tensor) -> torch.Tensor:
    """Colour images (..., 3, H, W) in [0, 1] -> gray (..., 1, H, W), BT.601 luma (as :func:`to_channels`)."""
    if x.dim() < 3 or x.shape[-3] != 3:
        raise MediaError(f"gray() takes RGB images (..., 3, H, W), got {tuple(x.shape)}")
    return torch.einsum("c,...chw->...hw", torch.tensor(LUMA, dtype=x.dtype, device=x.device), x).unsqueeze(-3)


def mixture(target: torch.Tensor, other: torch.Tensor, ratio_db: float | torch.Tensor) -> torch.Tensor:
    """``target + g * other`` with g such that the target is ``ratio_db`` dB above the other source in
    power, per item (clips (B, C, L), ``ratio_db`` a number or one per item); a silent ``other`` adds nothing."""
    if target.shape != other.shape:
        raise MediaError(f"the sources of a mixture need one shape, got {tuple(target.shape)} and {tuple(other.shape)}")
    axes = tuple(range(1, target.dim()))
    power_t, power_o = target.square().mean(axes, keepdim=True), other.square().mean(axes, keepdim=True)
    ratio = torch.as_tensor(ratio_db, dtype=target.dtype).reshape(-1, *[1] * (target.dim() - 1))
    gain = torch.sqrt(power_t / (power_o.clamp_min(1e-12) * 10.0 ** (ratio / 10.0)))
    return target + gain * other


def pairs(codec: Codec, targets: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor], *,
          kind: str = "dequantized", quality: int | None = None, batch_size: int = 64,
          device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input latents, target latents) of signals (B, C, *S) and a transform that makes the inputs from
    them (``features.gray``; ``lambda s: features.mixture(s, music, 0.0)``); see :func:`encode`."""
    inputs = transform(targets)
    return tuple(encode(codec, s, kind=kind, quality=quality, batch_size=batch_size, device=device)  # type: ignore[return-value]
                 for s in (inputs, targets))


def file_pairs(codec: Codec, inputs: Sequence[str | Path], targets: Sequence[str | Path] | None = None, *,
               transform: Callable[[torch.Tensor], torch.Tensor] | None = None, size: int | None = None,
               channels: int | None = None, kind: str = "dequantized", quality: int | None = None,
               batch_size: int = 32, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input latents, target latents), stacked (B, G*K, *s): from paired files (``inputs[i]`` goes with
    ``targets[i]``), or from one list of files and a ``transform`` that makes each input from its file
    (the files' signals, brought to ``channels`` and ``size`` as by :func:`load_signal`, are the targets)."""
    if (targets is None) == (transform is None):
        raise MediaError("pairs come from paired files (targets) or from one list of files and a transform, not both or neither")
    options = dict(size=size, kind=kind, quality=quality, batch_size=batch_size, device=device, channels=channels)
    if targets is not None:
        if len(targets) != len(inputs):
            raise MediaError(f"paired files need as many targets as inputs, got {len(targets)} and {len(inputs)}")
        return torch.stack(from_files(inputs, codec, **options)), torch.stack(from_files(targets, codec, **options))
    signals = torch.stack([load_signal(p, size, channels)[0] for p in inputs])
    return pairs(codec, signals, transform, kind=kind, quality=quality, batch_size=batch_size, device=device)
