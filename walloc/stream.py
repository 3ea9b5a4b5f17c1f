"""The stream layer: integer latents <-> ``.wlc`` bytes, with integer tables only (numpy, no torch).

Everything a stream depends on lives here once: the quantizer and its quality table (step, offset,
integer CDF tables), the chunking of latents into independently coded pieces, the header a stream
carries, the coder registry (:mod:`walloc.coder`) and container (:mod:`walloc.bitstream`) it goes
through, and the checks that refuse a stream a model cannot decode. A :class:`Stream` is built from a
model's verified tables alone (:func:`walloc.zoo.load_tables`), so reading latents for learning never
builds a network; :class:`walloc.Codec` is a network plus one of these.

    k = walloc.stream.read_latents(data)   # (groups, K, *latent shape) int32, numpy, no torch
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import bitstream, coder, zoo
from .config import NetConfig
from .errors import BitstreamError, MediaError, ModelError
from .tables import Quality, Tables

CHUNK_SYMBOLS = 1 << 16  # about this many symbols per independently coded chunk
DECODE_BATCH = 64        # chunks entropy-coded per call: bounds the temporary memory


# -- the quantizer: one definition, for numpy arrays and torch tensors alike -----------------------------
def quantize(latents: Any, quality: Quality) -> Any:
    """Float latents -> integer latents (int32) at this quality's step: round half to even, clipped
    to the tables' range. ``latents`` is a float32 numpy array or torch tensor; the result is the same kind."""
    k = quality.tables.offset
    q = (latents / quality.step).round().clip(-k, k)
    return q.astype(np.int32) if isinstance(q, np.ndarray) else q.int()


def dequantize(symbols: Any, quality: Quality) -> Any:
    """Integer latents -> float32 latents on the quantizer's grid (numpy array or torch tensor)."""
    x = symbols.astype(np.float32) if isinstance(symbols, np.ndarray) else symbols.float()
    return x * quality.step


def check_quality(quality: Any, qualities: Sequence[int]) -> int:
    """A quality as given by a caller, refused in one line unless it is one of ``qualities``."""
    if isinstance(quality, (bool, np.bool_)) or not isinstance(quality, (int, np.integer)) or int(quality) not in qualities:
        raise ModelError(f"quality must be an integer, one of {sorted(qualities)}; got {quality!r}")
    return int(quality)


# -- chunks ----------------------------------------------------------------------------------------------
def chunks(symbols: np.ndarray) -> list[tuple[int, int, int, np.ndarray]]:
    """Split (G, K, R, *rest) latents into independently coded chunks: (group, start row, rows, view (K, rows, *rest))."""
    g, k, rows, *rest = symbols.shape
    size = max(1, CHUNK_SYMBOLS // (k * math.prod(rest)))
    return [(gi, start, min(size, rows - start), symbols[gi, :, start: start + size])
            for gi in range(g) for start in range(0, rows, size)]


def check_payload_can_hold(header: bitstream.Header, tables: Tables) -> None:
    """Refuse a header that declares more latents than its payload could code.

    No symbol costs less than -log2(largest frequency) bits, so the payload size bounds the
    number of symbols, and with it everything the decoder allocates.
    """
    payload_bits = 8 * sum(c.size for c in header.chunks) + 1024 * len(header.chunks)
    if header.latent_count * tables.min_bits > payload_bits:
        raise BitstreamError(f"stream declares {header.latent_count} latents, more than its {sum(c.size for c in header.chunks)} payload bytes can hold")


class Stream:
    """The stream side of one model: its qualities and tables, its identity, and its streams."""

    def __init__(self, name: str, config: dict, qualities: Sequence[Quality]):
        self.name = name
        self.config = config
        self.cfg = NetConfig(**config["net"])
        self._qualities = {q.quality: q for q in qualities}
        self._hashes: dict[int, bytes] = {}  # stream_hash per coder: checked for every stream read

    @classmethod
    def load(cls, name: str, model_dir: Path | None = None, context: bool = True) -> "Stream":
        """A model's stream layer from its verified tables (``context=False``: factorized coding only)."""
        t = zoo.load_tables(name, model_dir, context)
        return cls(t.name, t.config, t.qualities)  # the config is already the caller's own copy

    # -- identity and qualities -------------------------------------------------------------------------
    @property
    def modality(self) -> str:
        return self.cfg.modality

    @property
    def qualities(self) -> list[int]:
        return sorted(self._qualities)

    @property
    def default_quality(self) -> int:
        return int(self.config["default_quality"])

    @property
    def sha256(self) -> str:
        return self.config["sha256"]

    def stream_hash(self, coder_id: int) -> bytes:
        """What a stream of this coder records as its model (see :func:`walloc.zoo.stream_hash`)."""
        if coder_id not in self._hashes:
            self._hashes[coder_id] = zoo.stream_hash(self.config, coder_id)
        return self._hashes[coder_id]

    def quality(self, quality: int | None = None) -> Quality:
        """One operating point; ``None`` is the model's default."""
        q = self.default_quality if quality is None else check_quality(quality, self.qualities)
        return self._qualities[q]

    def tables(self, quality: int | None = None) -> Tables:
        """The integer CDF tables that code the latents at this quality."""
        return self.quality(quality).tables

    # -- writing ------------------------------------------------------------------------------------------
    def _header(self, quality: Quality, coder_id: int, channels: int, extent: tuple[int, ...], fields: dict,
                chunks: tuple[bitstream.Chunk, ...]) -> bitstream.Header:
        block = self.cfg.block_size
        return bitstream.Header(
            modality=self.modality, coder=coder_id, quality=quality.quality, model=self.name,
            model_hash=self.stream_hash(coder_id), channels=channels, extent=tuple(extent),
            padding=tuple((-e) % block for e in extent), groups=-(-channels // self.cfg.channels),
            latent_channels=self.cfg.latent_dim, latent_extent=tuple(-(-e // block) for e in extent), chunks=chunks, **fields)

    def check_writable(self, quality: Quality, channels: int, extent: tuple[int, ...], **fields: Any) -> None:
        """Refuse, before any encoding, a signal whose stream the format cannot hold (too many channels
        or samples, a sample rate out of range): the header checks of :func:`walloc.bitstream.validate`
        on the header it would get. ``fields``: bit_depth, float_samples, sample_rate."""
        groups, rows = -(-channels // self.cfg.channels), -(-extent[0] // self.cfg.block_size)
        chunks = tuple(bitstream.Chunk(g, 0, rows, 0) for g in range(min(groups, bitstream.MAX_CHANNELS + 1)))
        try:
            bitstream.validate(self._header(quality, 1, channels, extent, fields, chunks))
        except BitstreamError as e:
            raise MediaError(f"cannot code this signal: {e}") from None

    def write(self, symbols: np.ndarray, quality: Quality, channels: int, extent: tuple[int, ...], **fields: Any) -> bytes:
        """Table indices (G, K, *latent extent) (quantized latents plus the offset) of a signal of
        ``channels`` x ``extent`` -> ``.wlc`` bytes, coded chunk by chunk with the best coder here.
        ``fields``: the header's bit_depth, float_samples and sample_rate."""
        pieces = chunks(symbols)
        best = coder.for_quality(quality)
        data: list[bytes] = []
        for first in range(0, len(pieces), DECODE_BATCH):  # a bounded batch of contiguous chunks at a time
            data += best.encode_many([view for *_, view in pieces[first: first + DECODE_BATCH]], quality)
        table = tuple(bitstream.Chunk(g, start, n, len(d)) for (g, start, n, _), d in zip(pieces, data))
        return bitstream.pack(self._header(quality, best.coder_id, channels, extent, fields, table), data)

    # -- reading ------------------------------------------------------------------------------------------
    def check_stream(self, header: bitstream.Header) -> None:
        """Refuse a (parsed) stream this model cannot decode: other model or weights, inconsistent
        shapes, unknown quality, or more latents than its payload could hold."""
        if header.model != self.name:
            raise ModelError(f"stream was made with model '{header.model}', not '{self.name}'")
        if header.model_hash != self.stream_hash(header.coder):
            raise ModelError(f"stream was made with another version of model '{self.name}' (model hash {header.model_hash.hex()}, "
                             f"this one's {self.stream_hash(header.coder).hex()}); walloc.decompress and walloc.codec_for pick the version a stream names")
        if header.modality != self.modality:
            raise BitstreamError(f"{header.modality} stream names the {self.modality} model '{self.name}'")
        expect = tuple(-(-(e + p) // self.cfg.block_size) for e, p in zip(header.extent, header.padding))
        if header.latent_channels != self.cfg.latent_dim or header.latent_extent != expect or any(p >= self.cfg.block_size for p in header.padding):
            raise BitstreamError("stream's latent shape does not match its signal shape and model")
        if header.groups != -(-header.channels // self.cfg.channels):
            raise BitstreamError(f"stream declares {header.groups} channel groups for {header.channels} channels")
        if header.quality not in self._qualities:
            raise ModelError(f"stream names quality {header.quality}; model '{self.name}' has {self.qualities}")
        check_payload_can_hold(header, coder.tables_for(header.coder, self._qualities[header.quality]))

    def read_latents_batch(self, streams: Sequence[bytes], threads: int = 0,
                           device: Any = None) -> tuple[list[bitstream.Header], Any]:
        """Streams of this model with one quality and latent shape -> their headers and integer
        latents (B, groups, K, *latent shape), by entropy decoding alone: a numpy array, or with
        ``device`` a torch tensor there.

        Chunks decode a bounded batch at a time on ``threads`` CPU threads (0: all cores), or all at
        once on a CUDA ``device`` where the streams' coders have a CUDA path (factorized streams).
        Streams of different coders may mix.
        """
        target = None
        if device is not None:
            from .codec import checked_device  # a device is a torch one: torch is imported only then

            target = checked_device(device)
        cuda = target if target is not None and target.type == "cuda" else None
        if not streams:
            raise MediaError("no streams to decode")
        parsed = [bitstream.parse(s) for s in streams]
        first = parsed[0][0]
        for h, _ in parsed:
            self.check_stream(h)
            if (h.quality, h.groups, h.latent_extent) != (first.quality, first.groups, first.latent_extent):
                raise MediaError("streams decoded as one batch must share quality and latent shape "
                                 f"(got q{h.quality} {h.groups}x{h.latent_extent} and q{first.quality} {first.groups}x{first.latent_extent})")
        q = self._qualities[first.quality]
        k, rest = first.latent_channels, first.latent_extent[1:]
        jobs: dict[int, list] = {}  # by coder: a batch may mix streams of several coders
        for b, (h, payloads) in enumerate(parsed):
            jobs.setdefault(h.coder, []).extend((b, c, p) for c, p in zip(h.chunks, payloads))
        codecs = {cid: coder.get_coder(cid) for cid in jobs}
        on_gpu = cuda is not None and all(c.cuda_ready() for c in codecs.values())
        shape = (len(parsed), first.groups, k, *first.latent_extent)
        if on_gpu:
            import torch

            out = torch.empty(shape, dtype=torch.int32, device=cuda)
        else:
            out = np.empty(shape, dtype=np.int32)
        for cid, todo in jobs.items():
            codec = codecs[cid]
            batch = len(todo) if on_gpu else DECODE_BATCH
            for i in range(0, len(todo), batch):
                part = todo[i: i + batch]
                shapes = [(k, c.rows, *rest) for _, c, _ in part]
                payloads = [p for *_, p in part]
                if on_gpu:
                    pieces = codec.decode_cuda(payloads, q, shapes, cuda)
                else:
                    pieces = codec.decode_many(payloads, q, shapes, threads)
                for (b, c, _), piece in zip(part, pieces):
                    out[b, c.group, :, c.start: c.start + c.rows] = piece
        out -= q.tables.offset
        if target is not None:
            import torch

            out = (torch.from_numpy(out) if isinstance(out, np.ndarray) else out).to(target)
        return [h for h, _ in parsed], out


class HasStream:
    """A part of a model built on its stream layer (``self.stream``): its name, architecture, modality
    and dimension reduction are the stream's."""

    stream: Stream
    name = property(lambda self: self.stream.name, doc="The model's name.")
    cfg = property(lambda self: self.stream.cfg, doc="The model's architecture (a NetConfig).")
    modality = property(lambda self: self.stream.modality, doc="'image' or 'audio'.")
    dim_reduction = property(lambda self: self.cfg.dim_reduction, doc="How many times fewer dimensions the latents have.")


def for_stream(data: bytes, model_dir: Path | None = None) -> Stream:
    """The stream layer of the model version a stream names in its header (see :func:`walloc.zoo.folder_for`).
    Built once per version of the model's files and shared (read it, do not change it): a dataset asks
    for it once per item, and building it (a private copy of the config) cost more than decoding."""
    header = bitstream.peek_header(data)
    folder = zoo.folder_for(header.model, header.model_hash, header.coder, model_dir)
    return _shared_layer(header.model, str(folder), zoo.file_versions(header.model, folder))


@lru_cache(maxsize=16)
def _shared_layer(name: str, folder: str, _versions: tuple) -> Stream:
    return Stream.load(name, Path(folder))


def read_latents(data: bytes, *, device: Any = None, header: bool = False, threads: int = 0,
                 model_dir: Path | None = None, layer: Stream | None = None) -> Any:
    """Integer latents (groups, K, *latent shape) of a stream, by entropy decoding alone (no network):
    a numpy array (no torch), or with ``device`` a torch tensor there; with ``header``, (header, latents).
    ``layer`` is the model's stream layer that checks and reads it (default: the version the stream
    names, looked up in ``model_dir``); chunks decode on ``threads`` threads (0: all cores)."""
    headers, out = (layer or for_stream(data, model_dir)).read_latents_batch([data], threads, device)
    return (headers[0], out[0]) if header else out[0]
