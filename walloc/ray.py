"""Converting a labelled tree at scale: ``walloc latents SRC DST --engine ray``, and its parts.

- :class:`Encode`: the encode step as a Ray Data transform, ``ds.map_batches(Encode,
  fn_constructor_kwargs=dict(model="rgb-16x", size=256), concurrency=8)``, over rows that hold file
  bytes (column ``bytes``, with ``path`` naming the file, as ``ray.data.read_binary_files(...,
  include_paths=True)`` gives them) or images (column ``image``, (H, W[, C]) arrays as
  ``ray.data.read_images`` gives them). It replaces them with ``stream`` (the ``.wlc`` bytes) and
  ``error`` (a one-line message, or ""). A class, so that each actor loads the model once.
- :func:`plan`: a tree's units of work in the layout ``walloc latents`` writes, byte for byte (a few
  ``.wlc`` files, or one tar shard each), less those already complete: an interrupted job resumes.
- :func:`write_unit`, the writer: reads a unit's files, encodes and writes them whole (a shard as one
  atomic write), so a unit retried after its worker died rewrites the same bytes and nothing half
  written is ever seen. :func:`latent_urls` runs the units on a local process pool (trees named by
  URL) or on Ray, where Ray Data restarts a killed actor and retries its unit.

SRC and DST may be local paths or URLs (:mod:`walloc.urls`); every Ray worker must reach them (a
shared file system or an object store) and import walloc with torch (``pip install 'walloc[torch,ray]'``
on each node).
"""

from __future__ import annotations

import io as _io
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import convert, io, tree, urls
from .errors import MediaError, WallocError

UNIT_FILES = 4  # .wlc files per unit (a shard is one unit whatever its size): small, so idle workers find work


class Encode:
    """Ray Data transform: media rows -> ``.wlc`` streams (see the module docstring)."""

    def __init__(self, model: str | None = None, quality: int | None = None, size: int | None = None,
                 channels: int | None = None, model_dir: str | None = None):
        import walloc
        from .codec import Codec

        self.codec = Codec.load(model or walloc.default_model("image", model_dir), model_dir)
        self.quality = self.codec.quality(quality).quality
        self.size, self.channels = size, channels

    @classmethod
    def of(cls, job: convert.LatentJob) -> "Encode":
        return cls(job.model, job.quality, job.size, job.channels, job.model_dir)

    def compress(self, source: str, data: bytes | None = None) -> bytes:
        """The ``.wlc`` of a media file (path or URL; or ``data``, its bytes): what ``walloc latents`` writes."""
        from .data import signal_of

        signal, meta = signal_of(source, self.size, self.channels, data)
        return self.codec.compress(signal, self.quality, meta)

    def compress_array(self, array: np.ndarray) -> bytes:
        """The ``.wlc`` of an (H, W[, C]) image array: uint8, or floats in [0, 1]."""
        import torch

        from .features import fit, to_channels

        x = torch.from_numpy(np.ascontiguousarray(array))
        x = (x[..., None] if x.dim() == 2 else x).permute(2, 0, 1)
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        return self.codec.compress(fit(to_channels(x, self.channels), self.size), self.quality)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "bytes" in batch:
            names = [str(n) for n in batch.get("path", [""] * len(batch["bytes"]))]
            work = [partial(self.compress, n, bytes(b)) for b, n in zip(batch["bytes"], names)]
        elif "image" in batch:
            names = [f"row {i}" for i in range(len(batch["image"]))]
            work = [partial(self.compress_array, a) for a in batch["image"]]
        else:
            raise MediaError(f"Encode needs a column 'bytes' (with 'path') or 'image'; got {sorted(batch)}")
        outcomes = [_stream(w, n) for w, n in zip(work, names)]
        out = {k: v for k, v in batch.items() if k not in ("bytes", "image")}
        out["stream"] = _column([s for s, _ in outcomes])
        out["error"] = np.array([e for _, e in outcomes], dtype=object)
        return out


def _stream(work: Callable[[], bytes], name: str) -> tuple[bytes, str]:
    """(stream, "") or (b"", one-line error naming the item): one bad file spoils no other."""
    try:
        return work(), ""
    except WallocError as e:
        return b"", str(e) if name in str(e) else f"{name}: {e}"


def _column(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# -- units of work --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """Work written whole: ``sources`` to one ``.wlc`` each at ``targets``, or, with ``shard``, packed
    into that tar shard as the members named ``targets``."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    shard: str | None = None


@dataclass
class Plan:
    job: convert.LatentJob
    units: list[Unit]
    total: int    # files of this run (this rank's share)
    skipped: int  # files whose outputs are complete already


def plan(src: str | Path, dst: str | Path, *, model: str | None = None, quality: int | None = None,
         size: int | None = None, channels: int | None = None, model_dir: str | None = None,
         shard_size: int = 0, rank: int = 0, world: int = 1) -> Plan:
    """What a ``walloc latents`` run over SRC into DST has left to do (see the module docstring)."""
    import walloc

    items = tree.scan(src)
    modalities = {io.modality_of(it.rel) for it in items}
    if not items or (model is None and len(modalities) > 1):
        raise MediaError(f"no image or audio files under {src}" if not items else f"{src} holds both images and audio; pick a model with -m")
    codec = convert._codec(convert.LatentJob(model or walloc.default_model(modalities.pop(), model_dir), 0, size, model_dir))
    if channels is not None and (channels < 1 or codec.modality == "image" and channels not in (1, 3)):
        raise MediaError(f"channels must be {'1 (gray) or 3 (RGB)' if codec.modality == 'image' else 'at least 1'} "
                         f"for {codec.modality}, got {channels}")
    job = convert.LatentJob(codec.name, codec.quality(quality).quality, size, model_dir, channels)
    items = [it for it in items if io.modality_of(it.rel) == codec.modality]
    if not items:
        raise MediaError(f"no {codec.modality} files under {src} for model '{codec.name}'")
    convert.refuse_clashes([(it.rel, it.rel.with_suffix(convert.STREAM_SUFFIX)) for it in items])
    dst = urls.location(dst)
    if shard_size > 0:
        shards = tree.share(convert.plan_shards(items, Path(), shard_size), rank, world)
        units = [Unit(tuple(str(s) for s, _ in members), tuple(m for _, m in members), str(urls.join(dst, rel.as_posix())))
                 for rel, members in shards]
        found = urls.existing(dst, [u.shard for u in units])
        todo = [u for u in units if not complete(found.get(u.shard), codec, job, u.targets)]
        total = sum(len(u.sources) for u in units)
    else:
        mine = tree.share(items, rank, world)
        pairs = [(str(it.path), str(tree.stream_path(dst, it))) for it in mine]
        found = urls.existing(dst, [t for _, t in pairs])
        left = [(s, t) for s, t in pairs if not complete(found.get(t), codec, job)]
        todo = [Unit(*zip(*left[i: i + UNIT_FILES])) for i in range(0, len(left), UNIT_FILES)]
        total = len(mine)
    return Plan(job, todo, total, total - sum(len(u.sources) for u in todo))


def complete(raw: bytes | None, codec: Any, job: convert.LatentJob, members: tuple[str, ...] | None = None) -> bool:
    """True if ``raw`` (an output's bytes; None: missing) is what the job writes: a valid stream, or a
    shard of exactly ``members``, all valid (as :func:`walloc.convert.is_done` judges a local file)."""
    if raw is None:
        return False
    if members is None:
        return convert._valid(raw, codec, job)
    try:
        items = tree.shard_members("shard", raw)
    except MediaError:
        return False
    return tuple(it.rel.as_posix() for it in items) == members and all(
        convert._valid(raw[o: o + n], codec, job) for o, n in (it.span for it in items))  # type: ignore[misc]


def write_unit(encode: Encode, unit: Unit) -> list[convert.Outcome]:
    """The writer: encode a unit's files and write its outputs whole; one outcome per file."""
    members: list[tuple[str, bytes]] = []

    def one(src: str, target: str) -> int:
        stream = encode.compress(src)
        if unit.shard is None:
            return urls.write_bytes(target, stream)
        members.append((target, stream))
        return len(stream)

    outcomes = [convert.attempt(src, partial(one, src, target))  # type: ignore[arg-type]
                for src, target in zip(unit.sources, unit.targets)]
    if unit.shard is not None and members:
        tar = _io.BytesIO()
        convert._pack(tar, members)
        urls.write_bytes(unit.shard, tar.getvalue())
    return outcomes


# -- engines ----------------------------------------------------------------------------------------------------
def _local_units(job: convert.LatentJob, units: list[Unit]) -> list[convert.Outcome]:
    """Process-pool task: a few units, with the encoder loaded once per process."""
    encode = convert.cached(("ray.Encode", job), lambda: Encode.of(job))
    return [o for unit in units for o in write_unit(encode, unit)]


class Convert(Encode):
    """The Ray Data transform of the engine: rows are units (JSON), each written whole by
    :func:`write_unit`; out, a row per file: ``source``, ``bytes`` written, ``error``, ``pid``."""

    def __init__(self, job: convert.LatentJob, threads: int = 1):
        convert._worker_threads(threads)
        super().__init__(job.model, job.quality, job.size, job.channels, job.model_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # type: ignore[override]
        units = [Unit(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(u).items()}) for u in batch["unit"]]
        outcomes = [o for unit in units for o in write_unit(self, unit)]
        return {"source": np.array([str(o.src) for o in outcomes]), "bytes": np.array([o.bytes for o in outcomes]),
                "error": np.array([o.error or "" for o in outcomes]), "pid": np.full(len(outcomes), os.getpid())}


def _ray_outcomes(p: Plan, address: str | None, workers: int | None, threads: int) -> Iterator[convert.Outcome]:
    """Run the units on Ray (a local one of ``workers`` CPUs without ``address``): an outcome per file
    as units finish, in any order."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise MediaError("--engine ray needs Ray: pip install 'walloc[ray]'") from None
    started = not ray.is_initialized()
    if started:
        _reachable(address)
        try:
            ray.init(address=address, num_cpus=None if address else workers or os.cpu_count(), include_dashboard=False,
                     logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise MediaError(f"cannot start or join Ray{f' at {address}' if address else ''}: {str(e).splitlines()[0]}") from None
    for handler in logging.getLogger("ray.data").handlers:  # its messages stay in the session's log files
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ds = ray.data.from_items([{"unit": json.dumps(asdict(u))} for u in p.units], override_num_blocks=len(p.units))
        pool = ray.data.ActorPoolStrategy(size=min(actors, len(p.units)), max_tasks_in_flight_per_actor=2)
        out = ds.map_batches(Convert, fn_constructor_kwargs={"job": p.job, "threads": threads}, batch_size=1,
                             compute=pool, num_cpus=1)
        for row in out.iter_rows():
            yield convert.Outcome(row["source"], int(row["bytes"]), row["error"] or None)
    except ray.exceptions.RayError as e:
        raise MediaError(f"the Ray job failed: {str(e).strip().splitlines()[-1]}") from None
    finally:
        if started:
            ray.shutdown()


def _reachable(address: str | None) -> None:
    """Refuse at once a HOST:PORT nothing listens on (Ray itself waits minutes before giving up)."""
    if not address or "://" in address or address.count(":") != 1:
        return
    host, port = address.split(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError) as e:
        raise MediaError(f"no Ray cluster at {address}: {getattr(e, 'strerror', None) or e}") from None


def latent_urls(src: str | Path, dst: str | Path, *, engine: str = "local", address: str | None = None,
                workers: int | None = None, threads: int = 1, progress: bool = True, rank: int = 0, world: int = 1,
                **job: Any) -> convert.Summary:
    """:func:`walloc.convert.latent_tree` for trees named by URL too, on the local process pool
    (``engine="local"``) or on Ray (``"ray"``: ``workers`` actors, default one per CPU of the cluster);
    ``job``: model, quality, size, channels, model_dir, shard_size. The same outputs either way."""
    if engine not in ("local", "ray"):
        raise MediaError(f"unknown engine '{engine}': local or ray")
    p = plan(src, dst, rank=rank, world=world, **job)
    desc = f"latents {p.job.model} q{p.job.quality}" + (" on Ray" if engine == "ray" else "")
    if engine == "local":
        return convert.execute([([u],) for u in p.units], partial(_local_units, p.job), total=p.total, skipped=p.skipped,
                               workers=workers or 1, threads=threads, desc=desc, progress=progress)
    # Ray streams outcomes as units finish: execute's inline loop pulls them, so that the progress bar and
    # the summary are those of the local engine (each task takes as many outcomes as a unit has files).
    outcomes = _ray_outcomes(p, address, workers, threads)
    try:
        return convert.execute([(len(u.sources),) for u in p.units], lambda n: [next(outcomes) for _ in range(n)],
                               total=p.total, skipped=p.skipped, desc=desc, progress=progress)
    finally:
        outcomes.close()
