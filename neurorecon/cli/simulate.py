"""``neurorecon simulate``: run a Network on inputs from an .npz file and save its records."""

from __future__ import annotations

from pathlib import Path

from neurorecon.cli import add_command
from neurorecon.cli._common import add_lava_timeout_argument, add_quiet, emit_json, progress_option, write_npz
from neurorecon.data.files import read_npz
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.simulate import BACKENDS, readout_steps, simulate

EXAMPLES = """  neurorecon simulate model.h5 --input X.npz --out out.npz
  neurorecon simulate runs/digits --input X.npz --out out.npz --backend lava --record spikes
  neurorecon simulate runs/digits --input X.npz --out out.npz --backend torch --device cuda
  neurorecon simulate model.h5 --input X.npz --out out.npz --steps readout --record spikes,v,u

X.npz holds X (n_samples, T, n_inputs). out.npz gets final_v_<i> (n_samples, N_i) of every
layer i, and the per-step records --record asks for: spikes_<i>, v_<i>, u_<i>, each (n_samples,
n_steps, N_i). Nothing per step is recorded by default: on Lava each recorded variable costs a
Monitor per layer and group and makes the run many times slower (as the exported script).
"""


def add_parser(sub) -> None:
    p = add_command(sub, "simulate", "simulate a Network (file or run directory) on input data", EXAMPLES)
    p.add_argument("model", help="Network file (.h5) or run directory")
    p.add_argument("--input", required=True, help=".npz file with an array X (n_samples, T, n_inputs)")
    p.add_argument("--out", required=True, help="output .npz file (written atomically)")
    p.add_argument("--backend", default="emulator", choices=BACKENDS,
                   help="emulator (bit-exact numpy, default), lava (Lava's CPU simulator) or loihi2-hw (a board), torch (the emulator on torch tensors)")
    p.add_argument("--device", default=None, help="torch backend: 'cpu' (default) or 'cuda'")
    p.add_argument(
        "--steps", default=None,
        help="time steps to run: an integer, or 'readout' for T + tail + n_layers (default: T)",
    )
    p.add_argument("--record", default="",
                   help="comma-separated per-step variables to record: spikes,v,u (default none)")
    add_lava_timeout_argument(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_quiet(p)
    p.set_defaults(handler=run)


def _steps(value: str | None, net: Network, t_in: int) -> int | None:
    if value is None:
        return None
    if value == "readout":
        return readout_steps(net, t_in)
    try:
        return int(value)
    except ValueError:
        raise NeuroreconError(f"--steps must be an integer or 'readout'; got {value!r}") from None


def run(args) -> int:
    if Path(args.out).resolve() == Path(args.input).resolve():
        raise NeuroreconError(f"--out {args.out} is the --input file; give another output file")
    net = Network.load(args.model)
    x = read_npz(args.input, ("X",))["X"]
    record = [r for r in args.record.split(",") if r]
    n_steps = _steps(args.steps, net, x.shape[1] if x.ndim == 3 else 0)
    result = simulate(net, x, backend=args.backend, n_steps=n_steps, record=record, progress=progress_option(args),
                      timeout=args.lava_timeout,
                      device=args.device)
    arrays = {}
    for i in range(net.n_layers):
        for name in ("spikes", "v", "u"):
            values = getattr(result, name)[i]
            if values is not None:
                arrays[f"{name}_{i}"] = values
        arrays[f"final_v_{i}"] = result.final_v[i]
    write_npz(args.out, arrays)
    summary = {
        "backend": result.backend,
        "n_samples": int(x.shape[0]),
        "n_steps": result.n_steps,
        "out": str(args.out),
        "spike_counts": [None if c is None else int(c.sum()) for c in result.spike_counts],
    }
    if args.json:
        emit_json(summary)
    else:
        print(f"simulated {summary['n_samples']} samples x {result.n_steps} steps on {result.backend}; wrote {args.out}")
    return 0
