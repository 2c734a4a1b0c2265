"""Emulator vs Lava's CPU backend: samples per second on the same network and inputs.

Network (issue 2): 28 inputs -> 1024 LIF -> 10 LIF, T = 28 input frames (30 steps so the
readout sees the last frame), fixed point, input spike density 0.2. Lava is measured three ways:
one cold run per sample, neurorecon's exact batched backend, and its best streaming protocol
(one long run, LIFReset between samples, a Monitor on the output voltage only: as fast as
Lava gets, though not exact, since Dense buffers carry over between samples).
"""

from __future__ import annotations

import time

import numpy as np

import neurorecon as nr
from neurorecon.simulate.emulator import emulate
from neurorecon.simulate.lava_backend import run_isolated

from _common import md_table  # benchmarks/ is on sys.path (run_all.py)

TITLE = "Emulator vs Lava CPU (28-1024-10 LIF, T=28, fixed point)"
N_EMULATOR = 10_000
N_LAVA_EXACT = 48
N_LAVA_STREAM = 100


def network(seed: int = 0) -> nr.Network:
    rng = np.random.default_rng(seed)
    hidden = nr.LIFLayer(rng.integers(-128, 128, (1024, 28)), du=409, dv=204, vth=100)
    readout = nr.LIFLayer(rng.integers(-128, 128, (10, 1024)), du=4095, dv=0, vth=2**17 - 1, weight_exp=-4)
    return nr.Network([hidden, readout], arithmetic="fixed")


def inputs(n: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 28, 28)) < 0.2).astype(np.uint8)


def lava_stream(net: nr.Network, x: np.ndarray, steps: int) -> dict:
    """Lava's fastest protocol: all samples in one run, LIFReset every `steps` steps."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIFReset
    from lava.proc.monitor.process import Monitor

    n, t_in, d = x.shape
    data = np.zeros((d, n * steps), dtype=np.int64)
    for k in range(n):
        data[:, k * steps:k * steps + t_in] = x[k].T
    hidden, readout = net.layers
    source = RingBuffer(data=data)
    dense1 = Dense(weights=hidden.weights, weight_exp=hidden.weight_exp)
    lif1 = LIFReset(shape=(1024,), du=409, dv=204, vth=100, reset_interval=steps, reset_offset=1)
    dense2 = Dense(weights=readout.weights, weight_exp=readout.weight_exp)
    lif2 = LIFReset(shape=(10,), du=4095, dv=0, vth=2**17 - 1, reset_interval=steps, reset_offset=1)
    source.s_out.connect(dense1.s_in)
    dense1.a_out.connect(lif1.a_in)
    lif1.s_out.connect(dense2.s_in)
    dense2.a_out.connect(lif2.a_in)
    monitor = Monitor()
    monitor.probe(lif2.v, n * steps)
    start = time.perf_counter()
    try:
        source.create_runtime(run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        started = time.perf_counter()
        source.run(condition=RunSteps(num_steps=n * steps))
        ran = time.perf_counter()
        monitor.get_data()
        read = time.perf_counter()
    finally:
        source.stop()
    return {"startup_s": started - start, "run_s": ran - started, "readback_s": read - ran}


def run() -> dict:
    net = network()
    steps = nr.readout_steps(net, 28)
    x = inputs(N_EMULATOR)
    rows = []

    for threads in (1, 2):
        emulate(net, x[:256], steps, (), [], threads=threads)  # warm-up
        start = time.perf_counter()
        emu = emulate(net, x, steps, (), [], threads=threads)
        seconds = time.perf_counter() - start
        rows.append({"backend": f"emulator, {threads} thread(s)", "samples": N_EMULATOR, "seconds": seconds,
                     "samples_per_s": N_EMULATOR / seconds, "exact": "yes"})

    start = time.perf_counter()
    nr.simulate(net, x[:1], "lava", n_steps=steps, record=())
    seconds = time.perf_counter() - start
    rows.append({"backend": "Lava, one cold run per sample", "samples": 1, "seconds": seconds,
                 "samples_per_s": 1 / seconds, "exact": "yes"})

    start = time.perf_counter()
    lava = nr.simulate(net, x[:N_LAVA_EXACT], "lava", n_steps=steps, record=())
    seconds = time.perf_counter() - start
    exact = bool(np.array_equal(lava.final_v[1], emu.final_v[1][:N_LAVA_EXACT]))
    rows.append({"backend": "Lava, neurorecon batched backend (compile per batch)", "samples": N_LAVA_EXACT,
                 "seconds": seconds, "samples_per_s": N_LAVA_EXACT / seconds, "exact": "yes" if exact else "NO"})

    stream = run_isolated(lava_stream, (net, x[:N_LAVA_STREAM], steps), 1200, "Lava stream benchmark")
    rows.append({"backend": "Lava, one long run + LIFReset, output monitor (run only)", "samples": N_LAVA_STREAM,
                 "seconds": stream["run_s"], "samples_per_s": N_LAVA_STREAM / stream["run_s"],
                 "exact": "no (Dense buffers carry over)"})

    best_lava = max(r["samples_per_s"] for r in rows if r["backend"].startswith("Lava"))
    best_emulator = max(r["samples_per_s"] for r in rows if r["backend"].startswith("emulator"))
    for r in rows:
        r["speedup_vs_best_lava"] = r["samples_per_s"] / best_lava
    return {
        "title": TITLE,
        "table": rows,
        "ratios": {"emulator_vs_best_lava": best_emulator / best_lava, "bar": 200, "goal": 1000},
        "lava_stream_detail": stream,
        "emulator_equals_lava": exact,
    }


def markdown(result: dict) -> str:
    ratio = result["ratios"]["emulator_vs_best_lava"]
    table = md_table(result["table"], [("backend", "backend"), ("samples", "samples"), ("seconds", "seconds"),
                                       ("samples_per_s", "samples/s"), ("speedup_vs_best_lava", "× best Lava"),
                                       ("exact", "bit-exact")])
    verdict = "meets" if ratio >= 200 else "MISSES"
    return (f"{table}\n\nEmulator vs Lava's best protocol: **{ratio:,.0f}×** ({verdict} the 200× bar; "
            f"goal 1,000×). Emulator final voltages equal Lava's on the {N_LAVA_EXACT} exact samples: "
            f"{result['emulator_equals_lava']}.")


def headline(result: dict) -> str:
    r = result["ratios"]
    return (f"emulator {r['emulator_vs_best_lava']:,.0f}× Lava CPU's fastest protocol, bit-exact "
            f"(bar {r['bar']}×, goal {r['goal']:,}×)")
