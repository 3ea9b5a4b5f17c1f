"""Converting many files at once: ``walloc encode|decode FILE|DIR... -o OUTDIR/`` and ``walloc latents``.

One engine for both: plan (source, output) pairs from the files named and the folder trees under the
folders named (each folder's contents mirrored into the output folder), leave out what is already
done, run the rest in batches inline or over worker processes with one progress bar (on a terminal),
report each failed file in one line and go on, and sum it all up in a :class:`Summary`.

- :func:`encode_many` / :func:`decode_many`: media <-> ``.wlc``; outputs that exist are skipped
  unless ``force``. :func:`encode_file` / :func:`decode_stream` are the one-file steps, which the
  single-file commands use too.
- :func:`latent_tree`: a labelled tree of media -> the same tree of ``.wlc`` latents for learning, or
  tar shards of them (``shard_size`` N: N examples per ``shard-00000.tar`` in each folder that holds
  label folders; members keep their label folder, ``dress/0001.wlc``, the WebDataset layout).
  Resumable (outputs that hold valid streams of the same model, quality, size and channels are kept), and
  shared over machines under ``torchrun``: each rank converts every WORLD_SIZE-th file (or shard)
  from RANK of the sorted list.

Encoding needs no torch (:class:`walloc.encoder.Encoder`); decoding and latents import it when they run.
"""

from __future__ import annotations

import io as _io
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import io, tree
from .errors import MediaError, WallocError
from .output import atomic_output, read_head, read_input
from .threads import use as _worker_threads  # worker processes are the parallelism: each computes with its share

if TYPE_CHECKING:
    from .bitstream import Header
    from .codec import Codec
    from .encoder import Encoder

BATCH = 16  # files per task sent to a worker process
STREAM_SUFFIX = ".wlc"
DEFAULT_FORMAT = {"image": "png", "audio": "wav"}
MEDIA_SUFFIXES = sorted(io.IMAGE_SUFFIXES | io.AUDIO_SUFFIXES)


# -- the engine -------------------------------------------------------------------------------------------
@dataclass
class Summary:
    total: int = 0      # files in this run (this rank's share)
    skipped: int = 0    # already done
    written: int = 0
    bytes: int = 0
    failed: list = field(default_factory=list)  # (source, one-line message)
    seconds: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What became of one file: bytes written, skipped (its output was there), or a one-line error."""

    src: Path
    bytes: int = 0
    error: str | None = None
    skipped: bool = False


def attempt(src: Path, work: Callable[[], int | None]) -> Outcome:
    """Run one file's work (bytes written, or None when its output was already there); a failure becomes
    a one-line message naming the file, so that one bad file spoils no other."""
    try:
        n = work()
    except WallocError as e:
        message = str(e)
    except OSError as e:
        message = e.strerror or str(e)
    else:
        return Outcome(src, skipped=True) if n is None else Outcome(src, n)
    return Outcome(src, error=message if str(src) in message else f"{src}: {message}")


def execute(tasks: Sequence[tuple], work: Callable[..., list[Outcome]], *, total: int, skipped: int = 0,
            workers: int = 1, threads: int = 1, desc: str = "", progress: bool = True) -> Summary:
    """Run ``work(*task)`` for every task (a batch of files), inline or over ``workers`` processes that
    compute with ``threads`` threads each."""
    from tqdm import tqdm

    start = time.perf_counter()
    summary = Summary(total=total, skipped=skipped)
    with tqdm(total=total, initial=skipped, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True,
              disable=None if progress else True) as bar:
        def account(outcomes: list[Outcome]) -> None:
            for o in outcomes:
                if o.error is not None:
                    summary.failed.append((o.src, o.error))
                    tqdm.write(f"walloc: failed: {o.error}", file=sys.stderr)
                elif o.skipped:
                    summary.skipped += 1
                else:
                    summary.written += 1
                    summary.bytes += o.bytes
                bar.update(1)

        try:
            if workers <= 1 or len(tasks) <= 1:
                for task in tasks:
                    account(work(*task))
            else:
                from concurrent.futures import ProcessPoolExecutor, as_completed  # only for many files

                with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_worker_threads,
                                         initargs=(max(1, threads),)) as pool:
                    for future in as_completed([pool.submit(work, *task) for task in tasks]):
                        account(future.result())
        finally:
            _CACHE.clear()
    summary.seconds = time.perf_counter() - start
    return summary


def batches(pairs: Sequence, size: int = BATCH) -> list[tuple[list]]:
    """Tasks of at most ``size`` items, as :func:`execute` takes them."""
    return [(list(pairs[i: i + size]),) for i in range(0, len(pairs), size)]


_CACHE: dict = {}  # per process: models loaded for the files of a run (inherited by forked workers)


def cached(key: tuple, make: Callable[[], Any]) -> Any:
    """A model (encoder, codec) loaded once per process and run."""
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def plan(inputs: Sequence[str | Path], outdir: Path | None, suffixes: Sequence[str],
         name: Callable[[Path], Path]) -> list[tuple[Path, Path]]:
    """(source, output) for every file named and every file with one of ``suffixes`` under the folders
    named, in order. ``name(path)`` is the output name of a source: ``outdir / name(path relative to its
    folder)`` with ``outdir``, else ``name(source)`` beside it (folders then need ``outdir``)."""

    pairs = []
    for given in map(Path, inputs):
        if not given.is_dir():
            pairs.append((given, outdir / name(Path(given.name)) if outdir else name(given)))
            continue
        if outdir is None:
            raise MediaError(f"{given} is a directory; give -o OUTDIR/ for the outputs of a folder")
        pairs += [(it.path, outdir / name(it.rel)) for it in tree.scan(given, suffixes)]
    if not pairs:
        raise MediaError(f"no file to convert in {', '.join(map(str, inputs))} (looked for {' '.join(suffixes)})")
    refuse_clashes(pairs)
    return pairs


def refuse_clashes(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Refuse (source, output) pairs where two sources would become the same output."""
    seen: dict[Path, Path] = {}
    for src, out in pairs:
        if out in seen:
            raise MediaError(f"{seen[out]} and {src} would both become {out}; rename one")
        seen[out] = src


# -- media -> .wlc ----------------------------------------------------------------------------------------
def load_encoder(model: str | None, modality: str | None, model_dir: str | None = None) -> "Encoder":
    """The torch-free encoder of a model, or of the modality's default model; refused if it codes
    another modality than ``modality`` (None: any)."""
    from .encoder import Encoder

    encoder = Encoder.load(model, modality or "image", Path(model_dir) if model_dir else None)
    if modality and encoder.modality != modality:
        raise MediaError(f"model '{encoder.name}' codes {encoder.modality}, not {modality}")
    return encoder


def read_media(source: Path | bytes, name: str = "") -> tuple[str, Any, io.ImageMeta | io.AudioMeta]:
    """(modality, array, meta) of a media file or its bytes; ``name`` helps tell the modality."""
    head = source[:16] if isinstance(source, bytes) else read_head(source)
    if not head:
        raise MediaError(f"{name or source}: the file is empty")
    modality = io.modality_of(name or str(source), head)
    signal, meta = io.read_image_array(source) if modality == "image" else io.read_audio_array(source)
    return modality, signal, meta


@dataclass(frozen=True)
class EncodeJob:
    """What every file of a batch encode is coded with."""

    model: str | None = None     # None: each modality's default model
    quality: int | None = None
    force: bool = False
    model_dir: str | None = None


def encode_file(job: EncodeJob, src: Path, dst: Path) -> int | None:
    """Encode one media file into ``dst`` (bytes written), or None if ``dst`` exists and not ``force``."""
    if dst.exists() and not job.force:
        return None
    modality, signal, meta = read_media(src)
    encoder = _encoder(job, modality)
    encoder.check_codable(signal, job.quality, str(src))
    data = encoder.compress(signal, job.quality, meta)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(dst)) as f:
        f.write(data)
    return len(data)


def _encoder(job: EncodeJob, modality: str) -> "Encoder":
    return cached(("encoder", job.model, modality, job.model_dir), lambda: load_encoder(job.model, modality, job.model_dir))


def _preload(job: EncodeJob, sources: list[Path]) -> None:
    """Load the models the files need (once, for every worker) and check the model and quality asked
    for: a wrong one is one error, not one per file."""
    wanted = {io.modality_of(src) for src in sources if src.suffix.lower() in MEDIA_SUFFIXES}
    if job.model:
        named = load_encoder(job.model, None, job.model_dir)
        wanted = {named.modality}
        cached(("encoder", job.model, named.modality, job.model_dir), lambda: named)
    for modality in wanted:
        _encoder(job, modality).stream.quality(job.quality)


def _encode_batch(job: EncodeJob, pairs: list[tuple[Path, Path]]) -> list[Outcome]:
    return [attempt(src, partial(encode_file, job, src, dst)) for src, dst in pairs]


def encode_many(inputs: Sequence[str | Path], outdir: Path | None, job: EncodeJob, *, workers: int = 1,
                threads: int = 1, progress: bool = True) -> Summary:
    """Encode the files named and the media under the folders named into ``outdir`` (mirrored), each
    to NAME.wlc; without ``outdir`` beside each file."""
    pairs = plan(inputs, outdir, MEDIA_SUFFIXES, lambda p: p.with_suffix(STREAM_SUFFIX))
    _preload(job, [src for src, _ in pairs])
    return execute(batches(pairs), partial(_encode_batch, job), total=len(pairs), workers=workers,
                   threads=threads, desc="encoding", progress=progress)


# -- .wlc -> media ----------------------------------------------------------------------------------------
def check_format(header: "Header", fmt: str) -> None:
    """Refuse, before decoding, an output format that cannot hold what the stream decodes to."""
    if header.modality == "image":
        io.check_image_format(fmt, header.channels, 0 if header.float_samples else header.bit_depth)
    else:
        io.check_audio_format(fmt, header.channels)


def decode_stream(data: bytes, header: "Header", progress: Callable[[float], None] | None = None,
                  backend: str | None = None):
    """Decode a stream with the model it names (cached per process): a :class:`walloc.Decoded` whose
    samples are integers where that loses nothing against the original (less memory). On ONNX Runtime
    without torch (the default where onnxruntime is installed), else with torch (``backend`` picks)."""
    from .decoder import Decoder, backend as pick, has_graph
    from .stream import for_stream
    from .zoo import folder_for

    if header.float_samples:
        dtype = "float32"
    elif header.modality == "image":
        dtype = "uint8" if header.bit_depth == 8 else "float32"
    else:
        dtype = "int16" if header.bit_depth <= 16 else "float32"
    folder = folder_for(header.model, header.model_hash, header.coder)
    if pick(backend, has_graph(header.model, folder, for_stream(data).sha256)) == "onnx":
        decoder = cached(("decoder", header.model, header.model_hash), lambda: Decoder.for_stream(data))
        return decoder.decompress_full(data, dtype, progress)
    import torch

    import walloc

    codec: Codec = cached(("codec", header.model, header.model_hash), lambda: walloc.codec_for(data))
    return codec.decompress_full(data, getattr(torch, dtype), progress, backend="torch")


def write_decoded(target: str, decoded: Any, fmt: str) -> None:
    """Write a decoded signal to ``target`` (a path, or '-') safely, in format ``fmt``."""
    writer = io.write_image if decoded.header.modality == "image" else io.write_audio
    with atomic_output(target) as f:
        writer(f, decoded.signal, decoded.meta, fmt=fmt)


@dataclass(frozen=True)
class DecodeJob:
    """How every stream of a batch decode is written."""

    fmt: str | None = None  # None: png for images, wav for audio
    force: bool = False
    backend: str | None = None  # None: onnx where onnxruntime is installed (walloc.decoder.backend)


def decode_file(job: DecodeJob, src: Path, base: Path) -> int | None:
    """Decode one ``.wlc`` file to ``base`` + ".FORMAT" (bytes written), or None if that exists and not
    ``force``; the format is checked before decoding."""
    from .bitstream import peek_header

    data = read_input(str(src))
    header = peek_header(data)
    fmt = job.fmt or DEFAULT_FORMAT[header.modality]
    check_format(header, fmt)
    dst = base.with_name(f"{base.name}.{fmt}")
    if dst.exists() and not job.force:
        return None
    decoded = decode_stream(data, header, backend=job.backend)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_decoded(str(dst), decoded, fmt)
    return dst.stat().st_size


def _decode_batch(job: DecodeJob, pairs: list[tuple[Path, Path]]) -> list[Outcome]:
    return [attempt(src, partial(decode_file, job, src, base)) for src, base in pairs]


def decode_many(inputs: Sequence[str | Path], outdir: Path | None, job: DecodeJob, *, workers: int = 1,
                threads: int = 1, progress: bool = True) -> Summary:
    """Decode the files named and the ``.wlc`` files under the folders named into ``outdir`` (mirrored),
    each to NAME.png / NAME.wav (or ``job.fmt``); without ``outdir`` to NAME.decoded.png beside it."""
    def name(p: Path) -> Path:
        stem = p.with_suffix("") if p.suffix.lower() == STREAM_SUFFIX else p
        return stem if outdir else stem.with_name(stem.name + ".decoded")

    pairs = plan(inputs, outdir, [STREAM_SUFFIX], name)
    return execute(batches(pairs), partial(_decode_batch, job), total=len(pairs), workers=workers,
                   threads=threads, desc="decoding", progress=progress)



# -- labelled trees -> latents for learning ---------------------------------------------------------------
@dataclass(frozen=True)
class LatentJob:
    """What every file of a latents run is converted with."""

    model: str
    quality: int
    size: int | None
    model_dir: str | None = None  # a model folder other than the shipped one (tests)
    channels: int | None = None   # every file brought to this many channels first (features.to_channels)


def _codec(job: LatentJob) -> "Codec":
    from .codec import Codec

    return cached(("latents", job.model, job.model_dir), lambda: Codec.load(job.model, job.model_dir))


def _valid(raw: bytes, codec: "Codec", job: LatentJob) -> bool:
    """True if ``raw`` is a valid stream of this model (same weights), quality, size and channels."""
    from . import bitstream

    try:
        header = bitstream.peek_header(raw)
        codec.stream.check_stream(header)
    except WallocError:
        return False
    if header.quality != job.quality or job.channels not in (None, header.channels):
        return False
    return job.size is None or all(e == job.size for e in header.extent)


def is_done(path: Path, codec: "Codec", job: LatentJob, members: list[str] | None = None) -> bool:
    """True if ``path`` holds a valid stream (or, for a shard, exactly ``members``, all valid)."""

    try:
        if members is None:
            return _valid(path.read_bytes(), codec, job)
        items = tree.shard_members(path)
    except (OSError, WallocError):
        return False
    return [it.rel.as_posix() for it in items] == members and all(_valid(it.read(), codec, job) for it in items)


def _latents(codec: "Codec", job: LatentJob, src: Path) -> bytes:
    from .features import load_signal

    signal, meta = load_signal(src, job.size, job.channels)
    return codec.compress(signal, job.quality, meta)


def _latent_file(codec: "Codec", job: LatentJob, src: Path, dst: Path) -> int:
    stream = _latents(codec, job, src)
    return _write(dst, lambda f: f.write(stream))


def _write(path: Path, write: Callable[[Any], Any]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(path)) as f:
        write(f)
    return path.stat().st_size


def _pack(f, streams: list[tuple[str, bytes]]) -> None:
    """A tar of the streams, with fixed metadata so that the same streams give the same bytes."""
    import tarfile

    with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, stream in streams:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(stream), 0o644, 0
            tar.addfile(info, _io.BytesIO(stream))


def _latent_batch(job: LatentJob, pairs: list[tuple[Path, Path | str]], shard: Path | None = None) -> list[Outcome]:
    """Worker task: without ``shard`` each pair is (source, output file); with it, (source, member
    name) of that shard, which is written (atomically) with the members that converted."""
    codec = _codec(job)
    if shard is None:
        return [attempt(src, partial(_latent_file, codec, job, src, dst)) for src, dst in pairs]
    streams: list[tuple[str, bytes]] = []

    def add(src: Path, member: str) -> int:
        streams.append((member, _latents(codec, job, src)))
        return len(streams[-1][1])

    outcomes = [attempt(src, partial(add, src, str(member))) for src, member in pairs]
    if streams:
        _write(shard, lambda f: _pack(f, streams))
    return outcomes


def plan_shards(items: list[tree.Item], dst: Path, size: int) -> list[tuple[Path, list[tuple[Path, str]]]]:
    """Shards of at most ``size`` examples: per folder that holds label folders, in sorted order;
    each is (shard path, [(source, member name), ...])."""

    groups: dict[Path, list] = {}
    for it in items:
        groups.setdefault(it.rel.parent.parent, []).append(it)
    out = []
    for folder, group in sorted(groups.items()):
        for k, start in enumerate(range(0, len(group), size)):
            members = [(it.path, it.rel.relative_to(folder).with_suffix(STREAM_SUFFIX).as_posix()) for it in group[start: start + size]]
            out.append((dst / folder / f"shard-{k:05d}{tree.SHARD_SUFFIX}", members))
    return out


def latent_tree(src: str | Path, dst: str | Path, *, model: str | None = None, quality: int | None = None,
                size: int | None = None, workers: int = 1, threads: int = 1, rank: int = 0, world: int = 1,
                model_dir: str | None = None, progress: bool = True, shard_size: int = 0,
                channels: int | None = None) -> Summary:
    """Convert this rank's share of SRC's media files into DST; see the module docstring."""
    import walloc

    src, dst = Path(src), Path(dst)
    items = tree.scan(src)
    if not items:
        raise MediaError(f"no image or audio files under {src}")
    if model is None:
        modalities = {io.modality_of(it.path) for it in items}
        if len(modalities) > 1:
            raise MediaError(f"{src} holds both images and audio; pick a model with -m")
        model = walloc.default_model(modalities.pop(), model_dir)
    codec = _codec(LatentJob(model, 0, size, model_dir))
    if channels is not None and (channels < 1 or codec.modality == "image" and channels not in (1, 3)):
        raise MediaError(f"channels must be {'1 (gray) or 3 (RGB)' if codec.modality == 'image' else 'at least 1'} "
                         f"for {codec.modality}, got {channels}")
    job = LatentJob(model, codec.quality(quality).quality, size, model_dir, channels)
    items = [it for it in items if io.modality_of(it.path) == codec.modality]
    if not items:
        raise MediaError(f"no {codec.modality} files under {src} for model '{model}'")
    refuse_clashes([(it.rel, it.rel.with_suffix(STREAM_SUFFIX)) for it in items])
    if shard_size > 0:  # tasks: whole shards, each rank taking every world-th one
        shards = tree.share(plan_shards(items, dst, shard_size), rank, world)
        tasks = [(members, shard) for shard, members in shards
                 if not is_done(shard, codec, job, [name for _, name in members])]
        total = sum(len(members) for _, members in shards)
    else:               # tasks: batches of files, each rank taking every world-th file
        mine = tree.share(items, rank, world)
        todo = [(it.path, tree.stream_path(dst, it)) for it in mine]
        todo = [(s, d) for s, d in todo if not is_done(d, codec, job)]
        tasks = [(pairs, None) for (pairs,) in batches(todo)]
        total = len(mine)
    desc = f"latents {model} q{job.quality}" + (f" rank {rank}/{world}" if world > 1 else "")
    return execute(tasks, partial(_latent_batch, job), total=total, skipped=total - sum(len(p) for p, _ in tasks),
                   workers=workers, threads=threads, desc=desc, progress=progress)

