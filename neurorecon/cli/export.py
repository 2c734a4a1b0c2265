"""``neurorecon export``: write a Network as NIR, a standalone Lava script, and/or lava-dl netx."""

from __future__ import annotations

import sys
from pathlib import Path

from neurorecon.cli import EXIT_BAD_INPUT, EXIT_PARTIAL, add_command
from neurorecon.cli._common import emit_json
from neurorecon.errors import NeuroreconError
from neurorecon._atomic import check_replaceable
from neurorecon.interchange.convention import DEFAULT_DT
from neurorecon.interchange.lava_script import LAVA_KIND, SCRIPT_NAME, check_lava_export, write_lava_script
from neurorecon.interchange.netx import write_netx
from neurorecon.quantize.netx_grid import netx_layers
from neurorecon.interchange.nir_export import to_nir, write_nir
from neurorecon.network import Network

EXAMPLES = """  neurorecon export runs/braille --nir braille.nir
  neurorecon export runs/braille --nir --lava --netx          # into runs/braille/exports/
  neurorecon export model.h5 --lava lava_model/ --json
  python lava_model/run_network.py --input X.npz --out out.npz [--tag floating_pt] [--hardware]

Every artifact is written atomically (the Lava directory too: built aside, then renamed).
Each requested format is written when it can hold the network; one that cannot is refused
with the reason on stderr while the others are still written. Exit code: 0 all written,
3 some written and some refused, 2 none written.
The Lava directory must be new, empty or an earlier Lava export: any other folder (a run
directory, your own files) is refused and left untouched.
NIR uses the documented convention (--dt, default 1e-4 s; see docs/interchange.md). netx
(lava-dl 0.6.0 layout) holds fixed-point networks with one (du, dv, vth) group per layer and
weights netx rescales exactly; anything else is refused, never approximated.
"""

DEFAULTS = {"nir": "model.nir", "lava": "lava", "netx": "model.net"}
NETX_REMEDY = ("Train with `neurorecon train ... --netx-compatible` (method cvx) for a network netx holds "
               "exactly; NIR and Lava hold every network")


def add_parser(sub) -> None:
    p = add_command(sub, "export", "export a Network (run directory or file) to NIR, Lava and/or netx", EXAMPLES)
    p.add_argument("model", help="run directory or Network file (.h5)")
    p.add_argument("--nir", nargs="?", const="", default=None, metavar="FILE", help="write a NIR graph (.nir)")
    p.add_argument("--lava", nargs="?", const="", default=None, metavar="DIR", help="write a standalone Lava script directory")
    p.add_argument("--netx", nargs="?", const="", default=None, metavar="FILE", help="write a lava-dl netx HDF5 file (.net)")
    p.add_argument("--dt", type=float, default=DEFAULT_DT, help="NIR time step in seconds (default 1e-4)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=run)


def _target(args, kind: str) -> Path | None:
    value = getattr(args, kind)
    if value is None:
        return None
    if value:
        return Path(value)
    model = Path(args.model)
    if not model.is_dir():
        raise NeuroreconError(f"--{kind} needs a path when MODEL is a file (the default goes into RUN/exports/)")
    return model / "exports" / DEFAULTS[kind]


def _check(net: Network, kind: str, target: Path, dt: float) -> None:
    """Refuse, before writing, what this format cannot hold (NeuroreconError with the reason)."""
    if kind == "nir":
        to_nir(net, dt)
    elif kind == "lava":
        check_lava_export(net)
        check_replaceable(target, LAVA_KIND)  # a folder neurorecon did not write is refused, untouched
    else:
        try:
            netx_layers(net)
        except NeuroreconError as exc:
            raise NeuroreconError(f"{exc}. {NETX_REMEDY}") from None


def _write(net: Network, kind: str, target: Path, dt: float) -> Path:
    if kind == "nir":
        return write_nir(net, target, dt)
    if kind == "lava":
        return write_lava_script(net, target)
    return write_netx(net, target)


def run(args) -> int:
    net = Network.load(args.model)
    targets = {kind: _target(args, kind) for kind in DEFAULTS}
    targets = {kind: target for kind, target in targets.items() if target}
    if not targets:
        raise NeuroreconError("nothing to export: give --nir, --lava and/or --netx")
    # Each artifact is checked, then written, on its own: a format that cannot hold the network
    # is refused with its reason, and the others are still written (exit EXIT_PARTIAL).
    written, refused = {}, {}
    for kind, target in targets.items():
        try:
            _check(net, kind, target, args.dt)
            written[kind] = str(_write(net, kind, target, args.dt))
        except NeuroreconError as exc:
            refused[kind] = str(exc)
    if args.json:
        emit_json({"written": written, "refused": refused, "arithmetic": net.arithmetic, "dt": args.dt,
                   "layers": net.sizes})
    else:
        for kind, path in written.items():
            hint = f" (run: python {Path(path) / SCRIPT_NAME} --input X.npz --out out.npz)" if kind == "lava" else ""
            print(f"wrote {kind}: {path}{hint}")
    for kind, reason in refused.items():
        sys.stderr.write(f"neurorecon export: error: {kind} not written: {reason}\n")
    if not refused:
        return 0
    return EXIT_PARTIAL if written else EXIT_BAD_INPUT
