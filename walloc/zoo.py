"""The shipped models: ``models/NAME.json`` (config, qualities, hash) + ``models/NAME.safetensors``,
and optionally ``models/NAME.context.safetensors`` (the context model's tables, :mod:`walloc.context`).

Weights and tables load only from safetensors (loading a model cannot run code) and only when each
file's SHA-256 equals the one recorded in its JSON; streams name the model by that hash, so a stream
made with different weights or tables is refused rather than decoded into garbage. The context
tables live in their own file so that adding or refitting them leaves older streams decodable.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import NetConfig
from .context import ContextTables
from .errors import ModelError
from .tables import ModelTables, Quality, Tables

if TYPE_CHECKING:  # the network needs torch; tables, configs and the listing do not
    from .entropy import FactorizedDensity
    from .model import WallocNet

def _shipped_dir() -> Path:
    """The models that come with walloc: package data in an install (``walloc/models``), or the
    top-level ``models/`` folder of a source checkout that the package maps there."""
    here = Path(__file__).resolve().parent
    for folder in (here / "models", here.parent / "models"):
        if any(folder.glob("*.json")):
            return folder
    return here / "models"


# WALLOC_MODEL_DIR points walloc at another folder of models (your own, or a released version).
MODEL_DIR = Path(os.environ.get("WALLOC_MODEL_DIR") or _shipped_dir())


@dataclass(frozen=True)
class ModelInfo:
    name: str
    modality: str
    default: bool
    qualities: list[int]
    default_quality: int
    dim_reduction: float
    sha256: str
    measured: dict
    path: Path

    stream_hash: str = ""   # what a stream of the default coder records as model_hash (hex; `walloc info` shows it)

    def to_json(self) -> dict:
        return {"name": self.name, "modality": self.modality, "default": self.default, "qualities": self.qualities,
                "default_quality": self.default_quality, "dim_reduction": self.dim_reduction,
                "sha256": self.sha256, "stream_hash": self.stream_hash, "measured": self.measured}


def read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read model config {path}: {e}") from None


def list_models(model_dir: Path | None = None) -> list[ModelInfo]:
    """Every model with a JSON config in the model folder, sorted by name."""
    out = []
    for path in sorted(Path(model_dir or MODEL_DIR).glob("*.json")):
        config = read_config(path)
        cfg = NetConfig(**config["net"])
        out.append(ModelInfo(
            name=config["name"], modality=cfg.modality, default=bool(config.get("default")),
            qualities=[q["quality"] for q in config["qualities"]], default_quality=config["default_quality"],
            dim_reduction=cfg.dim_reduction, sha256=config["sha256"],
            measured={str(q["quality"]): q.get("measured", {}) for q in config["qualities"]}, path=path,
            stream_hash=stream_hash(config, default_coder(config)).hex()))
    return out


def default_model(modality: str, model_dir: Path | None = None) -> str:
    for info in list_models(model_dir):
        if info.default and info.modality == modality:
            return info.name
    folder = Path(model_dir or MODEL_DIR)
    where = "WALLOC_MODEL_DIR" if os.environ.get("WALLOC_MODEL_DIR") and model_dir is None else "the shipped models"
    raise ModelError(f"no default {modality} model in {folder} ({where}); set WALLOC_MODEL_DIR to a folder of "
                     "walloc models (NAME.json + NAME.safetensors) or name one with -m")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_coder(config: dict) -> int:
    """The coder id the streams of a model are written with by default (:func:`walloc.coder.for_quality`)."""
    from . import coder

    return coder.default_id("context" in config)


def stream_hash(config: dict, coder_id: int) -> bytes:
    """What a stream of this coder records as its model: the weights' hash, and for the context coder
    the hash of weights and context tables together (both are needed to decode it). A packet border
    rule other than the periodic one is hashed in too: the same weights decode differently with it."""
    from . import bitstream, coder

    weights = bytes.fromhex(config["sha256"])
    extension = config.get("net", {}).get("extension", "periodic")
    if extension != "periodic":
        weights = hashlib.sha256(weights + extension.encode()).digest()
    if coder_id != coder.ContextRansCoder.coder_id or "context" not in config:
        return weights[: bitstream.HASH_BYTES]
    both = weights + bytes.fromhex(config["context"]["sha256"])
    return hashlib.sha256(both).digest()[: bitstream.HASH_BYTES]


# -- released versions ---------------------------------------------------------------------------------------
# A stream names its model by name and by hash (stream_hash). When a model is retrained or its context
# tables refitted, the version it replaces is copied to RELEASES/NAME@VERSION/ (same file names) and listed
# in RELEASES/index.json, so a stream written by any released version decodes with exactly the weights and
# tables that wrote it, or is refused with a line naming the version it needs, never decoded into garbage.
RELEASES = "releases"


def version_of(config: dict) -> int:
    """A model's version number (models from before versions were recorded are version 1)."""
    return int(config.get("version", 1))


def index_path(folder: Path) -> Path:
    return folder / RELEASES / "index.json"


def releases_index(folder: Path) -> dict:
    path = index_path(folder)
    return read_config(path) if path.exists() else {}


def folder_for(name: str, model_hash: bytes, coder_id: int, model_dir: Path | None = None) -> Path:
    """The folder holding the version of model ``name`` whose streams of this coder record
    ``model_hash``: the model folder itself, or one of its archived releases. Refuses, in one line, a
    stream of a released version this install lacks, and one of a version nobody released."""
    folder = Path(model_dir or MODEL_DIR)
    current = folder / f"{name}.json"
    if not current.exists():
        _config(name, folder)  # the unknown-model error, with the models that are shipped
    if _stream_hash_at(current, _stamp(current), coder_id) == model_hash:  # the usual case, once per file version
        return folder
    for candidate in sorted(p.parent for p in (folder / RELEASES).glob(f"{name}@*/{name}.json")):
        if stream_hash(read_config(candidate / f"{name}.json"), coder_id) == model_hash:
            return candidate
    have = version_of(read_config(current))
    for release in releases_index(folder).get(name, []):
        if stream_hash(release, coder_id) == model_hash:
            raise ModelError(f"stream was made with model '{name}' version {release['version']}, which this install "
                             f"does not have (it has version {have}); point WALLOC_MODEL_DIR at a folder holding "
                             f"'{RELEASES}/{name}@{release['version']}' or install a walloc release that ships it")
    raise ModelError(f"stream was made with an unreleased or foreign version of model '{name}' (model hash "
                     f"{model_hash.hex()}; this install has version {have}, hash {stream_hash(read_config(current), coder_id).hex()})")


@lru_cache(maxsize=64)
def _stream_hash_at(path: Path, _stamp: tuple | None, coder_id: int) -> bytes:
    return stream_hash(read_config(path), coder_id)


def _config(name: str, folder: Path) -> dict:
    config_path = folder / f"{name}.json"
    if not config_path.exists():
        known = ", ".join(m.name for m in list_models(folder)) or "none"
        raise ModelError(f"unknown model '{name}' (shipped: {known})")
    return read_config(config_path)


def load_tables(name: str, model_dir: Path | None = None, context: bool = True) -> ModelTables:
    """A model's config and quality tables (with its context tables unless ``context`` is False), each
    file verified against its recorded SHA-256; builds no network and needs no torch. Built once per
    version of the model's files (every stream of a dataset asks for them); the tables are read-only
    and the config is the caller's own copy."""
    folder = Path(model_dir or MODEL_DIR)
    tables = _load_tables(name, str(folder), context, file_versions(name, folder))
    return ModelTables(tables.name, json.loads(json.dumps(tables.config)), tables.qualities)


def file_versions(name: str, folder: Path) -> tuple:
    """What tells one version of a model's files from another (modification time and size of each):
    the key of what is built from them once per version."""
    return tuple(_stamp(folder / f"{name}{suffix}") for suffix in (".json", ".safetensors", ".context.safetensors"))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=16)
def _load_tables(name: str, folder_name: str, context: bool, _versions: tuple) -> ModelTables:
    folder = Path(folder_name)
    config = _config(name, folder)
    if not context:
        config = {k: v for k, v in config.items() if k != "context"}
    keys = tuple(f"tables.{q['quality']}" for q in config["qualities"])
    state = verified(folder / f"{name}.safetensors", config["sha256"], f"model '{name}' weights", keys)
    ctx = None
    if "context" in config:
        ctx = verified(folder / f"{name}.context.safetensors", config["context"]["sha256"], f"model '{name}' context tables")
    qualities = []
    for q in config["qualities"]:
        tables = Tables(cdfs=_frozen(state[f"tables.{q['quality']}"].astype(np.uint32)), offset=q["offset"], precision=q["precision"])
        model = None
        if ctx is not None:
            model = ContextTables(modes=_frozen(ctx[f"modes.{q['quality']}"].astype(np.uint8)), buckets=config["context"]["buckets"],
                                  kmax=q["offset"], tables=Tables(cdfs=_frozen(ctx[f"tables.{q['quality']}"].astype(np.uint32)),
                                                                  offset=2 * q["offset"], precision=q["precision"]))
        qualities.append(Quality(q["quality"], q["step"], tables, q.get("measured"), model))
    return ModelTables(name, config, tuple(qualities))


def load_parts(name: str, model_dir: Path | None = None, context: bool = True) -> tuple[dict, WallocNet, FactorizedDensity, list[Quality]]:
    """Read and verify one model (with its context tables unless ``context`` is False); returns its
    config, a fresh network and density (owned by the caller) and its qualities."""
    import torch

    from .entropy import FactorizedDensity
    from .model import WallocNet

    folder = Path(model_dir or MODEL_DIR)
    tables = load_tables(name, folder, context)
    state = verified(folder / f"{name}.safetensors", tables.config["sha256"], f"model '{name}' weights")
    net, density = WallocNet(tables.cfg), FactorizedDensity(tables.cfg.latent_dim)
    net.load_state_dict({k[4:]: torch.tensor(v) for k, v in state.items() if k.startswith("net.")})
    density.load_state_dict({k[8:]: torch.tensor(v) for k, v in state.items() if k.startswith("density.")})
    net.eval(), density.eval()
    return dict(tables.config), net, density, list(tables.qualities)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def verified(path: Path, sha256: str, what: str, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """A safetensors file's arrays (only ``keys``, if given), after checking its SHA-256 against the
    recorded one. Cached per file version; the arrays are read-only, so callers cannot change them
    for each other."""
    stamp = _stamp(Path(path))
    if stamp is None:
        raise ModelError(f"{what}: missing file {path}")
    return _verified(str(path), sha256, what, keys, *stamp)


@lru_cache(maxsize=32)
def _verified(path: str, sha256: str, what: str, keys: tuple[str, ...] | None, _mtime: int, _size: int) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError, safe_open

    try:
        digest = file_sha256(Path(path))
    except OSError as e:
        raise ModelError(f"{what}: unreadable file ({e.strerror})") from None
    if digest != sha256:
        raise ModelError(f"{what}: file hash {digest[:16]} does not match the recorded {sha256[:16]}; refusing to load it")
    try:
        with safe_open(path, "np") as f:
            return {k: _frozen(f.get_tensor(k)) for k in (keys if keys is not None else f.keys())}
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{what}: unreadable file ({e})") from None


_MOVED = {"save_model": "walloc.train.export", "save_context": "walloc.train.export"}


def __getattr__(name: str) -> Any:
    """Deprecated names: the model writers live in :mod:`walloc.train.export` (the zoo only reads)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
