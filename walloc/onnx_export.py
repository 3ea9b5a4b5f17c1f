"""A model's decoder network as an ONNX graph: stream integers in, wavelet packet coefficients out.

The graph holds what a stream needs beyond the entropy decoder and the inverse packet: dequantizing
and undoing the Gaussian-CDF bound (one lookup table per quality, since a stream's latents are
integers: the table is the decoder's own float32 arithmetic, evaluated once per possible value), the
quality conditioning, and the convolutional decoder. Its weights are not copied into it: each
convolution names its tensor in ``NAME.safetensors`` by byte offset (ONNX external data), so a graph is a
few tens of kilobytes, the safetensors file stays the one verified copy of the weights, and any ONNX
runtime given the graph beside that file runs it. :class:`walloc.decoder.Decoder` hands the weights
over from the verified file instead.

Inputs ``symbols`` (1, K, rows[, cols]) int32, the integer latents of one band, and ``quality_index``
(a scalar int64: the position of the stream's quality among the model's); output ``coefficients``
(1, P, rows[, cols]) float32. Spatial sizes are dynamic. Beside the graph, ``NAME.json`` names the
model, its version, stream hash and weights, the opset and the graph's SHA-256.

    walloc export onnx rgb-16x -o out/      # out/rgb-16x.onnx, .json and the weights beside
    python -m walloc.onnx_export            # rebuild the shipped graphs (models/onnx, releases/*/onnx)

Building needs the ``onnx`` package (``pip install 'walloc[export]'``); decoding needs only onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from .config import NetConfig
from .decoder import GRAPH_DIR  # a model folder's graphs: models/onnx/NAME.onnx + NAME.json
from .bound import erf
from .errors import ModelError

OPSET = 17          # Conv, Gather and Erf as every ONNX runtime has them (GELU written out: ORT fuses it back)
FORMAT = 1          # of the JSON beside a graph


def _onnx() -> Any:
    try:
        import onnx
    except ModuleNotFoundError:
        raise ModelError("exporting ONNX graphs needs the onnx package: pip install 'walloc[export]'") from None
    return onnx


# -- the latent lookup table ----------------------------------------------------------------------------
def erfinv(u: np.ndarray) -> np.ndarray:
    """erf's inverse in float64 for |u| < 1: Winitzki's approximation, then Newton steps on
    :func:`walloc.bound.erf` (accurate to ~1e-15) until they stop changing anything."""
    u = np.asarray(u, dtype=np.float64)
    a = 0.147
    log = np.log1p(-u * u)
    first = 2 / (math.pi * a) + log / 2
    x = np.copysign(np.sqrt(np.sqrt(first * first - log / a) - first), u)
    for _ in range(8):
        x = x - (erf(x) - u) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
    return x


def latent_table(cfg: NetConfig, steps: list[float], latent_film: np.ndarray | None, offset: int) -> np.ndarray:
    """What the decoder computes from each integer latent before its first convolution, per quality:
    (qualities, K or 1, 2 * offset + 1) float32 for symbols -offset..offset, each step in float32 as
    :meth:`walloc.model.WallocNet.decode_coefficients` takes it (dequantize, FiLM, clamp, erfinv)."""
    f32 = np.float32
    symbols = np.arange(-offset, offset + 1, dtype=f32)
    rows = []
    for q, step in enumerate(steps):
        y = (symbols * f32(step))[None, :]
        if latent_film is not None:
            film = latent_film[q].astype(f32)
            y = y * (f32(1.0) + film[0][:, None]) + film[1][:, None]
        u = np.clip(y / f32(cfg.bound), f32(-1.0 + 1e-6), f32(1.0 - 1e-6))
        rows.append(erfinv(u).astype(f32) * f32(math.sqrt(2.0)))
    return np.stack(rows).astype(f32)


# -- the graph ------------------------------------------------------------------------------------------
def safetensors_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """Byte offset and length of each tensor in a safetensors file (its header, read as the format defines it)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return {k: (8 + size + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0])
            for k, v in header.items() if k != "__metadata__"}


class _Graph:
    """Nodes and initializers of one graph as it is written, with fresh names for intermediate values."""

    def __init__(self, onnx: Any, weights: dict[str, np.ndarray], offsets: dict[str, tuple[int, int]], location: str):
        self.onnx, self.weights, self.offsets, self.location = onnx, weights, offsets, location
        self.nodes: list = []
        self.initializers: list = []
        self.external: list[str] = []
        self.count = 0

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        self.count += 1
        out = f"{kind.lower()}_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def weight(self, key: str) -> str:
        """A tensor of the safetensors file, referenced by offset (external data), not copied."""
        value = self.weights[key]
        if value.dtype != np.float32:
            raise ModelError(f"weight {key} is {value.dtype}, the graph reads float32")
        tensor = self.onnx.TensorProto(name=key, data_type=self.onnx.TensorProto.FLOAT, dims=list(value.shape),
                                       data_location=self.onnx.TensorProto.EXTERNAL)
        offset, length = self.offsets[key]
        for k, v in (("location", self.location), ("offset", str(offset)), ("length", str(length))):
            tensor.external_data.add(key=k, value=v)
        self.initializers.append(tensor)
        self.external.append(key)
        return key

    def conv(self, x: str, layer: str, kernel: int, dims: int) -> str:
        return self.op("Conv", x, self.weight(f"{layer}.weight"), self.weight(f"{layer}.bias"), pads=[kernel // 2] * (2 * dims))

    def gelu(self, x: str) -> str:
        """torch's exact GELU, 0.5 x (1 + erf(x / sqrt 2)), in the ops ONNX Runtime fuses into one."""
        inner = self.op("Erf", self.op("Div", x, "sqrt2"))
        return self.op("Mul", self.op("Mul", x, self.op("Add", inner, "one")), "half")


def build(name: str, model_dir: Path | None = None) -> tuple[Any, dict]:
    """The graph of one model version (the folder holding NAME.json and NAME.safetensors) and the
    JSON that goes beside it (without the graph's hash, which depends on how it is serialized)."""
    onnx = _onnx()
    folder = Path(model_dir or zoo.MODEL_DIR)
    tables = zoo.load_tables(name, folder)
    cfg, config = tables.cfg, tables.config
    weights_path = folder / f"{name}.safetensors"
    weights = zoo.verified(weights_path, config["sha256"], f"model '{name}' weights")
    g = _Graph(onnx, weights, safetensors_offsets(weights_path), weights_path.name)
    d, k = cfg.dims, cfg.latent_dim
    offset = max(q.tables.offset for q in tables.qualities)
    conditioned = bool(cfg.qualities)
    table = latent_table(cfg, [q.step for q in tables.qualities], weights["net.latent_film"] if conditioned else None, offset)
    spread = 2 * offset + 1
    base = (np.arange(k) * spread if conditioned else np.zeros(k, dtype=np.int64)) + offset
    g.const("latent_table", table)
    g.const("latent_base", base.astype(np.int32).reshape((1, k) + (1,) * d))
    for scalar, value in (("sqrt2", math.sqrt(2.0)), ("one", 1.0), ("half", 0.5)):
        g.const(scalar, np.array(value, dtype=np.float32))
    flat = g.op("Reshape", g.op("Gather", "latent_table", "quality_index", axis=0), g.const("flat", np.array([-1], np.int64)))
    z = g.op("Gather", flat, g.op("Add", "symbols", "latent_base"), axis=0)

    h = g.conv(z, "net.decoder.0", cfg.kernel, d)
    if conditioned:  # the decoder's first layer is told the quality: x * (1 + gain) + offset per channel
        film = weights["net.hidden_film"].astype(np.float32)
        shape = (film.shape[0], 1, cfg.width) + (1,) * d
        gain = g.const("hidden_gain", (np.float32(1.0) + film[:, 0]).reshape(shape))
        shift = g.const("hidden_shift", film[:, 1].reshape(shape))
        h = g.op("Add", g.op("Mul", h, g.op("Gather", gain, "quality_index", axis=0)), g.op("Gather", shift, "quality_index", axis=0))
    h = g.gelu(h)
    for block in range(2, 2 + cfg.blocks):
        body = f"net.decoder.{block}.body"
        inner = g.conv(g.gelu(g.conv(h, f"{body}.0", cfg.kernel, d)), f"{body}.2", cfg.kernel, d)
        h = g.op("Add", h, inner)
    h = g.conv(h, f"net.decoder.{2 + cfg.blocks}", 1, d)
    linear = g.conv(z, "net.linear_decoder", 1, d)
    g.nodes.append(onnx.helper.make_node("Add", [linear, h], ["coefficients"]))

    T = onnx.TensorProto
    spatial = ["rows", "cols"][:d]
    graph = onnx.helper.make_graph(
        g.nodes, f"walloc-{name}-decoder",
        [onnx.helper.make_tensor_value_info("symbols", T.INT32, [1, k, *spatial]),
         onnx.helper.make_tensor_value_info("quality_index", T.INT64, [])],
        [onnx.helper.make_tensor_value_info("coefficients", T.FLOAT, [1, cfg.packet_channels, *spatial])],
        g.initializers)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="walloc",
                                   doc_string=f"walloc model {name} version {zoo.version_of(config)}: stream integers -> packet coefficients")
    info = {"format": FORMAT, "model": name, "version": zoo.version_of(config), "opset": OPSET,
            "weights": weights_path.name, "weights_sha256": config["sha256"],
            "stream_hash": zoo.stream_hash(config, zoo.default_coder(config)).hex(),
            "qualities": [q.quality for q in tables.qualities], "external": g.external}
    return model, info


def export(name: str, out_dir: Path, model_dir: Path | None = None, weights: bool = True) -> Path:
    """Write NAME.onnx and NAME.json into ``out_dir`` (and, with ``weights``, a copy of the
    NAME.safetensors the graph reads, so that the folder runs anywhere); returns the graph's path."""
    model, info = build(name, model_dir)
    data = model.SerializeToString(deterministic=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = out_dir / f"{name}.onnx"
    graph.write_bytes(data)
    info["graph_sha256"] = hashlib.sha256(data).hexdigest()
    (out_dir / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    source, target = Path(model_dir or zoo.MODEL_DIR) / info["weights"], out_dir / info["weights"]
    if weights and not (target.exists() and target.samefile(source)):
        shutil.copyfile(source, target)
    return graph


def export_shipped(model_dir: Path | None = None) -> list[Path]:
    """The graphs a model folder ships: each model's and each kept release's, in their ``onnx`` folders
    (the decoder hands them the weights of the verified file beside, so none are copied)."""
    folder = Path(model_dir or zoo.MODEL_DIR)
    written = [export(m.name, folder / GRAPH_DIR, folder, weights=False) for m in zoo.list_models(folder)]
    for release in sorted((folder / zoo.RELEASES).glob("*@*")):
        name = release.name.split("@")[0]
        written.append(export(name, release / GRAPH_DIR, release, weights=False))
    return written


if __name__ == "__main__":
    for path in export_shipped():
        print(f"{path}: {path.stat().st_size:,} bytes")
