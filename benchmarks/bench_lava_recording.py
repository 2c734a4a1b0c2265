"""Lava runs that record only what is asked for, against recording spikes and voltages.

The README quickstart's case: ``ReconstructionClassifier(profile="loihi2", n_witnesses=800,
column_generation_rounds=1, seed=0)`` on seq-digits, then 20 test sequences on Lava's CPU
simulator (``Loihi2SimCfg``, fixed_pt) for ``T + n_layers`` steps. Before, the quickstart
recorded ``spikes`` and ``v`` of every layer (the ``simulate`` default; the exported script's
``--record spikes,v`` default): a Lava ``Monitor`` per variable and (du, dv, vth) group. Now a
prediction records nothing per step: the final voltages are read from the LIF processes.
Both runs in the same process, on the same network; their final voltages must be equal.
"""

from __future__ import annotations

import time

import numpy as np

import neurorecon as nr
from neurorecon.simulate.lava_network import readout_predictions

from _common import md_table  # benchmarks/ is on sys.path (run_all.py)

TITLE = "Lava runs: record only what is asked for (quickstart case, 20 seq-digits sequences)"
SAMPLES = 20
RECORDINGS = [("nothing per step (final voltages only; now the default)", ()),
              ("spikes and v of every layer (the old default)", ("spikes", "v"))]


def run() -> dict:
    data = nr.load_data("seq-digits")
    clf = nr.ReconstructionClassifier(profile="loihi2", n_witnesses=800, column_generation_rounds=1, seed=0)
    clf.fit(data.X_train, data.y_train)
    net = clf.network_
    X, y = data.X_test[:SAMPLES], data.y_test[:SAMPLES]
    steps = nr.readout_steps(net, X.shape[1])
    rows, finals = [], []
    for name, record in RECORDINGS:
        start = time.perf_counter()
        result = nr.simulate(net, X, backend="lava", n_steps=steps, record=record)
        seconds = time.perf_counter() - start
        pred = readout_predictions(net.metadata["readout"], result.final_v[-1], None, X.shape[1], net.n_layers)
        finals.append(result.final_v)
        rows.append({"recording": name, "seconds": seconds, "accuracy": float((pred == y).mean())})
    same = all(np.array_equal(a, b) for a, b in zip(*finals))
    groups = len(net.layers[0].groups())
    return {"title": TITLE, "table": rows, "layers": net.sizes, "groups": groups, "same_final_v": same,
            "ratios": {"recorded / unrecorded": rows[1]["seconds"] / rows[0]["seconds"]}}


def markdown(result: dict) -> str:
    table = md_table(result["table"], [("recording", "recording"), ("seconds", "Lava seconds"),
                                       ("accuracy", "accuracy")])
    return (f"{table}\n\nNetwork {' -> '.join(map(str, result['layers']))} ({result['groups']} Lava LIF processes in "
            f"the hidden layer). Recording costs **{result['ratios']['recorded / unrecorded']:.1f}×** the run; "
            f"final voltages equal: {result['same_final_v']}. Shared machine (other jobs running): the ratio "
            "is the claim, not the seconds.")


def headline(result: dict) -> str:
    fast, slow = result["table"]
    return (f"20 sequences: {fast['seconds']:.0f} s unrecorded vs {slow['seconds']:.0f} s recording spikes and v "
            f"({result['ratios']['recorded / unrecorded']:.1f}×), same final voltages")
