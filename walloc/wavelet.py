"""Wavelet packet transform with the CDF 9/7 wavelet (PyWavelets' ``bior4.4``), periodized or symmetric.

The first step of the data path: a full packet (every subband split again at every level) turns a
signal into many channels at a lower resolution, which a 1x1 convolution can then mix cheaply.
Two border rules, both non-expansive (N samples give N coefficients) and exactly invertible:

- ``periodic``: analysis matches ``pywt.dwt(x, "bior4.4", mode="periodization")`` coefficient for
  coefficient. The signal wraps around: its last samples are the neighbours of its first.
- ``symmetric``: every level extends its input by whole-sample symmetry (x[-k] = x[k] and
  x[N-1+k] = x[N-1-k]), as JPEG 2000 does; one level equals the periodized transform of that
  extension (period 2N - 2), so a border is continued by its own mirror image instead of the far side.

Synthesis is the exact inverse of each. Everything is batched torch, differentiable, and device-agnostic:
that torch code is the definition. Only the common inference case, analysis (in the encoder) and
synthesis (in the decoder) of a float32 CPU tensor that needs no gradient, runs in C++ instead
(``walloc._packet``: the same transforms by lifting, equal to float32 rounding and several times faster).
"""

from __future__ import annotations

import functools
from typing import Callable, Literal

import torch
import torch.nn.functional as F

from .config import check_extension
from .threads import for_samples

try:  # built with the package; a source tree without the build falls back to the torch path
    from . import _packet
except ImportError:
    _packet = None

# CDF 9/7 filter banks as PyWavelets defines ``bior4.4`` (analysis low/high, synthesis low/high).
_DEC_LO = (0.0, 0.03782845550726404, -0.023849465019556843, -0.11062440441843718, 0.37740285561283066,
           0.8526986790088938, 0.37740285561283066, -0.11062440441843718, -0.023849465019556843,
           0.03782845550726404)
_DEC_HI = (0.0, -0.06453888262869706, 0.04068941760916406, 0.41809227322161724, -0.7884856164055829,
           0.41809227322161724, 0.04068941760916406, -0.06453888262869706, 0.0, 0.0)
_REC_LO = (0.0, -0.06453888262869706, -0.04068941760916406, 0.41809227322161724, 0.7884856164055829,
           0.41809227322161724, -0.04068941760916406, -0.06453888262869706, 0.0, 0.0)
_REC_HI = (0.0, -0.03782845550726404, -0.023849465019556843, 0.11062440441843718, 0.37740285561283066,
           -0.8526986790088938, 0.37740285561283066, 0.11062440441843718, -0.023849465019556843,
           -0.03782845550726404)
Extension = Literal["periodic", "symmetric"]  # walloc.config.EXTENSIONS
# pywt's periodized analysis is y[i] = sum_k h[k] x[(2i + 5 - k) mod N]: as a correlation with the
# reversed filter that is a circular pad of 4 samples on the left and 5 on the right.
_PAD_LEFT, _PAD_RIGHT = 4, 5


def _wrap(n: int, device: torch.device) -> torch.Tensor:
    """Indices of the circularly padded signal, valid even when the pad exceeds the length."""
    return torch.arange(-_PAD_LEFT, n + _PAD_RIGHT, device=device) % n


def _bank(taps: tuple[tuple[float, ...], ...], like: torch.Tensor, reverse: bool) -> torch.Tensor:
    w = torch.tensor(taps, dtype=like.dtype, device=like.device)
    return (w.flip(-1) if reverse else w).unsqueeze(1)  # (2, 1, taps)


def dwt1d(x: torch.Tensor) -> torch.Tensor:
    """One periodized level along the last axis: (..., N) -> (..., 2, N/2) as [low, high]."""
    n = x.shape[-1]
    if n % 2:
        raise ValueError(f"wavelet level needs an even length, got {n}")
    padded = x.reshape(-1, 1, n)[..., _wrap(n, x.device)]
    out = F.conv1d(padded, _bank((_DEC_LO, _DEC_HI), x, reverse=True), stride=2)
    return out.reshape(*x.shape[:-1], 2, n // 2)


def idwt1d(c: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dwt1d`: (..., 2, N/2) -> (..., N).

    Synthesis is the transpose of an analysis with the synthesis filters: upsample, filter, and fold
    the circular padding back onto the samples it was copied from.
    """
    half = c.shape[-1]
    n = 2 * half
    flat = c.reshape(-1, 2, half)
    full = F.conv_transpose1d(flat, _bank((_REC_LO, _REC_HI), c, reverse=False), stride=2)
    # full covers the padded positions but the last one, which no strided output reads.
    wrap = _wrap(n, c.device)[: full.shape[-1]]
    out = full.new_zeros(full.shape[0], 1, n).index_add_(-1, wrap, full)
    return out.reshape(*c.shape[:-2], n)


def _cascade(x: torch.Tensor, levels: int) -> torch.Tensor:
    """The packet by definition, one level at a time: (B, C, L) -> (B, C * 2**levels, L / 2**levels)."""
    for _ in range(levels):
        b, c, n = x.shape
        x = dwt1d(x).reshape(b, 2 * c, n // 2)
    return x


def _icascade(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`_cascade`, one level at a time."""
    for _ in range(levels):
        b, c, n = x.shape
        x = idwt1d(x.reshape(b, c // 2, 2, n))
    return x


# -- fast path: several levels as one filter bank ---------------------------------------------------------
# A j-level packet along one axis is linear and invariant to shifts by 2**j samples: each subband is
# one filter applied with stride 2**j, and synthesis is the matching transposed convolution. The taps
# are read off the cascade's response to impulses, so it is the same transform, computed in one pass.
_STAGE = 3  # levels per filter bank; deeper packets chain banks (J=8 as 3 + 3 + 2)


def _support(response: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Circular impulse responses (band, period) -> (taps (band, K), offset of the first tap)."""
    period = response.shape[1]
    centred = response.roll(period // 2, dims=1)  # index i holds offset i - period / 2
    used = (centred.abs() > 1e-12).any(0).nonzero().flatten()
    lo, hi = int(used.min()), int(used.max())
    return centred[:, lo: hi + 1].contiguous(), lo - period // 2


@functools.lru_cache(maxsize=None)
@torch.inference_mode(False)  # cached for autograd use too, even when first built under inference mode
def _banks(levels: int) -> tuple[tuple[torch.Tensor, int], tuple[torch.Tensor, int]]:
    """Analysis and synthesis taps of ``levels`` cascaded levels, float64, with their first offsets."""
    n, blocks = 2 ** levels, 32
    period = n * blocks
    analysis = _cascade(torch.eye(period, dtype=torch.float64).unsqueeze(1), levels)[:, :, 0].t()
    impulses = torch.zeros(n, n, blocks, dtype=torch.float64)
    impulses[torch.arange(n), torch.arange(n), 0] = 1.0
    synthesis = _icascade(impulses, levels)[:, 0]
    return _support(analysis), _support(synthesis)


def _kernel(taps: torch.Tensor, dim: int, like: torch.Tensor) -> torch.Tensor:
    shape = (taps.shape[0], 1, taps.shape[1], 1) if dim == 2 else (taps.shape[0], 1, 1, taps.shape[1])
    return taps.to(like).reshape(shape)


def _circular(x: torch.Tensor, dim: int, left: int, right: int) -> torch.Tensor:
    """Extend axis ``dim`` periodically by ``left`` and ``right`` samples."""
    n = x.shape[dim]
    if 0 <= left <= n and 0 <= right <= n:
        return torch.cat([x.narrow(dim, n - left, left), x, x.narrow(dim, 0, right)], dim)
    return x.index_select(dim, torch.arange(-left, n + right, device=x.device) % n)  # wraps more than once


def _analyse(x: torch.Tensor, levels: int, dim: int) -> torch.Tensor:
    """(N, 1, H, W) -> (N, 2**levels, ...) with axis ``dim`` (2 or 3) shortened 2**levels times."""
    n = 2 ** levels
    (taps, first), _ = _banks(levels)
    stride = (n, 1) if dim == 2 else (1, n)
    padded = _circular(x, dim, -first, first + taps.shape[1] - n)
    return F.conv2d(padded, _kernel(taps, dim, x), stride=stride)


def _synthesise(c: torch.Tensor, levels: int, dim: int) -> torch.Tensor:
    """Inverse of :func:`_analyse`: transposed convolution, then the circular overhang folded back."""
    n = 2 ** levels
    _, (taps, first) = _banks(levels)
    stride = (n, 1) if dim == 2 else (1, n)
    full = F.conv_transpose2d(c, _kernel(taps, dim, c), stride=stride)
    length = c.shape[dim] * n
    idx = (torch.arange(full.shape[dim], device=c.device) + first) % length
    shape = list(full.shape)
    shape[dim] = length
    return full.new_zeros(shape).index_add_(dim, idx, full)


def _stages(levels: int) -> list[int]:
    return [min(_STAGE, levels - done) for done in range(0, levels, _STAGE)]


# -- symmetric borders: by lifting -------------------------------------------------------------------------
# Lifting (as csrc/packet.h computes both rules) splits a level into even samples s and odd samples d
# and updates them with four two-tap steps; a border's missing neighbour is its mirror image (the
# whole-sample symmetric extension: x[N] = x[N - 2] and x[-1] = x[1], so past the last even sample
# comes that sample again, and before the first odd sample that sample again). Each step is undone
# exactly by subtracting it, so synthesis inverts analysis whatever the rule. low = K s and
# high = -d / K are pywt's bior4.4 scaling.
_LIFT = (-1.586134342059924, -0.052980118572961, 0.882911075530934, 0.443506852043971)
_K = 1.149604398860241


def _after(b: torch.Tensor) -> torch.Tensor:
    """Even samples b[i + 1] along the last axis, with b[m] = b[m - 1] (x[N] mirrors to x[N - 2])."""
    return torch.cat([b[..., 1:], b[..., -1:]], -1)


def _before(b: torch.Tensor) -> torch.Tensor:
    """Odd samples b[i - 1] along the last axis, with b[-1] = b[0] (x[-1] mirrors to x[1])."""
    return torch.cat([b[..., :1], b[..., :-1]], -1)


def _lift(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One symmetric level along the last axis: (..., N) -> low, high (..., N/2)."""
    s, d = x[..., 0::2], x[..., 1::2]
    a, b, g, e = _LIFT
    d = d + a * (s + _after(s))
    s = s + b * (_before(d) + d)
    d = d + g * (s + _after(s))
    s = s + e * (_before(d) + d)
    return _K * s, d * (-1.0 / _K)


def _unlift(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_lift`."""
    s, d = low * (1.0 / _K), high * -_K
    a, b, g, e = _LIFT
    s = s - e * (_before(d) + d)
    d = d - g * (s + _after(s))
    s = s - b * (_before(d) + d)
    d = d - a * (s + _after(s))
    return torch.stack([s, d], -1).flatten(-2)


def _lift1d(x: torch.Tensor) -> torch.Tensor:
    """One level of the symmetric 1-D packet: (B, C, L) -> (B, 2C, L/2), each channel's low then high band."""
    return torch.stack(_lift(x), 2).reshape(x.shape[0], -1, x.shape[-1] // 2)


def _unlift1d(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_lift1d`."""
    pairs = x.reshape(x.shape[0], -1, 2, x.shape[-1])
    return _unlift(pairs[:, :, 0], pairs[:, :, 1])


def _lift2d(x: torch.Tensor) -> torch.Tensor:
    """One symmetric 2-D level: (B, C, H, W) -> (B, 4C, H/2, W/2), subband (high along H) + 2 (high along W)."""
    b, c, h, w = x.shape
    low_w, high_w = _lift(x)
    ll, hl = _lift(low_w.transpose(-1, -2))
    lh, hh = _lift(high_w.transpose(-1, -2))
    return torch.stack([ll, hl, lh, hh], 2).transpose(-1, -2).reshape(b, 4 * c, h // 2, w // 2)


def _unlift2d(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_lift2d`."""
    b, c4, h, w = x.shape
    bands = x.reshape(b, c4 // 4, 4, h, w).transpose(-1, -2)
    low_w = _unlift(bands[:, :, 0], bands[:, :, 1]).transpose(-1, -2)
    high_w = _unlift(bands[:, :, 2], bands[:, :, 3]).transpose(-1, -2)
    return _unlift(low_w, high_w)


# Integer samples the C++ encoder reads itself, as walloc.signal.to_float converts them (x / 255, x / 32768).
_SAMPLES = (torch.uint8, torch.int16)


def _native_ok(x: torch.Tensor, levels: int, dims: int, *params: torch.Tensor, samples: bool = False,
               synthesis: bool = False) -> bool:
    """Whether the C++ path may run: CPU float32 (or, with ``samples``, integer samples), no autograd
    wanted, every level of even length (for ``synthesis``: x holds whole packets of coefficients)."""
    if not (_packet is not None and x.device.type == "cpu" and x.layout == torch.strided
            and (x.dtype == torch.float32 or samples and x.dtype in _SAMPLES)
            and x.dim() == dims + 2 and levels >= 1
            and not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, *params)))):
        return False
    if synthesis:
        return x.shape[1] > 0 and x.shape[1] % 2 ** (dims * levels) == 0 and all(s > 0 for s in x.shape[2:])
    return all(s > 0 and s % 2 ** levels == 0 for s in x.shape[2:])


def _native(x: torch.Tensor, levels: int, dims: int, extension: Extension, synthesis: bool = False) -> torch.Tensor | None:
    """The packet (with ``synthesis``, its inverse) by the C++ lifting when x allows it, else None."""
    check_extension(extension)
    if not _native_ok(x, levels, dims, synthesis=synthesis):
        return None
    b, c, *size = x.shape
    if synthesis:
        out = x.new_empty(b, c >> (dims * levels), *(s << levels for s in size))
        run = _packet.ipacket2d if dims == 2 else _packet.ipacket1d
    else:
        out = x.new_empty(b, c << (dims * levels), *(s >> levels for s in size))
        run = _packet.packet2d if dims == 2 else _packet.packet1d
    run(x.detach().numpy(), out.numpy(), levels, for_samples(x.numel(), torch.get_num_threads()), extension == "symmetric")
    return out


def reads_samples(x: torch.Tensor) -> bool:
    """Whether x holds samples (uint8, int16 or float32, on the CPU) that :func:`packet_conv` reads as
    they are once x is padded to whole blocks, outside autograd: the caller need not convert to float."""
    return _packet is not None and x.device.type == "cpu" and (x.dtype in _SAMPLES or x.dtype == torch.float32)


def packet_conv(x: torch.Tensor, levels: int, weight: torch.Tensor, bias: torch.Tensor,
                extension: Extension = "periodic") -> torch.Tensor:
    """The packet, then a 1x1 convolution (weight (K, P, 1[, 1]), bias (K,)): the linear encoder.

    On the C++ path the two run fused, one signal channel at a time, so the packet (P / K times the
    size of the result) never exists in full; there x may also hold integer samples (see
    :func:`reads_samples`), read as floats plane by plane.
    """
    check_extension(extension)
    dims = x.dim() - 2
    if not _native_ok(x, levels, dims, weight, bias, samples=True):
        conv = F.conv2d if dims == 2 else F.conv1d
        return conv(packet2d(x, levels, extension) if dims == 2 else packet1d(x, levels, extension), weight, bias)
    b, _, *size = x.shape
    z = torch.empty(b, weight.shape[0], *(s >> levels for s in size), dtype=torch.float32)
    run = _packet.encode2d if dims == 2 else _packet.encode1d
    w = weight.detach().to(torch.float32).reshape(weight.shape[0], -1).contiguous()
    run(x.detach().numpy(), w.numpy(), bias.detach().to(torch.float32).contiguous().numpy(), z.numpy(), levels, for_samples(x.numel(), torch.get_num_threads()),
        extension == "symmetric")
    return z


def _direct(x: torch.Tensor, levels: int, dims: int, extension: Extension, lift: Callable[[torch.Tensor], torch.Tensor],
            synthesis: bool = False) -> torch.Tensor | None:
    """The packet (or its inverse) by the C++ lifting where x allows it, else for symmetric borders by
    ``lift`` once per level; None where the periodic filter banks are to run."""
    fast = _native(x, levels, dims, extension, synthesis)
    if fast is not None or extension != "symmetric":
        return fast
    for _ in range(levels):
        x = lift(x)
    return x


def packet1d(x: torch.Tensor, levels: int, extension: Extension = "periodic") -> torch.Tensor:
    """Full 1-D packet: (B, C, L) -> (B, C * 2**levels, L / 2**levels), subbands in natural order."""
    done = _direct(x, levels, 1, extension, _lift1d)
    if done is not None:
        return done
    b = x.shape[0]
    for j in _stages(levels):
        _, c, n = x.shape
        x = _analyse(x.reshape(-1, 1, 1, n), j, 3).reshape(b, c * 2 ** j, n // 2 ** j)
    return x


def ipacket1d(x: torch.Tensor, levels: int, extension: Extension = "periodic") -> torch.Tensor:
    """Inverse of :func:`packet1d`."""
    done = _direct(x, levels, 1, extension, _unlift1d, synthesis=True)
    if done is not None:
        return done
    b = x.shape[0]
    for j in reversed(_stages(levels)):
        _, c, n = x.shape
        x = _synthesise(x.reshape(-1, 2 ** j, 1, n), j, 3).reshape(b, c // 2 ** j, n * 2 ** j)
    return x


@functools.lru_cache(maxsize=None)
@torch.inference_mode(False)
def _order2d(levels: int) -> torch.Tensor:
    """Position of subband (h, w) of a separable j-level split in the level-by-level 2-D order.

    Level by level, each split appends the digit (high along H) + 2 * (high along W) in base 4;
    h and w hold the same high/low decisions as binary digits, first level first.
    """
    n = 2 ** levels
    order = torch.zeros(n, n, dtype=torch.long)
    for h in range(n):
        for w in range(n):
            for level in range(levels):
                bit = levels - 1 - level
                order[h, w] = order[h, w] * 4 + ((h >> bit) & 1) + 2 * ((w >> bit) & 1)
    return torch.argsort(order.flatten())


def packet2d(x: torch.Tensor, levels: int, extension: Extension = "periodic") -> torch.Tensor:
    """Full 2-D packet: (B, C, H, W) -> (B, C * 4**levels, H / 2**levels, W / 2**levels).

    Each level splits every channel into four subbands in the order of ``pywt.dwt2``'s
    (cA, (cH, cV, cD)) output: subband index = (high along H) + 2 * (high along W).
    """
    done = _direct(x, levels, 2, extension, _lift2d)
    if done is not None:
        return done
    for j in _stages(levels):
        b, c, h, w = x.shape
        n = 2 ** j
        cols = _analyse(x.reshape(b * c, 1, h, w), j, 3)                       # (BC, nw, H, W/n)
        both = _analyse(cols.reshape(b * c * n, 1, h, w // n), j, 2)           # (BC nw, nh, H/n, W/n)
        grid = both.reshape(b, c, n, n, h // n, w // n).transpose(2, 3)        # (B, C, nh, nw, ...)
        x = grid.reshape(b, c, n * n, h // n, w // n)[:, :, _order2d(j).to(x.device)].reshape(b, c * n * n, h // n, w // n)
    return x


def ipacket2d(x: torch.Tensor, levels: int, extension: Extension = "periodic") -> torch.Tensor:
    """Inverse of :func:`packet2d`."""
    done = _direct(x, levels, 2, extension, _unlift2d, synthesis=True)
    if done is not None:
        return done
    for j in reversed(_stages(levels)):
        b, cnn, h, w = x.shape
        n = 2 ** j
        c = cnn // (n * n)
        grid = torch.empty_like(x).reshape(b, c, n * n, h, w)
        grid[:, :, _order2d(j).to(x.device)] = x.reshape(b, c, n * n, h, w)
        both = grid.reshape(b, c, n, n, h, w).transpose(2, 3).reshape(b * c * n, n, h, w)
        cols = _synthesise(both, j, 2)                                         # (BC nw, 1, H, W/n)
        x = _synthesise(cols.reshape(b * c, n, h * n, w), j, 3).reshape(b, c, h * n, w * n)
    return x
