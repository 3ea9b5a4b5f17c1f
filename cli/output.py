"""Safe output for the CLI: never clobber without -f, never leave a partial file behind."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from walloc.errors import MediaError


def check_target(path: str, force: bool) -> None:
    """Refuse before any work is done if the output exists (without -f) or cannot be written."""
    if path == "-":
        if sys.stdout.isatty():
            raise MediaError("refusing to write binary data to a terminal; redirect stdout or give -o FILE")
        return
    target = Path(path)
    if target.is_dir():
        raise MediaError(f"{target} is a directory; give a file name with -o")
    if target.exists() and not force:
        raise MediaError(f"{target} exists; use -f to overwrite it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise MediaError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise MediaError(f"cannot write {target}: folder {folder} is not writable")


@contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """Yield a file to write; it becomes ``path`` only if the block finishes without error."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_head(path: Path, size: int = 16) -> bytes:
    """The first bytes of a file (to tell its kind), with the same errors as :func:`read_input`."""
    def head(p: Path) -> bytes:
        with p.open("rb") as f:
            return f.read(size)

    return _checked(path, head)


def read_input(path: str) -> bytes:
    """All bytes of a file, or of stdin for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    return _checked(Path(path), Path.read_bytes)


def _checked(p: Path, read) -> bytes:
    if p.is_dir():
        raise MediaError(f"{p} is a directory, not a file")
    try:
        return read(p)
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except OSError as e:
        raise MediaError(f"cannot read {p}: {e.strerror}") from None
