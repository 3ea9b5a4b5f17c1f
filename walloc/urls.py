"""Data named by URL (``s3://``, ``gs://``, any fsspec protocol) as well as by local path.

A plain path, or a ``file://`` URL, stays a local path handled with no extra package, exactly as
before; any other URL goes through fsspec (``pip install 'walloc[cloud]'``; ``gcsfs`` for ``gs://``).
Storage settings come from the usual places (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...).
Writes are whole or nothing: a local file is written under a hidden temporary name and renamed, an
object is one PUT, which an object store shows complete or not at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import MediaError
from .output import atomic_output

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
FILE = "file://"


def is_url(name: Any) -> bool:
    """True for a remote URL (``s3://bucket/x``); False for a local path or a ``file://`` URL."""
    return isinstance(name, str) and bool(_SCHEME.match(name)) and not name.startswith(FILE)


def location(name: str | Path) -> str | Path:
    """A remote URL as it is; a local path (``file://`` stripped) as a Path."""
    if is_url(name):
        return str(name)
    name = str(name)
    return Path(name[len(FILE):] if name.startswith(FILE) else name)


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) of a remote URL; one-line errors for what is missing."""
    try:
        import fsspec
    except ImportError:
        raise MediaError(f"{url}: URLs need fsspec: pip install 'walloc[cloud]'") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise MediaError(f"{url}: {str(e).splitlines()[0]}") from None


def join(root: str | Path, rel: str) -> str | Path:
    """``root``/``rel`` (``rel`` a posix relative path), a URL for a URL."""
    return f"{str(root).rstrip('/')}/{rel}" if is_url(root) else Path(root) / rel


def read_bytes(name: str | Path, span: tuple[int, int] | None = None) -> bytes:
    """The bytes of a file or object, or ``span`` = (offset, size) of them (one ranged GET)."""
    try:
        if is_url(name):
            fs, path = filesystem(str(name))
            return fs.cat_file(path) if span is None else fs.cat_file(path, start=span[0], end=span[0] + span[1])
        with open(name, "rb") as f:
            if span is not None:
                f.seek(span[0])
            return f.read() if span is None else f.read(span[1])
    except OSError as e:
        raise MediaError(f"cannot read {name}: {e.strerror or e}") from None


def write_bytes(name: str | Path, data: bytes) -> int:
    """Write ``data`` whole or not at all (see the module docstring); returns its size."""
    try:
        if is_url(name):
            fs, path = filesystem(str(name))
            fs.pipe_file(path, data)
        else:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(str(name)) as f:
                f.write(data)
    except OSError as e:
        raise MediaError(f"cannot write {name}: {e.strerror or e}") from None
    return len(data)


def listing(root: str) -> list[tuple[str, str]]:
    """(URL, posix path relative to ``root``) of every object under a remote folder ``root``."""
    fs, base = filesystem(root)
    base = base.rstrip("/")
    try:
        if not fs.isdir(base):
            raise MediaError(f"{root} is not a folder")
        paths = fs.find(base)
    except OSError as e:
        raise MediaError(f"cannot list {root}: {e.strerror or e}") from None
    return [(join(root, p[len(base) + 1:]), p[len(base) + 1:]) for p in paths]  # type: ignore[misc]


def existing(root: str | Path, names: list) -> dict[str, bytes]:
    """The bytes of those of ``names`` (files under ``root``) that exist: one listing of a remote
    ``root``, then the objects found fetched concurrently."""
    if not is_url(root):
        found = {}
        for name in map(Path, names):
            try:
                found[str(name)] = name.read_bytes()
            except OSError:  # missing or unreadable: not done
                pass
        return found
    fs, base = filesystem(str(root))
    present = set(fs.find(base)) if fs.exists(base) else set()
    paths = {p: str(n) for n in names if (p := fs._strip_protocol(str(n))) in present}
    got = fs.cat(list(paths), on_error="return") if paths else {}
    return {paths[p]: data for p, data in got.items() if isinstance(data, bytes)}
