"""Labelled folder trees: one file per example, its label the name of the folder it lies in.

Walking a tree of media or ``.wlc`` files (loose or in tar shards), sharing it among ranks and naming
the mirrored outputs needs no torch, so converting a tree (:mod:`walloc.convert`) starts fast;
:mod:`walloc.data` builds its datasets on top.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import MediaError
from .io import AUDIO_SUFFIXES, IMAGE_SUFFIXES

MEDIA_SUFFIXES = frozenset(IMAGE_SUFFIXES | AUDIO_SUFFIXES)
STREAM_SUFFIX = ".wlc"
SHARD_SUFFIX = ".tar"


# -- folder trees ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One example of a tree: its file, its path relative to the root, and its label (folder name).

    An example inside a tar shard has the shard as ``path``, its member name as ``rel``, and ``span``
    = (offset, size) of its bytes in the shard."""

    path: Path
    rel: Path
    label: str
    span: tuple[int, int] | None = None

    def read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                if self.span is None:
                    return f.read()
                f.seek(self.span[0])
                return f.read(self.span[1])
        except OSError as e:
            raise MediaError(f"cannot read {self.path}: {e.strerror}") from None


def scan(root: str | Path, suffixes: Sequence[str] | frozenset = MEDIA_SUFFIXES) -> list[Item]:
    """Every file under ``root`` with one of ``suffixes`` (case-insensitive), sorted by relative path.

    Hidden files and folders (names starting with '.', e.g. partial outputs) are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise MediaError(f"{root} is not a folder")
    wanted = {s.lower() for s in suffixes}
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in wanted:
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root)
            items.append(Item(path, rel, rel.parent.name))
    return sorted(items, key=lambda it: it.rel.as_posix())


def shard_members(shard: Path) -> list[Item]:
    """The ``.wlc`` members of a tar shard, as items (label: the member's folder)."""
    try:
        with tarfile.open(shard) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(STREAM_SUFFIX)]
    except (OSError, tarfile.TarError) as e:
        raise MediaError(f"{shard}: not a readable tar shard ({e})") from None
    return [Item(shard, Path(m.name), Path(m.name).parent.name, (m.offset_data, m.size)) for m in members]


def scan_streams(root: str | Path) -> list[Item]:
    """Every ``.wlc`` example under ``root``: loose files, and the members of tar shards."""
    items = []
    for it in scan(root, {STREAM_SUFFIX, SHARD_SUFFIX}):  # one walk over the tree for both
        items += shard_members(it.path) if it.path.suffix.lower() == SHARD_SUFFIX else [it]
    return sorted(items, key=lambda it: (it.rel.as_posix(), it.path.as_posix()))


def classes_of(items: Sequence[Item]) -> list[str]:
    """The sorted label names of a tree; a label's index is its position here."""
    return sorted({it.label for it in items})


def stream_path(dst_root: str | Path, item: Item) -> Path:
    """Where the ``.wlc`` of a media item goes in the mirrored tree: same folders, suffix ``.wlc``."""
    return Path(dst_root) / item.rel.with_suffix(STREAM_SUFFIX)


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
