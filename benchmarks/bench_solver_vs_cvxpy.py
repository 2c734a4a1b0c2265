"""Native working-set solver vs CVXPY/Clarabel on the same group-Lasso readout problems.

Dictionaries are spike-like: binary, 20-50 % ones per column, built as thresholded random
projections of 32 latent inputs (correlated columns, as LIF witnesses on shared inputs give),
stored float32 column-major (as a dictionary built witness block by witness block is). Targets
are one-hot over C = 10 classes from a planted sparse readout (100 columns) plus noise;
beta = 0.2 beta_max selects a few hundred columns. Both solvers get the same (D, Y, beta); both
objectives and gaps come from the same certificate code (neurorecon.solve.evaluate).

CVXPY runs in a forked child with a wall-clock cap and a 20 GB address-space cap (the machine
has 23 GB) and is killed at the cap; where it did not finish, its time is a lower bound and so
is the speed ratio. Native times are the median of 3 solves, each from the raw float32 array
(validation pass included).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from neurorecon.solve import beta_max, solve

from _common import md_table  # benchmarks/ is on sys.path (run_all.py)

TITLE = "Readout solver: native working set vs CVXPY/Clarabel (group Lasso, C = 10)"
CLASSES = 10
BETA_FRACTION = 0.2
MEMORY_CAP = 20 << 30
CAP_GB = MEMORY_CAP >> 30
# (n, P, penalty, CVXPY wall-clock cap in seconds; None = CVXPY not run)
CASES = [
    (250, 500, "group", 600),
    (250, 500, "l1", 600),
    (500, 1000, "group", 600),
    (1000, 2000, "group", 900),
    (2000, 5000, "group", 240),
    (8000, 20000, "group", 600),
]


def spike_dictionary(n: int, P: int, seed: int = 0, latent: int = 32, planted: int = 100, noise: float = 0.5):
    """Binary float32 (n, P) column-major dictionary and one-hot (n, 10) targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, latent)).astype(np.float32)
    D = np.empty((n, P), dtype=np.float32, order="F")
    density = rng.uniform(0.2, 0.5, P)
    for j in range(0, P, 2048):
        k = min(2048, P - j)
        A = X @ rng.standard_normal((latent, k)).astype(np.float32)
        rank = ((1 - density[j:j + k]) * (n - 1)).astype(int)
        D[:, j:j + k] = A > np.sort(A, axis=0)[rank, np.arange(k)]
    cols = rng.choice(P, planted, replace=False)
    scores = D[:, cols] @ rng.standard_normal((planted, CLASSES))
    scores = (scores - scores.mean(0)) / scores.std(0) + noise * rng.standard_normal((n, CLASSES))
    return D, np.eye(CLASSES)[scores.argmax(axis=1)]


def _cvxpy_child(conn, D, Y, beta, penalty, stderr_path):
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)  # a C++ abort (std::bad_alloc) is reported on stderr only
    start = time.perf_counter()
    try:
        res = solve(D, Y, beta, penalty=penalty, solver="cvxpy")
        conn.send({"ok": True, "seconds": time.perf_counter() - start, "primal": res.primal, "gap": res.gap,
                   "status": res.info["status"], "cvxpy_objective": res.info["cvxpy_objective"],
                   "support": len(res.support), "W": res.W,
                   "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20})
    except MemoryError:
        conn.send({"ok": False, "seconds": time.perf_counter() - start, "why": f"out of memory ({CAP_GB} GB cap)"})
    except Exception as exc:  # report, never hang the benchmark
        conn.send({"ok": False, "seconds": time.perf_counter() - start, "why": f"{type(exc).__name__}: {exc}"})


def run_cvxpy(D, Y, beta, penalty, cap):
    """CVXPY/Clarabel in a forked child, killed at ``cap`` seconds."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile(suffix=".stderr") as err:
        child = ctx.Process(target=_cvxpy_child, args=(sender, D, Y, beta, penalty, err.name))
        start = time.perf_counter()
        child.start()
        sender.close()
        try:
            if receiver.poll(cap):
                try:
                    return receiver.recv()
                except EOFError:
                    child.join(10)
                    text = Path(err.name).read_text(errors="replace")
                    why = (f"out of memory (std::bad_alloc under the {CAP_GB} GB cap)" if "bad_alloc" in text
                           else f"crashed (exit code {child.exitcode})")
                    return {"ok": False, "seconds": time.perf_counter() - start, "why": why}
            return {"ok": False, "seconds": time.perf_counter() - start, "why": f"killed at the {cap} s cap"}
        finally:
            if child.is_alive():
                os.kill(child.pid, signal.SIGKILL)
            child.join(10)


def run() -> dict:
    load_before = os.getloadavg()
    rows = []
    for n, P, penalty, cap in CASES:
        D, Y = spike_dictionary(n, P)
        beta = BETA_FRACTION * beta_max(D, Y, penalty)
        runs = [solve(D, Y, beta, penalty=penalty) for _ in range(3)]
        native = runs[0]
        seconds = statistics.median(r.seconds for r in runs)
        row = {"n": n, "P": P, "penalty": penalty, "beta_fraction": BETA_FRACTION, "support": len(native.support),
               "native_s": seconds, "native_runs_s": [r.seconds for r in runs], "native_gap": native.gap,
               "native_primal": native.primal,
               "native_outer": native.outer_iterations, "native_epochs": native.iterations,
               "native_converged": native.converged}
        print(f"  {n}x{P} {penalty}: native {seconds:.3f} s, gap {native.gap:.2e}, support {len(native.support)}",
              flush=True)
        if cap is not None:
            cv = run_cvxpy(D, Y, beta, penalty, cap)
            row["cvxpy_s"] = cv["seconds"]
            row["cvxpy_finished"] = cv["ok"]
            if cv["ok"]:
                row.update(cvxpy_status=cv["status"], cvxpy_gap=cv["gap"], cvxpy_primal=cv["primal"],
                           cvxpy_support=cv["support"], cvxpy_max_rss_gb=cv["max_rss_gb"],
                           objective_rel_diff=(native.primal - cv["primal"]) / cv["primal"],
                           max_abs_W_diff=float(np.abs(native.W - cv["W"]).max()))
            else:
                row["cvxpy_status"] = cv["why"]
            row["speedup"] = cv["seconds"] / seconds
            row["speedup_is_lower_bound"] = not cv["ok"]
            print(f"    cvxpy: {row['cvxpy_status']} after {cv['seconds']:.1f} s; ratio "
                  f"{'>= ' if not cv['ok'] else ''}{row['speedup']:.0f}x", flush=True)
        rows.append(row)
    big = rows[-1]
    # A model estimate, not a measurement: CVXPY's time grows at least linearly in the size of D
    # it canonicalises (n P C coefficients; interior-point methods grow faster), scaled from the
    # largest size where it finished.
    done = [r for r in rows if r.get("cvxpy_finished") and r["penalty"] == "group"]
    estimate = None
    if done:
        ref = max(done, key=lambda r: r["n"] * r["P"])
        estimate = {"from": f"{ref['n']}x{ref['P']}", "cvxpy_s": ref["cvxpy_s"] * (big["n"] * big["P"]) / (ref["n"] * ref["P"])}
        estimate["speedup"] = estimate["cvxpy_s"] / big["native_s"]
    return {
        "title": TITLE,
        "table": rows,
        "ratios": {"native_vs_cvxpy_at_8000x20000": big.get("speedup"),
                   "is_lower_bound": big.get("speedup_is_lower_bound"), "goal": 100},
        "linear_scaling_estimate_at_largest": estimate,
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }


def markdown(result: dict) -> str:
    rows = []
    for r in result["table"]:
        finished = r.get("cvxpy_finished")
        rows.append({
            "size": f"{r['n']:,} × {r['P']:,}",
            "penalty": r["penalty"],
            "support": r["support"],
            "native_s": r["native_s"],
            "native_gap": f"{r['native_gap']:.1e}",
            "cvxpy_s": None if "cvxpy_s" not in r else (f"{r['cvxpy_s']:,.1f}" if finished else f"≥ {r['cvxpy_s']:,.0f}"),
            "cvxpy_status": r.get("cvxpy_status"),
            "cvxpy_gb": r.get("cvxpy_max_rss_gb"),
            "agree": None if r.get("objective_rel_diff") is None else f"{r['objective_rel_diff']:+.1e}",
            "ratio": None if "speedup" not in r else (f"{r['speedup']:,.0f}×" if finished else f"≥ {r['speedup']:,.0f}×"),
        })
    table = md_table(rows, [("size", "n × P"), ("penalty", "penalty"), ("support", "columns selected"),
                            ("native_s", "native s"), ("native_gap", "native gap"), ("cvxpy_s", "CVXPY s"),
                            ("cvxpy_status", "CVXPY status"), ("cvxpy_gb", "CVXPY peak GB"),
                            ("agree", "(native − CVXPY) / CVXPY objective"), ("ratio", "CVXPY / native time")])
    big = result["table"][-1]
    bound = "≥ " if big.get("speedup_is_lower_bound") else ""
    est = result.get("linear_scaling_estimate_at_largest")
    load = result.get("load_average", {})
    text = [
        table,
        "",
        f"Binary spike-like dictionaries (20–50 % ones, float32), C = 10 one-hot classes, beta = {BETA_FRACTION} "
        "beta_max, stopping at a relative primal–dual gap ≤ 1e-6. Native time: median of 3 solves from the raw "
        "array (validation included; every run is in the JSON). Objectives and gaps of both solvers come from "
        f"the same certificate code. CVXPY (Clarabel) runs in a child process with a wall-clock cap and a {CAP_GB} GB "
        "memory cap; \"≥\" marks a run that did not finish (stopped at the cap, or out of memory): its time, and "
        "the speed ratio, are lower bounds.",
        "",
        _largest(big, bound),
    ]
    if est:
        text.append(
            f"Estimate (a model, not a measurement): CVXPY's time grows at least linearly in n·P, so scaling its "
            f"measured {est['from']} time gives ≥ {est['cvxpy_s']:,.0f} s at {big['n']:,} × {big['P']:,}, "
            f"≈ {est['speedup']:,.0f}× the native time."
        )
    if load:
        text.append(
            f"Load average (1/5/15 min) before: {', '.join(f'{x:.1f}' for x in load['before'])}; after: "
            f"{', '.join(f'{x:.1f}' for x in load['after'])} on {2} cores (other jobs shared the machine, so times "
            "carry that noise)."
        )
    return "\n".join(text)


def _largest(big: dict, bound: str) -> str:
    head = f"At {big['n']:,} × {big['P']:,}: native {big['native_s']:.2f} s (gap {big['native_gap']:.1e}); "
    if "cvxpy_s" not in big:
        return head + "CVXPY not run."
    if big.get("cvxpy_finished"):
        return head + f"CVXPY {big['cvxpy_s']:,.0f} s: **{big['speedup']:,.0f}×**."
    status = big["cvxpy_status"]
    if "memory" in status:
        return head + (f"CVXPY {status} after {big['cvxpy_s']:,.0f} s: it cannot solve this size on this machine "
                       f"within {CAP_GB} GB, so the only measured ratio is the trivial "
                       f"**{bound}{big['speedup']:,.0f}×** (time until it failed).")
    return head + f"CVXPY {status}: **{bound}{big['speedup']:,.0f}×**."


def headline(result: dict) -> str:
    finished = [r for r in result["table"] if r.get("cvxpy_finished")]
    agree = max(abs(r["objective_rel_diff"]) for r in finished) if finished else None
    big = result["table"][-1]
    bound = "≥ " if big.get("speedup_is_lower_bound") else ""
    return ((f"same objective as CVXPY/Clarabel (≤ {agree:.0e} relative) where it finishes; " if agree is not None else "")
            + f"at {big['n']:,} × {big['P']:,}: native {big['native_s']:.1f} s, {bound}{big['speedup']:,.0f}× "
            f"({big.get('cvxpy_status', 'CVXPY not run')})")
