"""Encoding without torch: signal -> ``.wlc`` bytes with the C++ packet encoder and numpy alone.

WaLLoC's encoder is the wavelet packet, one 1x1 convolution and a Gaussian-CDF bound, so encoding
needs two small arrays of a model's weights (read with safetensors' numpy API, after the file's
SHA-256 is checked) and its integer tables; no network, no torch. This is the one CPU encode path:
:meth:`walloc.Codec.compress` and :meth:`walloc.Codec.encode` on the CPU run it too, so the torch-free
encoder writes exactly the bytes the codec writes.

A signal is encoded in the bands of :func:`walloc.bands.plan`, whose margins make every kept row what
one pass over the whole signal gives (:mod:`walloc.tiling` does the same with torch tensors on other devices).

    enc = Encoder.load("rgb-16x")
    data = enc.compress(pixels)   # (C, H, W) uint8 / uint16 / float32 -> bytes
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import zoo
from .bands import group_channels, latent_extent, plan, ticker
from .bitstream import version_for
from .bound import bound
from .errors import MediaError
from .level import Saturation, gain_code, level_code, rms_db, silent_runs  # noqa: F401 (level_code, rms_db: walloc.encoder's names before walloc.level)
from .signal import as_array, bit_depth, check_signal, readable, scale_of
from .stream import HasStream, Stream, quantize
from .threads import for_samples

# Graphics: hard edges, few colours and line art put their energy in the packet coefficients that a
# linear encoder keeping 12 of 192 numbers per block drops, so no decoder gets them back (quantization is not
# the cause: unquantized latents decode basn2c08.png at 14.7 dB against 14.8 at quality 4; nor is the bound:
# its latents stay under |z| = 1.1, far from the 2.33 of saturation; nor the level: coding it at a quarter of
# its contrast gives 14.2 dB). The energy outside the span of the encoder's rows estimates the PSNR an image
# keeps (Kodak: 0.5-7.7 dB under what it decodes at, graphics within 2 dB either side). The command refuses
# an image whose estimate lies CODABLE_MARGIN_DB under what the model measured on photographs at that quality
# (rgb-16x at quality 4: 28.2 - 10 = 18.2 dB; its worst Kodak photo is estimated at 22.3), at most CODABLE_FLOOR_DB.
CODABLE_MARGIN_DB, CODABLE_FLOOR_DB = 10.0, 25.0


class Encoder(HasStream):
    """A model's encoder and stream layer: signal -> latents -> ``.wlc`` bytes, numpy only."""

    def __init__(self, stream: Stream, weight: np.ndarray, bias: np.ndarray):
        self.stream = stream
        self.weight = np.ascontiguousarray(weight, dtype=np.float32).reshape(weight.shape[0], -1)
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self.gain = 0  # the level code the weights are scaled for (see with_gain)

    @classmethod
    def load(cls, name: str | None = None, modality: str = "image", model_dir: Path | None = None) -> "Encoder":
        """A shipped model's encoder (the default model of ``modality`` without a name), reading only
        the encoder's weights and the tables from its verified files."""
        name = name or zoo.default_model(modality, model_dir)
        stream = Stream.load(name, model_dir)
        folder = Path(model_dir or zoo.MODEL_DIR)
        state = zoo.verified(folder / f"{name}.safetensors", stream.sha256, f"model '{name}' weights",
                             ("net.encoder.weight", "net.encoder.bias"))
        return cls(stream, state["net.encoder.weight"], state["net.encoder.bias"])

    def with_gain(self, gain: int) -> "Encoder":
        """This encoder coding the signal at 2**(-gain / 2) of its level (the packet and the 1x1
        encoder are linear, so the factor goes into the weights: no scaled copy of the signal)."""
        other = copy.copy(self)
        other.gain = gain
        other.weight = self.weight * np.float32(2.0 ** (-gain / 2))
        return other

    @property
    def target_rms_db(self) -> float | None:
        """The RMS level (dBFS) this model's encoder brings streams to, or None (attenuate only)."""
        return self.stream.config.get("target_rms_db")

    def choose_gain(self, x: np.ndarray) -> int:
        """The gain code of audio x by the level rule (:func:`walloc.level.gain_code`)."""
        return gain_code(x, self.target_rms_db, lambda lowest: self.saturation_code(x, lowest))

    def saturation_code(self, x: np.ndarray, lowest: int = 0) -> int:
        """The smallest gain code from ``lowest`` at which at most SATURATED of the latents of audio x
        lie beyond SATURATION of the bound (:class:`walloc.level.Saturation`)."""
        count = Saturation(self.bias, lowest)
        self.bands(x, lambda g, r0, r1, z: count.add(z), bounded=False)
        return count.code()

    def expected_psnr(self, x: Any) -> float:
        """The PSNR (dB, full scale) image x (C, H, W) can keep through this model's latents, estimated
        without the decoder: the energy of its wavelet packet coefficients, less its mean's, outside the
        span of the encoder's rows is what no decoder gets back."""
        check_signal(x, "image")
        x = as_array(x)
        m, width = self.cfg.channels, self.weight.shape[1]
        per = width // m                       # packet coefficients per channel
        basis = np.linalg.qr(self.weight.T.astype(np.float64))[0].T
        packet = Encoder(self.stream, np.eye(width, dtype=np.float32), np.zeros(width, dtype=np.float32))
        unit = packet.latents(np.ones((1, m, *[self.cfg.block_size] * 2), np.float32), bounded=False)[0, :, 0, 0]
        scale = scale_of(x.dtype) or 1.0
        means = np.array([float(np.mean(x[c], dtype=np.float64)) / scale for c in range(x.shape[0])])
        lost, count = 0.0, 0

        def measure(g: int, r0: int, r1: int, p: np.ndarray) -> None:
            nonlocal lost, count
            channels = [min(g * m + i, x.shape[0] - 1) for i in range(m)]
            p = p.reshape(width, -1).astype(np.float64) - (unit * np.repeat(means[channels], per))[:, None]
            rows = per * min(m, x.shape[0] - g * m)  # the padding channels are not decoded
            lost += float(np.square((p - basis.T @ (basis @ p))[:rows]).sum())
            count += rows * p.shape[1]

        packet.bands(x, measure, bounded=False)
        return 10 * math.log10(count / lost) if lost > 0 else math.inf

    def check_codable(self, x: Any, quality: int | None = None, name: str = "the image") -> None:
        """Refuse in one line an image this model would decode far below what it measured on photographs
        (see CODABLE_MARGIN_DB); models without a measurement make no such promise and code everything."""
        measured = (self.stream.quality(quality).measured or {}).get("psnr")
        if self.modality != "image" or measured is None:
            return
        expected = self.expected_psnr(x)
        if expected < min(CODABLE_FLOOR_DB, measured - CODABLE_MARGIN_DB):
            raise MediaError(f"{name}: graphics (hard edges, few colours or line art) that {self.name} would decode at "
                             f"about {expected:.0f} dB PSNR, against {measured:.0f} dB on photographs; walloc codes "
                             "photographs: keep it as PNG")

    def latents(self, x: np.ndarray, bounded: bool = True) -> np.ndarray:
        """Signal (B, model channels, *S), S whole blocks, samples as :func:`readable` takes them ->
        bounded float32 latents (B, K, *S / 2**J) (unbounded, before the Gaussian CDF, if not ``bounded``)."""
        x, check = readable(x)
        levels = self.cfg.levels
        z = np.empty((x.shape[0], self.weight.shape[0], *(s >> levels for s in x.shape[2:])), dtype=np.float32)
        from . import _packet

        run = _packet.encode2d if self.cfg.dims == 2 else _packet.encode1d
        run(x, self.weight, self.bias, z, levels, for_samples(x.size), self.cfg.extension == "symmetric")
        if check and not np.isfinite(z).all():  # finite exactly when every sample is (see WallocNet.encode)
            raise MediaError("the signal holds NaN or infinite values")
        return bound(z, self.cfg.bound) if bounded else z

    def bands(self, x: np.ndarray, emit: Callable[[int, int, int, np.ndarray], None], bounded: bool = True) -> tuple[int, ...]:
        """Encode signal x (C, *S) band by band; ``emit(group, r0, r1, latents (K, r1 - r0, *s))``
        receives each band. Channels are grouped by the model's channel count, the last group
        repeating its last channel; axes are edge-padded to whole blocks. Returns the latent extent."""
        m, block = self.cfg.channels, self.cfg.block_size
        extent = latent_extent(self.cfg, x.shape)
        extra = [(0, 0), (0, 0), (0, 0)] + [(0, (-s) % block) for s in x.shape[2:]]
        for b in plan(self.cfg, -(-x.shape[0] // m), extent):
            rows = b.signal_rows(block, x.shape[1])
            rows_of = x[:, rows] if isinstance(rows, slice) else x.take(rows, axis=1)  # inside: a view
            band = rows_of[group_channels(b.group, m, x.shape[0])][None]
            if any(p for _, p in extra[3:]):
                band = np.pad(band, extra, mode="edge")
            emit(b.group, b.r0, b.r1, self.latents(band, bounded)[0, :, b.margin: b.margin + b.r1 - b.r0])
        return extent

    def symbols(self, x: np.ndarray, quality: int | None = None,
                progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Signal (C, *S), checked -> table indices (groups, K, *latent extent) at ``quality``."""
        q = self.stream.quality(quality)
        block = self.cfg.block_size
        groups = -(-x.shape[0] // self.cfg.channels)
        out = np.empty((groups, self.cfg.latent_dim, *[-(-e // block) for e in x.shape[1:]]), dtype=np.int32)
        tick = ticker(progress, groups * out.shape[2])

        def keep(g: int, r0: int, r1: int, y: Any) -> None:  # y: numpy, or a tensor on a device
            out[g, :, r0:r1] = as_array(quantize(y, q)) + q.tables.offset
            tick(r1 - r0)

        self.bands(x, keep)
        return out

    def compress(self, x: Any, quality: int | None = None, meta: Any = None,
                 progress: Callable[[float], None] | None = None) -> bytes:
        """One signal -> ``.wlc`` bytes, exactly as :meth:`walloc.Codec.compress` writes them.

        x: images (C, H, W) float in [0, 1], uint8 or uint16; audio (C, L) float in [-1, 1], int16 or
        int32; numpy or torch, any channel count. ``meta`` (:class:`walloc.io.ImageMeta` /
        ``AudioMeta``) records what the file was; ``progress`` gets the fraction encoded per band.
        """
        check_signal(x, self.modality)
        x = as_array(x)
        q = self.stream.quality(quality)
        fields = dict(bit_depth=bit_depth(x, self.modality, meta),
                      float_samples=bool(getattr(meta, "float_array", False) or getattr(meta, "float_samples", False)),
                      sample_rate=0 if self.modality == "image" else 44100 if meta is None else meta.sample_rate)
        encoder = self
        if self.modality == "audio":
            fields["silence"] = silent_runs(x)
            fields["gain"] = self.choose_gain(x)
            fields["format_version"] = version_for(fields["gain"])
            encoder = self.with_gain(fields["gain"])
        self.stream.check_writable(q, x.shape[0], tuple(x.shape[1:]), **fields)
        return self.stream.write(encoder.symbols(x, q.quality, progress), q, x.shape[0], tuple(x.shape[1:]), **fields)
