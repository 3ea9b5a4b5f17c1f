"""``walloc latents``: a labelled folder tree of images or audio -> the same tree of ``.wlc`` latents.

Resumable (outputs that exist and hold a valid stream of the same model, quality and size are kept),
atomic (each file appears whole or not at all), parallel over CPU worker processes, and over machines
under ``torchrun``: each rank converts every WORLD_SIZE-th file from RANK of the sorted file list.
"""

from __future__ import annotations

import os
import sys
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
  torchrun --nnodes 4 ... -m cli.main latents SRC DST   # each rank converts its share of the files
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


def is_done(path: Path, codec: Codec, job: Job) -> bool:
    """True if ``path`` holds a valid stream of this model (same weights), quality and size."""
    try:
        raw = path.read_bytes()
        header = bitstream.peek_header(raw)
        codec.check_stream(header)
    except (OSError, WallocError):
        return False
    if header.quality != job.quality:
        return False
    return job.size is None or all(e == job.size for e in header.extent)


def convert_one(codec: Codec, job: Job, src: Path, dst: Path) -> int:
    """Encode one media file into ``dst`` atomically; returns the bytes written."""
    signal, meta = features.load_signal(src, job.size)
    stream = codec.compress(signal, job.quality, meta)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(dst)) as f:
        f.write(stream)
    return len(stream)


_WORKER: dict = {}


def _init_worker(job: Job) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER["codec"] = _codec(job)


def _convert_batch(job: Job, pairs: list[tuple[Path, Path]]) -> list[tuple[Path, int, str | None]]:
    """Worker task: (src, bytes written, error message or None) per file; one bad file spoils no other."""
    codec = _WORKER.get("codec") or _codec(job)
    out = []
    for src, dst in pairs:
        try:
            out.append((src, convert_one(codec, job, src, dst), None))
        except WallocError as e:
            out.append((src, 0, str(e)))
        except OSError as e:
            out.append((src, 0, f"{src}: {e.strerror or e}"))
    return out


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
        model_dir: str | None = None, progress: bool = True) -> Summary:
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
    mine = data.share(items, rank, world)
    todo = [(it.path, data.stream_path(dst, it)) for it in mine]
    todo = [(s, d) for s, d in todo if not is_done(d, codec, job)]
    summary = Summary(total=len(mine), skipped=len(mine) - len(todo))
    desc = f"latents {model} q{job.quality}" + (f" rank {rank}/{world}" if world > 1 else "")
    from tqdm import tqdm

    with tqdm(total=len(mine), initial=summary.skipped, desc=desc, unit="file", file=sys.stderr,
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

        batches = [todo[i: i + BATCH] for i in range(0, len(todo), BATCH)]
        if workers <= 1 or len(batches) <= 1:
            _WORKER["codec"] = codec
            try:
                for batch in batches:
                    account(_convert_batch(job, batch))
            finally:
                _WORKER.clear()
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(batches)), initializer=_init_worker, initargs=(job,)) as pool:
                for fut in as_completed([pool.submit(_convert_batch, job, b) for b in batches]):
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
def latents(src_dir: str, dst_dir: str, model: str | None, quality: int | None, size: int | None, workers: int) -> None:
    """Turn a folder tree of images or audio (labels as sub-folders) into the same tree of .wlc latents.

    \b
    Files already converted with the same model, quality and size are skipped, so an interrupted run
    resumes where it stopped. Under torchrun (RANK, WORLD_SIZE set) each rank converts its share.
    Train on the result with walloc.data.LatentDataset(DST_DIR).
    """
    if workers < 1:
        raise MediaError(f"--workers must be at least 1, got {workers}")
    rank, world = data.rank_and_world()
    s = run(src_dir, dst_dir, model=model, quality=quality, size=size, workers=workers, rank=rank, world=world)
    part = f"rank {rank}/{world}: " if world > 1 else ""
    mean = f", {s.bytes / s.written:,.0f} bytes/file" if s.written else ""
    click.echo(f"{part}{s.written} written, {s.skipped} already done, {len(s.failed)} failed of {s.total} files"
               f"{mean}, {s.seconds:.1f} s -> {dst_dir}", err=True)
    if s.failed:
        raise MediaError(f"{len(s.failed)} file(s) could not be converted, first: {s.failed[0][1]}")
