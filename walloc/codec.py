"""Codec: the whole data path in one object, from signal to ``.wlc`` bytes and back.

A model codes signals with a fixed channel count (3 for RGB, 2 for stereo). Other channel counts
are coded as groups of that many channels, the last group padded by repeating its last channel
(grayscale -> three equal channels, mono -> two, RGBA -> RGB + AAA, 5.1 -> three stereo pairs).
Spatial sizes are padded (edge replication) to a multiple of 2**J and cropped after decoding.
Compression and decompression run band by band (``tiling``), so memory stays bounded.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import bitstream, decoder, stream, tiling
from .decoder import Decoded
from .bands import ticker
from .encoder import Encoder
from .entropy import FactorizedDensity
from .errors import DeviceError, MediaError, ModelError
from .io import AudioMeta, ImageMeta
from .model import NetConfig, WallocNet
from .signal import as_array, check_signal, from_float, output_scale, readable, to_float
from .stream import HasStream, Stream
from .tables import Quality
from .zoo import MODEL_DIR, load_parts


def checked_device(device: str | torch.device) -> torch.device:
    """A device this torch can use, or a one-line DeviceError: unknown names ('tpu'), CUDA without a
    CUDA build or device, a CUDA index beyond the devices present."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device {str(device)!r}; use 'cpu' or 'cuda[:N]'") from None
    if d.type == "cpu":
        return d
    if d.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"device '{d}' is not available: this torch sees no CUDA device (use 'cpu')")
        if d.index is not None and d.index >= count:
            raise DeviceError(f"device '{d}' is not available: this machine has {count} CUDA device(s)")
        return d
    if d.type == "mps" and torch.backends.mps.is_available():
        return d
    raise DeviceError(f"device '{d}' is not available here; use 'cpu' or 'cuda[:N]'")


class _DeviceEncoder(Encoder):
    """The encoder on a torch device other than the CPU: bands by :mod:`walloc.tiling`, same stream."""

    def __init__(self, stream: Stream, weight: np.ndarray, bias: np.ndarray, net: WallocNet, device: torch.device):
        super().__init__(stream, weight, bias)
        self.net, self.device = net, device

    def bands(self, x: np.ndarray, emit: Callable[[int, int, int, Any], None], bounded: bool = True) -> tuple[int, ...]:
        if not bounded:  # the level analysis (walloc.level, Encoder.choose_gain) runs on the CPU
            return super().bands(x, emit, bounded)
        signal = torch.from_numpy(np.ascontiguousarray(readable(x)[0]))
        return tiling.encode(self.net, signal, self.device, emit, 2.0 ** (-self.gain / 2))


class Codec(HasStream):
    """One shipped model, ready to compress, decompress, and give latents for learning: the network
    plus its stream layer (:class:`walloc.stream.Stream`). Each object is its caller's own."""

    def __init__(self, name: str, config: dict, net: WallocNet, density: FactorizedDensity, qualities: list[Quality],
                 folder: Path | None = None):
        self.folder = folder  # the model's files (with its ONNX graph, if any) when it was loaded from them
        self.config = config
        self.net = net
        self.density = density
        self.stream = Stream(name, config, qualities)
        self.sha256 = config["sha256"]
        self.device = torch.device("cpu")
        self._encoder: tuple[tuple, Encoder] | None = None  # (what it was built from, the encoder): see encoder()

    @classmethod
    def load(cls, name: str, model_dir=None, context: bool = True) -> "Codec":
        """A shipped model with a network of its own; ``context=False`` ignores its context tables
        (factorized coding only)."""
        config, net, density, qualities = load_parts(name, model_dir, context)
        return cls(name, config, net, density, qualities, Path(model_dir or MODEL_DIR))

    @property
    def cfg(self) -> NetConfig:
        """The architecture of this codec's network."""
        return self.net.cfg

    def to(self, device: str | torch.device) -> "Codec":
        """Move this codec (only this one) to ``device``; a device that cannot be used is refused
        with a DeviceError and the codec stays where it was."""
        target = checked_device(device)
        try:
            self.net.to(target)
        except (RuntimeError, AssertionError) as e:
            self.net.to(self.device)
            raise DeviceError(f"cannot move model '{self.name}' to {target}: {str(e).splitlines()[0]}") from None
        self.device = target
        return self

    def on(self, device: str | torch.device) -> "Codec":
        """This codec if it is on ``device``, else a copy there (this one stays where it is)."""
        target = checked_device(device)
        if target == self.device:
            return self
        other = copy.copy(self)
        other.net = copy.deepcopy(self.net)
        return other.to(target)

    def quality(self, quality: int | None = None) -> Quality:
        """One operating point of ``self.stream`` (the name walloc.ray and the benchmarks use)."""
        return self.stream.quality(quality)

    def encoder(self) -> Encoder:
        """The encoder of this codec's current weights: the numpy one on the CPU, else on its device.
        Kept between calls; built again when the weights change (in place or replaced) or the device does."""
        w, b = self.net.encoder.weight, self.net.encoder.bias
        key = (self.device, id(self.net), w.data_ptr(), w._version, b.data_ptr(), b._version)
        if self._encoder is None or self._encoder[0] != key:
            weight = w.detach().cpu()
            weights = (self.stream, weight.reshape(weight.shape[0], -1).numpy(), b.detach().cpu().numpy())
            encoder = Encoder(*weights) if self.device.type == "cpu" else _DeviceEncoder(*weights, self.net, self.device)
            self._encoder = (key, encoder)
        return self._encoder[1]

    # -- tensors: the API for compressed-domain learning ----------------------------------------------
    def encode(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Signal (B, C, *S) -> float latents (B, K, *ceil(S / 2**J)), bounded, before rounding.

        Floats (images in [0, 1], audio in [-1, 1]) or integer samples (uint8 / uint16 pixels, int16 /
        int32 audio), numpy or torch."""
        check_signal(x, self.modality, batched=True)
        if x.shape[1] != self.cfg.channels:
            raise MediaError(f"'{self.name}' encodes (B, {self.cfg.channels}, {'H, W' if self.cfg.dims == 2 else 'L'}) tensors, got {tuple(x.shape)}")
        block = self.cfg.block_size
        if self.device.type == "cpu":
            a = as_array(x)
            extra = [(0, 0), (0, 0)] + [(0, (-s) % block) for s in a.shape[2:]]
            return torch.from_numpy(self.encoder().latents(np.pad(a, extra, mode="edge") if any(p for _, p in extra) else a))
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
        with torch.inference_mode():
            return self.net.encode(tiling.pad_to_block(to_float(t.to(self.device)), block))

    def quantize(self, latents: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        """Float latents -> integer latents (int32) at this quality's quantizer step."""
        return stream.quantize(latents, self.quality(quality))

    def dequantize(self, symbols: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        return stream.dequantize(symbols, self.quality(quality))

    def decode(self, latents: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        """Latents -> signal (uncropped). Integer latents are dequantized at ``quality`` first; float
        latents with a ``quality`` are taken as rounded at it (a decoder conditioned on the step is told
        it), without one as unquantized."""
        if quality is not None or not latents.is_floating_point():
            quality = self.quality(quality).quality
        if not latents.is_floating_point():
            latents = self.dequantize(latents, quality)
        with torch.inference_mode():
            x = self.net.decode(latents.to(self.device), quality)
        lo = 0.0 if self.modality == "image" else -1.0
        return x.clamp(lo, 1.0)

    def decode_latents(self, latents: torch.Tensor, quality: int | None = None, *, channels: int | None = None,
                       grad: bool = False, batch_size: int = 64) -> torch.Tensor:
        """Latents (B, G*K, *s) a network predicted -> signals (B, channels, *s * 2**J) in one call per
        ``batch_size`` items, on this codec's device (the result goes back to the latents' device).

        The dense-task path: G channel groups (what :func:`walloc.features.encode` gives a signal of any
        channel count) are decoded together and cut to ``channels`` (default: G times the model's).
        ``grad=True`` keeps the graph, so a loss on the decoded signal trains the network that made the
        latents; the codec's own weights are then frozen (requires_grad off), since they are not
        being trained. ``quality`` as in :meth:`decode`."""
        k, m = self.cfg.latent_dim, self.cfg.channels
        if latents.dim() != self.cfg.dims + 2 or latents.shape[1] % k:
            raise MediaError(f"'{self.name}' decodes latents (B, G*{k}, {'h, w' if self.cfg.dims == 2 else 'l'}), got {tuple(latents.shape)}")
        groups = latents.shape[1] // k
        channels = channels or groups * m
        if not 0 < channels <= groups * m:
            raise MediaError(f"latents of {groups} group(s) of '{self.name}' hold 1..{groups * m} channels, not {channels}")
        if quality is not None:
            quality = self.quality(quality).quality
        if grad:
            self.net.requires_grad_(False)
        lo = 0.0 if self.modality == "image" else -1.0
        out = []
        with torch.enable_grad() if grad else torch.inference_mode():
            for part in latents.split(batch_size):
                y = part.float().to(self.device).reshape(-1, k, *part.shape[2:])
                x = self.net.decode(y, quality).clamp(lo, 1.0)
                out.append(x.reshape(part.shape[0], groups * m, *x.shape[2:])[:, :channels].to(latents.device))
        return torch.cat(out)

    # -- bytes ------------------------------------------------------------------------------------------
    def compress(self, x: torch.Tensor | np.ndarray, quality: int | None = None, meta: ImageMeta | AudioMeta | None = None,
                 progress: Callable[[float], None] | None = None) -> bytes:
        """One signal -> ``.wlc`` bytes (see :meth:`walloc.encoder.Encoder.compress`: on the CPU the
        very same encoder, so both write the same bytes).

        x is (C, H, W) for images, floats in [0, 1], uint8 or uint16 (coded as 16-bit); (C, L) for
        audio, floats in [-1, 1], int16 or int32. Any channel count; coded band by band, so memory
        stays bounded. ``progress``, if given, is called with the fraction encoded after each band.
        """
        return self.encoder().compress(x, quality, meta, progress)

    def read_latents(self, data: bytes, threads: int = 0) -> tuple[bitstream.Header, torch.Tensor]:
        """Deprecated: ``walloc.stream.read_latents(data, device="cpu", header=True, layer=codec.stream)``."""
        return stream.read_latents(data, device="cpu", header=True, threads=threads, layer=self.stream)

    def onnx_decoder(self) -> decoder.Decoder | None:
        """The ONNX Runtime decoder of this model's files, or None where the folder it was loaded from
        has no ONNX graph of its weights (a model of your own before `walloc export onnx`)."""
        if self.folder is None or not decoder.has_graph(self.name, self.folder, self.sha256):
            return None
        return decoder.Decoder(self.stream, self.folder)

    def decompress_full(self, data: bytes, dtype: torch.dtype = torch.float32,
                        progress: Callable[[float], None] | None = None, backend: str | None = None) -> Decoded:
        """Stream -> signal plus its metadata and header, decoded band by band.

        ``dtype`` float32 gives [0, 1] images / [-1, 1] audio; integer dtypes give integer samples
        directly, which keeps a huge output at a quarter or half of the memory: uint8 8-bit pixels,
        int16 / int32 PCM audio, and int32 (or uint16) images the stream's own pixel values (0..255,
        or 0..65535 for a 16-bit stream).
        ``progress``, if given, is called with the fraction of the signal decoded after each band.
        ``backend`` "onnx" runs the decoder network of the model's files on ONNX Runtime (the default
        on the CPU where onnxruntime is installed and the model has its graph; weights changed in
        memory are not seen there), "torch" this codec's network on its device.
        """
        self.stream.check_stream(bitstream.peek_header(data))  # another model or version: refused before any graph is read
        onnx = self.onnx_decoder() if backend != "torch" and self.device.type == "cpu" else None
        if decoder.backend(backend, onnx is not None) == "onnx":
            if onnx is None:
                raise ModelError(f"the onnx backend decodes on the CPU with the model's ONNX graph: '{self.name}' is on "
                                 f"{self.device} or its folder has no graph (write one with `walloc export onnx`)")
            done = onnx.decompress_full(data, str(dtype).replace("torch.", ""), progress, torch.get_num_threads())
            return Decoded(torch.from_numpy(done.signal), done.meta, done.header)
        header, symbols = stream.read_latents(data, device="cpu", header=True, layer=self.stream)
        q, m = self.quality(header.quality), self.cfg.channels
        # channels last in memory, as image and audio writers want them, without a transposed copy
        out = torch.empty((*header.extent, header.channels), dtype=dtype).movedim(-1, 0)
        floor = 0.0 if self.modality == "image" else -1.0
        tick = ticker(progress, header.groups * header.latent_extent[0] * self.cfg.block_size)
        scale = output_scale(header.modality, header.bit_depth, dtype)

        def latents(g: int, lo: int, hi: int) -> torch.Tensor:
            return self.dequantize(symbols[g, :, lo:hi], q.quality)

        def keep(g: int, a: int, b: int, signal: torch.Tensor) -> None:
            tick(b - a)
            b = min(b, header.extent[0])
            if a >= b:
                return
            n = min(m, header.channels - g * m)
            crop = (slice(0, n), slice(0, b - a), *[slice(0, e) for e in header.extent[1:]])
            kept = signal[crop] if header.gain == 0 else signal[crop] * (1.0 / header.gain_factor)
            out[g * m: g * m + n, a:b] = from_float(kept.clamp(floor, 1.0).cpu(), dtype, scale)

        tiling.decode(self.net, latents, header.groups, header.latent_extent, self.device, keep, q.quality)
        for start, length in header.silence:  # digital silence in, digital silence out
            out[:, start: start + length] = 0
        return Decoded(out, decoder.meta_of(header), header)

    def decompress(self, data: bytes, dtype: torch.dtype = torch.float32, backend: str | None = None) -> torch.Tensor:
        """Stream -> signal (C, H, W) or (C, L) (``backend`` as in :meth:`decompress_full`)."""
        return self.decompress_full(data, dtype, backend=backend).signal
