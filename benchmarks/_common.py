"""Benchmark plumbing: machine facts, result files and the RESULTS.md table.

Every benchmark module ``bench_<name>.py`` defines ``TITLE``, ``run() -> dict`` (with a
``table`` of rows and the ``ratios`` it claims), ``markdown(result) -> str`` (its section) and
``headline(result) -> str`` (its row of the summary table). ``run_all.py`` runs them, stores
``results/<name>.json`` and rebuilds RESULTS.md from every stored result, so rerunning one
benchmark keeps the others' rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def save(name: str, command: str, result: dict, directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    result = dict(result, name=name, command=command, machine=machine(), date=dt.date.today().isoformat())
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def task_name(task: str, options: dict) -> str:
    """A task's row label: its name, with the sequence length when one is given."""
    return task + (f" T={options['T']}" if "T" in options else "")


def same_layers(a, b) -> bool:
    """Two Networks with the same layers, every parameter equal (``LIFLayer.equals``; the
    metadata, which records how a run was made, is not compared)."""
    return a.n_layers == b.n_layers and all(la.equals(lb) for la, lb in zip(a.layers, b.layers))


def md_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for _, title in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
