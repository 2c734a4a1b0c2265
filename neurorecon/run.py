"""A RUN directory: what ``train`` and ``import-nir`` write and every other command reads.

Layout::

    RUN/network.h5      the Network (see neurorecon.network)
    RUN/metrics.json    results and provenance (accuracies, gap, sizes, timings, profile)
    RUN/exports/        NIR graph, Lava script, netx file (``neurorecon export``)
    RUN/report.*        the run report (``neurorecon report``)
"""

from __future__ import annotations

import json
from pathlib import Path

from neurorecon._atomic import atomic_path, ensure_output_dir
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network

NETWORK_FILE = "network.h5"
METRICS_FILE = "metrics.json"


def network_path(run: str | Path) -> Path:
    return Path(run) / NETWORK_FILE


def load_network(model: str | Path) -> Network:
    """A Network from a ``.h5`` file or a RUN directory."""
    return Network.load(model)


def write_json(path: str | Path, obj: dict) -> None:
    """Write ``obj`` as JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_run(run: str | Path, net: Network, metrics: dict) -> Path:
    """Create (or update) a RUN directory with its network and metrics."""
    directory = ensure_output_dir(run)
    net.save(directory / NETWORK_FILE)
    write_json(directory / METRICS_FILE, metrics)
    return directory


def read_metrics(run: str | Path) -> dict:
    path = Path(run) / METRICS_FILE
    if not path.is_file():
        raise NeuroreconError(f"{run} is not a run directory (no {METRICS_FILE})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NeuroreconError(f"{path} is corrupt: {exc}") from None
