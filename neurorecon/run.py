"""A RUN directory: what ``train`` and ``import-nir`` write and every other command reads.

Layout::

    RUN/network.h5      the Network (see neurorecon.network)
    RUN/metrics.json    results and provenance (accuracies, gap, sizes, timings, profile)
    RUN/readout_solution.npz  the real-valued readout behind the integer one (cvx methods)
    RUN/exports/        NIR graph, Lava script, netx file (``neurorecon export``)
    RUN/report/         the run report (``neurorecon report``)

A run is written as a whole (:func:`~neurorecon._atomic.atomic_directory`): writing a run over
an existing one replaces every file of the old run at once, its ``exports/`` and ``report/``
included (they describe the old network); files the user put in RUN are kept; a folder that is
not a run (and not empty) is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurorecon._atomic import DirectoryKind, atomic_directory, atomic_path, check_replaceable
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network

NETWORK_FILE = "network.h5"
METRICS_FILE = "metrics.json"
SOLUTION_FILE = "readout_solution.npz"
BLOCKS_DIR = "blocks"  # finished training blocks of an unfinished run (``train --resume``)
RUN_KIND = DirectoryKind(
    "run", frozenset({NETWORK_FILE, METRICS_FILE}),
    known=frozenset({NETWORK_FILE, METRICS_FILE, SOLUTION_FILE, "exports", "report", "demo.json", BLOCKS_DIR}),
    reserved=frozenset({"exports", "report", "demo.json", BLOCKS_DIR}),
)


def network_path(run: str | Path) -> Path:
    return Path(run) / NETWORK_FILE


def load_network(model: str | Path) -> Network:
    """A Network from a ``.h5`` file or a RUN directory."""
    return Network.load(model)


def write_json(path: str | Path, obj: dict) -> None:
    """Write ``obj`` as JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def check_run_target(run: str | Path) -> Path:
    """Fail before training, not after, when ``run`` cannot be written (or is not ours to replace)."""
    return check_replaceable(run, RUN_KIND)


def save_run(run: str | Path, net: Network, metrics: dict, solution: dict | None = None) -> Path:
    """Write a RUN directory (network, metrics, optional readout solution) as a whole."""
    with atomic_directory(run, RUN_KIND) as tmp:
        net.save(tmp / NETWORK_FILE)
        write_json(tmp / METRICS_FILE, metrics)
        if solution is not None:
            # by path, not an open file: see neurorecon._atomic
            np.savez(tmp / SOLUTION_FILE, W=solution["W"], intercept=solution["intercept"], beta=solution["beta"],
                     penalty=solution["penalty"], standardize=solution.get("standardize", False))
    return Path(run)


def read_metrics(run: str | Path) -> dict:
    path = Path(run) / METRICS_FILE
    if not path.is_file():
        raise NeuroreconError(f"{run} is not a run directory (no {METRICS_FILE})")
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NeuroreconError(f"{path} is corrupt: {exc}") from None
    if not isinstance(metrics, dict):
        raise NeuroreconError(f"{path} is corrupt: it holds a JSON {type(metrics).__name__}, not an object")
    return metrics
