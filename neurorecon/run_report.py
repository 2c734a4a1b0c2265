"""The run report: ``neurorecon report RUN`` writes RUN/report/{report.html, report.md, *.png}.

Figures: the input and spike rasters of a few test sequences through every layer (a sorted
sample of a wide layer) with the output voltages, true and predicted class; float models vs
the chip (emulator, Lava); the confusion matrix and per-class accuracy; firing rates and
synaptic operations per inference; integer weight histograms; the (du, dv) mix of the selected
neurons; validation accuracy against the neurons the group Lasso selects (the beta path);
accuracy against weight bits (the quantization-aware readout vs Lava's plain truncation); the
column-generation rounds; the core map from the resource check. The HTML embeds the PNGs, so
it is one self-contained file.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurorecon._atomic import DirectoryKind, atomic_directory  # noqa: E402
from neurorecon._progress import Progress, ProgressOption, as_progress  # noqa: E402
from neurorecon.data import load_data  # noqa: E402
from neurorecon.data.files import read_npz  # noqa: E402
from neurorecon.errors import NeuroreconError  # noqa: E402
from neurorecon.network import Network  # noqa: E402
from neurorecon.quantize import dequantize_network  # noqa: E402
from neurorecon.resources import check_resources  # noqa: E402
from neurorecon.run import SOLUTION_FILE, load_network, read_metrics  # noqa: E402
from neurorecon.simulate import readout_steps, simulate  # noqa: E402
from neurorecon.train.convex.bit_sweep import SWEEP_BITS, readout_bit_sweep  # noqa: E402
from neurorecon.simulate.predict import predict_network  # noqa: E402
from neurorecon.train.pipeline import float_model_name, split_accuracy  # noqa: E402

FIGURES = ("rasters.png", "float_vs_chip.png", "beta_path.png", "column_generation.png", "weight_bits.png", "cores.png")
REPORT_KIND = DirectoryKind("report", frozenset({"report.html", "report.md"}), known=frozenset({"report.html", "report.md", *FIGURES}))


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
    try:
        fig.savefig(folder / name, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return name


RASTER_NEURONS = 64  # a hidden layer wider than this shows a sorted sample of this many neurons
ACTIVITY_SAMPLES = 500  # test sequences behind the firing rates and synaptic operations


def _shown_neurons(spikes: np.ndarray) -> tuple[np.ndarray, str]:
    """Neurons to draw from ``spikes`` (samples, steps, N): all, or an evenly spaced sample of the
    neurons sorted by spike count (most active first), so a wide layer is not a solid bar."""
    order = np.argsort(-spikes.sum(axis=(0, 1)), kind="stable")
    if order.size <= RASTER_NEURONS:
        return order, f"all {order.size} neurons, sorted by spike count"
    pick = order[np.linspace(0, order.size - 1, RASTER_NEURONS).round().astype(int)]
    return pick, f"{RASTER_NEURONS} of {order.size} neurons: an even sample sorted by spike count"


def _raster_samples(net: Network, X: np.ndarray, y: np.ndarray) -> tuple[list[int], str]:
    """The first test sequence and the first one the network gets wrong (else the second), and in words."""
    head = min(len(X), 200)
    pred = predict_network(net, X[:head])
    wrong = [k for k in range(1, head) if _labels_at_end(pred[k]) != _labels_at_end(y[k])]
    if wrong:
        return [0, wrong[0]], f"The first test sequence and the first one the network gets wrong (#{wrong[0]})"
    return list(range(min(head, 2))), "The first test sequences"


def _rasters(net: Network, X: np.ndarray, y: np.ndarray, folder: Path) -> Section:
    picked, which = _raster_samples(net, X, y)
    X, y, n = X[picked], y[picked], len(picked)
    steps = readout_steps(net, X.shape[1])
    res = simulate(net, X, n_steps=steps, record=("spikes", "v"))
    pred = predict_network(net, X)
    rows = net.n_layers + 1
    fig, axes = plt.subplots(rows, n, figsize=(5.5 * n, 2.4 * rows), squeeze=False)
    notes = []
    for s in range(n):
        ax = axes[0, s]
        ax.imshow(np.asarray(X[s], float).T, aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(-0.5, X.shape[1] - 0.5, X.shape[2] - 0.5, -0.5), vmin=0)
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylabel("input channel")
        ax.set_title(f"test sequence {picked[s]}: input ({X.shape[2]} channels, {X.shape[1]} frames)", fontsize=9)
        for i in range(net.n_layers - 1):
            ax = axes[i + 1, s]
            shown, what = _shown_neurons(res.spikes[i][:n])
            ax.imshow(res.spikes[i][s][:, shown].T, aspect="auto", cmap="Greys", interpolation="nearest",
                      extent=(-0.5, steps - 0.5, len(shown) - 0.5, -0.5), vmin=0, vmax=1)
            ax.set_ylabel("neuron (sorted)")
            ax.set_title(f"layer {i}: {what}", fontsize=9)
            if s == 0 and net.sizes[i] > RASTER_NEURONS:
                notes.append(f"layer {i} shows {what} over the samples shown (most active at the top)")
        ax = axes[-1, s]
        v = res.v[-1][s]
        true, guess = _labels_at_end(y[s]), _labels_at_end(pred[s])
        for c in range(v.shape[1]):
            if c not in (true, guess):
                ax.plot(v[:, c], color="0.75", lw=0.8)
        ax.plot(v[:, true], color="tab:green", lw=2, label=f"true class {true}")
        if guess != true:
            ax.plot(v[:, guess], color="tab:red", lw=2, ls="--", label=f"predicted class {guess}")
        ax.set_ylabel("output voltage")
        verdict = "correct" if guess == true else "wrong"
        ax.set_title(f"output layer: true {true}, predicted {guess} ({verdict})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        for row in axes[:, s]:
            row.set_xlim(-0.5, steps - 0.5)
        axes[-1, s].set_xlabel("time step")
    fig.tight_layout()
    text = (f"{which}: the input, every hidden layer's spikes (black) and the output "
            "layer's voltage per class (grey; the true class green, a wrong prediction red). The output layer "
            "never spikes: its voltage is the class score.")
    if notes:
        text += " Wide layers are sampled: " + "; ".join(notes) + "."
    return Section("Spike rasters", text, _save(fig, folder, "rasters.png"))


def _labels_at_end(label) -> int:
    """A sequence's class, or its last step's for per-step labels."""
    return int(np.asarray(label).reshape(-1)[-1])


def _confusion(net: Network, X: np.ndarray, y: np.ndarray, folder: Path) -> Section:
    pred = np.asarray(predict_network(net, X)).reshape(-1)
    true = np.asarray(y).reshape(-1)
    k = max(int(net.sizes[-1]), int(true.max()) + 1, int(pred.max()) + 1)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    totals = matrix.sum(axis=1)
    share = matrix / np.maximum(totals, 1)[:, None]
    fig, ax = plt.subplots(figsize=(2.0 + 0.42 * k, 1.0 + 0.42 * k))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if k <= 40:  # per-class accuracy beside each row
        ax.text(k - 0.3, -0.8, "accuracy", fontsize=7, ha="left", va="center")
        for c in range(k):
            ax.text(k - 0.3, c, f"{share[c, c]:.0%}" if totals[c] else "-", fontsize=7, ha="left", va="center")
    if k <= 20:
        for i, j in zip(*np.nonzero(matrix)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    unit = "steps" if np.ndim(y) == 2 else "sequences"
    ax.set_title(f"test {unit}: counts (colour: share of the true class)", fontsize=9)
    rows = [{"class": c, unit: int(totals[c]), "correct": int(matrix[c, c]),
             "accuracy": float(matrix[c, c] / totals[c]) if totals[c] else None} for c in range(k)]
    return Section("Confusion matrix and per-class accuracy", f"The chip network (bit-exact emulator) on the "
                   f"{len(X)} test sequences.", _save(fig, folder, "confusion.png"), rows)


def _activity(net: Network, X: np.ndarray, folder: Path) -> Section:
    """Firing rates and synaptic operations per inference: what the chip spends on one answer."""
    X = X[:ACTIVITY_SAMPLES]
    steps = readout_steps(net, X.shape[1])
    counts = simulate(net, X, n_steps=steps, record=("counts",)).spike_counts
    events = [(np.asarray(X) != 0).sum(axis=1)] + counts[:-1]  # what each layer receives, per sample
    rows = []
    for i, layer in enumerate(net.layers):
        fan_out = (layer.weights != 0).sum(axis=0)  # synapses each input event drives
        synops = events[i] @ fan_out
        if layer.recurrent is not None:
            synops = synops + counts[i] @ (layer.recurrent.weights != 0).sum(axis=0)
        rows.append({"layer": i, "neurons": layer.n_neurons, "input events / inference": float(events[i].sum(axis=1).mean()),
                     "spikes / inference": float(counts[i].sum(axis=1).mean()),
                     "mean rate (spikes / neuron / step)": float(counts[i].mean() / steps),
                     "synaptic ops / inference": float(synops.mean())})
    hidden = net.n_layers - 1
    fig, axes = plt.subplots(1, hidden + 1, figsize=(4.2 * (hidden + 1), 3.2), squeeze=False)
    for i in range(hidden):
        rates = counts[i].mean(axis=0) / steps
        axes[0, i].hist(rates, bins=np.linspace(0, max(rates.max(), 1e-3), 31), color="tab:blue")
        axes[0, i].set_xlabel("firing rate (spikes / step)")
        axes[0, i].set_ylabel("neurons")
        silent = int((rates == 0).sum())
        axes[0, i].set_title(f"layer {i}: {net.sizes[i]} neurons, {silent} silent", fontsize=9)
    ax = axes[0, hidden]
    ops = [r["synaptic ops / inference"] for r in rows]
    bars = ax.bar([f"into layer {r['layer']}" for r in rows], ops, color="tab:orange")
    ax.bar_label(bars, [f"{v:,.0f}" for v in ops], fontsize=8)
    ax.set_ylabel("synaptic operations / inference")
    ax.set_title(f"synaptic operations per inference: {sum(ops):,.0f} in all", fontsize=9)
    fig.tight_layout()
    return Section("Activity", f"Over the first {len(X)} test sequences ({steps} steps each): per-neuron firing rates "
                   "of the hidden layers, and the synaptic operations one inference costs (each input event or "
                   "spike times the number of non-zero synapses it drives, recurrent ones included). The output "
                   "layer never spikes.", _save(fig, folder, "activity.png"), rows)


def _weights(net: Network, folder: Path) -> Section:
    fixed = net.arithmetic == "fixed"
    fig, axes = plt.subplots(1, net.n_layers, figsize=(4.2 * net.n_layers, 3.0), squeeze=False)
    rows = []
    for i, layer in enumerate(net.layers):
        w = np.asarray(layer.weights)
        nonzero = w[w != 0]
        ax = axes[0, i]
        grid = ""
        if fixed and nonzero.size:
            # One bar per value the weights can take: mixed-sign weights are even (Lava drops the LSB).
            step = int(np.gcd.reduce(np.abs(nonzero).astype(np.int64)))
            lo, hi = int(nonzero.min()), int(nonzero.max())
            ax.hist(nonzero, bins=np.arange(lo - step / 2, hi + step, step), color="tab:purple")
            grid = f", multiples of {step}" if step > 1 else ""
        elif nonzero.size:
            ax.hist(nonzero, bins=50, color="tab:purple")
        ax.set_xlabel(f"integer weight (mantissa{grid})" if fixed else "weight")
        ax.set_ylabel("synapses")
        scale = f"; weight_exp {layer.weight_exp}, {layer.num_weight_bits} bits" if fixed else ""
        ax.set_title(f"layer {i}: {nonzero.size} of {w.size} non-zero{scale}", fontsize=9)
        rows.append({"layer": i, "non-zero": int(nonzero.size), "of": int(w.size),
                     "min": nonzero.min().item() if nonzero.size else None,
                     "max": nonzero.max().item() if nonzero.size else None,
                     "distinct values": int(np.unique(nonzero).size)})
    fig.tight_layout()
    what = "the integer weights as the chip stores them (zeros left out)" if fixed else "the weights (zeros left out)"
    return Section("Weights", f"Histograms of {what}.", _save(fig, folder, "weights.png"), rows)


def _tau(decay: float, fixed: bool) -> str:
    """Time constant in steps of a du or dv, about 4096 / d in fixed point and 1 / d in float."""
    if decay == 0:
        return "inf"
    tau = (4096 if fixed else 1.0) / decay
    return f"{tau:.2g}" if tau < 10 else f"{tau:.0f}"


def _decays(net: Network, folder: Path) -> Section | None:
    if net.n_layers < 2:
        return None
    fixed = net.arithmetic == "fixed"
    rows = []
    for i, layer in enumerate(net.layers[:-1]):
        pairs, counts = np.unique(np.stack([layer.du, layer.dv], axis=1), axis=0, return_counts=True)
        for (du, dv), count in sorted(zip(pairs.tolist(), counts.tolist()), key=lambda item: -item[1]):
            rows.append({"layer": i, "du": du, "dv": dv, "tau_u (steps)": _tau(du, fixed), "tau_v (steps)": _tau(dv, fixed),
                         "neurons": count})
    fig, ax = plt.subplots(figsize=(6.5, 0.8 + 0.28 * len(rows)))
    labels = [f"layer {r['layer']}: du {r['du']:g}, dv {r['dv']:g} (tau_u {r['tau_u (steps)']}, "
              f"tau_v {r['tau_v (steps)']} steps)" for r in rows]
    ax.barh(labels, [r["neurons"] for r in rows], color="tab:green")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("selected neurons")
    ax.set_title(f"{sum(r['neurons'] for r in rows)} hidden neurons in {len(rows)} (du, dv) pairs", fontsize=9)
    return Section("Time constants of the selected neurons", "The (du, dv) pairs of the hidden neurons the group "
                   "Lasso kept, with their time constants in steps (inf: no leak).", _save(fig, folder, "decays.png"),
                   rows)


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
    best = sorted((p for p in path if p["readout"] == chosen["readout"]
                   and p["validation_accuracy"] == chosen["validation_accuracy"]), key=lambda p: p["neurons"])
    if best:  # the final solve rescales beta to all rows, so the point is found by its accuracy
        ax.plot([best[0]["neurons"]], [best[0]["validation_accuracy"]], "*", ms=14, color="k", label="chosen")
    ax.set_xscale("log")
    # Plain numbers at 1-2-5 steps: the default log labels (3x10^2, 4x10^2, ...) overlap.
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:.0f}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
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
    ax[0].set_ylabel("convex objective")
    later = [r for r in rounds if r["max_violation"] is not None]
    bars = ax[1].bar([r["round"] for r in later], [r["max_violation"] for r in later])
    ax[1].bar_label(bars, [f"+{r['added']} columns" for r in later], fontsize=8)
    ax[1].axhline(1.0, color="k", lw=0.8)
    ax[1].set_ylabel(r"largest $\|d^\top\Lambda\|_2\,/\,\beta$")
    ax[1].margins(y=0.12)
    ax[1].set_title("largest dual violation among the candidates", fontsize=9)
    ax[0].set_title("objective after each round", fontsize=9)
    for split in ("train", "validation"):
        ax[2].plot([r["round"] for r in rounds], [r.get(f"{split}_accuracy", np.nan) for r in rounds], "o-", label=split)
    ax[2].set_ylabel("accuracy (float readout)")
    ax[2].set_title("accuracy after each round", fontsize=9)
    ax[2].legend()
    for a in ax:
        a.set_xlabel("column-generation round (0: initial solve)")
        a.set_xticks([r["round"] for r in rounds])  # whole rounds only
    fig.tight_layout()
    search = metrics.get("training", {}).get("search", "random")
    return Section("Column generation", f"Each round searches witnesses violating the dual constraint "
                   f"||d^T Lambda||_2 <= beta ({search} search; values above 1, the line, improve the objective "
                   "when added), re-solves on the training split and scores the held-out validation split.",
                   _save(fig, folder, "column_generation.png"), rounds)


def _cores(net: Network, profile: str, folder: Path) -> Section:
    report = check_resources(net, profile)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.25 * len(report.cores)))
    colours = plt.cm.tab20(np.linspace(0, 1, 20))
    for k, core in enumerate(report.cores):
        for start, stop in core.neuron_ranges:
            ax.barh(k, stop - start, left=start, color=colours[core.layer % 20], edgecolor="k")
        configs = len(core.configs)
        ax.text(0, k, f" core {core.core}: layer {core.layer}, {configs} neuron config{'s' if configs != 1 else ''}",
                va="center", fontsize=7, bbox={"facecolor": "white", "alpha": 0.8, "pad": 1, "lw": 0})
    ax.set_xlabel("neuron index within its layer")
    ax.set_yticks([])
    ax.invert_yaxis()
    totals = report.totals
    text = (f"{totals['cores_used']} of {totals['cores_available']} cores on {report.profile}; "
            f"{len(report.errors)} errors, {len(report.warnings)} warnings.")
    rows = [{"severity": v.severity, "message": v.message} for v in report.violations]
    return Section("Core map", text, _save(fig, folder, "cores.png"), rows)


def _float_vs_chip(net: Network, metrics: dict, X: np.ndarray, y: np.ndarray, lava_samples: int, folder: Path,
                   progress: Progress) -> Section:
    rows = [{"model": "chip (bit-exact emulator)", **split_accuracy(net, X, y)}]
    if net.arithmetic == "fixed":
        rows.insert(0, {"model": "dequantized network (float arithmetic)", **split_accuracy(dequantize_network(net), X, y)})
    if metrics.get("float_test_accuracy") is not None:
        rows.insert(0, {"model": float_model_name(metrics.get("method", "cvx")),
                        "accuracy": float(metrics["float_test_accuracy"]), "n_samples": len(X)})
    if lava_samples:
        k = min(lava_samples, len(X))
        rows.append({"model": f"chip, Lava fixed_pt (first {k})", **split_accuracy(net, X[:k], y[:k], backend="lava", progress=progress)})
        rows.append({"model": f"chip, emulator (same {k})", **split_accuracy(net, X[:k], y[:k])})
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.45 * len(rows)))
    chip = [not r["model"].startswith(("real-valued", "float", "dequantized")) for r in rows]
    ax.barh([r["model"] for r in rows], [r["accuracy"] for r in rows],
            color=["tab:blue" if c else "tab:grey" for c in chip])
    for k, r in enumerate(rows):
        ax.text(r["accuracy"], k, f" {r['accuracy']:.4f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("test accuracy")
    ax.invert_yaxis()
    return Section("Float models vs chip", "Two float models, then the chip network: "
                   f"the {float_model_name(metrics.get('method', 'cvx'))} (what training optimised; `train` reports it "
                   "as the float accuracy), the dequantized network (the chip's integers run in float arithmetic), "
                   "the chip network on the bit-exact emulator and on Lava's CPU simulator.",
                   _save(fig, folder, "float_vs_chip.png"), rows)


def _weight_bits(run: Path, net: Network, dataset, folder: Path) -> Section | None:
    """Readout-only sweep: quantization-aware vs plain rounding vs Lava truncating the 8-bit readout."""
    solution_file = run / SOLUTION_FILE
    if net.arithmetic != "fixed" or not solution_file.is_file():
        return None
    solution = read_npz(solution_file, ("W", "intercept", "beta", "penalty"), kind="readout solution")
    rows = readout_bit_sweep(net, solution, dataset, SWEEP_BITS)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(SWEEP_BITS, [r["quantization_aware"] for r in rows], "o-", label="quantization-aware readout")
    ax.plot(SWEEP_BITS, [r["plain_rounding"] for r in rows], "^:", label="plain rounding")
    ax.plot(SWEEP_BITS, [r["lava_truncation"] for r in rows], "s--", label="8-bit readout truncated by Lava")
    ax.set_xticks(SWEEP_BITS)
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


def _write_report(run: Path, net: Network, metrics: dict, dataset, folder: Path, lava_samples: int,
                  bit_sweep: bool, progress: ProgressOption = None) -> list[Section]:
    """Draw every figure into ``folder`` and write report.html and report.md beside them."""
    X_test, y_test = dataset.split("test")
    progress = as_progress(progress)
    parts = [
        ("summary", lambda: _summary(metrics, net)),
        ("rasters", lambda: _rasters(net, X_test, y_test, folder)),
        ("float models vs chip", lambda: _float_vs_chip(net, metrics, X_test, y_test, lava_samples, folder, progress)),
        ("confusion matrix", lambda: _confusion(net, X_test, y_test, folder)),
        ("activity", lambda: _activity(net, X_test, folder)),
        ("weights", lambda: _weights(net, folder)),
        ("time constants", lambda: _decays(net, folder)),
        ("beta path", lambda: _path(metrics, folder)),
        ("column generation", lambda: _column_generation(metrics, folder)),
        ("weight bits", lambda: _weight_bits(run, net, dataset, folder) if bit_sweep else None),
        ("core map", lambda: _cores(net, net.metadata.get("profile", "loihi2"), folder)),
    ]
    sections = []
    for name, make in progress.steps(parts, len(parts), "report sections"):
        section = make()
        if section is not None:
            sections.append(section)
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
    (folder / "report.html").write_text("\n".join(html))
    (folder / "report.md").write_text("\n".join(md))
    return sections


def build_report(run: str | os.PathLike, lava_samples: int = 20, bit_sweep: bool = True,
                 progress: ProgressOption = None) -> dict:
    """Write the report into RUN/report/; returns the paths written and the sections' data."""
    run = Path(run)
    net = load_network(run)
    metrics = read_metrics(run)
    if "readout" not in net.metadata:
        raise NeuroreconError(f"{run} holds no trained classifier; the report is for training runs")
    dataset = dataset_of_run(run, net)
    folder = run / "report"
    with atomic_directory(folder, REPORT_KIND) as tmp:  # every figure and both pages, or nothing
        sections = _write_report(run, net, metrics, dataset, tmp, lava_samples, bit_sweep, progress)
    return {"html": str(folder / "report.html"), "markdown": str(folder / "report.md"),
            "figures": [s.figure for s in sections if s.figure],
            "sections": {s.title: s.table for s in sections}}


_STYLE = ("<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;}table{border-collapse:collapse;"
          "margin:1em 0;}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%;}img{max-width:100%;}</style>")


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str)
