"""walloc: wavelet learned lossy compression for images and audio, built for compressed-domain learning.

    codec = walloc.load("rgb-16x")
    data = codec.compress(x)            # (3, H, W) in [0, 1] -> .wlc bytes
    y = codec.encode(batch)             # float latents to learn on, 16x fewer dimensions
    k = walloc.read_latents(data)       # integer latents of a stream, no decoder network

``import walloc`` imports neither torch nor onnxruntime: the codec (network, tensors) loads on first use
of ``Codec``, ``load`` and the like, ONNX Runtime on the first decode, while the stream layer
(:mod:`walloc.stream`), the torch-free encoder (:mod:`walloc.encoder`) and decoder
(:mod:`walloc.decoder`, ONNX Runtime) and the model listing need no torch. Installed without torch
(``pip install walloc``), :func:`decompress` and :func:`read_latents` give numpy arrays; with it
(``pip install 'walloc[torch]'``), torch tensors.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from .bitstream import Header, peek_header
from .errors import BitstreamError, DeviceError, MediaError, ModelError, WallocError
from .zoo import default_model, list_models

if TYPE_CHECKING:
    import torch

    import numpy as np

    from .codec import Codec
    from .decoder import Decoded, Decoder
    from .encoder import Encoder

__version__ = "0.1.0"

_LAZY = {"Codec": "codec", "Decoded": "decoder", "Decoder": "decoder", "Encoder": "encoder", "Stream": "stream"}


def __getattr__(name: str) -> Any:
    """Names whose modules need torch (or are only needed by some), and submodules (``walloc.codec``),
    load on first use."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'walloc' has no attribute {name!r}")


def load(name: str | None = None, modality: str = "image") -> Codec:
    """A shipped model by name (or the default model of a modality), verified against its hash.

    Every call returns a codec of the caller's own (moving it to a device moves no other); the
    verified weights and tables behind it are read once per process and shared read-only."""
    from .codec import Codec

    return Codec.load(name or default_model(modality))


def codec_for(data: bytes) -> Codec:
    """The codec of the model version a stream names in its header (the shipped one, or an archived
    release with the hash the stream records; see :func:`walloc.zoo.folder_for`)."""
    from .codec import Codec
    from .zoo import folder_for

    header = peek_header(data)
    return Codec.load(header.model, folder_for(header.model, header.model_hash, header.coder))


def _has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def decompress(data: bytes, backend: str | None = None) -> torch.Tensor | np.ndarray:
    """Decode any stream with the model version it names, on ONNX Runtime where it is installed and
    the model has its graph, else with torch (``backend`` "onnx" or "torch" picks one). A torch tensor
    where torch is installed, else a numpy array."""
    if _has_torch():
        return codec_for(data).decompress(data, backend=backend)
    from .decoder import Decoder, backend as check

    check(backend)
    return Decoder.for_stream(data).decompress(data)


def read_latents(data: bytes, *, device: str | torch.device | None = None, header: bool = False) -> Any:
    """Integer latents (groups, K, *latent shape) of a stream, by entropy decoding alone (no network):
    a torch tensor (on ``device``, default the CPU) where torch is installed, else a numpy array; with
    ``header``, (header, latents). :func:`walloc.stream.read_latents` with torch's default device."""
    from .stream import read_latents as read

    return read(data, device=device or ("cpu" if _has_torch() else None), header=header)


__all__ = ["Codec", "Decoded", "Decoder", "Encoder", "Stream", "Header", "WallocError", "MediaError", "BitstreamError",
           "ModelError", "DeviceError", "load", "codec_for", "decompress", "read_latents", "list_models",
           "default_model", "peek_header"]
