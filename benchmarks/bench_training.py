"""Training: the project's methods against honest surrogate-gradient peers, chip accuracy and wall time.

Every row is ``neurorecon.train.pipeline.train_dataset`` (what ``neurorecon train`` runs) for the
``loihi2`` profile, seed 0; "chip" is the final integer network's test accuracy on the bit-exact
emulator (what Lava computes, checked in CI), "float" the float model's where one exists (SG:
the BPTT network before quantization; convex methods: the real-valued readout on the chip's
hidden spikes), "train s" the wall time of training (data loading and test evaluation excluded),
after an untimed warm-up (``_warm_up``: compiled kernels and torch initialised).

Methods (``METHODS``):
  default      ``train_dataset(data)`` with no method and no method options: whatever
               ``neurorecon train DATA`` does without flags (``metrics.method`` says which);
  cvx-random   ``--method cvx`` with random witnesses only (the random-witness path);
  no-delays    the default with ``--max-delay 0`` (xor only: its label needs the last frame);
  sg-cvx       ``--method sg-cvx --sg-recurrent``: the recurrent SG hidden layer (quantized)
               and perturbed copies as witnesses, never below its SG network on validation;
  sg-ff        Norse SG (BPTT, feed-forward, 256 neurons) + post-training quantization;
  sg-rec       the same with a recurrent hidden layer;
  sg-rec-3e-3  (MNIST parts) the same at lr 3e-3, better on test than the parts' 1e-2;
  sg-qat8/4    recurrent SG trained quantization-aware at 8 / 4 weight bits, then PTQ there.

Parts (``PARTS``; ``run_all.py training --only timing,mnist``):
  timing    the timing suite (``neurorecon.data.timing``): per kind, the tuning variant (seed 0,
            default options) and held-out variants (other seeds and option values); the claims
            are made on the held-out ones;
  timing-core  the same at full size and full SG training, on the first held-out variant of
            each kind, against the two SG peers the targets name (feed-forward and recurrent
            + PTQ) and the random-witness path: a quarter of the timing part's cost;
  timing-held-out  every held-out variant, the default against the two SG + PTQ peers only:
            a quarter of the timing part's cost;
  mnist     seq-MNIST-10k (first 8,000 MNIST test images to train, last 2,000 to test, binary rows);
  mnist-core  the same, the default against the SG peers (feed-forward and recurrent + PTQ, and
            recurrent SG + QAT at 8 bits) only: no random-witness or sg-cvx rows, a third of the cost;
  mnist-folds  the MNIST test set's 10,000 images in five folds of 2,000: each fold tested once,
            trained on the other 8,000 (the last fold is the benchmark split), the default against
            recurrent SG + PTQ, the peer the seq-MNIST target names, at the MNIST parts' learning
            rate and at 3e-3 (``sg-rec-3e-3``): one split is one draw;
  xor       FIRST-LAST-XOR T = 50;
  addition  addition in base 2 / 3 / 5, trained on 5-digit operands, token-wise accuracy in and out
            of distribution (10, 25, 50 digits), against P1 (arXiv 2605.08022);
  addition-seeds  the default at training seeds 0, 1 and 2 on the same tasks, against the default
            of commit ``BASELINE_COMMIT`` (the issue's "no worse than now"), run from that
            commit's sources (``git archive``) in a subprocess of the same interpreter: one seed
            moves a pricing trajectory by a point out of distribution, so seeds are compared.
``--quick``: fewer samples, epochs and variants, to check the benchmark works in ~20-30 min on
2 cores; its numbers are indicative only and are written to ``results/quick/``, never to
RESULTS.md.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from neurorecon.data import load_data, make_dataset
from neurorecon.data.timing import TIMING_TASKS, chance_level
from neurorecon.train.pipeline import train_dataset

from _common import md_table  # benchmarks/ is on sys.path (run_all.py)

TITLE = "Training: the project's methods vs surrogate-gradient peers (chip accuracy, wall time)"
PART_TITLES = {
    "timing": "timing suite (held-out variants)",
    "timing-core": "timing suite, first held-out variant per kind, against SG + PTQ",
    "timing-held-out": "timing suite, every held-out variant, the default against SG + PTQ",
    "mnist": "seq-MNIST-10k",
    "mnist-core": "seq-MNIST-10k, the default against the SG peers",
    "mnist-folds": "seq-MNIST-10k in five folds, the default against recurrent SG + PTQ",
    "xor": "FIRST-LAST-XOR T = 50",
    "addition": "addition in base 2 / 3 / 5, in and out of distribution",
    "addition-seeds": "addition in base 2 / 3 / 5, the default at three seeds against the issue's baseline commit",
}
PARTS = tuple(PART_TITLES)
QUICK = True
PROFILE = "loihi2"
SEED = 0
SG_HIDDEN = 256
P1_ADDITION = {3: 0.366, 5: 0.23}  # P1, n = 5 digits, token-wise (paper.md)

# SG training per part: (epochs, lr). MNIST's from the surrogate benchmark (best training accuracy
# among 1e-3, 3e-3, 1e-2); XOR-50 at 3e-3 (feed-forward at 1e-2 falls back to chance there);
# timing tasks at the CLI's default lr, 30 epochs.
SG_SETTINGS = {"timing": (30, 3e-3), "mnist": (30, 1e-2), "xor": (60, 3e-3)}
QUICK_SG_EPOCHS = {"timing": 8, "mnist": 4, "xor": 15}
CVX_WITNESSES = {"timing": 2000, "mnist": 2500, "xor": 1000, "addition": 1000}
ADDITION_BASES = (2, 3, 5)
ADDITION_SEEDS = (0, 1, 2)
BASELINE_COMMIT = "06690dd"  # the default when the convex-training issue set "addition: no worse than now"


CORE_METHODS = ("default", "cvx-random", "sg-ff", "sg-rec")
HELD_OUT_METHODS = ("default", "sg-ff", "sg-rec")
MNIST_CORE_METHODS = ("default", "sg-ff", "sg-rec", "sg-rec-3e-3", "sg-qat8")
FOLD_METHODS = ("default", "sg-rec", "sg-rec-3e-3")
# MNIST's SG rate was chosen by training accuracy; recurrent SG at this one is better on test on all
# five folds (mnist-folds), so the MNIST parts run it as a peer too
MNIST_SG_TEST_LR = 3e-3
MNIST_FOLDS = 5
QUICK_MNIST_IMAGES = 2500  # --quick folds: the first 2,500 images (folds of 500)


def methods(part: str, quick: bool) -> dict[str, dict]:
    """The methods of a part and their ``train_dataset`` keyword arguments."""
    if part == "timing-core":
        return {k: v for k, v in methods("timing", quick).items() if k in CORE_METHODS}
    if part == "timing-held-out":
        return {k: v for k, v in methods("timing", quick).items() if k in HELD_OUT_METHODS}
    if part == "mnist-core":
        return {k: v for k, v in methods("mnist", quick).items() if k in MNIST_CORE_METHODS}
    if part == "mnist-folds":
        return {k: v for k, v in methods("mnist", quick).items() if k in FOLD_METHODS}
    if part == "addition-seeds":
        return {"default": {}, f"{BASELINE_COMMIT} default": {"commit": BASELINE_COMMIT}}
    epochs, lr = SG_SETTINGS.get(part, (30, 3e-3))
    if quick:
        epochs = QUICK_SG_EPOCHS.get(part, epochs)
    sg = {"sg_hidden": SG_HIDDEN, "sg_epochs": epochs, "sg_lr": lr}
    witnesses = CVX_WITNESSES[part] // (4 if quick else 1)
    out = {
        "default": {},
        "cvx-random": {"method": "cvx", "search": "random", "n_witnesses": witnesses},
        "sg-cvx": {"method": "sg-cvx", "sg_recurrent": True, "n_witnesses": witnesses, **sg},
        "sg-ff": {"method": "sg", **sg},
        "sg-rec": {"method": "sg", "sg_recurrent": True, **sg},
        "sg-qat8": {"method": "sg", "sg_recurrent": True, "qat": True, "weight_bits": 8, **sg},
        "sg-qat4": {"method": "sg", "sg_recurrent": True, "qat": True, "weight_bits": 4, **sg},
    }
    if part == "mnist":
        out["sg-rec-3e-3"] = dict(out["sg-rec"], sg_lr=MNIST_SG_TEST_LR)
    if part == "addition":  # per-step labels: the SG peers were measured in the surrogate benchmark
        return {k: out[k] for k in ("default", "cvx-random")}
    if part == "xor":
        return {"default": out["default"], "no-delays": {"max_delay": 0},
                **{k: out[k] for k in ("cvx-random", "sg-ff", "sg-rec")}}
    return out


# Held-out variants per timing kind: other seeds, and other values of the options that shape the
# task (length, channels, classes, noise, jitter, delay). Seed 0 with default options is the
# tuning variant; methods may be tuned on it, never on these.
HELD_OUT = {
    "spike-order": [
        {"seed": 1},
        {"seed": 2, "T": 60, "noise_rate": 0.03, "jitter": 1.5},
        {"seed": 3, "n_markers": 4, "channels": 3, "min_gap": 4},
    ],
    "delayed-match": [
        {"seed": 1},
        {"seed": 2, "T": 50, "delay": 30, "noise_rate": 0.03},
        {"seed": 3, "n_patterns": 6, "active": 3, "jitter": 1.5},
    ],
    "latency-code": [
        {"seed": 1},
        {"seed": 2, "n_classes": 6, "separation": 4},
        {"seed": 3, "T": 40, "channels": 24, "n_early": 6, "jitter": 3.0},
    ],
    "interval": [
        {"seed": 1},
        {"seed": 2, "T": 60, "n_classes": 5, "max_interval": 36},
        {"seed": 3, "jitter": 2.0, "noise_rate": 0.03},
    ],
}
QUICK_HELD_OUT = 2  # held-out variants per kind in --quick
QUICK_SIZES = {"n_train": 1000, "n_test": 500}


def _label(task: str, options: dict) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in options.items() if k not in ("n_train", "n_test"))
    return f"{task} ({shown})" if shown else task


def _row(data, task: str, options: dict, method: str, params: dict, seed: int = SEED) -> dict:
    start = time.perf_counter()
    _, metrics, _ = train_dataset(data, profile=PROFILE, seed=seed, **params)
    wall = time.perf_counter() - start
    row = {
        "task": task,
        "variant": _label(task, options),
        "method": method,
        "trained_as": metrics["method"] + (" +qat" if metrics["training"].get("qat") else ""),
        "chip_test": metrics["test_accuracy"],
        "float_test": metrics.get("float_test_accuracy"),
        "n_hidden": metrics["n_hidden"],
        "duality_gap": metrics.get("duality_gap"),
        "train_s": metrics["train_seconds"],
        "wall_s": wall,
        "splits": metrics["splits"],
    }
    row["drop"] = None if row["float_test"] is None else row["float_test"] - row["chip_test"]
    if metrics["training"].get("kept"):
        row["kept"] = metrics["training"]["kept"]
    if metrics["training"].get("sg_baseline"):
        row["own_sg_chip_test"] = metrics["training"]["sg_baseline"]["chip"]["test"]["accuracy"]
    print(f"  {row['variant']} {method}: chip {row['chip_test']:.4f} ({row['train_s']:.0f} s)", flush=True)
    return row


def _rows(task: str, options: dict, part: str, quick: bool) -> list[dict]:
    data = load_data(task, **options)
    rows = [_row(data, task, options, name, params) for name, params in methods(part, quick).items()]
    for row in rows:
        row["chance"] = chance_level(data)
    return rows


def _timing(quick: bool, part: str = "timing") -> dict:
    rows = []
    for kind in TIMING_TASKS:
        variants = [({"seed": 0}, "tuning")] + [(v, "held-out") for v in HELD_OUT[kind]]
        if part == "timing-core":
            variants = variants[1:2]
        elif part == "timing-held-out" or quick:  # quick: the first held-out variants only
            variants = variants[1:1 + QUICK_HELD_OUT] if quick else variants[1:]
        for options, role in variants:
            options = dict(options, **(QUICK_SIZES if quick else {}))
            for row in _rows(kind, options, part, quick):
                rows.append(dict(row, role=role))
    summary = []
    for kind in TIMING_TASKS:
        held = [r for r in rows if r["task"] == kind and r["role"] == "held-out"]
        means = {}
        for method in dict.fromkeys(r["method"] for r in held):
            mine = [r for r in held if r["method"] == method]
            means[method] = {"chip_test": sum(r["chip_test"] for r in mine) / len(mine),
                             "train_s": sum(r["train_s"] for r in mine) / len(mine), "variants": len(mine)}
        summary.append({"task": kind, "means": means, "checks": _checks(held)})
    return {"table": rows, "summary": summary}


def _checks(rows: list[dict]) -> dict:
    """The issue's targets per held-out variant: default >= every SG peer, >= 95 % where an SG
    peer reaches 95 %, in no more time than any SG peer (the fastest of them)."""
    out = {"default_at_least_sg": 0, "default_95_where_sg_95": 0, "sg_reaches_95": 0, "default_not_slower": 0,
           "variants": 0}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        here = {r["method"]: r for r in rows if r["variant"] == variant}
        if "default" not in here:
            continue
        peers = [here[m] for m in ("sg-ff", "sg-rec") if m in here]
        default = here["default"]
        out["variants"] += 1
        out["default_at_least_sg"] += all(default["chip_test"] >= p["chip_test"] for p in peers)
        if any(p["chip_test"] >= 0.95 for p in peers):
            out["sg_reaches_95"] += 1
            out["default_95_where_sg_95"] += default["chip_test"] >= 0.95
        out["default_not_slower"] += all(default["train_s"] <= p["train_s"] for p in peers)
    return out


def _mnist(quick: bool, part: str = "mnist") -> dict:
    options = {"n_train": 2000, "n_test": 500} if quick else {}
    return {"table": _rows("seq-mnist", options, part, quick)}


def _mnist_folds(quick: bool) -> dict:
    """Each fold of the 10,000 images tested once, trained on the rest (in their order)."""
    split = load_data("seq-mnist")
    X, y = np.concatenate([split.X_train, split.X_test]), np.concatenate([split.y_train, split.y_test])
    if quick:
        X, y = X[:QUICK_MNIST_IMAGES], y[:QUICK_MNIST_IMAGES]
    size = len(X) // MNIST_FOLDS
    rows = []
    for fold in range(MNIST_FOLDS):
        test = np.zeros(len(X), dtype=bool)
        test[fold * size:(fold + 1) * size] = True
        images = f"{fold * size}-{(fold + 1) * size - 1}"
        data = make_dataset("seq-mnist", X[~test], y[~test], X[test], y[test],
                            description=f"seq-MNIST, images {images} tested")
        options = {"fold": fold + 1, "test_images": images}
        rows += [_row(data, "seq-mnist", options, name, params) for name, params in methods("mnist-folds", quick).items()]
    by_method = {name: [r for r in rows if r["method"] == name] for name in FOLD_METHODS}
    default = by_method["default"]
    sg_per_fold = zip(*(mine for name, mine in by_method.items() if name != "default"))
    best_sg = [max(peers, key=lambda r: r["chip_test"]) for peers in sg_per_fold]
    summary = {
        "means": {name: sum(r["chip_test"] for r in mine) / len(mine) for name, mine in by_method.items()},
        "default_at_least_best_sg": sum(d["chip_test"] >= p["chip_test"] for d, p in zip(default, best_sg)),
        "default_not_slower": sum(d["train_s"] <= p["train_s"] for d, p in zip(default, best_sg)),
        "folds": len(default),
    }
    return {"table": rows, "summary": summary}


def _xor(quick: bool) -> dict:
    options = {"T": 50, **({"n_train": 1000, "n_test": 500} if quick else {})}
    return {"table": _rows("first-last-xor", options, "xor", quick)}


def _ood(row: dict) -> dict:
    """The row with its out-of-distribution accuracies as columns."""
    return dict(row, **{f"ood_{k}": row["splits"][f"ood-{k}"]["accuracy"] for k in (10, 25, 50)})


def _addition(quick: bool) -> dict:
    rows = []
    for base in ADDITION_BASES:
        options = {"n_train": 1000} if quick else {}
        for row in _rows(f"addition-base{base}", options, "addition", quick):
            rows.append(dict(_ood(row), p1=P1_ADDITION.get(base)))
    return {"table": rows}


# Run in a subprocess on BASELINE_COMMIT's sources: a warm-up, then one JSON line per (task, seed),
# an error line where that commit's training fails.
_BASELINE_SCRIPT = """
import json, sys
from neurorecon.data import load_data
from neurorecon.train.pipeline import train_dataset
options, seeds = json.loads(sys.argv[1]), json.loads(sys.argv[2])
train_dataset(load_data("spike-order", n_train=200, n_test=50), profile="loihi2", seed=0)
for task in sys.argv[3:]:
    data = load_data(task, **options)
    for seed in seeds:
        try:
            _, m, _ = train_dataset(data, profile="loihi2", seed=seed)
            print(json.dumps({"task": task, "seed": seed, "chip_test": m["test_accuracy"], "splits": m["splits"],
                              "n_hidden": m["n_hidden"], "train_s": m["train_seconds"]}), flush=True)
        except Exception as error:
            print(json.dumps({"task": task, "seed": seed, "error": f"{type(error).__name__}: {error}"}), flush=True)
"""


def _baseline_rows(tasks: list[str], options: dict, seeds: tuple[int, ...]) -> list[dict]:
    """The default of ``BASELINE_COMMIT`` on ``tasks`` at ``seeds``, from that commit's sources."""
    repo = pathlib.Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="baseline-") as tree:
        archive = subprocess.run(["git", "-C", str(repo), "archive", BASELINE_COMMIT], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        done = subprocess.run([sys.executable, "-c", _BASELINE_SCRIPT, json.dumps(options), json.dumps(seeds), *tasks],
                              cwd=tree, env=dict(os.environ, PYTHONPATH=tree), capture_output=True,
                              text=True, check=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [dict(r, method=f"{BASELINE_COMMIT} default") for r in rows]


def _addition_seeds(quick: bool) -> dict:
    options = {"n_train": 1000} if quick else {}
    tasks = [f"addition-base{base}" for base in ADDITION_BASES]
    rows = []
    for task in tasks:
        data = load_data(task, **options)
        rows += [dict(_ood(_row(data, task, options, "default", {}, seed=seed)), seed=seed)
                 for seed in ADDITION_SEEDS]
    for row in _baseline_rows(tasks, options, ADDITION_SEEDS):
        rows.append(row if "error" in row else _ood(row))
    return {"table": rows}


@functools.cache
def _warm_up() -> None:
    """One small untimed fit per kind of method (once per process), so that no timed row pays
    one-off costs: numba compiling the kernels of a fresh checkout (a few seconds on the first
    pricing run), torch's lazy initialisation."""
    data = load_data("spike-order", n_train=200, n_test=50)
    for params in ({}, {"method": "sg", "sg_epochs": 1}):
        train_dataset(data, profile=PROFILE, seed=SEED, **params)


def run(part: str, quick: bool = False) -> dict:
    """One part of the benchmark (``PARTS``)."""
    if part not in PARTS:
        raise SystemExit(f"unknown part {part!r} of the training benchmark; parts: {', '.join(PARTS)}")
    _warm_up()
    started = time.perf_counter()
    if part.startswith("timing"):
        result = _timing(quick, part)
    else:
        result = _mnist(quick, part) if part in ("mnist", "mnist-core") else {
            "mnist-folds": _mnist_folds, "xor": _xor, "addition": _addition,
            "addition-seeds": _addition_seeds}[part](quick)
    settings = {"profile": PROFILE, "seed": SEED, "quick": quick, "methods": methods(part, quick)}
    if part.startswith("timing"):
        settings["held_out"] = HELD_OUT
    return dict(result, part=part, title=f"{TITLE}: {PART_TITLES[part]}", settings=settings,
                total_s=time.perf_counter() - started)


ROW_COLUMNS = [
    ("variant", "task"), ("method", "method"), ("trained_as", "trained as"), ("chip_test", "chip test acc"),
    ("float_test", "float test acc"), ("drop", "float→chip drop"), ("n_hidden", "hidden neurons"),
    ("duality_gap", "duality gap"), ("train_s", "train s"), ("kept", "sg-cvx kept"),
    ("own_sg_chip_test", "its SG + PTQ"),
]


def markdown(result: dict) -> str:
    part = result["part"]
    if part == "legacy":  # stored before the benchmark had parts: its section as it was rendered
        return result["legacy_markdown"]
    quick = " (quick run: indicative only)" if result["settings"].get("quick") else ""
    if part.startswith("timing"):
        rows = [dict(r, variant=f"{r['variant']} [{r['role']}]") for r in result["table"]]
        table = md_table(rows, ROW_COLUMNS + [("chance", "chance")])
        names = list(dict.fromkeys(r["method"] for r in result["table"]))
        summary_rows = [dict({"task": s["task"]}, **{m: s["means"].get(m, {}).get("chip_test") for m in names},
                             **{"checks": _checks_text(s["checks"])}) for s in result["summary"]]
        summary = md_table(summary_rows, [("task", "kind")] + [(m, m) for m in names] + [("checks", "default vs SG")])
        text = (f"Mean chip test accuracy over the held-out variants{quick}:\n\n{summary}\n\n"
                f"Every variant (the tuning variant is seed 0 with default options):\n\n{table}")
    elif part == "addition":
        text = md_table(result["table"], [
            ("task", "task"), ("method", "method"), ("chip_test", "5 digits (ID)"), ("ood_10", "10 digits"),
            ("ood_25", "25 digits"), ("ood_50", "50 digits"), ("p1", "P1 at 5 digits"), ("n_hidden", "hidden neurons"),
            ("train_s", "train s"),
        ])
    elif part == "addition-seeds":
        text = md_table(result["table"], [
            ("task", "task"), ("method", "method"), ("seed", "seed"), ("chip_test", "5 digits (ID)"),
            ("ood_10", "10 digits"), ("ood_25", "25 digits"), ("ood_50", "50 digits"), ("n_hidden", "hidden neurons"),
            ("train_s", "train s"), ("error", "error"),
        ])
        text += "\n\nMeans over the seeds where both ran:\n\n" + md_table(_seed_means(result["table"]), [
            ("task", "task"), ("method", "method"), ("seeds", "seeds"), ("chip_test", "5 digits (ID)"),
            ("ood_10", "10 digits"), ("ood_25", "25 digits"), ("ood_50", "50 digits")])
    elif part == "mnist-folds":
        text = md_table(result["table"], ROW_COLUMNS) + "\n\n" + _folds_text(result["summary"])
    else:
        text = md_table(result["table"], ROW_COLUMNS)
    return f"{text}\n\nTotal {result['total_s'] / 60:.1f} min{quick}. Method settings are in the result file."


SPLIT_COLUMNS = ("chip_test", "ood_10", "ood_25", "ood_50")


def _seed_means(rows: list[dict]) -> list[dict]:
    """Per task and method, the mean of each split over the seeds at which every method ran."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        failed = {r["seed"] for r in here if "error" in r}
        seeds = sorted({r["seed"] for r in here} - failed)
        for method in dict.fromkeys(r["method"] for r in here):
            mine = [r for r in here if r["method"] == method and r["seed"] in seeds]
            out.append({"task": task, "method": method, "seeds": ", ".join(map(str, seeds)),
                        **{c: sum(r[c] for r in mine) / len(mine) for c in SPLIT_COLUMNS}})
    return out


def _checks_text(checks: dict) -> str:
    n = checks["variants"]
    return (f"≥ SG in {checks['default_at_least_sg']}/{n}; ≥ 95 % in {checks['default_95_where_sg_95']}/"
            f"{checks['sg_reaches_95']} where SG reaches it; not slower in {checks['default_not_slower']}/{n}")


def _folds_text(summary: dict) -> str:
    means = ", ".join(f"{name} {mean:.2%}" for name, mean in summary["means"].items())
    n = summary["folds"]
    return (f"mean over {n} folds: {means}; default >= the better recurrent SG + PTQ in "
            f"{summary['default_at_least_best_sg']}/{n}, not slower than it in {summary['default_not_slower']}/{n}")


def headline(result: dict) -> str:
    if result["part"] == "legacy":
        return result["legacy_headline"]
    if result["part"].startswith("timing"):
        return "; ".join(f"{s['task']}: default {s['means'].get('default', {}).get('chip_test', float('nan')):.1%}, "
                         f"best SG {max(s['means'][m]['chip_test'] for m in s['means'] if m.startswith('sg-') and m != 'sg-cvx'):.1%}"
                         for s in result["summary"])
    if result["part"] == "mnist-folds":
        return _folds_text(result["summary"])
    rows = result["table"]
    if result["part"] == "addition-seeds":
        return "; ".join(f"{r['task']} {r['method']} (seeds {r['seeds']}): " + " / ".join(
            f"{r[c]:.2%}" for c in SPLIT_COLUMNS) for r in _seed_means(rows))
    return ", ".join(f"{r['variant'] if result['part'] == 'addition' else ''} {r['method']} {r['chip_test']:.2%} "
                     f"({r['train_s']:.0f} s)".strip() for r in rows)
