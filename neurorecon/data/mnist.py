"""MNIST from IDX files (the format LeCun et al. publish), gzip or plain."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from neurorecon.errors import NeuroreconError

IMAGES = "t10k-images-idx3-ubyte"
LABELS = "t10k-labels-idx1-ubyte"


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise NeuroreconError(f"cannot read MNIST file {path}: {exc}") from None
    if len(data) < 8 or int.from_bytes(data[:4], "big") != magic:
        raise NeuroreconError(f"{path} is not an IDX file of the expected kind")
    n = int.from_bytes(data[4:8], "big")
    header = 16 if magic == 2051 else 8
    if len(data) < header:
        raise NeuroreconError(f"{path} is truncated (header of {len(data)} bytes)")
    if magic == 2051:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        array = np.frombuffer(data, np.uint8, offset=16)
        shape = (n, rows, cols)
    else:
        array = np.frombuffer(data, np.uint8, offset=8)
        shape = (n,)
    if array.size != int(np.prod(shape)):
        raise NeuroreconError(f"{path} is truncated ({array.size} values, expected {int(np.prod(shape))})")
    return array.reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise NeuroreconError(f"MNIST file {stem}(.gz) not found in {directory} (pass --mnist-dir)")


def load_mnist_test_set(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8, 28x28) and labels from ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NeuroreconError(f"MNIST directory {directory} does not exist (pass --mnist-dir)")
    images = _read_idx(_find(directory, IMAGES), 2051)
    labels = _read_idx(_find(directory, LABELS), 2049)
    if len(images) != len(labels):
        raise NeuroreconError(f"MNIST images ({len(images)}) and labels ({len(labels)}) differ in number")
    return images, labels.astype(np.int64)
