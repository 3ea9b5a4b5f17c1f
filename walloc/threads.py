"""Thread policy, in one place: how many threads this process computes with.

``walloc --threads N`` (and worker processes, given their share of the cores) set OMP_NUM_THREADS,
which the numpy encoder, the C++ packet and the decoders read through :func:`cores`, and torch's own
count; 0 leaves the choice to the machine. C++ work is split in threads of at least GRAIN samples.
"""

from __future__ import annotations

import os
import sys

GRAIN = 1 << 16  # samples per C++ thread at least: below that, starting a thread costs more than it saves


def cores(threads: int = 0) -> int:
    """Threads to use: ``threads``, or with 0 OMP_NUM_THREADS (what ``walloc --threads`` sets), else every core."""
    if threads > 0:
        return threads
    try:
        return int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count() or 1
    except ValueError:
        return os.cpu_count() or 1


def for_samples(n: int, threads: int = 0) -> int:
    """Threads for C++ work over ``n`` samples: :func:`cores` of ``threads``, one per GRAIN samples at most."""
    return max(1, min(cores(threads), n // GRAIN))


def per_process(threads: int, jobs: int = 1) -> int:
    """The threads each of ``jobs`` processes computes with: ``threads``, or for 0 the machine's cores shared out."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, jobs))


def use(n: int) -> None:
    """Make this process compute with ``n`` threads: OMP_NUM_THREADS for the numpy encoder and the C++
    code, and torch's count (torch imported now or later)."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
