"""Wavelet packet transform with the CDF 9/7 wavelet (PyWavelets' ``bior4.4``), periodized.

The first step of the data path: a full packet (every subband split again at every level) turns a
signal into many channels at a lower resolution, which a 1x1 convolution can then mix cheaply.
Analysis matches ``pywt.dwt(x, "bior4.4", mode="periodization")`` coefficient for coefficient;
synthesis is its exact inverse. Everything is batched torch, differentiable, and device-agnostic.
"""

from __future__ import annotations

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


def packet1d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Full 1-D packet: (B, C, L) -> (B, C * 2**levels, L / 2**levels)."""
    for _ in range(levels):
        b, c, n = x.shape
        x = dwt1d(x).reshape(b, 2 * c, n // 2)
    return x


def ipacket1d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`packet1d`."""
    for _ in range(levels):
        b, c, n = x.shape
        x = idwt1d(x.reshape(b, c // 2, 2, n))
    return x


def packet2d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Full 2-D packet: (B, C, H, W) -> (B, C * 4**levels, H / 2**levels, W / 2**levels).

    Each level splits every channel into four subbands in the order of ``pywt.dwt2``'s
    (cA, (cH, cV, cD)) output: subband index = (high along H) + 2 * (high along W).
    """
    for _ in range(levels):
        b, c, h, w = x.shape
        rows = dwt1d(x.transpose(-1, -2))             # (B, C, W, 2, H/2): filter along H
        rows = rows.permute(0, 1, 3, 4, 2)            # (B, C, 2, H/2, W)
        both = dwt1d(rows)                            # (B, C, 2, H/2, 2, W/2)
        x = both.permute(0, 1, 4, 2, 3, 5).reshape(b, 4 * c, h // 2, w // 2)
    return x


def ipacket2d(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`packet2d`."""
    for _ in range(levels):
        b, c4, h, w = x.shape
        both = x.reshape(b, c4 // 4, 2, 2, h, w).permute(0, 1, 3, 4, 2, 5)  # (B, C, 2, H, 2, W)
        rows = idwt1d(both)                                                 # (B, C, 2, H, 2W)
        x = idwt1d(rows.permute(0, 1, 4, 2, 3)).transpose(-1, -2)           # (B, C, 2H, 2W)
    return x
