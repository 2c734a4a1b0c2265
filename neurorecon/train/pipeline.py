"""Train on a Dataset and measure the chip network: what ``neurorecon train`` (and the demo) run.

``test_accuracy`` is always the accuracy of the final network in the profile's arithmetic,
computed by the bit-exact emulator, i.e. what the chip computes.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from neurorecon.data.dataset import Dataset
from neurorecon.network import Network
from neurorecon.train.classifier import ReconstructionClassifier, predict_network

METHODS = ("cvx",)


def split_accuracy(net: Network, X: np.ndarray, y: np.ndarray, backend: str = "emulator") -> dict:
    """Accuracy of a classifier Network on one split (token-wise for per-step labels)."""
    pred = predict_network(net, X, backend=backend)
    out = {"accuracy": float((pred == y).mean()), "n_samples": int(X.shape[0])}
    if y.ndim == 2:
        out["token_accuracy"] = out["accuracy"]
        out["sequence_accuracy"] = float((pred == y).all(axis=1).mean())
    return out


def train_dataset(dataset: Dataset, method: str = "cvx", profile: str = "loihi2", seed: int = 0,
                  progress: Callable[[str], None] | None = None, **params) -> tuple[Network, dict]:
    """Train with ``method`` on ``dataset``; returns the chip Network and its metrics."""
    started = time.perf_counter()
    model = ReconstructionClassifier(profile=profile, seed=seed, progress=progress, **params)
    model.fit(dataset.X_train, dataset.y_train)
    train_seconds = time.perf_counter() - started
    net = model.network_
    net.metadata["data"] = {"name": dataset.name, "options": dataset.options}
    report = model.report_
    metrics = {
        "method": method,
        "profile": report["profile"],
        "readout": report["readout"],
        "seed": seed,
        "data": {"name": dataset.name, "options": dataset.options, "description": dataset.description},
        "train_accuracy": report["train_accuracy"],
        "duality_gap": report["duality_gap"],
        "n_hidden": report["n_hidden"],
        "dictionary_size": report["dictionary_size"],
        "train_seconds": train_seconds,
        "layers": net.sizes,
        "training": report,
    }
    splits = {}
    for name, (X, y) in dataset.splits().items():
        if name == "train":
            continue
        splits[name] = split_accuracy(net, X, y)
    if "test" in splits:
        metrics["test_accuracy"] = splits["test"]["accuracy"]
    metrics["splits"] = splits
    return net, metrics
