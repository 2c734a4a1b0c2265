"""Regenerate the peer table of docs/interchange.md: `.venv/bin/python docs/peers_table.py`.

Per NIR peer: does it load and run our export (the tests' two-layer networks: CubaLIF, or IF for
Sinabs), the output-spike agreement with our float arithmetic (seed-0 Bernoulli inputs, p = 0.3,
8 x 50 steps, each on its own time axis), and the same for a small model written by the peer's
own NIR writer and imported into neurorecon. The cases are tests/peertools.py's, so the numbers
are the tested ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import peertools as pt  # noqa: E402

from neurorecon.interchange import from_nir, to_nir  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(0)
    x = pt.spikes_in(rng)
    cuba, iaf = pt.cuba_net(rng), pt.if_net(rng)
    ours_cuba, ours_if = pt.emulator_output(cuba, x), pt.emulator_output(iaf, x)
    rows = []

    def ours_in(runner) -> str:
        return f"{pt.agreement(runner, ours_cuba):.3f}"

    snn = pt.run_snntorch(pt.snntorch_model(to_nir(cuba)), x)
    model, graph = pt.snntorch_writer()
    theirs = pt.agreement(pt.run_snntorch(model, x), pt.emulator_output(from_nir(graph), x))
    rows.append(("snnTorch 1.0.0", "yes (CubaLIF net)", ours_in(snn), f"{theirs:.3f}"))
    sin_default = pt.agreement(pt.run_sinabs(pt.sinabs_model(to_nir(iaf), len(x)), x), ours_if)
    sin_nir = pt.agreement(pt.run_sinabs(pt.sinabs_model(to_nir(iaf), len(x), True), x), ours_if)
    writer = []
    for nir_defaults in (False, True):
        model, graph = pt.sinabs_writer(len(x), nir_defaults)
        writer.append(pt.agreement(pt.run_sinabs(model, x), pt.emulator_output(from_nir(graph), x)))
    rows.append(("Sinabs 3.1.3", "yes (IF net; no CubaLIF import)", f"{sin_default:.3f} (NIR's IF: {sin_nir:.3f})",
                 f"{writer[0]:.3f} (NIR's IF: {writer[1]:.3f})"))
    rock = pt.run_rockpool(pt.rockpool_model(to_nir(cuba)), x)
    model, graph = pt.rockpool_writer()
    theirs = pt.agreement(pt.run_rockpool(model, x), pt.emulator_output(from_nir(graph, dt=1e-3), x))
    rows.append(("Rockpool 3.1.0", "yes (CubaLIF net)", ours_in(rock), f"{theirs:.3f} (at its dt, 1e-3)"))
    norse = []
    for cell in ("LIFBoxCell", "LIFCell"):
        model, graph = pt.norse_writer(cell)
        xn = pt.spikes_in(np.random.default_rng(0), width=5, t=60)
        norse.append(pt.agreement(pt.run_norse_module(model, xn), pt.emulator_output(from_nir(graph), xn)))
    rows.append(("Norse 1.1.0", "yes (tests/nirtools.py)", "see the fixture table",
                 f"{norse[0]:.3f} LIFBoxCell, {norse[1]:.3f} LIFCell (no --dt)"))
    print("| peer | loads and runs our export | agreement with our float spikes | its own writer's graph imports: agreement |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
