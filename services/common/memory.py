"""Giving memory back to the system after a burst of work.

glibc keeps the heap a large job freed (a roster's batches, an error sheet of 30,000 rows)
for the process's later use, in an arena per thread that did the work: a server that imports
a roster and exports its errors then sits near its peak for the rest of the day, and the
next job's peak lands on top (a newcomer saw 190 MB at start rise to 500 MB at rest after a
few large imports). ``malloc_trim`` hands the free part back at once (50 MB after a 30,000-row
import on SQLite). Elsewhere than glibc there is nothing to call, and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import anyio


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


async def give_back_memory() -> None:
    """Return the heap's free memory to the system (in a worker thread: trimming a large
    heap takes a few milliseconds, and the call lets go of the GIL)."""
    trim = _malloc_trim()
    if trim is not None:
        await anyio.to_thread.run_sync(trim, 0)
