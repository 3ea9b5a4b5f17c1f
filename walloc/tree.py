"""Labelled folder trees: one file per example, its label the name of the folder it lies in.

Walking a tree of media or ``.wlc`` files (loose or in tar shards), sharing it among ranks and naming
the mirrored outputs needs no torch, so converting a tree (:mod:`walloc.convert`) starts fast;
:mod:`walloc.data` builds its datasets on top. A root may be a URL (``s3://bucket/train``, see
:mod:`walloc.urls`): its items then name their objects by URL.
"""

from __future__ import annotations

import io as _io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Sequence

from . import urls
from .errors import MediaError
from .io import AUDIO_SUFFIXES, IMAGE_SUFFIXES

MEDIA_SUFFIXES = frozenset(IMAGE_SUFFIXES | AUDIO_SUFFIXES)
STREAM_SUFFIX = ".wlc"
SHARD_SUFFIX = ".tar"


# -- folder trees ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One example of a tree: its file, its path relative to the root, and its label (folder name).

    ``path`` is a Path, or a URL (str) in a remote tree. An example inside a tar shard has the shard as
    ``path``, its member name as ``rel``, and ``span`` = (offset, size) of its bytes in the shard."""

    path: Path | str
    rel: Path
    label: str
    span: tuple[int, int] | None = None

    def read(self) -> bytes:
        return urls.read_bytes(self.path, self.span)


def scan(root: str | Path, suffixes: Sequence[str] | frozenset = MEDIA_SUFFIXES) -> list[Item]:
    """Every file under ``root`` with one of ``suffixes`` (case-insensitive), sorted by relative path.

    Hidden files and folders (names starting with '.', e.g. partial outputs) are ignored.
    """
    root = urls.location(root)
    wanted = {s.lower() for s in suffixes}
    if isinstance(root, str):
        found = [(url, Path(rel)) for url, rel in urls.listing(root)]
    elif not root.is_dir():
        raise MediaError(f"{root} is not a folder")
    else:
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            found += [(path, path.relative_to(root)) for path in (Path(dirpath) / name for name in filenames)]
    items = [Item(path, rel, rel.parent.name) for path, rel in found
             if rel.suffix.lower() in wanted and not any(part.startswith(".") for part in rel.parts)]
    return sorted(items, key=lambda it: it.rel.as_posix())


def shard_members(shard: Path | str, data: bytes | None = None) -> list[Item]:
    """The ``.wlc`` members of a tar shard (read from ``data`` when given), as items (label: the
    member's folder). A remote shard's headers are read through a buffered file: few GETs."""
    try:
        if data is not None:
            members = _members(_io.BytesIO(data))
        elif urls.is_url(shard):
            fs, path = urls.filesystem(str(shard))
            with fs.open(path, "rb") as f:
                members = _members(f)
        else:
            with open(shard, "rb") as f:
                members = _members(f)
    except (OSError, tarfile.TarError) as e:
        raise MediaError(f"{shard}: not a readable tar shard ({e})") from None
    return [Item(shard, Path(m.name), Path(m.name).parent.name, (m.offset_data, m.size)) for m in members]


def _members(f: BinaryIO) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=f) as tar:
        return [m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(STREAM_SUFFIX)]


def scan_streams(root: str | Path) -> list[Item]:
    """Every ``.wlc`` example under ``root``: loose files, and the members of tar shards."""
    items = []
    for it in scan(root, {STREAM_SUFFIX, SHARD_SUFFIX}):  # one walk over the tree for both
        items += shard_members(it.path) if it.rel.suffix.lower() == SHARD_SUFFIX else [it]
    return sorted(items, key=lambda it: (it.rel.as_posix(), str(it.path)))


def classes_of(items: Sequence[Item]) -> list[str]:
    """The sorted label names of a tree; a label's index is its position here."""
    return sorted({it.label for it in items})


def stream_path(dst_root: str | Path, item: Item) -> Path | str:
    """Where the ``.wlc`` of a media item goes in the mirrored tree: same folders, suffix ``.wlc``."""
    return urls.join(urls.location(dst_root), item.rel.with_suffix(STREAM_SUFFIX).as_posix())


def share(items: Sequence[Item], rank: int, world: int) -> list[Item]:
    """The items one of ``world`` processes takes: every world-th item from ``rank`` (a partition)."""
    if world < 1 or not 0 <= rank < world:
        raise MediaError(f"rank {rank} is out of range for a world of {world} processes")
    return list(items[rank::world])


def rank_and_world() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) as ``torchrun`` sets them; (0, 1) outside torchrun."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise MediaError("RANK and WORLD_SIZE must be integers") from None
    if world < 1 or not 0 <= rank < world:
        raise MediaError(f"RANK={rank} is out of range for WORLD_SIZE={world}")
    return rank, world
