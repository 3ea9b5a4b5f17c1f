"""Codec: the whole data path in one object, from signal to ``.wlc`` bytes and back.

A model codes signals with a fixed channel count (3 for RGB, 2 for stereo). Other channel counts
are coded as groups of that many channels, the last group padded by repeating its last channel
(grayscale -> three equal channels, mono -> two, RGBA -> RGB + AAA, 5.1 -> three stereo pairs).
Spatial sizes are padded (edge replication) to a multiple of 2**J and cropped after decoding.
Compression and decompression run band by band (``tiling``), so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from . import bitstream, coder, tiling
from .entropy import FactorizedDensity, Tables
from .errors import BitstreamError, MediaError, ModelError
from .io import AudioMeta, ImageMeta
from .model import NetConfig, WallocNet
from .zoo import Quality, load_parts

CHUNK_SYMBOLS = 1 << 16  # about this many symbols per independently coded chunk
DECODE_BATCH = 64        # chunks entropy-coded per call: bounds the temporary memory


def _ticker(progress: Callable[[float], None] | None, total: int) -> Callable[[int], None]:
    """Counts units of work done and reports the fraction of ``total`` to ``progress`` (if any)."""
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(1.0, done / total))

    return tick


@dataclass(frozen=True)
class Decoded:
    """A decompressed signal with what is needed to write it back as it came in."""

    signal: torch.Tensor           # (C, H, W) in [0, 1] or (C, L) in [-1, 1]
    meta: ImageMeta | AudioMeta
    header: bitstream.Header


class Codec:
    """One shipped model, ready to compress, decompress, and give latents for learning."""

    def __init__(self, name: str, config: dict, net: WallocNet, density: FactorizedDensity, qualities: list[Quality]):
        self.name = name
        self.config = config
        self.net = net
        self.density = density
        self._qualities = {q.quality: q for q in qualities}
        self.sha256 = config["sha256"]
        self.device = torch.device("cpu")

    @classmethod
    def load(cls, name: str, model_dir=None, context: bool = True) -> "Codec":
        """A shipped model; ``context=False`` ignores its context tables (factorized coding only)."""
        config, net, density, qualities = load_parts(name, model_dir, context)
        return cls(name, config, net, density, qualities)

    # -- properties ---------------------------------------------------------------------------------
    @property
    def cfg(self) -> NetConfig:
        return self.net.cfg

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
    def dim_reduction(self) -> float:
        return self.cfg.dim_reduction

    @property
    def model_hash(self) -> bytes:
        return bytes.fromhex(self.sha256)[: bitstream.HASH_BYTES]

    def stream_hash(self, coder_id: int) -> bytes:
        """What a stream of this coder records as its model: the weights' hash, and for the context
        coder the hash of weights and context tables together (both are needed to decode it)."""
        if coder_id != coder.ContextRansCoder.coder_id or "context" not in self.config:
            return self.model_hash
        both = bytes.fromhex(self.sha256) + bytes.fromhex(self.config["context"]["sha256"])
        return hashlib.sha256(both).digest()[: bitstream.HASH_BYTES]

    def to(self, device: str | torch.device) -> "Codec":
        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    def quality(self, quality: int | None = None) -> Quality:
        q = self.default_quality if quality is None else quality
        if q not in self._qualities:
            raise ModelError(f"model '{self.name}' has qualities {self.qualities}, not {q}")
        return self._qualities[q]

    def tables(self, quality: int | None = None) -> Tables:
        """The integer CDF tables that code the latents at this quality."""
        return self.quality(quality).tables

    # -- tensors: the API for compressed-domain learning ----------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Signal (B, C, *S) -> float latents (B, K, *ceil(S / 2**J)), bounded, before rounding."""
        if x.dim() != self.cfg.dims + 2 or x.shape[1] != self.cfg.channels:
            raise MediaError(f"'{self.name}' encodes (B, {self.cfg.channels}, {'H, W' if self.cfg.dims == 2 else 'L'}) tensors, got {tuple(x.shape)}")
        with torch.inference_mode():
            return self.net.encode(tiling.pad_to_block(x.to(self.device, torch.float32), self.cfg.block_size))

    def quantize(self, latents: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        """Float latents -> integer latents (int32) at this quality's quantizer step."""
        q = self.quality(quality)
        kmax = q.tables.offset
        return torch.round(latents / q.step).clamp(-kmax, kmax).to(torch.int32)

    def dequantize(self, symbols: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        return symbols.to(torch.float32) * self.quality(quality).step

    def decode(self, latents: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        """Latents -> signal (uncropped). Integer latents are dequantized at ``quality`` first."""
        if not latents.is_floating_point():
            latents = self.dequantize(latents, quality)
        with torch.inference_mode():
            x = self.net.decode(latents.to(self.device))
        lo = 0.0 if self.modality == "image" else -1.0
        return x.clamp(lo, 1.0)

    # -- bytes ------------------------------------------------------------------------------------------
    def compress(self, x: torch.Tensor, quality: int | None = None, meta: ImageMeta | AudioMeta | None = None,
                 progress: Callable[[float], None] | None = None) -> bytes:
        """One signal -> ``.wlc`` bytes.

        x is (C, H, W) for images, floats in [0, 1] or uint8; (C, L) for audio, floats in [-1, 1]
        or int16. Any channel count; coded band by band, so memory stays bounded. ``progress``, if
        given, is called with the fraction of the signal encoded after each band.
        """
        q = self.quality(quality)
        if x.dim() != self.cfg.dims + 1:
            raise MediaError(f"'{self.name}' compresses {'(C, H, W) images' if self.cfg.dims == 2 else '(C, L) audio'}, got shape {tuple(x.shape)}")
        if x.numel() == 0:
            raise MediaError("cannot compress an empty signal")
        meta = meta or (ImageMeta() if self.modality == "image" else AudioMeta(sample_rate=44100))
        block = self.cfg.block_size
        groups = -(-x.shape[0] // self.cfg.channels)
        symbols = np.empty((groups, self.cfg.latent_dim, *[-(-e // block) for e in x.shape[1:]]), dtype=np.int32)
        kmax = q.tables.offset
        tick = _ticker(progress, groups * symbols.shape[2])

        def keep(g: int, r0: int, r1: int, y: torch.Tensor) -> None:
            # what quantize gives, plus the offset that makes it a table index, computed in the band's
            # own buffer (the encoder's, unused after this) and cast once into its place in symbols
            with torch.inference_mode():
                y.div_(q.step).round_().clamp_(-kmax, kmax).add_(kmax)
                torch.from_numpy(symbols[g, :, r0:r1]).copy_(y)
            tick(r1 - r0)

        tiling.encode(self.net, x, self.device, keep)
        bands = self._bands(symbols)
        best = coder.for_quality(q)
        data = []
        for first in range(0, len(bands), DECODE_BATCH):  # a bounded batch of contiguous chunks at a time
            data += best.encode_many([view for *_, view in bands[first: first + DECODE_BATCH]], q)
        header = bitstream.Header(
            modality=self.modality, coder=best.coder_id, quality=q.quality, model=self.name, model_hash=self.stream_hash(best.coder_id),
            channels=x.shape[0], bit_depth=meta.bit_depth,
            float_samples=bool(getattr(meta, "float_array", False) or getattr(meta, "float_samples", False)),
            sample_rate=getattr(meta, "sample_rate", 0), extent=tuple(x.shape[1:]),
            padding=tuple((-e) % block for e in x.shape[1:]),
            groups=groups, latent_channels=symbols.shape[1], latent_extent=tuple(symbols.shape[2:]),
            chunks=tuple(bitstream.Chunk(g, start, n, len(d)) for (g, start, n, _), d in zip(bands, data)))
        return bitstream.pack(header, data)

    def read_latents(self, data: bytes, threads: int = 0) -> tuple[bitstream.Header, torch.Tensor]:
        """Entropy-decode a stream to its integer latents (groups, K, *latent shape); no network runs.

        Chunks decode in ``threads`` threads (0: all cores), a bounded batch at a time.
        """
        headers, symbols = self.read_latents_batch([data], threads)
        return headers[0], symbols[0]

    def read_latents_batch(self, streams: Sequence[bytes], threads: int = 0,
                           device: str | torch.device | None = None) -> tuple[list[bitstream.Header], torch.Tensor]:
        """Streams of this model with one quality and latent shape -> their headers and integer
        latents (B, groups, K, *latent shape), by entropy decoding alone.

        Chunks decode a bounded batch at a time on ``threads`` CPU threads (0: all cores), or all at
        once on a CUDA ``device`` where the streams' coders have a CUDA path (factorized streams).
        Streams of different coders (older factorized streams beside context-model ones) may mix.
        """
        if not streams:
            raise MediaError("no streams to decode")
        parsed = [bitstream.parse(s) for s in streams]
        first = parsed[0][0]
        for h, _ in parsed:
            self.check_stream(h)
            if (h.quality, h.groups, h.latent_extent) != (first.quality, first.groups, first.latent_extent):
                raise MediaError("streams decoded as one batch must share quality and latent shape "
                                 f"(got q{h.quality} {h.groups}x{h.latent_extent} and q{first.quality} {first.groups}x{first.latent_extent})")
        q = self.quality(first.quality)
        device = torch.device(device) if device is not None else torch.device("cpu")
        k, rest = first.latent_channels, first.latent_extent[1:]
        jobs: dict[int, list] = {}  # by coder: a batch may mix streams of several coders
        for b, (h, payloads) in enumerate(parsed):
            jobs.setdefault(h.coder, []).extend((b, c, p) for c, p in zip(h.chunks, payloads))
        codecs = {cid: coder.get_coder(cid) for cid in jobs}
        on_gpu = device.type == "cuda" and all(c.cuda_ready() for c in codecs.values())
        out = torch.empty((len(parsed), first.groups, k, *first.latent_extent), dtype=torch.int32,
                          device=device if on_gpu else "cpu")
        for cid, todo in jobs.items():
            codec = codecs[cid]
            batch = len(todo) if on_gpu else DECODE_BATCH
            for i in range(0, len(todo), batch):
                part = todo[i: i + batch]
                shapes = [(k, c.rows, *rest) for _, c, _ in part]
                payloads = [p for *_, p in part]
                if on_gpu:
                    pieces = codec.decode_cuda(payloads, q, shapes, device)
                else:
                    pieces = [torch.from_numpy(a) for a in codec.decode_many(payloads, q, shapes, threads)]
                for (b, c, _), piece in zip(part, pieces):
                    out[b, c.group, :, c.start: c.start + c.rows] = piece
        out -= q.tables.offset
        return [h for h, _ in parsed], out.to(device)

    def decompress_full(self, data: bytes, dtype: torch.dtype = torch.float32,
                        progress: Callable[[float], None] | None = None) -> Decoded:
        """Stream -> signal plus its metadata and header, decoded band by band.

        ``dtype`` float32 gives [0, 1] images / [-1, 1] audio; uint8 (images) or int16 (audio) gives
        integer samples directly, which keeps a huge output at a quarter or half of the memory.
        ``progress``, if given, is called with the fraction of the signal decoded after each band.
        """
        header, symbols = self.read_latents(data)
        q, m = self.quality(header.quality), self.cfg.channels
        # channels last in memory, as image and audio writers want them, without a transposed copy
        out = torch.empty((*header.extent, header.channels), dtype=dtype).movedim(-1, 0)
        floor = 0.0 if self.modality == "image" else -1.0
        tick = _ticker(progress, header.groups * header.latent_extent[0] * self.cfg.block_size)

        def latents(g: int, lo: int, hi: int) -> torch.Tensor:
            return self.dequantize(symbols[g, :, lo:hi], q.quality)

        def keep(g: int, a: int, b: int, signal: torch.Tensor) -> None:
            tick(b - a)
            b = min(b, header.extent[0])
            if a >= b:
                return
            n = min(m, header.channels - g * m)
            crop = (slice(0, n), slice(0, b - a), *[slice(0, e) for e in header.extent[1:]])
            out[g * m: g * m + n, a:b] = tiling.from_float(signal[crop].clamp(floor, 1.0).cpu(), dtype)

        tiling.decode(self.net, latents, header.groups, header.latent_extent, self.device, keep)
        if header.modality == "image":
            meta = ImageMeta(bit_depth=header.bit_depth, float_array=header.float_samples)
        else:
            meta = AudioMeta(sample_rate=header.sample_rate, bit_depth=header.bit_depth, float_samples=header.float_samples)
        return Decoded(out, meta, header)

    def decompress(self, data: bytes, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Stream -> signal (C, H, W) or (C, L)."""
        return self.decompress_full(data, dtype).signal

    # -- helpers ----------------------------------------------------------------------------------------
    @staticmethod
    def _bands(symbols: np.ndarray) -> list[tuple[int, int, int, np.ndarray]]:
        """Split (G, K, R, *rest) latents into independent chunks: (group, start row, rows, view (K, rows, *rest))."""
        g, k, rows, *rest = symbols.shape
        band = max(1, CHUNK_SYMBOLS // (k * math.prod(rest)))
        return [(gi, start, min(band, rows - start), symbols[gi, :, start: start + band])
                for gi in range(g) for start in range(0, rows, band)]

    @staticmethod
    def _check_payload_can_hold(header: bitstream.Header, tables: Tables) -> None:
        """Refuse a header that declares more latents than its payload could code.

        No symbol costs less than -log2(largest frequency) bits, so the payload size bounds the
        number of symbols, and with it everything the decoder allocates.
        """
        top = int(np.diff(tables.cdfs.astype(np.int64), axis=1).max())
        min_bits = -math.log2(top / (1 << tables.precision))
        payload_bits = 8 * sum(c.size for c in header.chunks) + 1024 * len(header.chunks)
        if header.latent_count * min_bits > payload_bits:
            raise BitstreamError(f"stream declares {header.latent_count} latents, more than its {sum(c.size for c in header.chunks)} payload bytes can hold")

    def check_stream(self, header: bitstream.Header) -> None:
        """Refuse a (parsed) stream this codec cannot decode: other model or weights, inconsistent
        shapes, unknown quality, or more latents than its payload could hold."""
        if header.model != self.name:
            raise ModelError(f"stream was made with model '{header.model}', not '{self.name}'")
        if header.model_hash != self.stream_hash(header.coder):
            raise ModelError(f"stream was made with a different version of model '{self.name}' (model hash {header.model_hash.hex()} vs {self.stream_hash(header.coder).hex()})")
        if header.modality != self.modality:
            raise BitstreamError(f"{header.modality} stream names the {self.modality} model '{self.name}'")
        expect = tuple(-(-(e + p) // self.cfg.block_size) for e, p in zip(header.extent, header.padding))
        if header.latent_channels != self.cfg.latent_dim or header.latent_extent != expect or any(p >= self.cfg.block_size for p in header.padding):
            raise BitstreamError("stream's latent shape does not match its signal shape and model")
        if header.groups != -(-header.channels // self.cfg.channels):
            raise BitstreamError(f"stream declares {header.groups} channel groups for {header.channels} channels")
        self._check_payload_can_hold(header, coder.tables_for(header.coder, self.quality(header.quality)))

