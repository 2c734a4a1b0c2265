"""Accuracy against weight bits (2, 3, 4, 6, 8): quantization-aware reconstruction vs plain rounding.

Two comparisons on seq-MNIST-10k and FIRST-LAST-XOR T = 10, ``loihi2`` arithmetic,
chip accuracy on the bit-exact emulator:

* whole network: ``cvx`` trained with ``weight_bits = b`` (witnesses drawn on the b-bit grid, the
  readout fitted there) against the SG float network (trained once) post-training quantized with
  b-bit weights (plain rounding of every layer, ``sg_ptq``);
* readout only, on the 8-bit ``cvx`` network: the quantization-aware integer readout against plain
  rounding of the same convex solution and against Lava truncating the 8-bit readout
  (``neurorecon.train.convex.bit_sweep``).
"""

from __future__ import annotations

import time
import warnings

from neurorecon.data import load_data
from neurorecon.profiles import load_profile
from neurorecon.train.convex.bit_sweep import SWEEP_BITS, readout_bit_sweep
from neurorecon.train.pipeline import train_dataset
from neurorecon.quantize.ptq import sg_ptq
from neurorecon.train.surrogate.trainer import train_surrogate

from _common import md_table, task_name  # benchmarks/ is on sys.path (run_all.py)

TITLE = "Accuracy vs weight bits: quantization-aware reconstruction vs plain rounding (PTQ)"
PROFILE = "loihi2"
TASKS = [
    ("seq-mnist", {}, "count", {"n_witnesses": 1000, "column_generation_rounds": 0}, {"epochs": 30, "lr": 1e-2}),
    ("first-last-xor", {"T": 10}, "last", {"n_witnesses": 1000, "column_generation_rounds": 0}, {"epochs": 30, "lr": 1e-2}),
]


def _task(task: str, options: dict, readout: str, cvx: dict, sg: dict) -> tuple[list[dict], list[dict]]:
    data = load_data(task, **options)
    name = task_name(task, options)
    X_test, y_test = data.split("test")
    sg_float, _ = train_surrogate(data.X_train, data.y_train, hidden=(256,), readout=readout, seed=0, device="cpu", **sg)
    network_rows, model_8 = [], None
    for bits in SWEEP_BITS:
        start = time.perf_counter()
        _, metrics, model = train_dataset(data, method="cvx", profile=PROFILE, seed=0, readout=readout,
                                          weight_bits=bits, **cvx)
        cvx_s = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, ptq = sg_ptq(sg_float, load_profile(PROFILE).with_weight_bits(bits), data.X_train, evaluate={"test": (X_test, y_test)})
        network_rows.append({
            "task": name, "weight_bits": bits, "cvx_chip": metrics["test_accuracy"], "cvx_s": cvx_s,
            "cvx_hidden": metrics["n_hidden"], "sg_float": ptq.accuracy["test"]["float"],
            "sg_ptq_chip": ptq.accuracy["test"]["chip"],
        })
        print(f"  {name} {bits} bits: cvx {metrics['test_accuracy']:.4f}, sg+PTQ {ptq.accuracy['test']['chip']:.4f}",
              flush=True)
        if bits == 8:
            model_8 = model
    readout_rows = [dict(row, task=name) for row in
                    readout_bit_sweep(model_8.network_, model_8.readout_solution_, data, SWEEP_BITS)]
    return network_rows, readout_rows


def run() -> dict:
    started = time.perf_counter()
    network, readout = [], []
    for spec in TASKS:
        n, r = _task(*spec)
        network += n
        readout += r
    wins = sum(r["cvx_chip"] >= r["sg_ptq_chip"] for r in network)
    return {
        "title": TITLE,
        "table": network,
        "readout_only": readout,
        "ratios": {"cvx_at_least_sg_ptq": f"{wins}/{len(network)}",
                   "refined_at_least_rounding": f"{sum(r['quantization_aware'] >= r['plain_rounding'] for r in readout)}"
                                                f"/{len(readout)}"},
        "settings": {"profile": PROFILE, "bits": list(SWEEP_BITS), "tasks": [t[:4] for t in TASKS], "seed": 0},
        "total_s": time.perf_counter() - started,
    }


def markdown(result: dict) -> str:
    network = md_table(result["table"], [
        ("task", "task"), ("weight_bits", "weight bits"), ("cvx_chip", "cvx (quantization-aware) chip acc"),
        ("cvx_hidden", "cvx hidden"), ("sg_float", "sg float acc"), ("sg_ptq_chip", "sg + PTQ chip acc"),
    ])
    readout = md_table(result["readout_only"], [
        ("task", "task"), ("weight_bits", "readout bits"), ("quantization_aware", "quantization-aware"),
        ("plain_rounding", "plain rounding"), ("lava_truncation", "8-bit readout truncated by Lava"),
    ])
    r = result["ratios"]
    return (
        f"Whole network at b-bit weights (every layer):\n\n{network}\n\ncvx ≥ sg+PTQ in {r['cvx_at_least_sg_ptq']} "
        f"rows.\n\nReadout only (hidden layer of the 8-bit cvx network unchanged):\n\n{readout}\n\n"
        f"Quantization-aware ≥ plain rounding in {r['refined_at_least_rounding']} rows. Total "
        f"{result['total_s'] / 60:.1f} min."
    )


def headline(result: dict) -> str:
    low = [r for r in result["table"] if r["weight_bits"] <= 4]
    parts = [f"{r['task']} {r['weight_bits']} bits: cvx {r['cvx_chip']:.1%} vs SG+PTQ {r['sg_ptq_chip']:.1%}" for r in low]
    return "; ".join(parts)
