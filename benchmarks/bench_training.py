"""Training: convex reconstruction (``cvx``, ``sg-cvx``) against Norse surrogate gradients + PTQ (``sg``).

Every row is ``neurorecon.train.pipeline.train_dataset`` (what ``neurorecon train`` runs) on the
same split, machine and run: seq-MNIST-10k (first 8,000 MNIST test images to train, last 2,000 to
test, binary rows, T = 28) and FIRST-LAST-XOR at T = 10 and 50 (2,000 train / 1,000 test), all
for the ``loihi2`` profile. "chip" is the final integer network on the bit-exact emulator (what
Lava computes, checked in CI); "float" is the float model where one exists (``sg``: the BPTT
network before quantization; ``cvx``/``sg-cvx``: the real-valued convex readout on the chip's
hidden spikes). Then the addition tasks (``step`` readout, 5-digit operands, token-wise accuracy
in and out of distribution) against the numbers P1 (arXiv 2605.08022) reports.
"""

from __future__ import annotations

import time

from neurorecon.data import load_data
from neurorecon.train.pipeline import train_dataset

from _common import md_table, task_name  # benchmarks/ is on sys.path (run_all.py)

TITLE = "Training: convex reconstruction vs Norse surrogate gradients (float and chip accuracy, wall time)"
PROFILE = "loihi2"

# The SG settings of the surrogate benchmark (learning rates picked there on training accuracy).
COMPARISONS = [
    ("seq-mnist", {}, "count", {"n_witnesses": 2500, "column_generation_rounds": 0}, {"sg_epochs": 30, "sg_lr": 1e-2}),
    ("first-last-xor", {"T": 10}, "last", {"n_witnesses": 1000}, {"sg_epochs": 30, "sg_lr": 1e-2}),
    ("first-last-xor", {"T": 50}, "last", {"n_witnesses": 1000}, {"sg_epochs": 60, "sg_lr": 3e-3}),
]
METHODS = ("sg", "cvx", "sg-cvx")
ADDITION_BASES = (2, 3, 5)
ADDITION_WITNESSES = 1000
P1_ADDITION = {3: 0.366, 5: 0.23}  # P1, n = 5 digits, token-wise (paper.md)


def _row(task: str, options: dict, method: str, params: dict) -> dict:
    data = load_data(task, **options)
    start = time.perf_counter()
    net, metrics, _ = train_dataset(data, method=method, profile=PROFILE, seed=0, **params)
    wall = time.perf_counter() - start
    return {
        "task": task_name(task, options),
        "method": method,
        "float_test": metrics.get("float_test_accuracy"),
        "chip_test": metrics["test_accuracy"],
        "drop": metrics["float_test_accuracy"] - metrics["test_accuracy"],
        "n_hidden": metrics["n_hidden"],
        "duality_gap": metrics.get("duality_gap"),
        "train_s": wall,
        "splits": metrics["splits"],
    }


def run() -> dict:
    started = time.perf_counter()
    rows = []
    for task, options, readout, cvx, sg in COMPARISONS:
        for method in METHODS:
            params = {"readout": readout, "sg_hidden": 256, **sg}
            if method != "sg":
                params.update(cvx)
            row = _row(task, options, method, params)
            print(f"  {row['task']} {method}: chip {row['chip_test']:.4f} float {row['float_test']:.4f} "
                  f"({row['train_s']:.0f} s)", flush=True)
            rows.append(row)
    for row in rows:
        sg = next(r for r in rows if r["task"] == row["task"] and r["method"] == "sg")
        row["chip_vs_sg_points"] = 100 * (row["chip_test"] - sg["chip_test"])
        row["time_vs_sg"] = row["train_s"] / sg["train_s"]
    addition = []
    for base in ADDITION_BASES:
        row = _row(f"addition-base{base}", {}, "cvx", {"readout": "step", "n_witnesses": ADDITION_WITNESSES})
        row.update({f"ood_{k}": row["splits"][f"ood-{k}"]["accuracy"] for k in (10, 25, 50)},
                   p1=P1_ADDITION.get(base))
        print(f"  {row['task']}: {row['chip_test']:.4f} ID ({row['train_s']:.0f} s)", flush=True)
        addition.append(row)
    return {
        "title": TITLE,
        "table": rows,
        "addition": addition,
        "ratios": {
            "largest_cvx_float_to_chip_drop": max(r["drop"] for r in rows if r["method"] != "sg"),
            "largest_sg_float_to_chip_drop": max(r["drop"] for r in rows if r["method"] == "sg"),
            "cvx_time_vs_sg": {r["task"]: r["time_vs_sg"] for r in rows if r["method"] == "cvx"},
        },
        "settings": {"profile": PROFILE, "seed": 0, "sg_hidden": 256, "comparisons": [c[:4] for c in COMPARISONS],
                     "addition_witnesses": ADDITION_WITNESSES},
        "total_s": time.perf_counter() - started,
    }


def markdown(result: dict) -> str:
    table = md_table(result["table"], [
        ("task", "task"), ("method", "method"), ("float_test", "float test acc"), ("chip_test", "chip test acc"),
        ("drop", "float→chip drop"), ("chip_vs_sg_points", "chip vs sg (points)"), ("n_hidden", "hidden neurons"),
        ("duality_gap", "duality gap"), ("train_s", "train s"), ("time_vs_sg", "time / sg time"),
    ])
    addition = md_table(result["addition"], [
        ("task", "task"), ("chip_test", "5 digits (ID)"), ("ood_10", "10 digits"), ("ood_25", "25 digits"),
        ("ood_50", "50 digits"), ("p1", "P1 at 5 digits"), ("n_hidden", "hidden neurons"), ("train_s", "train s"),
    ])
    r = result["ratios"]
    return (
        f"{table}\n\nsg: 256 Norse LIF neurons, BPTT in float, then post-training quantization; sg-cvx: the same SG "
        "hidden layer quantized, plus perturbed copies, as witnesses for the convex readout; cvx: random calibrated "
        f"witnesses (settings in the result file). Largest float→chip drop: cvx/sg-cvx "
        f"{r['largest_cvx_float_to_chip_drop']:.2%}, sg {r['largest_sg_float_to_chip_drop']:.2%}.\n\n"
        f"Addition (token-wise test accuracy on chip, `step` readout, cvx):\n\n{addition}\n\n"
        f"Total {result['total_s'] / 60:.1f} min."
    )


def headline(result: dict) -> str:
    rows = {(r["task"], r["method"]): r for r in result["table"]}
    mnist = [rows.get(("seq-mnist", m)) for m in METHODS]
    text = "seq-MNIST-10k chip: " + ", ".join(f"{r['method']} {r['chip_test']:.2%} ({r['train_s']:.0f} s)"
                                               for r in mnist if r)
    add = ", ".join(f"base {r['task'][-1]} {r['chip_test']:.2%} / {r['ood_50']:.2%}" for r in result["addition"])
    return f"{text}; addition ID / 50 digits: {add}"
