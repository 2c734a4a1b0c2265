"""The seq-MNIST-10k target: a ``loihi2`` network trained by ``cvx`` with a large dictionary.

seq-MNIST-10k (first 8,000 MNIST test images to train, last 2,000 to test, binary rows, T = 28),
``count`` readout, random calibrated witnesses, no column generation. The accuracy is the
integer network's on the bit-exact emulator; the first ``LAVA_SAMPLES`` test sequences also run
on Lava's CPU simulator (fixed_pt) and their predictions are compared.
"""

from __future__ import annotations

import time


from neurorecon.data import load_data
from neurorecon.resources import check_resources
from neurorecon.simulate.predict import predict_network
from neurorecon.train.pipeline import train_dataset

from _common import md_table  # benchmarks/ is on sys.path (run_all.py)

TITLE = "seq-MNIST-10k with cvx on loihi2 (the 95 % target)"
WITNESSES = (5000,)
LAVA_SAMPLES = 50


def run() -> dict:
    data = load_data("seq-mnist")
    rows = []
    for n in WITNESSES:
        start = time.perf_counter()
        net, metrics, _ = train_dataset(data, method="cvx", profile="loihi2", seed=0, readout="count",
                                        n_witnesses=n, column_generation_rounds=0)
        train_s = time.perf_counter() - start
        X, y = data.X_test[:LAVA_SAMPLES], data.y_test[:LAVA_SAMPLES]
        lava = predict_network(net, X, backend="lava")
        rows.append({
            "witnesses": n, "chip_test": metrics["test_accuracy"], "float_test": metrics["float_test_accuracy"],
            "n_hidden": metrics["n_hidden"], "duality_gap": metrics["duality_gap"], "train_s": train_s,
            "cores": check_resources(net, "loihi2").totals["cores_used"],
            "solver_vs_chip_differences": metrics["training"]["verification"]["solver_vs_chip_differences"],
            "lava_vs_emulator_differences": int((lava != predict_network(net, X)).sum()),
            "lava_samples": LAVA_SAMPLES, "lava_accuracy": float((lava == y).mean()),
        })
        print(f"  {n} witnesses: chip {metrics['test_accuracy']:.4f} ({train_s:.0f} s)", flush=True)
    best = max(r["chip_test"] for r in rows)
    return {"title": TITLE, "table": rows, "ratios": {"best_chip_test": best, "target_met": bool(best >= 0.95)}}


def markdown(result: dict) -> str:
    table = md_table(result["table"], [
        ("witnesses", "witnesses"), ("chip_test", "chip test acc (emulator)"), ("float_test", "float readout acc"),
        ("n_hidden", "hidden neurons"), ("cores", "cores"), ("duality_gap", "duality gap"), ("train_s", "train s"),
        ("solver_vs_chip_differences", "solver≠chip (train)"), ("lava_vs_emulator_differences", "Lava≠emulator"),
        ("lava_accuracy", "Lava acc (first 50)"),
    ])
    met = "met" if result["ratios"]["target_met"] else "not met"
    return f"{table}\n\nTarget ≥ 95 % chip test accuracy: **{met}** (best {result['ratios']['best_chip_test']:.2%})."


def headline(result: dict) -> str:
    best = max(result["table"], key=lambda r: r["chip_test"])
    met = "met" if result["ratios"]["target_met"] else "not met"
    return f"{best['chip_test']:.2%} chip test accuracy with {best['witnesses']:,} witnesses (≥ 95 % target {met})"
