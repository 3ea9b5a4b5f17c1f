"""Decoding without torch: ``.wlc`` bytes -> signal with the C++ entropy decoder, the decoder network
on ONNX Runtime (CPU) and the C++ inverse packet, numpy in between.

The network is the model's shipped ONNX graph (:mod:`walloc.onnx_export`: ``onnx/NAME.onnx`` in the
model's folder, checked against the SHA-256 its JSON records), fed the weights of the model's verified
safetensors file. As :mod:`walloc.tiling` does for torch, a signal is decoded in bands of latent rows
with margins that make each band's rows what one pass over the whole signal gives; each band's
network runs on one thread (ONNX Runtime with one intra-op thread), bands in parallel, so a stream
decodes to the same bytes for any thread count (the plan and schedule of :mod:`walloc.bands`, which
the torch backend shares).

    signal = Decoder.for_stream(data).decompress(data)   # numpy (C, H, W) in [0, 1] or (C, L)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import bitstream, zoo
from .bands import DECODE_WORKERS, Band, band_runs, plan, run_bands, ticker
from .errors import ModelError, WallocError
from .io import AudioMeta, ImageMeta
from .signal import from_float, output_scale
from .stream import HasStream, Stream, for_stream, read_latents
from .threads import cores, for_samples

BACKENDS = ("onnx", "torch")
GRAPH_DIR = "onnx"       # a model folder's graphs (walloc.onnx_export writes them)

@dataclass(frozen=True)
class Decoded:
    """A decompressed signal with what is needed to write it back as it came in."""

    signal: Any                    # (C, H, W) in [0, 1] or (C, L) in [-1, 1]: numpy, or torch from walloc.Codec
    meta: ImageMeta | AudioMeta
    header: bitstream.Header


def backend(name: str | None = None, graph: bool = True) -> str:
    """The decoding backend to use: ``name`` if given (refused in one line when its package is missing),
    else ONNX Runtime where it is installed and the model has its ONNX ``graph``, torch otherwise."""
    have = {"onnx": importlib.util.find_spec("onnxruntime") is not None, "torch": importlib.util.find_spec("torch") is not None}
    if name is None:
        name = "onnx" if have["onnx"] and graph or not have["torch"] else "torch"
    if name not in BACKENDS:
        raise WallocError(f"backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if not have[name]:
        need = "onnxruntime: pip install onnxruntime" if name == "onnx" else "torch: pip install 'walloc[torch]'"
        raise WallocError(f"decoding with the {name} backend needs {need}")
    return name


def has_graph(name: str, folder: Path, sha256: str) -> bool:
    """Whether a model folder holds an ONNX graph of the model with these weights (a model of your own,
    or one trained again, may not until `walloc export onnx` writes it)."""
    try:
        return json.loads((Path(folder) / GRAPH_DIR / f"{name}.json").read_text()).get("weights_sha256") == sha256
    except (OSError, ValueError):
        return False


# -- output -------------------------------------------------------------------------------------------
def meta_of(header: bitstream.Header) -> ImageMeta | AudioMeta:
    """What the file a stream was made from was, as its writer wants it."""
    if header.modality == "image":
        return ImageMeta(bit_depth=header.bit_depth, float_array=header.float_samples)
    return AudioMeta(sample_rate=header.sample_rate, bit_depth=header.bit_depth, float_samples=header.float_samples)


# -- the graph ----------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _graph(name: str, folder: str, sha256: str, _stamps: tuple) -> tuple[bytes, dict]:
    """A model version's ONNX graph and its JSON, after checking the graph's SHA-256 and that both name
    these weights; cached per file version."""
    where = Path(folder) / GRAPH_DIR
    try:
        info = json.loads((where / f"{name}.json").read_text())
        data = (where / f"{name}.onnx").read_bytes()
    except (OSError, ValueError) as e:
        raise ModelError(f"model '{name}' has no readable ONNX graph in {where} ({e}); "
                         "decode with backend 'torch', or write it with `walloc export onnx`") from None
    if hashlib.sha256(data).hexdigest() != info.get("graph_sha256"):
        raise ModelError(f"model '{name}' ONNX graph: file hash does not match the recorded one; refusing to load it")
    if info.get("weights_sha256") != sha256:
        raise ModelError(f"model '{name}' ONNX graph was exported from other weights than the installed ones")
    return data, info


@lru_cache(maxsize=4)
def _session(name: str, folder: str, sha256: str, graph: bytes, external: tuple[str, ...], weights: str) -> Any:
    """An ONNX Runtime session of a graph with one intra-op thread (the arithmetic of one thread, whatever
    the machine; bands run in parallel on it), the weights handed over from the verified safetensors file."""
    import onnxruntime as ort

    arrays = zoo.verified(Path(folder) / weights, sha256, f"model '{name}' weights", external)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False  # a few runs per process: an arena only raises the peak (~8 MB on a Kodak image)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_external_initializers(list(external), [ort.OrtValue.ortvalue_from_numpy(arrays[k]) for k in external])
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class Decoder(HasStream):
    """A model's decoder on ONNX Runtime: ``.wlc`` bytes -> numpy signal, no torch. The session is
    built on first use and shared by the bands (each run on one thread)."""

    def __init__(self, stream: Stream, folder: Path):
        self.stream = stream
        self.folder = Path(folder)
        self._graph, self._info = _graph(stream.name, str(self.folder), stream.sha256,
                                         tuple(zoo._stamp(self.folder / GRAPH_DIR / f"{stream.name}{s}") for s in (".onnx", ".json")))
        self._session = None

    @classmethod
    def load(cls, name: str | None = None, modality: str = "image", model_dir: Path | None = None) -> "Decoder":
        """A shipped model's decoder (the default model of ``modality`` without a name)."""
        folder = Path(model_dir or zoo.MODEL_DIR)
        name = name or zoo.default_model(modality, folder)
        return cls(Stream.load(name, folder), folder)

    @classmethod
    def for_stream(cls, data: bytes, model_dir: Path | None = None) -> "Decoder":
        """The decoder of the model version a stream names (the shipped one or a kept release)."""
        header = bitstream.peek_header(data)
        return cls(for_stream(data, model_dir), zoo.folder_for(header.model, header.model_hash, header.coder, model_dir))

    def session(self) -> Any:
        """The ONNX Runtime session of this model version (built once per process, see :func:`_session`)."""
        return _session(self.name, str(self.folder), self.stream.sha256, self._graph, tuple(self._info["external"]), self._info["weights"])

    def coefficients(self, pieces: list[np.ndarray], keep: list[tuple[int, int]], index: int) -> np.ndarray:
        """Packet coefficients (1, P, rows, *rest) of a band's runs of integer latents (K, rows, *rest),
        each run cut to its kept (offset, count) rows; ``index`` is the quality's position."""
        session, quality = self.session(), np.array(index, dtype=np.int64)
        parts = [session.run(["coefficients"], {"symbols": np.ascontiguousarray(p)[None], "quality_index": quality})[0][:, :, a: a + n]
                 for p, (a, n) in zip(pieces, keep)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)

    def synthesis(self, coefficients: np.ndarray, threads: int = 1) -> np.ndarray:
        """Inverse packet (C++, the same floats on any number of threads)."""
        from . import _packet

        c = np.ascontiguousarray(coefficients)
        b, channels, *size = c.shape
        levels, dims = self.cfg.levels, self.cfg.dims
        out = np.empty((b, channels >> (dims * levels), *(s << levels for s in size)), dtype=np.float32)
        run = _packet.ipacket2d if dims == 2 else _packet.ipacket1d
        run(c, out, levels, for_samples(c.size, threads), self.cfg.extension == "symmetric")
        return out

    def decompress_full(self, data: bytes, dtype: Any = np.float32, progress: Callable[[float], None] | None = None,
                        threads: int = 0) -> Decoded:
        """Stream -> signal plus its metadata and header, band by band on ``threads`` threads (0: see
        :func:`walloc.threads.cores`). ``dtype`` float32 gives [0, 1] images / [-1, 1] audio; integer dtypes give
        samples as :meth:`walloc.Codec.decompress_full` does (uint8 pixels, int16 / int32 PCM, int32
        or uint16 images at the stream's own pixel values)."""
        dtype = np.dtype(dtype)
        threads = cores(threads)
        header, symbols = read_latents(data, header=True, threads=threads, layer=self.stream)
        m, block = self.cfg.channels, self.cfg.block_size
        index = self.stream.qualities.index(header.quality)
        out = np.empty((*header.extent, header.channels), dtype=dtype).transpose(-1, *range(len(header.extent)))
        floor = np.float32(0.0 if self.cfg.modality == "image" else -1.0)
        scale = output_scale(header.modality, header.bit_depth, dtype)
        tick = ticker(progress, header.groups * header.latent_extent[0] * block)
        rows = header.latent_extent[0]

        def prepare(band: Band) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
            runs = band_runs(self.cfg, rows, band)
            return [symbols[band.group, :, lo:hi] for lo, hi, _, _ in runs], [(a, n) for _, _, a, n in runs]

        def finish(band: Band, coefficients: np.ndarray) -> None:
            g, r0, r1 = band.group, band.r0, band.r1
            signal = self.synthesis(coefficients, threads)
            tick((r1 - r0) * block)
            a, b = r0 * block, min(r1 * block, header.extent[0])
            if a >= b:
                return
            n = min(m, header.channels - g * m)
            skip = band.margin * block
            kept = signal[(0, slice(0, n), slice(skip, skip + b - a), *[slice(0, e) for e in header.extent[1:]])]
            if header.gain:
                kept = kept * np.float32(1.0 / header.gain_factor)
            out[g * m: g * m + n, a:b] = from_float(np.clip(kept, floor, np.float32(1.0)), dtype, scale)

        bands = plan(self.cfg, header.groups, header.latent_extent)
        run_bands(bands, prepare, lambda p: self.coefficients(*p, index), finish,
                  min(threads, len(bands), DECODE_WORKERS))
        for start, length in header.silence:  # digital silence in, digital silence out
            out[:, start: start + length] = 0
        return Decoded(out, meta_of(header), header)

    def decompress(self, data: bytes, dtype: Any = np.float32, threads: int = 0) -> np.ndarray:
        """Stream -> signal (C, H, W) or (C, L), a numpy array."""
        return self.decompress_full(data, dtype, threads=threads).signal
