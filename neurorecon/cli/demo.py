"""``neurorecon demo``: the one-command tour (``make demo``), offline, a few minutes on 2 cores.

Trains a classifier on ``seq-digits`` (scikit-learn's bundled 8x8 digits, row by row) by convex
reconstruction for the ``loihi2`` profile, verifies the integer network against the solver,
exports it (NIR, a standalone Lava script, lava-dl netx), runs test sequences on Lava's CPU
backend in fixed point and prints the real-valued readout's / emulator / Lava accuracy, neurons, cores, duality gap
and timings. The network is trained netx-compatible (one time-constant pair per layer) so that
all three exports hold the same network; ``--mixed-time-constants`` trains the default mix
instead (about a point more accurate; netx cannot hold it and the demo says so).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from neurorecon.cli import add_command
from neurorecon._progress import Progress
from neurorecon.cli._common import add_quiet, emit_json, progress_option
from neurorecon.cli.export import DEFAULTS as EXPORT_NAMES
from neurorecon.data import load_data
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.interchange.lava_script import write_lava_script
from neurorecon.interchange.netx import read_netx, write_netx
from neurorecon.interchange.nir_export import write_nir
from neurorecon.resources import check_resources
from neurorecon.run import check_run_target, save_run, write_json
from neurorecon.simulate.predict import predict_network
from neurorecon.train.pipeline import float_model_name, train_dataset

PROFILE = "loihi2"
TASK = "seq-digits"
DEFAULT_OUT = "runs/demo"

EXAMPLES = """  neurorecon demo                      # train, verify, export, run on Lava (runs/demo)
  neurorecon demo --samples 40 --out /tmp/demo --json
  neurorecon demo --witnesses 300 --rounds 0   # a quicker, smaller run
  neurorecon demo --mixed-time-constants       # the default witness mix (no netx export)

Afterwards: neurorecon report runs/demo, then open runs/demo/report/report.html.
"""


def add_parser(sub) -> None:
    p = add_command(sub, "demo", "train on seq-digits for loihi2, export, and run it on real Lava", EXAMPLES)
    p.add_argument("--out", default=DEFAULT_OUT, help=f"run directory to write (default {DEFAULT_OUT})")
    p.add_argument("--samples", type=int, default=100, help="test sequences to run on Lava (default 100)")
    p.add_argument("--witnesses", type=int, default=800, help="candidate neurons per round (default 800)")
    p.add_argument("--rounds", type=int, default=1, help="column-generation rounds (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the training (default 0)")
    p.add_argument("--mixed-time-constants", action="store_true",
                   help="train with the default mix of time constants (more accurate; netx cannot hold it)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    add_quiet(p)
    p.set_defaults(handler=run)


def _check_args(args) -> None:
    if args.samples < 1:
        raise NeuroreconError("--samples must be at least 1")
    if args.witnesses < 10:
        raise NeuroreconError("--witnesses must be at least 10")
    if args.rounds < 0:
        raise NeuroreconError("--rounds must be 0 or more")
    check_run_target(args.out)  # missing parents (runs/) are created


def _exports(net, run_dir: Path) -> dict:
    """Write every export into RUN/exports; a network netx cannot hold exactly is reported, not faked."""
    folder = run_dir / "exports"  # created by the first export written into it
    written = {
        "nir": str(write_nir(net, folder / EXPORT_NAMES["nir"])),
        "lava": str(write_lava_script(net, folder / EXPORT_NAMES["lava"])),
    }
    try:
        written["netx"] = str(write_netx(net, folder / EXPORT_NAMES["netx"]))
    except NeuroreconError as exc:
        written["netx"] = f"not written: {exc}"
    return written


def run(args) -> int:
    _check_args(args)
    progress = Progress(progress_option(args))
    dataset = load_data(TASK)
    net, metrics, model = train_dataset(dataset, method="cvx", profile=PROFILE, seed=args.seed, progress=progress,
                                        n_witnesses=args.witnesses, column_generation_rounds=args.rounds,
                                        netx_compatible=not args.mixed_time_constants)
    run_dir = save_run(args.out, net, metrics, model.readout_solution_)
    exports = _exports(net, run_dir)

    X, y = dataset.split("test")
    X, y = X[: args.samples], y[: args.samples]
    timings = {"train": metrics["train_seconds"]}
    start = time.perf_counter()
    emulator_pred = predict_network(net, X, backend="emulator")
    timings["emulator"] = time.perf_counter() - start
    progress.say(f"running {len(X)} test sequences on Lava (Loihi2SimCfg, fixed_pt)")
    start = time.perf_counter()
    lava_pred = predict_network(net, X, backend="lava", progress=progress)
    timings["lava"] = time.perf_counter() - start
    netx_differences = None
    if Path(exports["netx"]).is_file():  # the network netx builds from the file, on the emulator
        rebuilt = Network(read_netx(exports["netx"]).layers, metadata=net.metadata)
        netx_differences = int((predict_network(rebuilt, X) != emulator_pred).sum())
    resources = check_resources(net, PROFILE).totals
    verification = metrics["training"]["verification"]
    summary = {
        "task": TASK,
        "profile": PROFILE,
        "run": str(run_dir),
        "float_test_accuracy": metrics["float_test_accuracy"],
        "emulator_test_accuracy": metrics["test_accuracy"],
        "n_test": metrics["splits"]["test"]["n_samples"],
        "lava_samples": int(len(X)),
        "lava_accuracy": float((lava_pred == y).mean()),
        "emulator_accuracy_same_samples": float((emulator_pred == y).mean()),
        "lava_emulator_differences": int((lava_pred != emulator_pred).sum()),
        "agree": bool(np.array_equal(lava_pred, emulator_pred)),
        "netx_emulator_differences": netx_differences,
        "solver_vs_chip_differences": verification["solver_vs_chip_differences"],
        "layers": net.sizes,
        "n_hidden": metrics["n_hidden"],
        "cores_used": resources["cores_used"],
        "duality_gap": metrics["duality_gap"],
        "seconds": timings,
        "exports": exports,
    }
    write_json(run_dir / "demo.json", summary)
    if args.json:
        emit_json(summary)
    else:
        _print_table(summary)
    return 0 if summary["agree"] and not netx_differences else 1


def _print_table(s: dict) -> None:
    t = s["seconds"]
    rows = [
        (float_model_name("cvx") + " (test)", f"{s['float_test_accuracy']:.2%}", f"{s['n_test']} sequences"),
        ("chip, bit-exact emulator (test)", f"{s['emulator_test_accuracy']:.2%}", f"{s['n_test']} sequences"),
        ("chip, emulator (same as Lava)", f"{s['emulator_accuracy_same_samples']:.2%}",
         f"{s['lava_samples']} sequences, {t['emulator']:.2f} s"),
        ("chip, Lava CPU fixed_pt", f"{s['lava_accuracy']:.2%}", f"{s['lava_samples']} sequences, {t['lava']:.1f} s"),
    ]
    print(f"\n{s['task']} on {s['profile']}: {' -> '.join(map(str, s['layers']))} neurons "
          f"({s['n_hidden']} hidden), {s['cores_used']} cores, duality gap {s['duality_gap']:.1e}, "
          f"trained in {t['train']:.0f} s")
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'accuracy':>8}")
    for name, acc, note in rows:
        print(f"{name:{width}}  {acc:>8}  {note}")
    print(f"solver vs chip predictions on the training set: {s['solver_vs_chip_differences']} differences")
    print(f"Lava vs emulator predictions: {s['lava_emulator_differences']} differences "
          + ("(bit for bit, as promised)" if s["agree"] else "(MISMATCH: please report this)"))
    if s["netx_emulator_differences"] is not None:
        print(f"netx file, rebuilt as netx builds it, vs emulator: {s['netx_emulator_differences']} differences")
    for kind, where in s["exports"].items():
        print(f"export {kind}: {where}")
    print(f"next: neurorecon report {s['run']}")
