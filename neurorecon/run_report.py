"""The run report: ``neurorecon report RUN`` writes RUN/report/{report.html, report.md, *.png}.

Figures: spike rasters of a few test sequences through every layer, validation accuracy against
the neurons the group Lasso selects (the beta path), accuracy against weight bits (the
quantization-aware readout vs Lava's plain truncation), the column-generation rounds, the core
map from the resource check, and float vs chip (emulator, Lava) accuracy. The HTML embeds the
PNGs, so it is one self-contained file.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurorecon._atomic import atomic_path  # noqa: E402
from neurorecon.data import load_data  # noqa: E402
from neurorecon.errors import NeuroreconError  # noqa: E402
from neurorecon.network import Network  # noqa: E402
from neurorecon.quantize import dequantize_network  # noqa: E402
from neurorecon.resources import check_resources  # noqa: E402
from neurorecon.run import load_network, read_metrics  # noqa: E402
from neurorecon.simulate import readout_steps, simulate  # noqa: E402
from neurorecon.train.convex.bit_sweep import SWEEP_BITS, readout_bit_sweep  # noqa: E402
from neurorecon.train.pipeline import split_accuracy  # noqa: E402

SOLUTION_FILE = "readout_solution.npz"


@dataclass
class Section:
    title: str
    text: str
    figure: str | None = None  # file name of a PNG in the report folder
    table: list[dict] = field(default_factory=list)


def dataset_of_run(run: Path, net: Network):
    """Rebuild the data a run was trained on (from its metrics)."""
    spec = net.metadata.get("data") or read_metrics(run).get("data")
    if not spec:
        raise NeuroreconError(f"{run} does not record its data; the report needs it")
    options = dict(spec.get("options", {}))
    return load_data(options.pop("path")) if "path" in options else load_data(spec["name"], **options)


def _save(fig, folder: Path, name: str) -> str:
    with atomic_path(folder / name, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return name


def _rasters(net: Network, X: np.ndarray, folder: Path, n: int = 2) -> Section:
    steps = readout_steps(net, X.shape[1])
    res = simulate(net, X[:n], n_steps=steps, record=("spikes", "v"))
    fig, axes = plt.subplots(net.n_layers, n, figsize=(5.5 * n, 2.6 * net.n_layers), squeeze=False)
    for s in range(n):
        for i in range(net.n_layers):
            ax = axes[i, s]
            if i < net.n_layers - 1:
                t, j = np.nonzero(res.spikes[i][s])
                ax.scatter(t, j, s=2, c="k", marker="|")
                ax.set_ylabel(f"layer {i} neuron")
                ax.set_ylim(-1, net.sizes[i])
            else:
                ax.plot(res.v[i][s])
                ax.set_ylabel("output v")
                if net.sizes[i] <= 10:
                    ax.legend([f"class {c}" for c in range(net.sizes[i])], fontsize=6, ncol=2)
            ax.set_xlim(-0.5, steps - 0.5)
            ax.set_title(f"sample {s}, layer {i} ({net.sizes[i]} neurons)", fontsize=9)
        axes[-1, s].set_xlabel("time step")
    fig.tight_layout()
    return Section("Spike rasters", f"The first {n} test sequences through every layer; the output "
                   "layer never spikes, its voltage is the class score.", _save(fig, folder, "rasters.png"))


def _path(metrics: dict, folder: Path) -> Section | None:
    path = metrics.get("training", {}).get("selection", {}).get("path") or []
    if not path:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for kind in sorted({p["readout"] for p in path}):
        points = [p for p in path if p["readout"] == kind]
        ax.plot([p["neurons"] for p in points], [p["validation_accuracy"] for p in points], "o-", label=kind)
    chosen = metrics["training"]["selection"]
    ax.axhline(chosen["validation_accuracy"], color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("hidden neurons selected (group Lasso)")
    ax.set_ylabel("validation accuracy")
    ax.legend(title="readout")
    return Section("Accuracy vs beta", f"Each point is one beta of the warm-started path. Chosen: readout "
                   f"{chosen['readout']}, beta {chosen['beta']:.4g}.", _save(fig, folder, "beta_path.png"), path)


def _column_generation(metrics: dict, folder: Path) -> Section | None:
    rounds = metrics.get("training", {}).get("column_generation") or []
    if len(rounds) < 2:
        return None
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    ax[0].plot([r["round"] for r in rounds], [r["objective"] for r in rounds], "o-")
    ax[0].set_xlabel("round")
    ax[0].set_ylabel("convex objective")
    later = [r for r in rounds if r["max_violation"] is not None]
    ax[1].bar([r["round"] for r in later], [r["max_violation"] for r in later])
    ax[1].axhline(1.0, color="k", lw=0.8)
    ax[1].set_xlabel("round")
    ax[1].set_ylabel("max ||d^T Lambda|| / beta")
    for split in ("train", "validation"):
        ax[2].plot([r["round"] for r in rounds], [r.get(f"{split}_accuracy", np.nan) for r in rounds], "o-", label=split)
    ax[2].set_xlabel("round")
    ax[2].set_ylabel("accuracy (float readout)")
    ax[2].legend()
    fig.tight_layout()
    search = metrics.get("training", {}).get("search", "random")
    return Section("Column generation", f"Each round searches witnesses violating the dual constraint ({search} "
                   "search; values above 1 improve the objective when added), re-solves on the training split "
                   "and scores the held-out validation split.", _save(fig, folder, "column_generation.png"), rounds)


def _cores(net: Network, profile: str, folder: Path) -> Section:
    report = check_resources(net, profile)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.25 * len(report.cores)))
    colours = plt.cm.tab20(np.linspace(0, 1, 20))
    for k, core in enumerate(report.cores):
        for start, stop in core.neuron_ranges:
            ax.barh(k, stop - start, left=start, color=colours[core.layer % 20], edgecolor="k")
        ax.text(0, k, f" core {core.core}: layer {core.layer}, {len(core.configs)} configs", va="center", fontsize=7)
    ax.set_xlabel("neuron index within its layer")
    ax.set_yticks([])
    ax.invert_yaxis()
    totals = report.totals
    text = (f"{totals['cores_used']} of {totals['cores_available']} cores on {report.profile}; "
            f"{len(report.errors)} errors, {len(report.warnings)} warnings.")
    rows = [{"severity": v.severity, "message": v.message} for v in report.violations]
    return Section("Core map", text, _save(fig, folder, "cores.png"), rows)


def _float_vs_chip(net: Network, X: np.ndarray, y: np.ndarray, lava_samples: int, folder: Path) -> Section:
    rows = [{"model": "chip (bit-exact emulator)", **split_accuracy(net, X, y)}]
    if net.arithmetic == "fixed":
        rows.insert(0, {"model": "float equivalent", **split_accuracy(dequantize_network(net), X, y)})
    if lava_samples:
        k = min(lava_samples, len(X))
        rows.append({"model": f"Lava fixed_pt (first {k})", **split_accuracy(net, X[:k], y[:k], backend="lava")})
        rows.append({"model": f"emulator (same {k})", **split_accuracy(net, X[:k], y[:k])})
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ax.barh([r["model"] for r in rows], [r["accuracy"] for r in rows], color="tab:blue")
    for k, r in enumerate(rows):
        ax.text(r["accuracy"], k, f" {r['accuracy']:.4f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("test accuracy")
    ax.invert_yaxis()
    return Section("Float vs chip", "The same network in float (dequantized), on the bit-exact emulator and on "
                   "Lava's CPU simulator.", _save(fig, folder, "float_vs_chip.png"), rows)


def _weight_bits(run: Path, net: Network, dataset, folder: Path) -> Section | None:
    """Readout-only sweep: quantization-aware vs plain rounding vs Lava truncating the 8-bit readout."""
    solution_file = run / SOLUTION_FILE
    if net.arithmetic != "fixed" or not solution_file.is_file():
        return None
    with np.load(solution_file) as solution:
        rows = readout_bit_sweep(net, solution, dataset, SWEEP_BITS)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(SWEEP_BITS, [r["quantization_aware"] for r in rows], "o-", label="quantization-aware readout")
    ax.plot(SWEEP_BITS, [r["plain_rounding"] for r in rows], "^:", label="plain rounding")
    ax.plot(SWEEP_BITS, [r["lava_truncation"] for r in rows], "s--", label="8-bit readout truncated by Lava")
    ax.set_xlabel("readout weight bits")
    ax.set_ylabel("test accuracy (chip)")
    ax.legend()
    return Section("Accuracy vs weight bits", "Readout weights at lower precision, hidden layer unchanged.",
                   _save(fig, folder, "weight_bits.png"), rows)


def _table_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(k))}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _table_md(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary(metrics: dict, net: Network) -> Section:
    keys = ("method", "profile", "readout", "train_accuracy", "test_accuracy", "duality_gap", "n_hidden",
            "dictionary_size", "train_seconds")
    rows = [{"metric": k, "value": metrics[k]} for k in keys if k in metrics]
    rows.append({"metric": "layers", "value": " -> ".join(map(str, [net.n_inputs] + net.sizes))})
    verification = metrics.get("training", {}).get("verification")
    if verification:
        rows += [{"metric": f"verification: {k}", "value": v} for k, v in verification.items()]
    return Section("Summary", metrics.get("data", {}).get("description", ""), None, rows)


def build_report(run: str | os.PathLike, lava_samples: int = 20, bit_sweep: bool = True) -> dict:
    """Write the report into RUN/report/; returns the paths written and the sections' data."""
    run = Path(run)
    net = load_network(run)
    metrics = read_metrics(run)
    if "readout" not in net.metadata:
        raise NeuroreconError(f"{run} holds no trained classifier; the report is for training runs")
    dataset = dataset_of_run(run, net)
    folder = run / "report"
    folder.mkdir(exist_ok=True)
    X_test, y_test = dataset.split("test")
    sections = [_summary(metrics, net), _rasters(net, X_test, folder), _float_vs_chip(net, X_test, y_test, lava_samples, folder)]
    sections += [s for s in (_path(metrics, folder), _column_generation(metrics, folder)) if s]
    if bit_sweep:
        sections += [s for s in (_weight_bits(run, net, dataset, folder),) if s]
    sections.append(_cores(net, net.metadata.get("profile", "loihi2"), folder))
    title = f"neurorecon run report: {run.name}"
    html, md = [f"<html><head><meta charset='utf-8'><title>{title}</title>{_STYLE}</head><body><h1>{title}</h1>"], [f"# {title}", ""]
    for s in sections:
        html.append(f"<h2>{s.title}</h2><p>{s.text}</p>")
        md += [f"## {s.title}", "", s.text, ""]
        if s.figure:
            data = base64.b64encode((folder / s.figure).read_bytes()).decode()
            html.append(f"<img src='data:image/png;base64,{data}'/>")
            md += [f"![{s.title}]({s.figure})", ""]
        html.append(_table_html(s.table))
        md += [_table_md(s.table), ""]
    html.append("</body></html>")
    with atomic_path(folder / "report.html", suffix=".html") as tmp:
        tmp.write_text("\n".join(html))
    with atomic_path(folder / "report.md", suffix=".md") as tmp:
        tmp.write_text("\n".join(md))
    return {"html": str(folder / "report.html"), "markdown": str(folder / "report.md"),
            "figures": [s.figure for s in sections if s.figure],
            "sections": {s.title: s.table for s in sections}}


_STYLE = ("<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;}table{border-collapse:collapse;"
          "margin:1em 0;}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%;}img{max-width:100%;}</style>")


def save_solution(run: str | os.PathLike, solution: dict) -> None:
    """Keep the real-valued readout behind a run's integer one (used by the weight-bits sweep)."""
    with atomic_path(Path(run) / SOLUTION_FILE, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, W=solution["W"], intercept=solution["intercept"], beta=solution["beta"],
                     penalty=solution["penalty"])


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str)
