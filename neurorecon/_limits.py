"""Memory estimates before large allocations: a request that cannot fit is refused with its size.

Without them, a huge input (an ``.npz`` header declaring (10^6)^3 values, 10^9 time steps, a
10^5 x 10^5 weight matrix) ends in a ``MemoryError`` traceback, swapping or the kernel's OOM
killer. The limit is the memory available now (``MemAvailable`` on Linux, physical memory
elsewhere), or ``NEURORECON_MAX_MEMORY`` (bytes, or with a K/M/G/T suffix) when that is lower.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurorecon.errors import NeuroreconError

LIMIT_VARIABLE = "NEURORECON_MAX_MEMORY"
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def format_bytes(n: float) -> str:
    """``15.3 GiB``-style sizes for messages."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover - the loop returns


def _available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63


def memory_limit() -> int:
    """Bytes one allocation may take: the memory available, or the user's lower limit."""
    limit = _available()
    value = os.environ.get(LIMIT_VARIABLE, "").strip().upper().removesuffix("B").removesuffix("I")
    if value:
        number, unit = (value[:-1], value[-1]) if value[-1] in "KMGT" else (value, "")
        try:
            limit = min(limit, int(float(number) * _UNITS[unit]))
        except ValueError:
            raise NeuroreconError(f"{LIMIT_VARIABLE} must be a number of bytes such as 4G; got {value!r}") from None
    return limit


def check_memory(n_bytes: float, what: str, remedy: str = "") -> None:
    """Refuse ``what`` when it needs more than :func:`memory_limit` bytes (before allocating)."""
    limit = memory_limit()
    if n_bytes > limit:
        raise NeuroreconError(
            f"{what} needs about {format_bytes(n_bytes)} of memory, more than the {format_bytes(limit)} available"
            + (f"; {remedy}" if remedy else "")
        )
