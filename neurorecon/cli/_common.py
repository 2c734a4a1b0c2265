"""Helpers shared by the commands: reading inputs, printing results, writing npz atomically."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from neurorecon._atomic import atomic_path
from neurorecon.errors import NeuroreconError


def read_npz(path: str | Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file (no pickles); missing file or keys are clear errors."""
    path = Path(path)
    if not path.is_file():
        raise NeuroreconError(f"input file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise NeuroreconError(f"{path} is not a readable .npz file: {exc}") from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise NeuroreconError(f"{path} has no array named {', '.join(missing)} (it has: {', '.join(arrays) or 'none'})")
    return arrays


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (compressed)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def emit_json(obj) -> None:
    """Print one JSON object on stdout (the ``--json`` output of every command)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
