"""``neurorecon export``: write a Network as NIR, a standalone Lava script, and/or lava-dl netx."""

from __future__ import annotations

from pathlib import Path

from neurorecon.cli import add_command
from neurorecon.cli._common import emit_json
from neurorecon.errors import NeuroreconError
from neurorecon.interchange.convention import DEFAULT_DT
from neurorecon._atomic import check_replaceable
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
The Lava directory must be new, empty or an earlier Lava export: any other folder (a run
directory, your own files) is refused and left untouched.
NIR uses the documented convention (--dt, default 1e-4 s; see docs/interchange.md). netx
(lava-dl 0.6.0 layout) holds fixed-point networks with one (du, dv, vth) group per layer and
weights netx rescales exactly; anything else is refused, never approximated.
"""

DEFAULTS = {"nir": "model.nir", "lava": "lava", "netx": "model.net"}


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


def _make_exports_dir(targets: dict[str, Path | None], model: Path) -> None:
    if any(t is not None and t.parent == model / "exports" for t in targets.values()):
        try:
            (model / "exports").mkdir(exist_ok=True)
        except OSError as exc:
            raise NeuroreconError(f"cannot create {model / 'exports'}: {exc.strerror or exc}") from None


def run(args) -> int:
    net = Network.load(args.model)
    targets = {kind: _target(args, kind) for kind in DEFAULTS}
    if not any(targets.values()):
        raise NeuroreconError("nothing to export: give --nir, --lava and/or --netx")
    # Check every requested artifact before writing any, so a refusal leaves nothing half-done.
    if targets["nir"]:
        to_nir(net, args.dt)
    if targets["netx"]:
        netx_layers(net)
    if targets["lava"]:
        check_lava_export(net)
        if targets["lava"].parent.is_dir():  # a folder neurorecon did not write is refused, untouched
            check_replaceable(targets["lava"], LAVA_KIND)
    _make_exports_dir(targets, Path(args.model))
    written = {}
    if targets["nir"]:
        written["nir"] = str(write_nir(net, targets["nir"], args.dt))
    if targets["lava"]:
        written["lava"] = str(write_lava_script(net, targets["lava"]))
    if targets["netx"]:
        written["netx"] = str(write_netx(net, targets["netx"]))
    if args.json:
        emit_json({"written": written, "arithmetic": net.arithmetic, "dt": args.dt, "layers": net.sizes})
    else:
        for kind, path in written.items():
            hint = f" (run: python {Path(path) / SCRIPT_NAME} --input X.npz --out out.npz)" if kind == "lava" else ""
            print(f"wrote {kind}: {path}{hint}")
    return 0
