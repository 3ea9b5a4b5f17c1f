"""Output files that never harm a file: no clobbering without ``force``, no partial file left behind,
links written through, devices and FIFOs written in place, the umask honoured.

Only a regular file (new, or existing and replaced with ``force``) is written to a temporary file
beside it and renamed over it, so it appears whole or not at all; a symlink is followed and its target
written that way (the link stays a link); a character or block device or a FIFO (``/dev/null``, a pipe
behind ``/dev/stdout``) is opened and written directly, and is never an "existing output".
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import MediaError


def is_stream(path: str) -> bool:
    """True for '-' (stdout) and for an existing target that is not a regular file or a folder
    (a device, a FIFO, a socket), which is written in place."""
    if path == "-":
        return True
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_target(path: str, force: bool) -> None:
    """Refuse before any work is done if the output exists (without ``force``) or cannot be written."""
    if path == "-":
        if sys.stdout.isatty():
            raise MediaError("refusing to write binary data to a terminal; redirect stdout or give -o FILE")
        return
    if is_stream(path):
        return
    target = Path(os.path.realpath(path))  # a symlink's target is what gets written
    if target.is_dir():
        raise MediaError(f"{path} is a directory; give a file name with -o")
    if target.exists() and not force:
        raise MediaError(f"{path} exists; use -f to overwrite it")
    folder = target.parent
    if not folder.is_dir():
        raise MediaError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise MediaError(f"cannot write {path}: folder {folder} is not writable")


@contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """Yield a file to write; a regular file becomes ``path`` only if the block finishes without error
    (see the module docstring for links, devices and FIFOs)."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if is_stream(path):
        with open(path, "wb") as f:
            yield f
        return
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)  # an existing file keeps its permissions
    except FileNotFoundError:
        mode = 0o666 & ~_umask()                    # a new one gets what open() would give it
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def _checked(p: Path, read: Callable[[Path], bytes]) -> bytes:
    if p.is_dir():
        raise MediaError(f"{p} is a directory, not a file")
    try:
        return read(p)
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except OSError as e:
        raise MediaError(f"cannot read {p}: {e.strerror}") from None
