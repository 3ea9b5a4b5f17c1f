"""walloc: wavelet learned lossy compression for images and audio, built for compressed-domain learning.

    codec = walloc.load("rgb-16x")
    data = codec.compress(x)            # (3, H, W) in [0, 1] -> .wlc bytes
    y = codec.encode(batch)             # float latents to learn on, 16x fewer dimensions
    k = walloc.read_latents(data)       # integer latents of a stream, no decoder network
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .bitstream import Header, peek_header
from .codec import Codec, Decoded
from .errors import BitstreamError, MediaError, ModelError, WallocError
from .zoo import default_model, list_models

__version__ = "0.1.0"


@lru_cache(maxsize=8)
def _cached(name: str) -> Codec:
    return Codec.load(name)


def load(name: str | None = None, modality: str = "image") -> Codec:
    """A shipped model by name (or the default model of a modality), verified against its hash."""
    return _cached(name or default_model(modality))


def codec_for(data: bytes) -> Codec:
    """The codec that a stream names in its header."""
    return load(peek_header(data).model)


def decompress(data: bytes) -> torch.Tensor:
    """Decode any stream with the model it names."""
    return codec_for(data).decompress(data)


def read_latents(data: bytes) -> torch.Tensor:
    """Integer latents (groups, K, *shape) of a stream, by entropy decoding alone."""
    return codec_for(data).read_latents(data)[1]


__all__ = ["Codec", "Decoded", "Header", "WallocError", "MediaError", "BitstreamError", "ModelError",
           "load", "codec_for", "decompress", "read_latents", "list_models", "default_model", "peek_header"]
