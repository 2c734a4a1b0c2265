"""``neurorecon import-nir``: a NIR graph from another framework -> a RUN directory."""

from __future__ import annotations

import warnings

from neurorecon.cli import add_command
from neurorecon.cli._common import emit_json
from neurorecon.data.files import read_npz
from neurorecon.interchange.convention import SOURCES
from neurorecon.interchange.nir_import import RESETS, from_nir
from neurorecon.profiles import load_profile
from neurorecon.errors import NeuroreconError
from neurorecon.run import check_run_target, save_run
from neurorecon.train.convex.repair import repair_readout

EXAMPLES = """  neurorecon import-nir braille.nir --profile loihi2 --out runs/braille
  neurorecon import-nir braille.nir --profile loihi2 --out runs/braille --data X.npz --json
  neurorecon import-nir braille_subtract.nir --out runs/b2 --source-reset subtract
  neurorecon import-nir lif.nir --profile float --out runs/lif --dt 1e-3
  neurorecon import-nir norse_mlp.nir --profile loihi2 --data train.npz --refit-readout --out runs/fixed

The graph is read with forward Euler at --dt (default 1e-4 s; docs/interchange.md); Norse 1.1.0's
to_nir output is detected and read with Norse's convention and step (1e-3 s). A fixed
profile quantizes it; --data X.npz (X: n_samples, T, n_inputs) checks that quantization neither
silences nor saturates a layer. --refit-readout (with --data holding X and labels y) then
re-fits the last layer convexly on the chip's exact hidden spikes (certified; a 'count'
readout) and reports float, plain-PTQ and repaired chip accuracy on that data.
RUN gets network.h5 and metrics.json (the import report).
Then: neurorecon simulate RUN --input X.npz --out out.npz --backend lava
"""


def add_parser(sub) -> None:
    p = add_command(sub, "import-nir", "import a NIR graph (Norse, snnTorch, Rockpool, Sinabs...) as a Network", EXAMPLES)
    p.add_argument("graph", help="NIR file (.nir)")
    p.add_argument("--profile", default="loihi2", help="hardware profile (default loihi2; 'float' keeps floats)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--dt", type=float, default=None,
                   help="time step in seconds (default 1e-4; 1e-3, Norse's, for Norse's graphs)")
    p.add_argument("--source", choices=SOURCES + ("auto",), default="auto",
                   help="whose convention the graph follows (default auto: Norse's to_nir output is detected)")
    p.add_argument("--data", default=None, help=".npz with X to check activity after quantization")
    p.add_argument("--source-reset", choices=RESETS, default="zero",
                   help="how the source framework reset v ('subtract' warns: Lava resets to zero)")
    p.add_argument("--input-bits", type=int, default=0, help="graded input payload bits (default 0: spikes)")
    p.add_argument("--weight-exp", type=int, default=None, help="force one weight exponent (0 for netx export)")
    p.add_argument("--refit-readout", action="store_true",
                   help="re-fit the last layer convexly on the quantized network's spikes (needs --data with X, y)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    check_run_target(args.out)
    profile = load_profile(args.profile)
    if args.refit_readout and not args.data:
        raise NeuroreconError("--refit-readout needs --data X.npz with the inputs X and their labels y")
    if args.refit_readout and not profile.is_fixed:
        raise NeuroreconError(f"--refit-readout re-fits a quantized network; profile {profile.name} is float")
    arrays = read_npz(args.data, ("X", "y") if args.refit_readout else ("X",)) if args.data else {}
    data = arrays.get("X")
    options = dict(dt=args.dt, source_reset=args.source_reset, source=args.source, input_bits=args.input_bits)
    repair = None
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        net = from_nir(args.graph, profile, data=data, weight_exp=args.weight_exp, **options)
        if args.refit_readout:
            net_float = from_nir(args.graph, "float", **options)
            net, repair = repair_readout(net_float, net, data, arrays["y"], profile)
    report = net.metadata["nir_import"]
    metrics = {
        "command": "import-nir",
        "profile": profile.name,
        "arithmetic": net.arithmetic,
        "layers": net.sizes,
        "n_inputs": net.n_inputs,
        "nir_import": report,
        "repair": None if repair is None else repair.to_dict(),
    }
    run_dir = save_run(args.out, net, metrics)
    if args.json:
        emit_json(dict(metrics, out=str(run_dir)))
        return 0
    sizes = " -> ".join(map(str, net.sizes))
    print(f"imported {args.graph}: {net.n_inputs} inputs -> {sizes} ({net.arithmetic}, profile {profile.name})")
    for layer in report["layers"]:
        rec = "" if layer["recurrent"] is None else f", recurrent via {', '.join(layer['recurrent']) or 'a direct edge'}"
        sources = ", ".join(layer["linear"]) or "its input"
        print(f"  {layer['neuron']} ({layer['type']}, {layer['neurons']} neurons) <- {sources}{rec}")
    for note in report["notes"]:
        print(f"  note: {note}")
    if report["quantization"]:
        q = report["quantization"]
        checked = f" (activity checked on {q['data_samples']} samples)" if q["data_samples"] else ""
        print(f"  quantized for {q['profile']}{checked}")
        for layer in q["layers"]:
            errors = ", ".join(f"{k} {v:.2e}" for k, v in layer["errors"].items())
            scale = f"scale {layer['scale']:.4g}, weight_exp {layer['weight_exp']}"
            print(f"  layer {layer['layer']}: {scale}, relative errors: {errors}")
            if layer["activity"]:
                a = layer["activity"]
                rates = f"rate float {a['float_rate']:.4f} fixed {a['fixed_rate']:.4f}"
                print(f"    {rates}, spike agreement {a['spike_agreement']:.4f}")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    if repair is not None:
        a = repair.accuracy["data"]
        if repair.refitted:
            print(f"  readout repair: {repair.n_selected}/{repair.n_hidden} hidden neurons, beta {repair.beta:.4g}, "
                  f"duality gap {repair.duality_gap:.2e}")
        else:
            print(f"  readout repair: the quantized readout kept (validation accuracy {repair.kept_validation_accuracy:.4f}"
                  f" >= re-fit {repair.validation_accuracy:.4f})")
        print(f"  accuracy on {a['samples']} samples of --data: float {a['float']:.4f}, plain PTQ {a['ptq']:.4f}, "
              f"repaired {a['repaired']:.4f} (chip, bit-exact emulator)")
    print(f"wrote {run_dir}")
    return 0
