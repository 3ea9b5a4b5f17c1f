"""The range-coder front: integer symbols + integer CDF tables <-> bytes.

Every coder here takes symbols (C, N) where row c is coded with table row c, and the tables of
:class:`walloc.entropy.Tables`. A stream records which coder made it (its ``coder_id``), so streams
stay decodable when the default changes. Coders:

- ``rans`` (id 2): walloc's own C++ rANS with interleaved lanes (``csrc/``), the default when built;
- ``constriction`` (id 1): constriction's range coder, the reference implementation and test oracle.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .entropy import Tables
from .errors import BitstreamError


class ConstrictionCoder:
    """constriction's queue range coder with one categorical model per channel."""

    coder_id = 1
    name = "constriction"

    @staticmethod
    def _models(tables: Tables) -> list:
        import constriction

        freq = np.diff(tables.cdfs.astype(np.int64), axis=1).astype(np.float64) / (1 << tables.precision)
        return [constriction.stream.model.Categorical(row, perfect=False) for row in freq]

    def encode(self, symbols: np.ndarray, tables: Tables) -> bytes:
        import constriction

        enc = constriction.stream.queue.RangeEncoder()
        for row, model in zip(symbols.astype(np.int32), self._models(tables)):
            enc.encode(np.ascontiguousarray(row), model)
        return enc.get_compressed().tobytes()

    def decode(self, data: bytes, tables: Tables, count: int) -> np.ndarray:
        import constriction

        if len(data) % 4:
            raise BitstreamError("range-coded chunk is not a whole number of 32-bit words")
        try:
            dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
            out = np.stack([dec.decode(model, count) for model in self._models(tables)])
        except (ValueError, RuntimeError, AssertionError) as e:
            raise BitstreamError(f"corrupt range-coded chunk ({e})") from None
        return out.astype(np.int32)


class RansCoder:
    """walloc's C++ rANS coder (``walloc._rans``), chunks in parallel threads."""

    coder_id = 2
    name = "rans"

    def __init__(self, threads: int = 0):
        from . import _rans  # noqa: F401  (fails here, not mid-stream, when the extension is missing)

        self.threads = threads

    def encode(self, symbols: np.ndarray, tables: Tables) -> bytes:
        from . import _rans

        return _rans.encode(np.ascontiguousarray(symbols, dtype=np.int32), tables.cdfs, tables.precision)

    def decode(self, data: bytes, tables: Tables, count: int) -> np.ndarray:
        from . import _rans

        try:
            return _rans.decode(data, tables.cdfs, tables.precision, count)
        except ValueError as e:
            raise BitstreamError(f"corrupt rANS chunk ({e})") from None


def coders() -> dict[int, object]:
    """Every coder available in this install, by stream id."""
    found: dict[int, object] = {ConstrictionCoder.coder_id: ConstrictionCoder()}
    try:
        found[RansCoder.coder_id] = RansCoder()
    except ImportError:
        pass
    return found


def get_coder(coder_id: int | None = None):
    """The coder with this id, or the best available one when no id is given."""
    available = coders()
    if coder_id is None:
        return available[max(available)]
    if coder_id not in available:
        raise BitstreamError(f"stream needs entropy coder #{coder_id}, which this install does not have")
    return available[coder_id]


def map_chunks(fn, items: list, threads: int = 0) -> list:
    """Run fn over independent chunks, in parallel threads when there are several."""
    if len(items) <= 1 or threads == 1:
        return [fn(*it) for it in items]
    with ThreadPoolExecutor(max_workers=threads or None) as pool:
        return list(pool.map(lambda it: fn(*it), items))
