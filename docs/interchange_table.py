"""Regenerate the fixture table of docs/interchange.md: `.venv/bin/python docs/interchange_table.py`.

For every NIR graph in ../shared/data/nir: does it import, what it becomes, emulator vs real
Lava (float and fixed), the quantization error for loihi2, float vs fixed spike agreement, and
(CubaLIF graphs) agreement with Norse 1.1.0 running the same graph. Inputs: Poisson spikes,
seed 0 (p=0.15 for the 12-input Braille graphs, p=0.6 for single-input graphs), T=100.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

import neurorecon as nr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from nirtools import emulator_aligned, run_norse  # noqa: E402

NIR_DIR = HERE.parent.parent / "shared" / "data" / "nir"
T, N_LAVA, N_DATA = 100, 4, 32


def _reason(message: str) -> str:
    if "is not supported" in message:
        return message.split(":")[0] + "; unsupported here: " + message.split("unsupported nodes here: ")[1]
    return message.split("is not a valid NIR graph: ")[-1]


def row(path: Path) -> str:
    name = path.stem
    try:
        graph = nr.interchange.read_nir(path)
        net = nr.from_nir(graph)
    except nr.NeuroreconError as exc:
        return f"| `{name}` | refused: {_reason(str(exc))} | | | | | | |"
    x = (np.random.default_rng(0).random((N_DATA, T, net.n_inputs)) < (0.6 if net.n_inputs == 1 else 0.15)).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = nr.from_nir(graph, "loihi2", data=x)
    steps = nr.readout_steps(net, T)
    agree = []
    for model in (net, fixed):
        emu = nr.simulate(model, x[:N_LAVA], n_steps=steps, record=("spikes", "v"))
        lava = nr.simulate(model, x[:N_LAVA], "lava", n_steps=steps, record=("spikes", "v"))
        spikes = all(np.array_equal(a, b) for a, b in zip(emu.spikes, lava.spikes))
        dv = max(float(np.abs(a - b).max()) for a, b in zip(emu.v, lava.v))
        agree.append("bit-exact" if spikes and dv == 0 else f"spikes {'equal' if spikes else 'DIFFER'}, max dv {dv:.1e}")
    q = fixed.metadata["nir_import"]["quantization"]["layers"]
    err = " / ".join(f"{max(l['errors']['weights'], l['errors']['recurrent_weights']):.1e}, {l['errors']['vth']:.0e}" for l in q)
    spike_agree = " / ".join(f"{l['activity']['spike_agreement']:.3f}" for l in q)
    names = [layer["neuron"].replace(".", "_") for layer in net.metadata["nir_import"]["layers"]]
    ours, theirs = emulator_aligned(net, x[:8]), run_norse(graph, x[:8], 1e-4, names)
    norse = " / ".join(f"{(a == theirs[k]).mean():.3f}" for a, k in zip(ours, names))
    sizes = " -> ".join(map(str, [net.n_inputs] + net.sizes))
    rec = ", ".join(str(i) for i, l in enumerate(net.layers) if l.recurrent is not None) or "-"
    types = ", ".join(l["type"] for l in net.metadata["nir_import"]["layers"])
    return f"| `{name}` | {sizes} ({types}) | {rec} | {agree[0]} | {agree[1]} | {err} | {spike_agree} | {norse} |"


def main() -> None:
    print("| graph | imports as | recurrent layer | emulator vs Lava, float | emulator vs Lava, fixed (loihi2) "
          "| quantization rel. error per layer (weights, vth) | float vs fixed spike agreement | vs Norse (spike agreement) |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(NIR_DIR.glob("*.nir")):
        print(row(path))


if __name__ == "__main__":
    main()
