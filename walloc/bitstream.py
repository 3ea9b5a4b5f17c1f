"""The ``.wlc`` container: a checked header, independent coded chunks, and a CRC32.

The byte layout is documented in ``docs/bitstream.md``. Parsing trusts nothing: the CRC is
checked first, then every field against fixed limits and every length against the bytes present,
all before anything is allocated from a declared size.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable

from .errors import BitstreamError

MAGIC = b"WLOC"
VERSION = 2                     # what this walloc writes, unless a stream's level needs version 3
LEVEL_VERSION = 3               # audio amplified by its encoder (a negative gain code): the gain byte is signed
READABLE = (1, 2, 3)            # what it reads: version 1 streams have no gain and no silent runs
MODALITIES = {1: "image", 2: "audio"}
MODALITY_CODES = {v: k for k, v in MODALITIES.items()}
HASH_BYTES = 16

# Limits a stream must respect before the decoder allocates anything for it.
MAX_NAME = 64
MAX_CHANNELS = 1024
MAX_EXTENT = 1 << 30            # samples along one axis
MAX_SAMPLES = 1 << 32           # samples per channel in total (a 65k x 65k image, 27 h of 44.1 kHz audio)
MAX_LATENTS = 1 << 31           # integer latents in one stream
MAX_CHUNKS = 1 << 20
MAX_GAIN = 16                   # audio coded at 2**(-gain / 2) of its level: down to 1/256 (and, version 3, up to 256)
MAX_SILENT_RUNS = 1 << 16

_FIXED = struct.Struct("<4sBBBBB")         # magic, version, modality, coder, quality, name length
_SIGNAL = struct.Struct("<HBBIB")          # channels, bit depth, flags, sample rate, ndim
_CHUNK = struct.Struct("<HIII")            # group, start, rows, byte length


@dataclass(frozen=True)
class Chunk:
    """``rows`` latent positions along the first axis from ``start``, of channel group ``group``."""

    group: int
    start: int
    rows: int
    size: int


@dataclass(frozen=True)
class Header:
    modality: str
    coder: int
    quality: int
    model: str
    model_hash: bytes                 # first 16 bytes of the SHA-256 of the weights (and context tables: zoo.stream_hash)
    channels: int                     # channels of the original signal
    bit_depth: int                    # bits per sample of the original (8, 16, 24, 32, 64)
    float_samples: bool
    sample_rate: int                  # Hz for audio, 0 for images
    extent: tuple[int, ...]           # (H, W) or (L,) of the original
    padding: tuple[int, ...]          # samples added after the end of each axis before coding
    groups: int                       # channel groups coded (each the model's channel count)
    latent_channels: int
    latent_extent: tuple[int, ...]
    chunks: tuple[Chunk, ...] = field(default=())
    gain: int = 0                     # audio was coded at 2**(-gain / 2) of its level (decoding undoes it); < 0 only in version 3
    silence: tuple[tuple[int, int], ...] = ()  # (start, length) runs of samples that were digital silence
    format_version: int = VERSION

    @property
    def gain_factor(self) -> float:
        """What the encoder multiplied the signal by."""
        return 2.0 ** (-self.gain / 2)

    @property
    def latent_count(self) -> int:
        n = self.groups * self.latent_channels
        for e in self.latent_extent:
            n *= e
        return n

    def to_json(self) -> dict:
        return {
            "format_version": self.format_version, "modality": self.modality, "coder": self.coder, "quality": self.quality,
            "model": self.model, "model_hash": self.model_hash.hex(), "channels": self.channels,
            "bit_depth": self.bit_depth, "float_samples": self.float_samples, "sample_rate": self.sample_rate,
            "extent": list(self.extent), "padding": list(self.padding), "groups": self.groups,
            "latent_channels": self.latent_channels, "latent_extent": list(self.latent_extent),
            "chunks": len(self.chunks), "payload_bytes": sum(c.size for c in self.chunks),
            **({"gain_db": round(-10 * math.log10(2) * self.gain, 2), "silent_runs": len(self.silence),
                "silent_samples": sum(n for _, n in self.silence)} if self.modality == "audio" else {}),
        }


def pack(header: Header, payloads: list[bytes]) -> bytes:
    """Serialise a header whose chunks describe ``payloads`` (same order), then append the CRC.

    The header passes the very checks :func:`parse` makes, so no stream is written that parsing refuses.
    """
    _check(len(payloads) == len(header.chunks) and all(len(p) == c.size for c, p in zip(header.chunks, payloads)),
           "chunk table does not describe the payloads")
    validate(header)
    return _serialise(header, payloads)


def _has_level(version: int, modality: str) -> bool:
    """Whether a stream carries the gain and silent runs: audio streams from version 2 on."""
    return version >= 2 and modality == "audio"


def version_for(gain: int) -> int:
    """The stream format an audio stream of this gain code is written in: version 2 holds 0..MAX_GAIN,
    so every stream an attenuating (or unity) gain makes stays byte for byte what it was."""
    return LEVEL_VERSION if gain < 0 else VERSION


def _gain_format(version: int) -> str:
    """The gain byte: unsigned in version 2, signed from version 3."""
    return "b" if version >= LEVEL_VERSION else "B"


def _serialise(header: Header, payloads: list[bytes]) -> bytes:
    """The bytes of a stream, unchecked (tests forge hostile streams with it)."""
    name = header.model.encode("utf-8")
    nd = len(header.extent)
    parts = [
        _FIXED.pack(MAGIC, header.format_version, MODALITY_CODES[header.modality], header.coder, header.quality, len(name)),
        name, header.model_hash,
        _SIGNAL.pack(header.channels, header.bit_depth, int(header.float_samples), header.sample_rate, nd),
        struct.pack(f"<{nd}I{nd}I", *header.extent, *header.padding),
        *([struct.pack(f"<{_gain_format(header.format_version)}I{2 * len(header.silence)}I", header.gain, len(header.silence), *[v for run in header.silence for v in run])]
          if _has_level(header.format_version, header.modality) else []),
        struct.pack(f"<HH{nd}I", header.groups, header.latent_channels, *header.latent_extent),
        struct.pack("<I", len(header.chunks)),
        *[_CHUNK.pack(c.group, c.start, c.rows, len(p)) for c, p in zip(header.chunks, payloads)],
        *payloads,
    ]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.pos = data, 0

    def take(self, fmt: struct.Struct | str) -> tuple:
        s = fmt if isinstance(fmt, struct.Struct) else struct.Struct(fmt)
        if self.pos + s.size > len(self.data):
            raise BitstreamError("stream is truncated inside its header")
        out = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return out

    def raw(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise BitstreamError("stream is truncated inside its header")
        out = self.data[self.pos: self.pos + n]
        self.pos += n
        return out


def _check(ok: bool, message: str | Callable[[], str]) -> None:
    """Refuse a stream; a message that takes work to write is a function, called only on refusal (every
    item a dataset reads is checked, so the messages of checks that pass should cost nothing)."""
    if not ok:
        raise BitstreamError(message if isinstance(message, str) else message())


def parse(data: bytes) -> tuple[Header, list[memoryview]]:
    """Validate a whole stream and return its header and chunk payloads (views, no copies)."""
    view = memoryview(data)
    _check(len(view) >= _FIXED.size + 4, lambda: f"not a walloc stream: only {len(view)} bytes")
    _check(bytes(view[:4]) == MAGIC, "not a walloc stream (bad magic bytes)")
    _check(view[4] in READABLE, lambda: f"unsupported stream format version {view[4]} (this walloc reads versions "
                                f"{', '.join(map(str, READABLE))}; a newer walloc wrote it)")
    (crc,) = struct.unpack_from("<I", view, len(view) - 4)
    _check(zlib.crc32(view[:-4]) == crc, "stream is corrupted or truncated (CRC32 mismatch)")
    r = _Reader(view[:-4])
    _, version, modality, coder, quality, name_len = r.take(_FIXED)
    _check(modality in MODALITIES, lambda: f"unknown modality code {modality}")
    try:
        model = bytes(r.raw(name_len)).decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError("model name is not valid UTF-8") from None
    model_hash = bytes(r.raw(HASH_BYTES))
    channels, bit_depth, flags, sample_rate, nd = r.take(_SIGNAL)
    _check(flags in (0, 1), lambda: f"unknown flags {flags:#x}")
    values = r.take(f"<{nd}I{nd}I")  # at most 255 axes: bounded before any check
    gain, silence = 0, ()
    if _has_level(version, MODALITIES[modality]):
        gain, runs = r.take(f"<{_gain_format(version)}I")
        _check(runs <= MAX_SILENT_RUNS, lambda: f"{runs} silent runs exceed the limit {MAX_SILENT_RUNS}")
        flat = r.take(f"<{2 * runs}I")
        silence = tuple(zip(flat[::2], flat[1::2]))
    groups, latent_channels, *latent_extent = r.take(f"<HH{nd}I")
    (count,) = r.take("<I")
    _check(0 < count <= MAX_CHUNKS, lambda: f"chunk count {count} is out of range")
    _check(r.pos + count * _CHUNK.size <= len(r.data), "stream is truncated inside its chunk table")
    chunks = tuple(Chunk(*r.take(_CHUNK)) for _ in range(count))
    payload = sum(c.size for c in chunks)
    _check(r.pos + payload == len(r.data), lambda: f"chunk table declares {payload} payload bytes, stream holds {len(r.data) - r.pos}")
    header = Header(MODALITIES[modality], coder, quality, model, model_hash, channels, bit_depth, bool(flags),
                    sample_rate, tuple(values[:nd]), tuple(values[nd:]), groups, latent_channels, tuple(latent_extent), chunks,
                    gain, silence, version)
    validate(header)
    return header, [r.raw(c.size) for c in chunks]


def _fits(value: int, bits: int) -> bool:
    return isinstance(value, int) and 0 <= value < (1 << bits)


def validate(header: Header) -> None:
    """Every limit a stream must respect, for the writer and the reader alike (one definition)."""
    _check(header.modality in MODALITY_CODES, lambda: f"unknown modality {header.modality!r}")
    _check(_fits(header.coder, 8) and _fits(header.quality, 8), "coder or quality does not fit one byte")
    _check(0 < len(header.model.encode("utf-8")) <= MAX_NAME, lambda: f"model name length {len(header.model.encode('utf-8'))} is out of range")
    _check(isinstance(header.model_hash, bytes) and len(header.model_hash) == HASH_BYTES, lambda: f"model hash must be {HASH_BYTES} bytes")
    nd = len(header.extent)
    _check(nd == (2 if header.modality == "image" else 1), lambda: f"{header.modality} stream with {nd} axes")
    _check(len(header.padding) == nd and len(header.latent_extent) == nd, "shape, padding and latent shape differ in axes")
    _check(0 < header.channels <= MAX_CHANNELS, lambda: f"channel count {header.channels} is out of range (1..{MAX_CHANNELS})")
    _check(header.bit_depth in (8, 16, 24, 32, 64), lambda: f"bit depth {header.bit_depth} is not supported")
    _check(header.modality == "image" or 0 < header.sample_rate <= 1_000_000, lambda: f"sample rate {header.sample_rate} is out of range")
    _check(_fits(header.sample_rate, 32), lambda: f"sample rate {header.sample_rate} is out of range")
    total = 1
    for e, p in zip(header.extent, header.padding):
        _check(0 < e <= MAX_EXTENT and 0 <= p < MAX_EXTENT, lambda: f"shape {header.extent} with padding {header.padding} is out of range")
        total *= e + p
    _check(total <= MAX_SAMPLES, lambda: f"signal of {total} samples per channel exceeds the limit {MAX_SAMPLES}")
    _check(0 < header.groups <= MAX_CHANNELS and 0 < header.latent_channels < (1 << 16),
           "channel groups or latent channels out of range")
    for e in header.latent_extent:
        _check(0 < e <= MAX_EXTENT, lambda: f"latent shape {header.latent_extent} is out of range")
    _check(0 < len(header.chunks) <= MAX_CHUNKS, lambda: f"chunk count {len(header.chunks)} is out of range")
    _check(all(_fits(c.group, 16) and _fits(c.start, 32) and _fits(c.rows, 32) and _fits(c.size, 32) for c in header.chunks),
           "a chunk's fields are out of range")
    _check(header.latent_count <= MAX_LATENTS, lambda: f"{header.latent_count} latents exceed the limit {MAX_LATENTS}")
    _check_tiling(header)
    _check_level(header)


def _check_level(header: Header) -> None:
    """Gain and silent runs: audio from version 2 on (a negative gain from version 3); runs in order,
    apart, inside the signal."""
    _check(header.format_version in READABLE, lambda: f"unsupported stream format version {header.format_version}")
    if header.format_version < 2 or header.modality != "audio":
        _check(header.gain == 0 and not header.silence, lambda: f"a version {header.format_version} {header.modality} stream has no gain or silent runs")
        return
    low = -MAX_GAIN if header.format_version >= LEVEL_VERSION else 0
    _check(isinstance(header.gain, int) and low <= header.gain <= MAX_GAIN, lambda: f"gain {header.gain} is out of range ({low}..{MAX_GAIN})")
    _check(len(header.silence) <= MAX_SILENT_RUNS, lambda: f"{len(header.silence)} silent runs exceed the limit {MAX_SILENT_RUNS}")
    end = 0
    for run in header.silence:
        _check(len(run) == 2 and all(_fits(v, 32) for v in run), "a silent run's fields are out of range")
        start, length = run
        _check(start >= end and length > 0 and start + length <= header.extent[0], "silent runs overlap or leave the signal")
        end = start + length


def _check_tiling(header: Header) -> None:
    """Chunks must cover each group's latent rows exactly once, in order."""
    expect_group, expect_start = 0, 0
    for c in header.chunks:
        if c.group != expect_group:
            _check(c.group == expect_group + 1 and expect_start == header.latent_extent[0], "chunks do not tile the latents")
            expect_group, expect_start = c.group, 0
        _check(c.start == expect_start and c.rows > 0, "chunks do not tile the latents")
        expect_start += c.rows
    _check(expect_group == header.groups - 1 and expect_start == header.latent_extent[0], "chunks do not tile the latents")


def peek_header(data: bytes) -> Header:
    """The header of a stream, fully validated (same checks as decoding)."""
    return parse(data)[0]
