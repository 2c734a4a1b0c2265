"""Atomic output files: write to a temporary file beside the target, then rename.

A failure (bad input found late, a full disk, Ctrl-C) never leaves a half-written file at the
target path, and an unwritable destination is reported as one clear error. Missing parent
folders are created, and what is written gets the modes the umask gives (the temporary files
``mkstemp``/``mkdtemp`` make are 0600/0700 whatever the umask).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from neurorecon.errors import NeuroreconError


def umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(executable: bool = False) -> int:
    """The mode a new file gets from the umask (0o666, or 0o777 for ``executable``, less the umask)."""
    return (0o777 if executable else 0o666) & ~umask()


def make_parents(directory: Path, target: Path) -> None:
    """Create ``directory`` (and its parents) for ``target``, or fail with one clear message."""
    if directory.is_dir():
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)  # mkdir applies the umask itself
    except OSError as exc:
        raise NeuroreconError(f"cannot write {target}: cannot create {directory}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise NeuroreconError(f"cannot write {target}: it is a directory")
    make_parents(directory, target)
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
        os.chmod(tmp, file_mode())
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
    make_parents(parent, target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise NeuroreconError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        yield tmp
        os.chmod(tmp, file_mode(executable=True))
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
