"""Regenerate the fixture table of docs/interchange.md: `.venv/bin/python docs/interchange_table.py`.

For every NIR graph in ../shared/data/nir: does it import, what it becomes, emulator vs real
Lava (float and fixed), the quantization error for loihi2, float vs fixed spike agreement, and
agreement with a peer running the same graph (Norse 1.1.0; Sinabs 3.1.3 for the CNN, which Norse
cannot run). Inputs: Poisson spikes, seed 0 (p=0.15 for the 12-input Braille graphs, p=0.6 for
single-input graphs), T=100; the CNN: p=0.1, T=8, 4 samples (2 on Lava: its Dense layers hold
up to 4096 x 4096 weights).
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
from peertools import agreement, emulator_output, run_sinabs, sinabs_model  # noqa: E402

NIR_DIR = HERE.parent.parent / "shared" / "data" / "nir"
T, N_LAVA, N_DATA = 100, 4, 32
IMAGE_T, IMAGE_N_LAVA, IMAGE_N_DATA, IMAGE_P = 8, 2, 4, 0.1  # the CNN: 4096-wide Dense layers on Lava


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
    image = net.metadata.get("input_shape")
    t, n_lava, n_data = (IMAGE_T, IMAGE_N_LAVA, IMAGE_N_DATA) if image else (T, N_LAVA, N_DATA)
    p = IMAGE_P if image else 0.6 if net.n_inputs == 1 else 0.15
    x = (np.random.default_rng(0).random((n_data, t, *(image or [net.n_inputs]))) < p).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = nr.from_nir(graph, "loihi2", data=x)
    steps = nr.readout_steps(net, t)
    agree = []
    for model in (net, fixed):
        emu = nr.simulate(model, x[:n_lava], n_steps=steps, record=("spikes", "v"))
        lava = nr.simulate(model, x[:n_lava], "lava", n_steps=steps, record=("spikes", "v"))
        spikes = all(np.array_equal(a, b) for a, b in zip(emu.spikes, lava.spikes))
        dv = max(float(np.abs(a - b).max()) for a, b in zip(emu.v, lava.v))
        agree.append("bit-exact" if spikes and dv == 0 else f"spikes {'equal' if spikes else 'DIFFER'}, max dv {dv:.1e}")
    q = fixed.metadata["nir_import"]["quantization"]["layers"]
    err = " / ".join(f"{max(l['errors']['weights'], l['errors']['recurrent_weights']):.1e}, {l['errors']['vth']:.0e}" for l in q)
    spike_agree = " / ".join(f"{l['activity']['spike_agreement']:.3f}" for l in q)
    if image:  # Norse 1.1.0 cannot run it; Sinabs, its writer, can (with NIR's IF: one spike, reset to 0)
        theirs = run_sinabs(sinabs_model(graph, n_data, single_spike_reset=True), x.astype(np.float32))
        peer = f"Sinabs (output): {agreement(theirs, emulator_output(net, x)):.3f}"
    else:
        names = [layer["neuron"].replace(".", "_") for layer in net.metadata["nir_import"]["layers"]]
        ours, theirs = emulator_aligned(net, x[:8]), run_norse(graph, x[:8], 1e-4, names)
        peer = " / ".join(f"{(a == theirs[k]).mean():.3f}" for a, k in zip(ours, names))
    sizes = " -> ".join(map(str, ["x".join(map(str, image)) if image else net.n_inputs] + net.sizes))
    rec = ", ".join(str(i) for i, l in enumerate(net.layers) if l.recurrent is not None) or "-"
    types = ", ".join(l["type"] for l in net.metadata["nir_import"]["layers"])
    return f"| `{name}` | {sizes} ({types}) | {rec} | {agree[0]} | {agree[1]} | {err} | {spike_agree} | {peer} |"


def main(names: list[str]) -> None:
    """Every fixture's row, or only the named ones (``docs/interchange_table.py cnn_sinabs``)."""
    print("| graph | imports as | recurrent layer | emulator vs Lava, float | emulator vs Lava, fixed (loihi2) "
          "| quantization rel. error per layer (weights, vth) | float vs fixed spike agreement | vs a peer (spike agreement) |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(NIR_DIR.glob("*.nir")):
        if not names or path.stem in names:
            print(row(path), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
