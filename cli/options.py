"""The options every command spells the same way: one name, one meaning, one default.

``-o/--output``, ``-j/--jobs`` (worker processes), ``--threads`` (threads per process, 0: the cores
shared among the processes), ``-m/--model``, ``-q/--quality``, ``-f/--force``. Spellings an earlier
release used (``--out``, ``--workers``) still parse for one release but are left out of ``--help``.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from walloc.errors import MediaError
from walloc.threads import per_process, use

THREADS_DEFAULT = 0
THREADS_HELP = "Threads per process (0: the CPU cores, shared among the -j processes)."


class Aliased(click.Option):
    """An option whose old spellings still parse but are not shown in ``--help``."""

    def __init__(self, *args: Any, old: tuple[str, ...] = (), **kwargs: Any):
        names = list(args[0]) + list(old) if args else list(old)
        super().__init__(names, *args[1:], **kwargs)
        self.old = old

    def get_help_record(self, ctx: click.Context):
        shown = self.opts
        self.opts = [o for o in shown if o not in self.old]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def option(*names: str, old: tuple[str, ...] = (), **kwargs: Any) -> Callable:
    return click.option(*names, cls=Aliased, old=old, **kwargs)


def output(help: str, old: tuple[str, ...] = ()) -> Callable:
    return option("-o", "--output", old=old, help=help)


def jobs(default: int = 1, shown: str | bool = True, old: tuple[str, ...] = ()) -> Callable:
    return option("-j", "--jobs", old=old, type=int, default=default, show_default=shown,
                  help="Worker processes (files coded in parallel).")


def threads() -> Callable:
    return option("--threads", type=click.IntRange(min=0), default=THREADS_DEFAULT, show_default=True, help=THREADS_HELP)


def model(help: str = "Model name (see `walloc models`). Default: the default model of the input's modality.") -> Callable:
    return option("-m", "--model", help=help)


def quality() -> Callable:
    return option("-q", "--quality", type=int,
                  help="Quality level of the model: higher is better and bigger (see `walloc models`). "
                       "Default: the model's default.")


def force(help: str = "Overwrite outputs that exist.") -> Callable:
    return option("-f", "--force", is_flag=True, help=help)


def check_jobs(value: int) -> int:
    if value < 1:
        raise MediaError(f"--jobs must be at least 1, got {value}")
    return value


def use_threads(threads: int) -> int:
    """Make this process compute with ``per_process(threads)`` threads: the numpy encoder and the C++
    coder read OMP_NUM_THREADS, torch (imported now or later) gets its count. Returns the count."""
    n = per_process(threads)
    if threads:
        use(n)
    return n
