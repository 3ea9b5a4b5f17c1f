"""Wavelet packet transform with the CDF 9/7 wavelet (PyWavelets' ``bior4.4``), periodized.

The first step of the data path: a full packet (every subband split again at every level) turns a
signal into many channels at a lower resolution, which a 1x1 convolution can then mix cheaply.
Analysis matches ``pywt.dwt(x, "bior4.4", mode="periodization")`` coefficient for coefficient;
synthesis is its exact inverse. Everything is batched torch, differentiable, and device-agnostic.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

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
_TAPS = len(_DEC_LO)
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


# -- fast path: several levels as one polyphase filter bank ----------------------------------------------
# A j-level packet along one axis is linear and invariant to shifts by 2**j samples, so it is one
# convolution from the 2**j polyphase components of the signal to the 2**j subbands. Its taps are
# read off the cascade's response to impulses, so it is the same transform, computed in one pass.
_STAGE = 3  # levels per filter bank; deeper packets chain banks (J=8 as 3 + 3 + 2)


@functools.lru_cache(maxsize=None)
@torch.inference_mode(False)  # cached for autograd use too, even when first built under inference mode
def _banks(levels: int) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """(analysis weight, its left pad, synthesis weight, its left pad), in float64, blocks of 2**levels."""
    n, blocks = 2 ** levels, 32
    period = n * blocks
    eye = torch.eye(period, dtype=torch.float64)
    a = _cascade(eye.unsqueeze(1), levels)[:, :, 0].t()                     # a[band, t]: response at block 0
    impulses = torch.zeros(n, n, blocks, dtype=torch.float64)
    impulses[torch.arange(n), torch.arange(n), 0] = 1.0
    s = _icascade(impulses, levels)[:, 0]                                    # s[band, t]
    shifts = torch.arange(-blocks // 2, blocks // 2)

    def taps(resp: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        blocked = resp[:, (shifts[:, None] * n + torch.arange(n)) % period]  # (band, block j, phase)
        used = (blocked.abs() > 1e-12).any(0).any(-1).nonzero().flatten()
        lo, hi = int(used.min()), int(used.max())
        return blocked[:, lo: hi + 1], int(shifts[lo]), int(shifts[hi])

    wa, amin, _ = taps(a)
    ws, smin, smax = taps(s)
    analysis = wa.permute(0, 2, 1).contiguous()                              # (band, phase, j)
    synthesis = ws.flip(1).permute(2, 0, 1).contiguous()                     # (phase, band, k = smax - j)
    return analysis, -amin, synthesis, smax


def _circular(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    n = x.shape[-1]
    return x[..., torch.arange(-left, n + right, device=x.device) % n]


def _analysis_last(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(..., L) -> (..., 2**levels, L / 2**levels): a packet of ``levels`` along the last axis."""
    n, length = 2 ** levels, x.shape[-1]
    weight, left, _, _ = _banks(levels)
    poly = x.reshape(-1, length // n, n).transpose(1, 2)                      # (N, phase, blocks)
    out = F.conv1d(_circular(poly, left, weight.shape[-1] - 1 - left), weight.to(x))
    return out.reshape(*x.shape[:-1], n, length // n)


def _synthesis_last(c: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`_analysis_last`: (..., 2**levels, L / 2**levels) -> (..., L)."""
    n, blocks = 2 ** levels, c.shape[-1]
    _, _, weight, left = _banks(levels)
    flat = c.reshape(-1, n, blocks)
    poly = F.conv1d(_circular(flat, left, weight.shape[-1] - 1 - left), weight.to(c))  # (N, phase, blocks)
    return poly.transpose(1, 2).reshape(*c.shape[:-2], n * blocks)


def _stages(levels: int) -> list[int]:
    return [min(_STAGE, levels - done) for done in range(0, levels, _STAGE)]


def packet1d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Full 1-D packet: (B, C, L) -> (B, C * 2**levels, L / 2**levels), subbands in natural order."""
    for j in _stages(levels):
        b, c, n = x.shape
        x = _analysis_last(x, j).reshape(b, c * 2 ** j, n // 2 ** j)
    return x


def ipacket1d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`packet1d`."""
    for j in reversed(_stages(levels)):
        b, c, n = x.shape
        x = _synthesis_last(x.reshape(b, c // 2 ** j, 2 ** j, n), j)
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


def packet2d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Full 2-D packet: (B, C, H, W) -> (B, C * 4**levels, H / 2**levels, W / 2**levels).

    Each level splits every channel into four subbands in the order of ``pywt.dwt2``'s
    (cA, (cH, cV, cD)) output: subband index = (high along H) + 2 * (high along W).
    """
    for j in _stages(levels):
        b, c, h, w = x.shape
        n = 2 ** j
        cols = _analysis_last(x, j)                                   # (B, C, H, nw, W/n)
        rows = _analysis_last(cols.movedim(2, -1), j)                 # (B, C, nw, W/n, nh, H/n)
        grid = rows.permute(0, 1, 4, 2, 5, 3).reshape(b, c, n * n, h // n, w // n)  # (h band, w band) flat
        x = grid[:, :, _order2d(j).to(x.device)].reshape(b, c * n * n, h // n, w // n)
    return x


def ipacket2d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`packet2d`."""
    for j in reversed(_stages(levels)):
        b, cnn, h, w = x.shape
        n = 2 ** j
        grid = torch.empty_like(x).reshape(b, cnn // (n * n), n * n, h, w)
        grid[:, :, _order2d(j).to(x.device)] = x.reshape(b, cnn // (n * n), n * n, h, w)
        rows = grid.reshape(b, -1, n, n, h, w).permute(0, 1, 3, 5, 2, 4)   # (B, C, nw, W/n, nh, H/n)
        cols = _synthesis_last(rows, j).movedim(-1, 2)                      # (B, C, H, nw, W/n)
        x = _synthesis_last(cols, j)                                        # (B, C, H, W)
    return x
