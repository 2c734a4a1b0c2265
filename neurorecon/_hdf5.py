"""Opening an HDF5 file for reading, with one clear error for a missing or foreign file."""

from __future__ import annotations

from pathlib import Path

import h5py

from neurorecon.errors import NeuroreconError


def open_hdf5(path: Path, missing: str, kind: str) -> h5py.File:
    """``path`` opened read-only; ``missing`` is the error when it is not a file, ``kind`` names
    what it should be when it is not HDF5 (truncated, corrupt or another format)."""
    if not path.is_file():
        raise NeuroreconError(missing)
    try:
        return h5py.File(path, "r")
    except OSError:
        raise NeuroreconError(f"{path} is not a {kind} (not readable as HDF5; truncated or corrupt?)") from None
