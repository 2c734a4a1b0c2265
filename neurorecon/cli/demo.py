"""``neurorecon demo``: the one-command tour (``make demo``).

For now: a seeded random fixed-point network (mixed time constants, so several Lava processes
per layer) runs on the emulator and on real Lava; the demo prints whether every spike and
voltage agrees.
"""

from __future__ import annotations

import time

import numpy as np

from neurorecon.cli import add_command
from neurorecon.cli._common import emit_json
from neurorecon.errors import NeuroreconError
from neurorecon.network import LIFLayer, Network
from neurorecon.simulate import readout_steps, simulate

EXAMPLES = """  neurorecon demo
  neurorecon demo --samples 32 --json
"""


def add_parser(sub) -> None:
    p = add_command(sub, "demo", "run the end-to-end demo (emulator vs real Lava)", EXAMPLES)
    p.add_argument("--samples", type=int, default=16, help="samples to simulate (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=run)


def demo_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    hidden = LIFLayer(
        weights=rng.integers(-128, 128, (64, 28)) * 2,
        du=rng.choice([409, 1024, 4095], 64),
        dv=rng.choice([204, 512], 64),
        vth=300,
        bias_mant=rng.integers(-64, 64, 64),
        bias_exp=3,
    )
    readout = LIFLayer(weights=rng.integers(-64, 64, (10, 64)) * 2, du=4095, dv=0, vth=2**17 - 1, weight_exp=-2)
    return Network([hidden, readout], arithmetic="fixed", metadata={"name": "demo-random"})


def run(args) -> int:
    if args.samples < 1:
        raise NeuroreconError("--samples must be at least 1")
    net = demo_network(args.seed)
    x = (np.random.default_rng(args.seed + 1).random((args.samples, 28, 28)) < 0.2).astype(np.uint8)
    steps = readout_steps(net, x.shape[1])
    timings, results = {}, {}
    for backend in ("emulator", "lava"):
        start = time.perf_counter()
        results[backend] = simulate(net, x, backend=backend, n_steps=steps, record=("spikes", "v"))
        timings[backend] = time.perf_counter() - start
    emu, lava = results["emulator"], results["lava"]
    rows = []
    for i in range(net.n_layers):
        rows.append(
            {
                "layer": i,
                "neurons": net.sizes[i],
                "lava_processes": len(net.layers[i].groups()),
                "spikes": int(emu.spikes[i].sum()),
                "spikes_equal": bool(np.array_equal(emu.spikes[i], lava.spikes[i])),
                "v_equal": bool(np.array_equal(emu.v[i], lava.v[i])),
            }
        )
    agree = all(r["spikes_equal"] and r["v_equal"] for r in rows)
    if args.json:
        emit_json({"layers": rows, "agree": agree, "seconds": timings, "samples": args.samples, "steps": steps})
    else:
        print(f"random fixed-point network 28 -> 64 -> 10, {args.samples} samples x {steps} steps")
        print(f"{'layer':>5} {'neurons':>8} {'lava procs':>10} {'spikes':>8} {'spikes equal':>13} {'v equal':>8}")
        for r in rows:
            print(
                f"{r['layer']:>5} {r['neurons']:>8} {r['lava_processes']:>10} {r['spikes']:>8} "
                f"{str(r['spikes_equal']):>13} {str(r['v_equal']):>8}"
            )
        print(f"emulator {timings['emulator']:.3f} s, Lava {timings['lava']:.1f} s")
        print("emulator and Lava agree bit for bit" if agree else "MISMATCH between emulator and Lava")
    return 0 if agree else 1
