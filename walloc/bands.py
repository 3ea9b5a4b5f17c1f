"""Bands: the plan every encode and decode follows, so memory stays bounded on huge signals with no seams.

A signal is coded in bands of latent rows (image rows or audio frames), channel group by channel
group, each computed from latent rows [lo, hi) around the rows [r0, r1) it keeps. The margins make
every kept row what one pass over the whole signal gives: the periodized packet wraps around, so a
band takes its margins circularly (lo < 0 or hi > rows: the first band's upper margin comes from the
bottom); the symmetric packet mirrors the signal at its ends, so there a band's margins stop; the 1x1
encoder is pointwise; the decoder network zero-pads at the signal's edges, so its receptive margin
is clipped there (:func:`band_runs`). The numpy encoder, the torch bands (:mod:`walloc.tiling`) and
the ONNX decoder (:mod:`walloc.decoder`) all plan with :func:`plan` and decode with :func:`run_bands`.

``bands`` are these signal bands; the independently coded pieces of a stream are its ``chunks``
(:func:`walloc.stream.chunks`).
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .config import NetConfig

BAND_LATENTS = 1 << 18   # latent values per band: bounds every intermediate
DECODE_WORKERS = 8       # bands decoded at once at most: each holds its network's activations (~150 MB for rgb-16x)


def analysis_margin(levels: int) -> int:
    """Latent rows on each side that the J-level CDF 9/7 packet reaches: (10-1)(2^J-1) samples."""
    return math.ceil(9 * (2 ** levels - 1) / 2 ** levels) + 1


def margin_rows(cfg: NetConfig, rows: int, r0: int, r1: int, margin: int) -> tuple[int, int]:
    """The latent rows [lo, hi) a band needs to keep rows [r0, r1) of ``rows`` exactly: ``margin`` more on
    each side, past the ends circularly for a periodic packet (lo < 0 or hi > rows), clipped there
    for a symmetric one."""
    if cfg.extension == "symmetric":
        return max(0, r0 - margin), min(rows, r1 + margin)
    return r0 - margin, r1 + margin


def band_rows(cfg: NetConfig, rest: tuple[int, ...]) -> int:
    """Latent rows per band for latent trailing extent ``rest``; at least four margins, so that
    recomputed margin rows never cost more than the rows kept."""
    margins = analysis_margin(cfg.levels) + cfg.receptive_rows
    return max(4 * margins, BAND_LATENTS // (cfg.latent_dim * math.prod(rest)))


@dataclass(frozen=True)
class Band:
    """Latent rows [r0, r1) of channel group ``group``, computed from the latent rows [lo, hi) (the
    margins included; past the ends circularly for a periodic packet)."""

    group: int
    r0: int
    r1: int
    lo: int
    hi: int

    @property
    def margin(self) -> int:
        """Latent rows read before r0: where the kept rows start."""
        return self.r0 - self.lo

    def signal_rows(self, block: int, length: int) -> slice | np.ndarray:
        """The rows of a signal of ``length`` rows the band reads: a slice inside the signal (a view, no
        gather), else its row indices wrapped around and clamped (the padding to whole blocks
        repeats the last row)."""
        lo, hi = self.lo * block, self.hi * block
        if 0 <= lo and hi <= length:
            return slice(lo, hi)
        return np.minimum(np.arange(lo, hi) % (length + (-length) % block), length - 1)


def group_channels(group: int, channels: int, total: int) -> slice | list[int]:
    """The channels of a signal of ``total`` channels that group ``group`` of a model coding ``channels``
    codes: a slice, or for a last group short of channels its channels with the last one repeated."""
    first = group * channels
    if first + channels <= total:
        return slice(first, first + channels)
    return [min(first + i, total - 1) for i in range(channels)]


def latent_extent(cfg: NetConfig, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The latent extent of a signal (C, *S): each axis padded to whole blocks."""
    return tuple(-(-s // cfg.block_size) for s in shape[1:])


def plan(cfg: NetConfig, groups: int, extent: tuple[int, ...], size: int | None = None) -> list[Band]:
    """Every band of ``size`` latent rows (default :func:`band_rows`) a signal of this latent extent
    is coded in, channel group by group."""
    rows = extent[0]
    size = band_rows(cfg, extent[1:]) if size is None else size
    margin = 0 if size >= rows else analysis_margin(cfg.levels)
    return [Band(g, r0, min(rows, r0 + size), *margin_rows(cfg, rows, r0, min(rows, r0 + size), margin))
            for g in range(groups) for r0 in range(0, rows, size)]


def band_runs(cfg: NetConfig, rows: int, band: Band) -> list[tuple[int, int, int, int]]:
    """The latent rows a band's decoder network reads: per run of consecutive rows of [lo, hi) (taken
    circularly), (first, end) of the rows read, with the decoder's receptive margin clipped at the
    signal's ends, then the offset and count of the rows kept."""
    idx = [r % rows for r in range(band.lo, band.hi)]
    out, start = [], 0
    for i in range(1, len(idx) + 1):
        if i == len(idx) or idx[i] != idx[i - 1] + 1:
            first, n = idx[start], i - start
            lo, hi = max(0, first - cfg.receptive_rows), min(rows, first + n + cfg.receptive_rows)
            out.append((lo, hi, first - lo, n))
            start = i
    return out


def run_bands(bands: Sequence[Band], prepare: Callable[[Band], Any], compute: Callable[[Any], Any],
              finish: Callable[[Band, Any], None], workers: int, initializer: Callable[[], None] | None = None) -> None:
    """``finish(band, compute(prepare(band)))`` for every band, in order: ``prepare`` and ``finish`` on
    the calling thread, ``compute`` (the network) on a pool of ``workers`` threads, at most
    ``workers + 1`` bands in flight, so memory holds a few bands whatever the signal's size."""
    if workers <= 1:
        for band in bands:
            finish(band, compute(prepare(band)))
        return
    pool = ThreadPoolExecutor(max_workers=workers, initializer=initializer)
    pending: deque[tuple[Band, Future]] = deque()
    try:
        for band in bands:
            pending.append((band, pool.submit(compute, prepare(band))))
            if len(pending) > workers:  # a bounded look-ahead
                done, job = pending.popleft()
                finish(done, job.result())
        while pending:
            done, job = pending.popleft()
            finish(done, job.result())
    finally:
        pool.shutdown(cancel_futures=True)


def ticker(progress: Callable[[float], None] | None, total: int) -> Callable[[int], None]:
    """Counts units of work done and reports the fraction of ``total`` to ``progress`` (if any)."""
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(1.0, done / total))

    return tick
