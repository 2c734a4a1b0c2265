"""Datasets from ``.npz`` files: ``X_train``, ``y_train`` and optional ``X_test``, ``y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from neurorecon.data.dataset import Dataset, make_dataset
from neurorecon.errors import NeuroreconError


def read_npz(path: str | Path, required: tuple[str, ...], kind: str = "input file") -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file (no pickles); a missing file or missing keys are clear errors."""
    path = Path(path)
    if not path.is_file():
        raise NeuroreconError(f"{kind} {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise NeuroreconError(f"{path} is not a readable .npz file: {exc}") from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise NeuroreconError(f"{path} has no array named {', '.join(missing)} (it has: {', '.join(arrays) or 'none'})")
    return arrays


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
