"""Built-in tasks: the paper's (FIRST-LAST-XOR, addition) and ours (sequential MNIST and digits,
and the timing suite of :mod:`neurorecon.data.timing`).

Every task is generated deterministically from its options (``seed`` included), so a run
directory can rebuild its data from ``metrics.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from neurorecon.data.dataset import Dataset, make_dataset
from neurorecon.data.files import load_npz_dataset
from neurorecon.data.mnist import load_mnist_test_set
from neurorecon.data.timing import TIMING_TASKS
from neurorecon.errors import NeuroreconError

MNIST_ENV = "NEURORECON_MNIST"
ENCODINGS = ("binary", "graded")


def first_last_xor(T: int = 10, n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Label = first bit XOR last bit of a random binary sequence of length ``T``.

    Encoding (4 channels): channels 0/1 carry every bit one-hot (a 0 is a spike too, so
    every step is visible); channel 2 repeats the first bit at the first step and channel 3 the
    last bit at the last step. The cues make *which* element is first and last observable; the
    task still needs the first element held for T-1 steps past T-2 distractor bits on the same
    channels 0/1, and a non-linear (XOR) combination with the last.
    """
    if T < 2:
        raise NeuroreconError("first-last-xor needs T >= 2")
    rng = np.random.default_rng(seed)

    def make(n: int):
        bits = rng.integers(0, 2, (n, T))
        x = np.zeros((n, T, 4), np.uint8)
        x[:, :, 0] = bits
        x[:, :, 1] = 1 - bits
        x[:, 0, 2] = bits[:, 0]
        x[:, -1, 3] = bits[:, -1]
        return x, bits[:, 0] ^ bits[:, -1]

    X_train, y_train = make(n_train)
    X_test, y_test = make(n_test)
    return make_dataset(
        "first-last-xor", X_train, y_train, X_test, y_test,
        description=f"FIRST-LAST-XOR, T={T}", options=dict(T=T, n_train=n_train, n_test=n_test, seed=seed),
    )


def _addition(base: int, n_digits: int, n: int, rng: np.random.Generator):
    """Two numbers fed digit by digit, least significant first; label = the sum's digit."""
    a = rng.integers(0, base, (n, n_digits))
    b = rng.integers(0, base, (n, n_digits))
    T = n_digits + 1  # one more step for the final carry
    x = np.zeros((n, T, 2 * base), np.uint8)
    rows = np.arange(n)[:, None]
    steps = np.arange(n_digits)[None, :]
    x[rows, steps, a] = 1
    x[rows, steps, base + b] = 1
    y = np.zeros((n, T), np.int64)
    carry = np.zeros(n, np.int64)
    for t in range(n_digits):
        total = a[:, t] + b[:, t] + carry
        y[:, t] = total % base
        carry = total // base
    y[:, n_digits] = carry
    return x, y


def addition(base: int, n_digits: int = 5, n_train: int = 4000, n_test: int = 1000,
             ood_digits: int | tuple[int, ...] = (10, 25, 50), seed: int = 0) -> Dataset:
    """Digit-wise addition in ``base``: one label per step (token-wise accuracy).

    Inputs (2*base channels): the two operands' digits one-hot at each step; the last step has
    no input (it carries the final carry). Trained on ``n_digits``-digit operands; extra splits
    ``ood-<k>`` test out of distribution on k-digit operands.
    """
    if base < 2:
        raise NeuroreconError("addition needs base >= 2")
    ood_digits = (ood_digits,) if isinstance(ood_digits, int) else tuple(ood_digits)
    rng = np.random.default_rng(seed)
    X_train, y_train = _addition(base, n_digits, n_train, rng)
    X_test, y_test = _addition(base, n_digits, n_test, rng)
    extra = {f"ood-{k}": _addition(base, k, n_test, rng) for k in ood_digits}
    # Every class (digit) appears in y_train for the sizes used here; make_dataset checks it.
    return make_dataset(
        f"addition-base{base}", X_train, y_train, X_test, y_test, extra=extra,
        description=f"addition in base {base}, {n_digits}-digit operands (OOD: {', '.join(map(str, ood_digits))} digits)",
        options=dict(n_digits=n_digits, n_train=n_train, n_test=n_test, ood_digits=list(ood_digits), seed=seed),
    )


def _encode_rows(images: np.ndarray, encoding: str, threshold: int, graded_shift: int) -> np.ndarray:
    if encoding not in ENCODINGS:
        raise NeuroreconError(f"encoding must be one of {ENCODINGS}; got {encoding!r}")
    if encoding == "binary":
        return (images >= threshold).astype(np.uint8)
    return (images.astype(np.int64) >> graded_shift).astype(np.uint8)


def default_mnist_dir() -> Path:
    """``$NEURORECON_MNIST``, else ``../shared/data/mnist`` beside the repository."""
    if os.environ.get(MNIST_ENV):
        return Path(os.environ[MNIST_ENV])
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def seq_mnist(mnist_dir: str | None = None, n_train: int = 8000, n_test: int = 2000, encoding: str = "binary") -> Dataset:
    """Sequential MNIST row by row (T=28, 28 inputs), from the MNIST test set's IDX files.

    The benchmark split ("MNIST-10k") is the first 8,000 images for training and the last
    2,000 for testing. ``binary``: a pixel spikes when >= 128; ``graded``: 4-bit payloads
    (pixel >> 4), for profiles with graded spikes.
    """
    directory = Path(mnist_dir) if mnist_dir else default_mnist_dir()
    images, labels = load_mnist_test_set(directory)
    if n_train + n_test > len(images) or n_train < 1 or n_test < 1:
        raise NeuroreconError(f"n_train + n_test must be at most {len(images)} (and both positive)")
    x = _encode_rows(images, encoding, 128, 4)
    return make_dataset(
        "seq-mnist", x[:n_train], labels[:n_train], x[len(x) - n_test:], labels[len(x) - n_test:],
        description=f"sequential MNIST, rows as steps, {encoding}, first {n_train} train / last {n_test} test",
        options=dict(mnist_dir=str(directory), n_train=n_train, n_test=n_test, encoding=encoding),
    )


def seq_digits(encoding: str = "binary", test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits row by row (T=8, 8 inputs); works offline.

    ``binary``: a pixel spikes when >= 8 (of 16); ``graded``: the 0..16 value as a payload.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = _encode_rows(digits.images.astype(np.int64), encoding, 8, 0)
    X_train, X_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    return make_dataset(
        "seq-digits", X_train, y_train, X_test, y_test,
        description=f"scikit-learn digits, rows as steps, {encoding}",
        options=dict(encoding=encoding, test_fraction=test_fraction, seed=seed),
    )


TASKS: dict[str, Callable[..., Dataset]] = {
    "first-last-xor": first_last_xor,
    "addition-base2": lambda **kw: addition(2, **kw),
    "addition-base3": lambda **kw: addition(3, **kw),
    "addition-base5": lambda **kw: addition(5, **kw),
    "seq-mnist": seq_mnist,
    "seq-digits": seq_digits,
    **TIMING_TASKS,
}


def load_data(spec: str, **options) -> Dataset:
    """A built-in task by name (with its options) or an ``.npz`` data file."""
    if spec in TASKS:
        try:
            return TASKS[spec](**options)
        except TypeError as exc:
            raise NeuroreconError(f"bad option for task {spec!r}: {exc}") from None
    if spec.endswith(".npz") or Path(spec).exists():
        if options:
            raise NeuroreconError(f"task options {sorted(options)} do not apply to a data file")
        return load_npz_dataset(spec)
    raise NeuroreconError(f"unknown task {spec!r}; built-in tasks: {', '.join(TASKS)} (or give an .npz file)")
