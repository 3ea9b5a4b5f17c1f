"""A model's operating points and the integer CDF tables that code them: what a stream is coded with,
loaded and used without torch (:func:`walloc.zoo.load_tables` reads them)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .config import NetConfig

if TYPE_CHECKING:
    from .context import ContextTables

PRECISION = 16  # bits of the integer frequency tables


@dataclass(frozen=True)
class Tables:
    """Integer cumulative frequency tables, one row per latent channel.

    ``cdfs[c, s]`` is the cumulative frequency of symbol s (s = k + offset for the integer latent k),
    ``cdfs[c, 0] == 0`` and ``cdfs[c, -1] == 2**precision``; every symbol has a frequency >= 1.
    """

    cdfs: np.ndarray  # (C, S + 1) uint32
    offset: int
    precision: int = PRECISION

    @property
    def symbols(self) -> int:
        return self.cdfs.shape[1] - 1

    @cached_property
    def min_bits(self) -> float:
        """The fewest bits any symbol costs under these tables: -log2(largest frequency), once per tables."""
        top = int(np.diff(self.cdfs.astype(np.int64), axis=1).max())
        return -math.log2(top / (1 << self.precision))

    @classmethod
    def from_pmf(cls, pmf: np.ndarray, offset: int, precision: int = PRECISION) -> "Tables":
        """Quantize probabilities (C, S) to frequencies summing to 2**precision, none zero."""
        total = 1 << precision
        n = pmf.shape[1]
        if n > total // 2:
            raise ValueError(f"{n} symbols do not fit {precision}-bit tables")
        pmf = np.clip(pmf, 0.0, None)
        pmf = pmf / pmf.sum(axis=1, keepdims=True)
        freq = 1 + np.floor(pmf * (total - n)).astype(np.int64)
        short = total - freq.sum(axis=1)
        for c in range(freq.shape[0]):  # hand the rounding remainder to the likeliest symbols
            order = np.argsort(-pmf[c], kind="stable")
            freq[c, order[: short[c]]] += 1
        cdfs = np.zeros((pmf.shape[0], n + 1), dtype=np.uint32)
        cdfs[:, 1:] = np.cumsum(freq, axis=1)
        return cls(cdfs=cdfs, offset=offset, precision=precision)

    def information_bits(self, symbols: np.ndarray) -> float:
        """Ideal code length of symbols (C, N) under these tables: the floor any coder can reach."""
        freq = np.diff(self.cdfs.astype(np.int64), axis=1)
        rows = np.arange(symbols.shape[0])[:, None]
        return float(-np.log2(freq[rows, symbols] / (1 << self.precision)).sum())


@dataclass(frozen=True)
class Quality:
    """One operating point of a model: a quantizer step, its tables, and what it measured."""

    quality: int
    step: float
    tables: Tables | None = None
    measured: dict | None = None
    context: ContextTables | None = None


@dataclass(frozen=True)
class ModelTables:
    """Everything about a model but its network: config and qualities with their integer tables.

    Enough to write and read streams; the tables are read-only arrays shared by every caller."""

    name: str
    config: dict
    qualities: tuple[Quality, ...]

    @property
    def cfg(self) -> NetConfig:
        """The model's architecture (its JSON's ``net``)."""
        return NetConfig(**self.config["net"])
