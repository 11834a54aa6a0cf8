"""Give the C heap's free memory back to the system between bursts of work.

glibc's malloc keeps the pages of freed memory (a page's parse trees and strings, a pass's
parsed feeds) mapped for reuse, so a process's resident memory stays at its busiest moment
long after. `malloc_trim(0)` returns what is free at the top of the heap and, since glibc
2.8, the free pages inside it. Elsewhere (another C library) this does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def release_free_memory() -> None:
    """Return the heap's free pages to the system; a few milliseconds at most."""
    trim = _malloc_trim()
    if trim is not None:
        with contextlib.suppress(OSError):
            trim(0)
