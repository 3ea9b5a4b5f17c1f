"""The range-coder front: integer symbols + integer CDF tables <-> bytes.

Every coder here codes a list of independent chunks, each symbols (C, N) where row c is coded with
table row c of :class:`walloc.entropy.Tables`, in parallel threads where the coder can. A stream records which coder made it (its ``coder_id``), so streams
stay decodable when the default changes. Coders:

- ``rans`` (id 2): walloc's own C++ rANS with interleaved lanes (``csrc/``), the default when built;
- ``constriction`` (id 1): constriction's range coder, the reference implementation and test oracle.
"""

from __future__ import annotations

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

    def encode_many(self, blocks: list[np.ndarray], tables: Tables, threads: int = 0) -> list[bytes]:
        """Each block (C, N) of table indices -> one independent stream."""
        import constriction

        models, out = self._models(tables), []
        for block in blocks:
            enc = constriction.stream.queue.RangeEncoder()
            for row, model in zip(block.astype(np.int32), models):
                enc.encode(np.ascontiguousarray(row), model)
            out.append(enc.get_compressed().tobytes())
        return out

    def decode_many(self, payloads: list[bytes], tables: Tables, counts: list[int], threads: int = 0) -> list[np.ndarray]:
        """Streams -> blocks (C, count) of table indices."""
        import constriction

        models, out = self._models(tables), []
        for data, count in zip(payloads, counts):
            if len(data) % 4:
                raise BitstreamError("range-coded chunk is not a whole number of 32-bit words")
            try:
                dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
                out.append(np.stack([dec.decode(model, count) for model in models]).astype(np.int32))
            except (ValueError, RuntimeError, AssertionError) as e:
                raise BitstreamError(f"corrupt range-coded chunk ({e})") from None
        return out


class RansCoder:
    """walloc's C++ rANS coder (``walloc._rans``): interleaved lanes, chunks in parallel C++ threads."""

    coder_id = 2
    name = "rans"

    def __init__(self):
        from . import _rans  # noqa: F401  (fails here, not mid-stream, when the extension is missing)

    def encode_many(self, blocks: list[np.ndarray], tables: Tables, threads: int = 0) -> list[bytes]:
        from . import _rans

        blocks = [np.ascontiguousarray(b, dtype=np.int32) for b in blocks]
        return _rans.encode_chunks(blocks, tables.cdfs, tables.precision, threads)

    def decode_many(self, payloads: list[bytes], tables: Tables, counts: list[int], threads: int = 0) -> list[np.ndarray]:
        from . import _rans

        try:
            return _rans.decode_chunks([bytes(p) for p in payloads], tables.cdfs, tables.precision, counts, threads)
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
