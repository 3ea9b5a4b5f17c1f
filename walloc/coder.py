"""The range-coder front: integer symbols + a quality's integer CDF tables <-> bytes.

Every coder here codes a list of independent chunks, each latent symbols (C, rows, *rest) (values
plus the quality's offset), in parallel threads where the coder can. A stream records which coder
made it (its ``coder_id``), so streams stay decodable when the default changes. Coders:

- ``rans-context`` (id 3): walloc's C++ rANS with the causal context model of
  :mod:`walloc.context`, the default for models that ship context tables;
- ``rans`` (id 2): walloc's C++ rANS (``csrc/``) with one factorized table per channel;
- ``constriction`` (id 1): constriction's range coder, the reference implementation and test oracle.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from .tables import Tables
from .errors import BitstreamError, ModelError


@contextmanager
def _encoder_limits():
    """The C++ coders refuse tables or symbols their decoders could not read with a ValueError: that
    is the model's doing (or its tables'), said as one line."""
    try:
        yield
    except ValueError as e:
        raise ModelError(f"this model's tables cannot be coded: {e}") from None


def _flat(blocks: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(b, dtype=np.int32).reshape(b.shape[0], -1) for b in blocks]


def _counts(shapes: list[tuple[int, ...]]) -> list[int]:
    return [math.prod(s[1:]) for s in shapes]


class ConstrictionCoder:
    """constriction's queue range coder with one categorical model per channel."""

    coder_id = 1
    name = "constriction"

    @staticmethod
    def cuda_ready() -> bool:
        return False

    @staticmethod
    def tables(quality) -> Tables:
        """The integer tables this coder codes a quality's latents with: one per channel."""
        return quality.tables

    @staticmethod
    def _models(tables: Tables) -> list:
        import constriction

        freq = np.diff(tables.cdfs.astype(np.int64), axis=1).astype(np.float64) / (1 << tables.precision)
        return [constriction.stream.model.Categorical(row, perfect=False) for row in freq]

    def encode_many(self, blocks: list[np.ndarray], quality, threads: int = 0) -> list[bytes]:
        """Each block (C, rows, *rest) of table indices -> one independent stream."""
        import constriction

        models, out = self._models(self.tables(quality)), []
        for block in _flat(blocks):
            enc = constriction.stream.queue.RangeEncoder()
            for row, model in zip(block.astype(np.int32), models):
                enc.encode(np.ascontiguousarray(row), model)
            out.append(enc.get_compressed().astype("<u4").tobytes())  # the format's words are little-endian
        return out

    def decode_many(self, payloads: list[bytes], quality, shapes: list[tuple[int, ...]], threads: int = 0) -> list[np.ndarray]:
        """Streams -> blocks of the given shapes (C, rows, *rest) of table indices."""
        import constriction

        models, out = self._models(self.tables(quality)), []
        for data, count, shape in zip(payloads, _counts(shapes), shapes):
            if len(data) % 4:
                raise BitstreamError("range-coded chunk is not a whole number of 32-bit words")
            try:
                dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
                out.append(np.stack([dec.decode(model, count) for model in models]).astype(np.int32).reshape(shape))
            except (ValueError, RuntimeError, AssertionError) as e:
                raise BitstreamError(f"corrupt range-coded chunk ({e})") from None
        return out


class RansCoder:
    """walloc's C++ rANS coder (``walloc._rans``): interleaved lanes, chunks in parallel C++ threads."""

    coder_id = 2
    name = "rans"
    tables = staticmethod(ConstrictionCoder.tables)  # one factorized table per channel, as constriction

    def __init__(self):
        from . import _rans  # noqa: F401  (fails here, not mid-stream, when the extension is missing)

    def encode_many(self, blocks: list[np.ndarray], quality, threads: int = 0) -> list[bytes]:
        from . import _rans

        t = self.tables(quality)
        with _encoder_limits():
            return _rans.encode_chunks(_flat(blocks), t.cdfs, t.precision, threads)

    def decode_many(self, payloads: list[bytes], quality, shapes: list[tuple[int, ...]], threads: int = 0) -> list[np.ndarray]:
        from . import _rans

        t = self.tables(quality)
        try:
            flat = _rans.decode_chunks([bytes(p) for p in payloads], t.cdfs, t.precision, _counts(shapes), threads)
        except ValueError as e:
            raise BitstreamError(f"corrupt rANS chunk ({e})") from None
        return [a.reshape(s) for a, s in zip(flat, shapes)]

    @staticmethod
    def cuda_ready() -> bool:
        """Whether this coder can decode on a GPU here (built with CUDA, a device present)."""
        from . import _rans

        return _rans.cuda_available()

    def decode_cuda(self, payloads: list[bytes], quality, shapes: list[tuple[int, ...]], device) -> list:
        """decode_many into int32 tensors on a CUDA device (one thread per chunk, same streams)."""
        import torch

        from . import _rans

        sizes = [math.prod(s) for s in shapes]
        flat = torch.empty(sum(sizes), dtype=torch.int32, device=device)
        stream = torch.cuda.current_stream(device).cuda_stream
        try:
            _rans.cuda_decode_chunks([bytes(p) for p in payloads], quality.tables.cdfs, quality.tables.precision,
                                     _counts(shapes), flat.data_ptr(), stream)
        except ValueError as e:
            raise BitstreamError(f"corrupt rANS chunk ({e})") from None
        return [piece.view(s) for piece, s in zip(torch.split(flat, sizes), shapes)]


class ContextRansCoder(RansCoder):
    """The C++ rANS coder with the causal context model (:mod:`walloc.context`): each symbol's
    table is chosen from its decoded neighbours in its latent plane."""

    coder_id = 3
    name = "rans-context"

    @staticmethod
    def cuda_ready() -> bool:
        return False  # the context model decodes on the CPU

    @staticmethod
    def tables(quality) -> Tables:
        """The context model's tables (channels x buckets of them)."""
        if quality.context is None:
            raise BitstreamError(f"quality {quality.quality} of this model has no context tables")
        return quality.context.tables

    @classmethod
    def _args(cls, quality, shape: tuple[int, ...]) -> dict:
        cls.tables(quality)  # refuses a quality without context tables
        m = quality.context
        return dict(cdfs=m.tables.cdfs, precision=m.tables.precision, modes=m.modes, buckets=m.buckets,
                    offset=m.kmax, roff=m.tables.offset, width=shape[2] if len(shape) > 2 else 0)

    def encode_many(self, blocks: list[np.ndarray], quality, threads: int = 0) -> list[bytes]:
        from . import _rans

        if not blocks:
            return []
        with _encoder_limits():
            return _rans.encode_context_chunks(_flat(blocks), threads=threads, **self._args(quality, blocks[0].shape))

    def decode_many(self, payloads: list[bytes], quality, shapes: list[tuple[int, ...]], threads: int = 0) -> list[np.ndarray]:
        from . import _rans

        if not payloads:
            return []
        try:
            flat = _rans.decode_context_chunks([bytes(p) for p in payloads], counts=_counts(shapes), threads=threads,
                                               **self._args(quality, shapes[0]))
        except ValueError as e:
            raise BitstreamError(f"corrupt rANS chunk ({e})") from None
        return [a.reshape(s) for a, s in zip(flat, shapes)]


CLASSES = {c.coder_id: c for c in (ConstrictionCoder, RansCoder, ContextRansCoder)}  # by stream id
NAMES = {i: c.name for i, c in CLASSES.items()}


def tables_for(coder_id: int, quality) -> Tables:
    """The integer tables a stream of this coder is coded with at this quality (whether or not the
    coder is available in this install)."""
    if coder_id not in CLASSES:
        raise BitstreamError(f"stream names an unknown entropy coder #{coder_id}")
    return CLASSES[coder_id].tables(quality)


def coders() -> dict[int, object]:
    """Every coder available in this install, by stream id."""
    found: dict[int, object] = {ConstrictionCoder.coder_id: ConstrictionCoder()}
    try:
        found[RansCoder.coder_id] = RansCoder()
        found[ContextRansCoder.coder_id] = ContextRansCoder()
    except ImportError:
        pass
    return found


def default_id(has_context: bool) -> int:
    """The id of the best coder available here: the context model's when the model ships one."""
    available = coders()
    if not has_context:
        available.pop(ContextRansCoder.coder_id, None)
    return max(available)


def for_quality(quality):
    """The best available coder for this quality: the context model when the model ships one."""
    return get_coder(default_id(quality.context is not None))


def get_coder(coder_id: int):
    """The coder with this stream id."""
    available = coders()
    if coder_id not in available:
        raise BitstreamError(f"stream needs entropy coder #{coder_id}, which this install does not have")
    return available[coder_id]
