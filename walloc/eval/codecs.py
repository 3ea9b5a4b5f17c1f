"""What a codec is to a sweep, and WaLLoC's shipped models as such codecs.

* image codecs take and return 8-bit RGB pixels, a (H, W, 3) uint8 array: every codec starts from the
  pixels of the decoded PNG and must give pixels back (WaLLoC's conversion to and from floats is
  inside its timed calls). Images of other channel counts or bit depths are compared as 8-bit RGB.
* audio codecs take and return float32 samples (C, L) in [-1, 1] at the file's sample rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .. import io
from ..errors import WallocError


class CodecUnavailable(WallocError):
    """A codec cannot run here (library missing, or it cannot code this input); the sweep skips it."""


class SweepCodec:
    """What every codec of a sweep describes itself with (the modality bases add encode/decode)."""

    modality = ""
    name = ""
    qualities: Sequence[float] = ()
    quality_meaning = ""
    library = ""
    options: dict = {}    # the encoder settings fixed for the whole sweep (a peer's best-compressing ones)


class ImageCodec(SweepCodec):
    """encode((H, W, 3) uint8, quality) -> bytes; decode(bytes) -> (H, W, 3) uint8."""

    modality = "image"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


class AudioCodec(SweepCodec):
    """encode((C, L) float32, rate, quality) -> bytes; decode(bytes, rate) -> (C, L) float32."""

    modality = "audio"

    def encode(self, samples: np.ndarray, rate: int, quality) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, rate: int) -> np.ndarray:
        raise NotImplementedError


class _WallocModel:
    """A shipped WaLLoC model through its public compress/decompress API (mixed into a modality base)."""

    quality_meaning = "model quality level"
    modality = ""

    def __init__(self, model, threads: int = 1):
        """``model``: a shipped model's name, or a loaded :class:`walloc.codec.Codec`."""
        import walloc

        self.codec = walloc.load(model) if isinstance(model, str) else model
        if self.codec.modality != self.modality:
            raise CodecUnavailable(f"model '{self.codec.name}' codes {self.codec.modality}, not {self.modality}")
        self.name = f"walloc:{self.codec.name}"
        self.qualities = tuple(self.codec.stream.qualities)
        self.library = f"walloc {walloc.__version__}, model sha256 {self.codec.sha256[:12]}"


class WallocImage(_WallocModel, ImageCodec):
    """An image model: uint8 pixels in, a .wlc stream out, decoded pixels rounded back to 8 bits."""

    modality = "image"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        # uint8 as it is: the encoder reads the samples itself, with no float copy of the image
        return self.codec.compress(torch.from_numpy(pixels).permute(2, 0, 1), int(quality))

    def decode(self, data: bytes) -> np.ndarray:
        y = self.codec.decompress(data)
        return y.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


class WallocAudio(_WallocModel, AudioCodec):
    """An audio model: float samples in, a .wlc stream (with the sample rate) out, float samples back."""

    modality = "audio"

    def encode(self, samples: np.ndarray, rate: int, quality) -> bytes:
        return self.codec.compress(torch.from_numpy(samples), int(quality), io.AudioMeta(sample_rate=rate))

    def decode(self, data: bytes, rate: int) -> np.ndarray:
        return self.codec.decompress(data).numpy()


def walloc_adapter(model, modality: str, threads: int = 1) -> ImageCodec | AudioCodec:
    """A WaLLoC model (name or loaded Codec) as a sweep codec of this modality."""
    return (WallocImage if modality == "image" else WallocAudio)(model, threads)
