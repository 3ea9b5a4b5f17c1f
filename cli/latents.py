"""``walloc latents``: a labelled folder tree of images or audio -> the same tree of ``.wlc`` latents,
or tar shards of them (``--shard-size N``: N examples per ``shard-00000.tar`` in each folder that
holds label folders; members keep their label folder, ``dress/0001.wlc``, the WebDataset layout).

Resumable (outputs that exist and hold valid streams of the same model, quality and size are kept),
atomic (each file or shard appears whole or not at all), parallel over CPU worker processes, and over
machines under ``torchrun``: each rank converts every WORLD_SIZE-th file (or shard) from RANK of the
sorted list.
"""

from __future__ import annotations

import io as _io
import os
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import click

import walloc
from walloc import bitstream, data, features, io
from walloc.codec import Codec
from walloc.errors import MediaError, WallocError

from .output import atomic_output

EPILOG = """\b
Examples:
  walloc latents photos/ photos-wlc/                    # every image, default image model
  walloc latents clothing/ clothing-16x/ --size 256     # 256x256 center crops: equal latent shapes
  walloc latents clothing/ clothing-16x/ --size 256 --shard-size 1000   # tar shards of 1000 examples
  torchrun --nnodes 4 ... -m walloc latents SRC DST   # each rank converts its share of the files
"""

BATCH = 16  # files per task sent to a worker process


@dataclass(frozen=True)
class Job:
    """What every file of a run is converted with."""

    model: str
    quality: int
    size: int | None
    model_dir: str | None = None  # a model folder other than the shipped one (tests)


def _codec(job: Job) -> Codec:
    return Codec.load(job.model, job.model_dir) if job.model_dir else walloc.load(job.model)


def _valid(raw: bytes, codec: Codec, job: Job) -> bool:
    """True if ``raw`` is a valid stream of this model (same weights), quality and size."""
    try:
        header = bitstream.peek_header(raw)
        codec.check_stream(header)
    except WallocError:
        return False
    if header.quality != job.quality:
        return False
    return job.size is None or all(e == job.size for e in header.extent)


def is_done(path: Path, codec: Codec, job: Job, members: list[str] | None = None) -> bool:
    """True if ``path`` holds a valid stream (or, for a shard, exactly ``members``, all valid)."""
    try:
        if members is None:
            return _valid(path.read_bytes(), codec, job)
        items = data.shard_members(path)
    except (OSError, WallocError):
        return False
    return [it.rel.as_posix() for it in items] == members and all(_valid(it.read(), codec, job) for it in items)


def _encode(codec: Codec, job: Job, src: Path) -> bytes:
    signal, meta = features.load_signal(src, job.size)
    return codec.compress(signal, job.quality, meta)


def _write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(path)) as f:
        write(f)


def convert_one(codec: Codec, job: Job, src: Path, dst: Path) -> int:
    """Encode one media file into ``dst`` atomically; returns the bytes written."""
    stream = _encode(codec, job, src)
    _write(dst, lambda f: f.write(stream))
    return len(stream)


def _pack(f, streams: list[tuple[str, bytes]]) -> None:
    """A tar of the streams, with fixed metadata so that the same streams give the same bytes."""
    with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, stream in streams:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(stream), 0o644, 0
            tar.addfile(info, _io.BytesIO(stream))


_WORKER: dict = {}


def _init_worker(job: Job) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER["codec"] = _codec(job)


def _convert_batch(job: Job, pairs: list[tuple[Path, Path | str]], shard: Path | None = None) -> list[tuple[Path, int, str | None]]:
    """Worker task: (src, bytes written, error message or None) per file; one bad file spoils no other.

    Without ``shard`` each pair is (src, output file); with it, (src, member name) of that shard,
    which is written (atomically) with the members that converted."""
    codec = _WORKER.get("codec") or _codec(job)
    out, streams = [], []
    for src, dst in pairs:
        try:
            if shard is None:
                out.append((src, convert_one(codec, job, src, dst), None))
            else:
                streams.append((str(dst), _encode(codec, job, src)))
                out.append((src, len(streams[-1][1]), None))
        except WallocError as e:
            out.append((src, 0, str(e)))
        except OSError as e:
            out.append((src, 0, f"{src}: {e.strerror or e}"))
    if shard is not None and streams:
        _write(shard, lambda f: _pack(f, streams))
    return out


def plan_shards(items: list[data.Item], dst: Path, size: int) -> list[tuple[Path, list[tuple[Path, str]]]]:
    """Shards of at most ``size`` examples: per folder that holds label folders, in sorted order;
    each is (shard path, [(source, member name), ...])."""
    groups: dict[Path, list[data.Item]] = {}
    for it in items:
        groups.setdefault(it.rel.parent.parent, []).append(it)
    plan = []
    for folder, group in sorted(groups.items()):
        for k, start in enumerate(range(0, len(group), size)):
            members = [(it.path, it.rel.relative_to(folder).with_suffix(data.STREAM_SUFFIX).as_posix()) for it in group[start: start + size]]
            plan.append((dst / folder / f"shard-{k:05d}{data.SHARD_SUFFIX}", members))
    return plan


@dataclass
class Summary:
    total: int = 0      # files in this rank's share
    skipped: int = 0    # already done
    written: int = 0
    bytes: int = 0
    failed: list = field(default_factory=list)  # (src, message)
    seconds: float = 0.0


def run(src: str | Path, dst: str | Path, *, model: str | None = None, quality: int | None = None,
        size: int | None = None, workers: int = 1, rank: int = 0, world: int = 1,
        model_dir: str | None = None, progress: bool = True, shard_size: int = 0) -> Summary:
    """Convert this rank's share of SRC's media files into DST; see the module docstring."""
    start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    items = data.scan(src)
    if not items:
        raise MediaError(f"no image or audio files under {src}")
    if model is None:
        modalities = {io.modality_of(it.path) for it in items}
        if len(modalities) > 1:
            raise MediaError(f"{src} holds both images and audio; pick a model with -m")
        model = walloc.default_model(modalities.pop(), model_dir)
    codec = _codec(Job(model, 0, size, model_dir))
    job = Job(model, codec.quality(quality).quality, size, model_dir)
    items = [it for it in items if io.modality_of(it.path) == codec.modality]
    if not items:
        raise MediaError(f"no {codec.modality} files under {src} for model '{model}'")
    _check_unique(items)
    if shard_size > 0:  # tasks: whole shards, each rank taking every world-th one
        shards = data.share(plan_shards(items, dst, shard_size), rank, world)
        tasks = [(members, shard) for shard, members in shards
                 if not is_done(shard, codec, job, [name for _, name in members])]
        total = sum(len(members) for _, members in shards)
    else:               # tasks: batches of files, each rank taking every world-th file
        mine = data.share(items, rank, world)
        todo = [(it.path, data.stream_path(dst, it)) for it in mine]
        todo = [(s, d) for s, d in todo if not is_done(d, codec, job)]
        tasks = [(todo[i: i + BATCH], None) for i in range(0, len(todo), BATCH)]
        total = len(mine)
    summary = Summary(total=total, skipped=total - sum(len(pairs) for pairs, _ in tasks))
    desc = f"latents {model} q{job.quality}" + (f" rank {rank}/{world}" if world > 1 else "")
    from tqdm import tqdm

    with tqdm(total=total, initial=summary.skipped, desc=desc, unit="file", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        def account(results) -> None:
            for s, n, err in results:
                if err is None:
                    summary.written += 1
                    summary.bytes += n
                else:
                    summary.failed.append((s, err))
                    bar.write(f"walloc: skipped {s}: {err}", file=sys.stderr)
                bar.update(1)

        if workers <= 1 or len(tasks) <= 1:
            _WORKER["codec"] = codec
            try:
                for pairs, shard in tasks:
                    account(_convert_batch(job, pairs, shard))
            finally:
                _WORKER.clear()
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_init_worker, initargs=(job,)) as pool:
                for fut in as_completed([pool.submit(_convert_batch, job, pairs, shard) for pairs, shard in tasks]):
                    account(fut.result())
    summary.seconds = time.perf_counter() - start
    return summary


def _check_unique(items: list[data.Item]) -> None:
    seen: dict[Path, Path] = {}
    for it in items:
        out = it.rel.with_suffix(data.STREAM_SUFFIX)
        if out in seen:
            raise MediaError(f"{seen[out]} and {it.rel} would both become {out}; rename one")
        seen[out] = it.rel


@click.command(epilog=EPILOG)
@click.argument("src_dir", type=click.Path(file_okay=False))
@click.argument("dst_dir", type=click.Path(file_okay=False))
@click.option("-m", "--model", help="Model name (see `walloc models`). Default: the default model of the files' modality.")
@click.option("-q", "--quality", type=int, help="Quality level of the model. Default: the model's default.")
@click.option("--size", type=int, help="Resize images' short side to SIZE and center-crop SIZExSIZE (audio: crop or pad to SIZE samples), so all latents share one shape.")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default="all CPU cores", help="Worker processes.")
@click.option("--shard-size", type=int, default=0, show_default=True,
              help="Pack N examples per tar shard (shard-00000.tar, ... in each split folder) instead of one .wlc file each; 0: one file each.")
def latents(src_dir: str, dst_dir: str, model: str | None, quality: int | None, size: int | None, workers: int, shard_size: int) -> None:
    """Turn a folder tree of images or audio (labels as sub-folders) into the same tree of .wlc latents.

    \b
    Files (or shards) already converted with the same model, quality and size are skipped, so an
    interrupted run resumes where it stopped. Under torchrun (RANK, WORLD_SIZE set) each rank converts
    its share. Train on the result with walloc.data.LatentDataset(DST_DIR/split), which reads loose
    .wlc files and tar shards alike.
    """
    if workers < 1:
        raise MediaError(f"--workers must be at least 1, got {workers}")
    if shard_size < 0:
        raise MediaError(f"--shard-size must be 0 or more, got {shard_size}")
    rank, world = data.rank_and_world()
    s = run(src_dir, dst_dir, model=model, quality=quality, size=size, workers=workers, rank=rank, world=world,
            shard_size=shard_size)
    part = f"rank {rank}/{world}: " if world > 1 else ""
    mean = f", {s.bytes / s.written:,.0f} bytes/file" if s.written else ""
    click.echo(f"{part}{s.written} written, {s.skipped} already done, {len(s.failed)} failed of {s.total} files"
               f"{mean}, {s.seconds:.1f} s -> {dst_dir}", err=True)
    if s.failed:
        raise MediaError(f"{len(s.failed)} file(s) could not be converted, first: {s.failed[0][1]}")
