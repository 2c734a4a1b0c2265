"""Atomic output files: write to a temporary file beside the target, then rename.

A failure (bad input found late, a full disk, Ctrl-C) never leaves a half-written file at the
target path, and an unwritable destination is reported as one clear error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from neurorecon.errors import NeuroreconError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise NeuroreconError(f"cannot write {target}: it is a directory")
    if not directory.is_dir():
        raise NeuroreconError(f"cannot write {target}: directory {directory} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=directory
        )
    except OSError as exc:
        raise NeuroreconError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (a run directory) or fail with one clear message."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise NeuroreconError(f"cannot use {directory} as an output directory: it is a file")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeuroreconError(f"cannot create {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK):
        raise NeuroreconError(f"cannot write into {directory}: permission denied")
    return directory


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path``.

    A failure leaves any previous ``path`` untouched. A previous directory is moved aside and
    removed only after the new one is in place, so ``path`` is always either old or new, whole.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.exists() and not target.is_dir():
        raise NeuroreconError(f"cannot write directory {target}: a file of that name exists")
    if not parent.is_dir():
        raise NeuroreconError(f"cannot write {target}: directory {parent} does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise NeuroreconError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
