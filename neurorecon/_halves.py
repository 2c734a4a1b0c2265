"""Work cut in two, one half on a helper thread: for loops whose halves write disjoint outputs.

Pricing's compiled loops (numba, ``nogil``) and torch's element-wise calls release the GIL, so
their two halves run on two cores at once. A cut only changes *who* computes an element, never
the order of the sums that form it (each caller cuts along an axis its sums do not run over),
so the result is the same bits as one call, on any number of cores. :func:`usable_cores` is the
one count of cores the package's threads go by (the emulator's chunk threads too).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@functools.cache
def _helper() -> ThreadPoolExecutor | None:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurorecon-half") if usable_cores() > 1 else None


def in_halves(work: Callable[[slice], None], size: int, multiple: int = 1) -> None:
    """``work(slice(0, cut))`` here and ``work(slice(cut, size))`` on the helper thread, ``cut``
    the multiple of ``multiple`` at or below ``size / 2``; all of it here on one core, or when
    ``cut`` is 0."""
    helper = _helper()
    cut = size // 2 // multiple * multiple
    if helper is None or cut == 0:
        work(slice(0, size))
        return
    second = helper.submit(work, slice(cut, size))
    try:
        work(slice(0, cut))
    finally:
        second.result()
