"""numpy's huge-page advice, off while neurorecon trains.

numpy advises the kernel to back every large array with transparent huge pages
(``madvise(MADV_HUGEPAGE)``). Where the kernel then compacts memory synchronously to find them
(``/sys/kernel/mm/transparent_hugepage/defrag`` set to ``madvise``, a common default) and memory
is fragmented, each fresh large temporary can stall: on the 2-core Intel Xeon of the benchmarks,
allocating and touching 360 MB took 3.6 s with the advice and 0.15 s without, and seq-MNIST's
default training took 67 s with it and 54 s without (the same network, bit for bit; the
advice never changes a value). Training turns the advice off for its duration and restores it
after (in this process: the workers of a Dask cluster keep their own setting).
``NUMPY_MADVISE_HUGEPAGE``, when set, is the user's choice and is left alone.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

NUMPY_VARIABLE = "NUMPY_MADVISE_HUGEPAGE"


def _setter() -> Callable[[bool], bool] | None:
    """numpy's switch of the advice (it returns the previous setting), or None where it has none."""
    try:
        from numpy.core import multiarray
    except ImportError:  # pragma: no cover - numpy < 2 is required
        return None
    return getattr(multiarray, "_set_madvise_hugepage", None)


@contextlib.contextmanager
def without_huge_pages() -> Iterator[None]:
    """numpy's huge-page advice off inside the block (unless ``NUMPY_MADVISE_HUGEPAGE`` is set)."""
    setter = _setter()
    if setter is None or NUMPY_VARIABLE in os.environ:
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)
