"""A labelled sequence dataset and its validation (SPEC sections 7 and 9).

``X`` arrays are (n, T, d) non-negative integers: 0/1 spikes, or small graded payloads.
``y`` is (n,) for one label per sequence, or (n, T) for one label per step (``step`` tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.network import as_sequences


@dataclass(eq=False, frozen=True)
class Dataset:
    """Training data, an optional test split, and optional extra evaluation splits."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # split name -> (X, y), e.g. out-of-distribution lengths
    description: str = ""
    options: dict = field(default_factory=dict)  # how to rebuild it (task options), stored in metrics.json

    @property
    def n_classes(self) -> int:
        return int(self.y_train.max()) + 1

    @property
    def per_step(self) -> bool:
        """True when there is one label per time step (the ``step`` readout)."""
        return self.y_train.ndim == 2

    @property
    def max_payload(self) -> int:
        return int(max(x.max() for x, _ in self.splits().values()))

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every split by name: ``train``, ``test`` (if any) and the extra ones."""
        out = {"train": (self.X_train, self.y_train)}
        if self.X_test is not None:
            out["test"] = (self.X_test, self.y_test)
        out.update(self.extra)
        return out

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """One split; ``"test"`` falls back to the training data when there is no test split."""
        splits = self.splits()
        if name == "test" and "test" not in splits:
            return splits["train"]
        if name not in splits:
            raise NeuroreconError(f"dataset {self.name!r} has no split {name!r}; it has: {', '.join(splits)}")
        return splits[name]


def check_seed(seed, name: str = "seed") -> int:
    """A random seed: an integer, 0 or more (numpy's generators take no negative seed)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NeuroreconError(f"{name} must be an integer, 0 or more; got {seed!r}")
    return int(seed)


def payload_bits(max_payload: int) -> int:
    """Message bits needed for payloads up to ``max_payload`` (0 for binary spikes)."""
    return 0 if max_payload <= 1 else int(max_payload).bit_length()


def describe_shape(X: np.ndarray) -> str:
    """``X``'s shape in words, (n, T, channels): echoed before training or evaluating, so data laid
    out (n, channels, T) is noticed before the run rather than after."""
    n, t, d = X.shape
    return f"{n} sequences x {t} time steps x {d} channels"


def check_sequences(X, name: str = "X") -> np.ndarray:
    """Validate (n, T, d) non-negative integer sequences."""
    X = as_sequences(X, name)
    if np.issubdtype(X.dtype, np.floating) and not np.array_equal(X, np.round(X)):
        raise NeuroreconError(f"{name} must hold integers (0/1 spikes or small graded payloads)")
    if X.max() >= 2**24:
        raise NeuroreconError(f"{name} has payloads beyond 24 bits (largest {X.max()})")
    return X.astype(np.int32 if X.max() > 255 else np.uint8)


def check_label_shape(y, X: np.ndarray, name: str = "y") -> np.ndarray:
    """Labels of any kind shaped for ``X``: one per sequence (n,) or one per step (n, T)."""
    try:
        y = np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise NeuroreconError(f"{name} is not an array of labels: {exc}") from None
    if y.ndim not in (1, 2):
        raise NeuroreconError(f"{name} must have shape (n,) or (n, T); got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise NeuroreconError(f"{name} has {y.shape[0]} labels but X has {X.shape[0]} samples")
    if y.ndim == 2 and y.shape[1] != X.shape[1]:
        raise NeuroreconError(f"per-step labels {name} have {y.shape[1]} steps but X has {X.shape[1]}")
    return y


def check_labels(y, X: np.ndarray, name: str = "y", n_classes: int | None = None) -> np.ndarray:
    """Validate labels for ``X``: (n,) or (n, T) integers in 0..C-1."""
    y = check_label_shape(y, X, name)
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise NeuroreconError(f"{name} must hold integer class labels; got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) and (not np.all(np.isfinite(y)) or not np.array_equal(y, np.round(y))):
        raise NeuroreconError(f"{name} must hold integer class labels")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise NeuroreconError(f"{name} has negative labels; labels must be 0..C-1")
    if n_classes is None:
        present = np.unique(y)
        if len(present) < 2:
            raise NeuroreconError(f"{name} has a single class ({present[0]}); a classifier needs at least two")
        if present[-1] != len(present) - 1:  # sorted, distinct, >= 0: 0..C-1 iff the largest is C-1
            missing = np.setdiff1d(np.arange(len(present) + 5), present)[:5].tolist()
            raise NeuroreconError(
                f"{name} labels must be 0..C-1 with every class present; largest label {present[-1]} "
                f"with {len(present)} classes, missing {missing}"
            )
    elif y.max() >= n_classes:
        raise NeuroreconError(f"{name} has label {y.max()} but the training data has only {n_classes} classes")
    return y


def make_dataset(name: str, X_train, y_train, X_test=None, y_test=None, **kwargs) -> Dataset:
    """A validated :class:`Dataset` (the test split, if any, must match the training shapes)."""
    X_train = check_sequences(X_train, "X_train")
    y_train = check_labels(y_train, X_train, "y_train")
    if (X_test is None) != (y_test is None):
        raise NeuroreconError("X_test and y_test must be given together")
    if X_test is not None:
        X_test = check_sequences(X_test, "X_test")
        if X_test.shape[2] != X_train.shape[2]:
            raise NeuroreconError(f"X_test has {X_test.shape[2]} inputs per step but X_train has {X_train.shape[2]}")
        y_test = check_labels(y_test, X_test, "y_test", n_classes=int(y_train.max()) + 1)
        if y_test.ndim != y_train.ndim:
            raise NeuroreconError("y_test and y_train must both be per-sequence or both per-step labels")
    return Dataset(name, X_train, y_train, X_test, y_test, **kwargs)
