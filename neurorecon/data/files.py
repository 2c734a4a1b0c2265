"""Datasets from ``.npz`` files: ``X_train``, ``y_train`` and optional ``X_test``, ``y_test``."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from neurorecon._limits import check_memory
from neurorecon.data.dataset import Dataset, make_dataset
from neurorecon.errors import NeuroreconError

NPY_MAGIC = b"\x93NUMPY"


def read_npz(path: str | Path, required: tuple[str, ...], kind: str = "input file") -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, checked before they are read; every problem is one clear error.

    No pickles (object arrays are refused); a ``.npy`` file, a folder or random bytes are named as
    such; the sizes the archive and its array headers declare are checked against the memory
    available before anything is decompressed (a header declaring (10^6)^3 values, a zip bomb).
    """
    path = Path(path)
    if path.is_dir():
        raise NeuroreconError(f"{kind} {path} is a folder, not an .npz file")
    if not path.is_file():
        raise NeuroreconError(f"{kind} {path} does not exist")
    savez = f"numpy.savez({path.name!r}, {', '.join(f'{key}=...' for key in required or ('X',))})"
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic == NPY_MAGIC:
            raise NeuroreconError(f"{path} is not a readable .npz file: it holds a single .npy array, not named "
                                  f"arrays; write it with {savez}")
        if not magic.startswith(b"PK"):
            raise NeuroreconError(f"{path} is not a readable .npz file (not a zip archive); write it with {savez}")
        with zipfile.ZipFile(path) as archive:
            members = {m.filename.removesuffix(".npy"): m for m in archive.infolist() if m.filename.endswith(".npy")}
            check_memory(sum(m.file_size for m in members.values()), f"reading {path} ({len(members)} arrays)")
            headers = {key: _array_header(archive, member, path) for key, member in members.items()}
            check_memory(2 * sum(n_bytes for _, _, n_bytes in headers.values()), f"reading the arrays of {path}",
                         ", ".join(f"{key} {shape}" for key, (shape, _, _) in headers.items()))
            arrays = {}
            for key, member in members.items():
                with archive.open(member) as f:
                    arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        if isinstance(exc, NeuroreconError):
            raise
        raise NeuroreconError(f"{path} is not a readable .npz file: {exc}") from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise NeuroreconError(f"{path} has no array named {', '.join(missing)} (it has: {', '.join(arrays) or 'none'})")
    return arrays


def _array_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, bytes) an archived ``.npy`` declares, read without reading its data."""
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    if dtype.hasobject:
        raise NeuroreconError(f"{path}: array {member.filename} holds Python objects (pickled data), which neurorecon never loads")
    n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if n_bytes > member.file_size:
        raise NeuroreconError(f"{path}: array {member.filename} declares shape {shape} ({n_bytes} bytes) "
                              f"but holds {member.file_size} bytes; the file is truncated or corrupt")
    return shape, dtype, n_bytes


def load_npz_dataset(path: str | Path) -> Dataset:
    """Read and validate a dataset file (SPEC section 7)."""
    path = Path(path)
    arrays = read_npz(path, ("X_train", "y_train"), kind="data file")
    return make_dataset(
        path.stem,
        arrays["X_train"],
        arrays["y_train"],
        arrays.get("X_test"),
        arrays.get("y_test"),
        description=f"data file {path.name}",
        options={"path": str(path.resolve())},
    )
