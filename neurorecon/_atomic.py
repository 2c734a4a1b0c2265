"""Atomic outputs: write to a temporary file (or directory) beside the target, then rename.

A failure (bad input found late, a full disk, Ctrl-C, SIGTERM) never leaves a half-written file
at the target path, and an unwritable destination or a full disk is reported as one clear error.
Missing parent folders are created, and what is written gets the modes the umask gives (the
temporary files ``mkstemp``/``mkdtemp`` make are 0600/0700 whatever the umask).
A directory (a run, a Lava export, a report) is replaced as a whole, and only when neurorecon
wrote it: a marker file (``.neurorecon.json``) records its kind and what its writer put there,
so files the user added are carried over, never deleted, and a foreign folder is refused.

``.npz`` files are written by passing numpy the temporary *path*, never a file opened here:
``numpy.savez`` leaves its zip archive unclosed when interrupted, and an archive over a file
closed under it (by a ``with open(...)`` unwinding) fails in its finaliser, which prints
"Exception ignored ... seek of closed file" after the one line a Ctrl-C should give. Over a
path the archive owns its file and finalises quietly into the discarded temporary.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
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
    if str(path) == "":
        raise NeuroreconError("the output file name is empty")
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
    except OSError as exc:  # a full disk, a vanished folder: one clear line, nothing at the target
        tmp.unlink(missing_ok=True)
        raise NeuroreconError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


MARKER = ".neurorecon.json"


@dataclass(frozen=True, eq=False)
class DirectoryKind:
    """A kind of directory neurorecon writes as a whole (a run, a Lava export, a report).

    ``reserved`` names entries that belong to the directory even when another command wrote
    them later (a run's ``exports/`` and ``report/``): they describe the old contents and go
    with them when the directory is replaced. ``known`` names what this kind writes, so that a
    directory written before markers existed (every entry known, every ``signature`` entry
    present) is recognised as this kind's own.
    """

    name: str
    signature: frozenset[str]
    known: frozenset[str] = frozenset()
    reserved: frozenset[str] = frozenset()


def _read_marker(directory: Path) -> dict | None:
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("entries"), list):
        return None
    return marker


def _owned_entries(target: Path, kind: DirectoryKind) -> set[str]:
    """The entries of an existing ``target`` that neurorecon wrote as ``kind``; refuse any other folder.

    An empty folder is taken over. A folder with this kind's marker is replaced; every entry its
    marker does not list (a file the user put there) is kept. Anything else is refused, before a
    thing is touched: neurorecon never deletes a file it did not write.
    """
    if target.is_symlink() or not target.is_dir():
        what = "a symbolic link" if target.is_symlink() else "a file"
        raise NeuroreconError(f"cannot use {target} as a {kind.name} directory: it is {what}")
    entries = {p.name for p in target.iterdir()}
    if not entries:
        return set()
    marker = _read_marker(target)
    if marker is not None and marker.get("kind") == kind.name:
        return (set(marker["entries"]) | kind.reserved | {MARKER}) & entries
    if marker is None and kind.signature <= entries <= kind.known:
        return entries  # written by neurorecon before markers existed
    what = f"a neurorecon {marker['kind']} directory" if marker else "not empty and was not written by neurorecon"
    raise NeuroreconError(
        f"refusing to replace {target}: it is {what}; give a new or empty folder for the {kind.name}"
    )


def check_replaceable(path: str | os.PathLike, kind: DirectoryKind) -> Path:
    """Fail now, before a long computation, when :func:`atomic_directory` would refuse ``path``."""
    target = Path(path)
    if str(path) == "":
        raise NeuroreconError(f"the {kind.name} directory must not be an empty path")
    resolved = target.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise NeuroreconError(f"cannot write the {kind.name} into {path}: it holds the current folder; give a new folder")
    if target.exists() or target.is_symlink():
        _owned_entries(target, kind)
    ancestor = resolved.parent  # missing parents are created: the nearest existing one must be writable
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NeuroreconError(f"cannot create {target}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise NeuroreconError(f"cannot write into {ancestor}: permission denied")
    return resolved


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, kind: DirectoryKind) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` as a whole.

    ``path`` is always either the old directory or the new one, whole: the new one is built aside,
    then renamed into place, and the old one is removed only after that. Only an empty folder or
    one this ``kind`` wrote is replaced (:func:`check_replaceable`); files in it that neurorecon
    did not write are moved into the new directory, never deleted. A marker file lists what the
    new directory's writer wrote.
    """
    target = check_replaceable(path, kind)
    parent = target.parent
    make_parents(parent, target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise NeuroreconError(f"cannot write {path}: {exc.strerror or exc}") from None
    old = None
    try:
        yield tmp
        os.chmod(tmp, file_mode(executable=True))
        written = sorted(p.name for p in tmp.iterdir())
        (tmp / MARKER).write_text(json.dumps({"kind": kind.name, "entries": written}) + "\n")
        if target.exists():
            foreign = {p.name for p in target.iterdir()} - _owned_entries(target, kind)
            clash = sorted(foreign & set(written))
            if clash:
                raise NeuroreconError(f"refusing to replace {path}: {clash[0]} in it was not written by neurorecon")
            if target.stat().st_mode & 0o777 != tmp.stat().st_mode & 0o777:
                tmp.chmod(target.stat().st_mode & 0o777)
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:  # put the old directory back where it was
            if (old / target.name).exists() and not target.exists():
                os.replace(old / target.name, target)
            shutil.rmtree(old, ignore_errors=True)
        if isinstance(exc, OSError):
            raise NeuroreconError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    if old is not None:
        try:
            for name in sorted(foreign):  # the user's files, carried into the new directory
                os.replace(old / target.name / name, target / name)
        except OSError as exc:
            raise NeuroreconError(f"wrote {path}, but could not move your files back from {old}: {exc.strerror or exc}") from None
        shutil.rmtree(old, ignore_errors=True)
