"""Causal context model: each latent's coding table is chosen from its already decoded neighbours.

The factorized tables of :mod:`walloc.entropy` give every latent of a channel the same distribution,
but latents are small images: smooth in the low-pass channels, bursty (large next to large) in the
detail channels. The context model codes each channel in raster order with one of three modes:

- 0: the value, with a table picked by the neighbours' magnitude ``2|L| + 2|T| + |TL| + |TR|``;
- 1: the residual from the median predictor ``med(L, T, L + T - TL)`` (LOCO-I, Weinberger et al.,
  2000), and 2: from the average ``(L + T + 1) >> 1``, with a table picked by the local gradient
  ``|L - TL| + |T - TL| + |T - TR|``;

the activity ``a`` selects bucket ``min(B - 1, floor(2 log2(1 + a)))``. Modes and tables are fitted
per quality on training latents (counts, smoothed towards each channel's marginal), not learned by
gradient descent, and ship beside the weights. Chunks stay independent (neighbours outside a chunk
are zero), so decoding stays parallel across chunks. The C++ coder (``csrc/rans_core.h``,
``ContextModel``) computes the same contexts while it decodes; :func:`contexts` here is the
reference used to fit tables and to test the coder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tables import Tables

MODES = ("magnitude", "median", "average")
BUCKETS = 16
_SMOOTHING = 2.0  # pseudo-counts of the channel marginal added to every context's counts


@dataclass(frozen=True)
class ContextTables:
    """One quality's context model: a mode per channel and ``buckets`` tables per channel.

    ``tables.cdfs`` has ``channels * buckets`` rows over residual symbols ``r + tables.offset``;
    latents (symbols ``k + kmax``) lie in ``[-kmax, kmax]`` and residuals in ``[-2 kmax, 2 kmax]``.
    """

    modes: np.ndarray  # (C,) uint8
    buckets: int
    kmax: int
    tables: Tables

    @property
    def channels(self) -> int:
        return len(self.modes)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[..., y - dy, x - dx], zero outside."""
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    src = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
    dst = (slice(dy, h), slice(max(0, dx), w - max(0, -dx)))
    out[(..., *dst)] = a[(..., *src)]
    return out


def contexts(values: np.ndarray, modes: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Table row and residual of every latent of planes (C, H, W) of signed integer values.

    Row ``c * buckets + bucket``; the residual is the value minus the mode's prediction.
    """
    v = values.astype(np.int64)
    left, top, tl, tr = _shift(v, 0, 1), _shift(v, 1, 0), _shift(v, 1, 1), _shift(v, 1, -1)
    mode = np.asarray(modes).reshape(-1, 1, 1)
    hi, lo = np.maximum(left, top), np.minimum(left, top)
    median = np.where(tl >= hi, lo, np.where(tl <= lo, hi, left + top - tl))
    pred = np.where(mode == 0, 0, np.where(mode == 1, median, (left + top + 1) >> 1))
    act = np.where(mode == 0, 2 * abs(left) + 2 * abs(top) + abs(tl) + abs(tr),
                   abs(left - tl) + abs(top - tl) + abs(top - tr))
    u = np.minimum(act, 1 << 24) + 1
    bucket = np.minimum(np.frexp((u * u).astype(np.float64))[1] - 1, buckets - 1)  # exact below 2**53
    rows = np.arange(v.shape[0]).reshape(-1, 1, 1) * buckets + bucket
    return rows, v - pred


def _counts(planes: list[np.ndarray], mode: int, buckets: int, kmax: int) -> np.ndarray:
    """Counts (buckets, 4 kmax + 1) of residual symbols per bucket of one channel under one mode."""
    out = np.zeros((buckets, 4 * kmax + 1), dtype=np.int64)
    for p in planes:
        rows, res = contexts(p[None], np.array([mode]), buckets)
        np.add.at(out, (rows.ravel(), res.ravel() + 2 * kmax), 1)
    return out


def _pmf(counts: np.ndarray) -> np.ndarray:
    marginal = counts.sum(0) + 1e-3
    marginal = marginal / marginal.sum()
    return (counts + _SMOOTHING * marginal) / (counts.sum(1, keepdims=True) + _SMOOTHING)


def fit(latents: list[np.ndarray], kmax: int, buckets: int = BUCKETS) -> ContextTables:
    """Fit a context model to training latents (each (C, H, W) signed integers in [-kmax, kmax]):
    per channel the mode whose smoothed tables code the training latents in the fewest bits."""
    channels = latents[0].shape[0]
    modes, pmfs = [], []
    for c in range(channels):
        planes = [y[c] for y in latents]
        best = None
        for mode in range(len(MODES)):
            counts = _counts(planes, mode, buckets, kmax)
            pmf = _pmf(counts)
            bits = -(counts * np.log2(pmf)).sum()
            if best is None or bits < best[0]:
                best = (bits, mode, pmf)
        modes.append(best[1])
        pmfs.append(best[2])
    tables = Tables.from_pmf(np.concatenate(pmfs), offset=2 * kmax)
    return ContextTables(np.array(modes, dtype=np.uint8), buckets, kmax, tables)


def information_bits(model: ContextTables, values: np.ndarray) -> float:
    """Ideal code length of planes (C, H, W) under the context model (the coder's floor)."""
    rows, res = contexts(values, model.modes, model.buckets)
    freq = np.diff(model.tables.cdfs.astype(np.int64), axis=1)
    sym = np.clip(res + model.tables.offset, 0, model.tables.symbols - 1)
    return float(-np.log2(freq[rows, sym] / (1 << model.tables.precision)).sum())
