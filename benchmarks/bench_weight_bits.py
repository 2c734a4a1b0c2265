"""Accuracy against weight bits (2, 3, 4, 6, 8): quantization-aware reconstruction vs plain rounding.

Two comparisons on seq-MNIST-10k and FIRST-LAST-XOR T = 10, ``loihi2`` arithmetic,
chip accuracy on the bit-exact emulator:

* whole network: ``cvx`` trained with ``weight_bits = b`` (witnesses drawn on the b-bit grid, the
  readout fitted there) against the SG float network (trained once) post-training quantized with
  b-bit weights (plain rounding of every layer, ``sg_ptq``);
* readout only, on the 8-bit ``cvx`` network: the quantization-aware integer readout against plain
  rounding of the same convex solution and against Lava truncating the 8-bit readout
  (``neurorecon.train.convex.bit_sweep``);
* seq-MNIST-10k at 2 / 4 / 8 bits: the default method (``neurorecon train`` without a method flag)
  trained at b bits against recurrent SG trained quantization-aware at b bits (``--method sg
  --qat``), then post-training quantized there.

Parts (``PARTS``; ``run_all.py weight_bits --only qat``): ``sweep`` the first two comparisons,
``qat`` the third.

``--quick`` (``run_all.py weight_bits --quick``): 2 / 4 / 8 bits only, 2,000 / 500 sequences,
4 SG epochs; indicative numbers in ``results/quick/``.
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

TITLE = "Accuracy vs weight bits: quantization-aware reconstruction vs plain rounding (PTQ) and SG + QAT"
PART_TITLES = {
    "sweep": "cvx and its readout at 2-8 bits vs SG + PTQ",
    "qat": "the default vs SG + QAT at 2 / 4 / 8 bits on seq-MNIST-10k",
}
PARTS = tuple(PART_TITLES)
PROFILE = "loihi2"
QUICK = True
QAT_BITS = (2, 4, 8)
# SG + QAT: recurrent 256 (the stronger SG network on seq-MNIST, surrogate benchmark), its lr there.
QAT_SG = {"sg_hidden": 256, "sg_recurrent": True, "sg_epochs": 30, "sg_lr": 3e-3}
QUICK_SIZES = {"n_train": 2000, "n_test": 500}
QUICK_SG_EPOCHS = 4
TASKS = [
    ("seq-mnist", {}, "count", {"n_witnesses": 1000, "column_generation_rounds": 0}, {"epochs": 30, "lr": 1e-2}),
    ("first-last-xor", {"T": 10}, "last", {"n_witnesses": 1000, "column_generation_rounds": 0}, {"epochs": 30, "lr": 1e-2}),
]


def _task(task: str, options: dict, readout: str, cvx: dict, sg: dict, bit_widths) -> tuple[list[dict], list[dict]]:
    data = load_data(task, **options)
    name = task_name(task, options)
    X_test, y_test = data.split("test")
    sg_float, _ = train_surrogate(data.X_train, data.y_train, hidden=(256,), readout=readout, seed=0, device="cpu", **sg)
    network_rows, model_8 = [], None
    for bits in bit_widths:
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
                    readout_bit_sweep(model_8.network_, model_8.readout_solution_, data, bit_widths)]
    return network_rows, readout_rows


def _default_vs_qat(quick: bool) -> list[dict]:
    """seq-MNIST-10k at b-bit weights: the default method (``train_dataset`` without a method,
    trained at b bits) against SG trained quantization-aware at b bits, then PTQ there."""
    data = load_data("seq-mnist", **(QUICK_SIZES if quick else {}))
    sg = dict(QAT_SG, sg_epochs=QUICK_SG_EPOCHS) if quick else QAT_SG
    rows = []
    for bits in QAT_BITS:
        _, default, _ = train_dataset(data, profile=PROFILE, seed=0, weight_bits=bits)
        _, qat, _ = train_dataset(data, method="sg", profile=PROFILE, seed=0, qat=True, weight_bits=bits, **sg)
        rows.append({"task": "seq-mnist", "weight_bits": bits, "default_method": default["method"],
                     "default_chip": default["test_accuracy"], "default_s": default["train_seconds"],
                     "default_hidden": default["n_hidden"], "sg_qat_float": qat["float_test_accuracy"],
                     "sg_qat_chip": qat["test_accuracy"], "sg_qat_s": qat["train_seconds"]})
        print(f"  seq-mnist {bits} bits: default {default['test_accuracy']:.4f}, sg+QAT {qat['test_accuracy']:.4f}",
              flush=True)
    return rows


def run(part: str, quick: bool = False) -> dict:
    """One part of the benchmark (``PARTS``)."""
    if part not in PARTS:
        raise SystemExit(f"unknown part {part!r} of the weight-bits benchmark; parts: {', '.join(PARTS)}")
    started = time.perf_counter()
    settings = {"profile": PROFILE, "seed": 0, "quick": quick}
    if part == "qat":
        qat = _default_vs_qat(quick)
        return {"title": f"{TITLE}: {PART_TITLES[part]}", "part": part, "default_vs_qat": qat,
                "ratios": {"default_at_least_sg_qat": f"{sum(r['default_chip'] >= r['sg_qat_chip'] for r in qat)}"
                                                      f"/{len(qat)}"},
                "settings": dict(settings, bits=list(QAT_BITS), qat_sg=QAT_SG), "total_s": time.perf_counter() - started}
    network, readout = [], []
    bit_widths = QAT_BITS if quick else SWEEP_BITS
    for task, options, readout_kind, cvx, sg in TASKS:
        if quick:
            options = dict(options, **QUICK_SIZES)
            sg = dict(sg, epochs=QUICK_SG_EPOCHS)
        n, r = _task(task, options, readout_kind, cvx, sg, bit_widths)
        network += n
        readout += r
    wins = sum(r["cvx_chip"] >= r["sg_ptq_chip"] for r in network)
    return {
        "title": f"{TITLE}: {PART_TITLES[part]}",
        "part": part,
        "table": network,
        "readout_only": readout,
        "ratios": {"cvx_at_least_sg_ptq": f"{wins}/{len(network)}",
                   "refined_at_least_rounding": f"{sum(r['quantization_aware'] >= r['plain_rounding'] for r in readout)}"
                                                f"/{len(readout)}"},
        "settings": dict(settings, bits=list(bit_widths), tasks=[t[:4] for t in TASKS]),
        "total_s": time.perf_counter() - started,
    }


def markdown(result: dict) -> str:
    r = result["ratios"]
    quick = " (quick run: indicative only)" if result.get("settings", {}).get("quick") else ""
    sections = []
    if "table" in result:  # the sweep (and results from before the benchmark had parts)
        network = md_table(result["table"], [
            ("task", "task"), ("weight_bits", "weight bits"), ("cvx_chip", "cvx (quantization-aware) chip acc"),
            ("cvx_hidden", "cvx hidden"), ("sg_float", "sg float acc"), ("sg_ptq_chip", "sg + PTQ chip acc"),
        ])
        readout = md_table(result["readout_only"], [
            ("task", "task"), ("weight_bits", "readout bits"), ("quantization_aware", "quantization-aware"),
            ("plain_rounding", "plain rounding"), ("lava_truncation", "8-bit readout truncated by Lava"),
        ])
        sections.append(f"Whole network at b-bit weights (every layer):\n\n{network}\n\ncvx ≥ sg+PTQ in "
                        f"{r['cvx_at_least_sg_ptq']} rows.\n\nReadout only (hidden layer of the 8-bit cvx network "
                        f"unchanged):\n\n{readout}\n\nQuantization-aware ≥ plain rounding in "
                        f"{r['refined_at_least_rounding']} rows.")
    if result.get("default_vs_qat"):
        qat = md_table(result["default_vs_qat"], [
            ("task", "task"), ("weight_bits", "weight bits"), ("default_method", "default method"),
            ("default_chip", "default chip acc"), ("default_hidden", "hidden"), ("default_s", "default train s"),
            ("sg_qat_float", "SG + QAT float acc"), ("sg_qat_chip", "SG + QAT chip acc"), ("sg_qat_s", "SG + QAT train s"),
        ])
        sections.append(f"The default method trained at b bits vs recurrent SG trained quantization-aware at b bits "
                        f"(then PTQ): default ≥ SG + QAT in {r['default_at_least_sg_qat']} rows.\n\n{qat}")
    return "\n\n".join(sections + [f"Total {result['total_s'] / 60:.1f} min{quick}."])


def headline(result: dict) -> str:
    low = [r for r in result.get("table", []) if r["weight_bits"] <= 4]
    parts = [f"{r['task']} {r['weight_bits']} bits: cvx {r['cvx_chip']:.1%} vs SG+PTQ {r['sg_ptq_chip']:.1%}" for r in low]
    parts += [f"seq-mnist {r['weight_bits']} bits: default {r['default_chip']:.1%} vs SG+QAT {r['sg_qat_chip']:.1%}"
              for r in result.get("default_vs_qat", [])]
    return "; ".join(parts)
