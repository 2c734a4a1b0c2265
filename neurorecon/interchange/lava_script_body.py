"""Body of the standalone Lava script that ``neurorecon export --lava`` writes.

This file is copied verbatim (after a generated docstring describing the network) into the
exported script, so it must not import neurorecon: it needs only numpy and lava-nc 0.10.0.
"""

import argparse
import importlib
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np

PARAMS = Path(__file__).resolve().with_name("network_params.npz")
TAGS = ("fixed_pt", "floating_pt")


class ScriptError(Exception):
    """Bad input: printed as one line, exit code 2."""


def import_lava():
    """Import lava-nc 0.10.0, fixing its one Python 3.11 incompatibility first.

    lava-nc 0.10.0 declares Python < 3.11. On 3.11 exactly one module fails to import:
    lava/magma/compiler/var_model.py gives three dataclass fields a mutable ByteEncoder()
    default, which 3.11 rejects. We load that module from Lava's own source with those defaults
    rewritten to field(default_factory=ByteEncoder), before any other Lava import, without
    touching site-packages. Lava's worker processes are forked and inherit the fixed module.
    """
    name = "lava.magma.compiler.var_model"
    if importlib.util.find_spec("lava") is None:
        raise ScriptError("lava-nc 0.10.0 is not installed (pip install --no-deps lava-nc==0.10.0)")
    if sys.version_info >= (3, 11) and name not in sys.modules:
        spec = importlib.util.find_spec(name)
        source = spec.loader.get_source(name)
        pattern = r":\s*ByteEncoder\s*=\s*ByteEncoder\(\)"
        source, count = re.subn(pattern, ": ByteEncoder = field(default_factory=ByteEncoder)", source)
        if count:
            imports = "from dataclasses import dataclass, InitVar"
            source = source.replace(imports, imports + ", field", 1)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        exec(compile(source, spec.origin, "exec"), module.__dict__)
    for module in ("lava.magma.core.run_configs", "lava.magma.core.run_conditions", "lava.proc.io.source",
                   "lava.proc.lif.process", "lava.proc.dense.process", "lava.proc.monitor.process",
                   "lava.utils.weightutils", "lava.utils.loihi"):
        importlib.import_module(module)


def load_layers(tag):
    """Per-layer parameters for ``tag``: integers for fixed_pt, floats for floating_pt."""
    prefix = "fixed" if tag == "fixed_pt" else "float"
    with np.load(PARAMS, allow_pickle=False) as f:
        params = {key: f[key] for key in f.files}
    if f"{prefix}_0_weights" not in params:
        raise ScriptError(f"this network has no {tag} parameters (a float network runs on floating_pt only)")
    layers = []
    for i in range(int(params["n_layers"])):
        layer = {key[len(f"{prefix}_{i}_"):]: value for key, value in params.items() if key.startswith(f"{prefix}_{i}_")}
        layers.append(layer)
    return layers


def groups(layer):
    """Neuron indices of each distinct (du, dv, vth): Lava shares these per LIF process."""
    keys = np.stack([layer["du"], layer["dv"], layer["vth"]], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return [np.flatnonzero(inverse.reshape(-1) == g) for g in np.argsort(first)]


def block_diagonal(weights, members, batch):
    """``batch`` disjoint copies of ``weights`` (rows outside ``members`` zeroed): one per sample."""
    rows = np.zeros_like(weights)
    rows[members] = weights[members]
    return np.kron(np.eye(batch, dtype=weights.dtype), rows)


def dense(weights, layer, prefix, fixed):
    from lava.proc.dense.process import Dense
    from lava.utils.weightutils import SignMode

    if not fixed:
        return Dense(weights=weights, num_message_bits=int(layer.get(prefix + "num_message_bits", 0)))
    return Dense(
        weights=weights,
        weight_exp=int(layer[prefix + "weight_exp"]),
        num_weight_bits=int(layer[prefix + "num_weight_bits"]),
        sign_mode=SignMode[str(layer[prefix + "sign_mode"]).upper()],
        num_message_bits=int(layer.get(prefix + "num_message_bits", 0)),
    )


def run_batch(layers, x, n_steps, tag, hardware, record):
    """Build RingBuffer -> (Dense -> LIF per group) -> ... with Monitors, run, read back."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    fixed = tag == "fixed_pt"
    batch, t_in, n_in = x.shape
    data = np.zeros((batch * n_in, n_steps), dtype=np.int64 if fixed else np.float64)
    steps = min(t_in, n_steps)
    data[:, :steps] = x[:, :steps].transpose(0, 2, 1).reshape(batch * n_in, steps)  # frame k at step k+1
    source = RingBuffer(data=data)
    inputs, probes, populations = [source.s_out], [], []
    for i, layer in enumerate(layers):
        n = layer["du"].size
        cast = int if fixed else float
        procs = []
        for members in groups(layer):
            # One LIF process per (du, dv, vth) group, spanning the whole layer: neurons outside
            # the group get no input and no bias, stay at 0 and never spike, so summing the
            # group processes' spikes on the next Dense gives the layer's spike vector.
            mask = np.isin(np.arange(n), members)
            lif = LIF(
                shape=(batch * n,),
                du=cast(layer["du"][members[0]]), dv=cast(layer["dv"][members[0]]), vth=cast(layer["vth"][members[0]]),
                bias_mant=np.tile(np.where(mask, layer["bias_mant"], 0), batch),
                bias_exp=np.tile(np.where(mask, layer["bias_exp"], 0), batch),
            )
            feed = dense(block_diagonal(layer["weights"], members, batch), layer, "", fixed)
            for port in inputs:
                port.connect(feed.s_in)
            feed.a_out.connect(lif.a_in)
            for var in record:
                monitor = Monitor()
                target = {"spikes": lif.s_out, "v": lif.v, "u": lif.u}[var]
                monitor.probe(target, n_steps)
                probes.append((i, var, members, lif, monitor, target))
            procs.append((members, lif))
        if "rec_weights" in layer:  # recurrent Dense: the layer's spikes back to its own input
            for members, lif in procs:
                lateral = dense(block_diagonal(layer["rec_weights"], members, batch), layer, "rec_", fixed)
                for _, other in procs:
                    other.s_out.connect(lateral.s_in)
                lateral.a_out.connect(lif.a_in)
        populations.append(procs)
        inputs = [lif.s_out for _, lif in procs]
    run_cfg = Loihi2HwCfg(select_tag="fixed_pt") if hardware else Loihi2SimCfg(select_tag=tag)
    out = {}
    try:
        source.run(condition=RunSteps(num_steps=n_steps), run_cfg=run_cfg)
        for i, var, members, lif, monitor, target in probes:
            raw = np.asarray(monitor.get_data()[lif.name][target.name]).reshape(n_steps, batch, -1)
            full = out.setdefault(f"{var}_{i}", np.zeros((batch, n_steps, raw.shape[2])))
            full[:, :, members] = raw.transpose(1, 0, 2)[:, :, members]
        for i, procs in enumerate(populations):
            for members, lif in procs:
                final = np.asarray(lif.v.get()).reshape(batch, -1)
                full = out.setdefault(f"final_v_{i}", np.zeros(final.shape))
                full[:, members] = final[:, members]
    finally:
        source.stop()
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help=".npz file with X (n_samples, T, n_inputs)")
    p.add_argument("--out", required=True, help="output .npz: spikes_<i>, v_<i> (n, steps, N_i), final_v_<i>")
    p.add_argument("--tag", choices=TAGS, default=None, help="Lava model tag (default: the network's arithmetic)")
    p.add_argument("--hardware", action="store_true", help="run on a Loihi 2 board (Loihi2HwCfg; needs lava-loihi)")
    p.add_argument("--steps", default=None, help="time steps: an integer, or 'readout' for T + n_layers (default: T)")
    p.add_argument("--record", default="spikes,v", help="comma-separated: spikes,v,u")
    p.add_argument("--batch", type=int, default=16, help="samples per Lava run (disjoint copies of the network)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with np.load(PARAMS, allow_pickle=False) as f:
        arithmetic, n_inputs, n_layers = str(f["arithmetic"]), int(f["n_inputs"]), int(f["n_layers"])
    tag = args.tag or ("fixed_pt" if arithmetic == "fixed" else "floating_pt")
    record = [r for r in args.record.split(",") if r]
    if any(r not in ("spikes", "v", "u") for r in record):
        raise ScriptError(f"--record takes spikes, v and u; got {args.record!r}")
    if args.batch < 1:
        raise ScriptError("--batch must be at least 1")
    import_lava()
    if args.hardware:
        from lava.utils.loihi import is_installed

        if not is_installed():
            raise ScriptError(
                "--hardware needs Intel's Loihi 2 runtime (lava-loihi, available to INRC members), which is not "
                "installed here; run without --hardware to use Lava's CPU simulator (fixed_pt is bit-exact)"
            )
        if tag != "fixed_pt":
            raise ScriptError("--hardware runs fixed_pt only")
    layers = load_layers(tag)
    try:
        with np.load(args.input, allow_pickle=False) as f:
            x = f["X"]
    except (OSError, KeyError, ValueError) as exc:
        raise ScriptError(f"cannot read X from {args.input}: {exc}") from None
    if x.ndim != 3 or x.shape[2] != n_inputs or x.shape[0] == 0 or x.shape[1] == 0:
        raise ScriptError(f"X must have shape (n_samples, T, {n_inputs}); got {x.shape}")
    if not np.all(np.isfinite(x)) or x.min() < 0:
        raise ScriptError("X must hold finite, non-negative values (spikes or payloads)")
    if args.steps == "readout":
        n_steps = x.shape[1] + n_layers
    else:
        try:
            n_steps = x.shape[1] if args.steps is None else int(args.steps)
        except ValueError:
            raise ScriptError(f"--steps must be an integer or 'readout'; got {args.steps!r}") from None
    if n_steps < 1:
        raise ScriptError("--steps must be at least 1")
    results = {}
    for start in range(0, len(x), args.batch):
        part = run_batch(layers, x[start:start + args.batch], n_steps, tag, args.hardware, record)
        for key, value in part.items():
            results.setdefault(key, []).append(value)
    dtype = np.int32 if tag == "fixed_pt" else np.float64
    arrays = {k: np.concatenate(v) for k, v in results.items()}
    arrays = {k: (v != 0 if k.startswith("spikes") else v.astype(dtype)) for k, v in arrays.items()}
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)  # atomic: a failed run never leaves a half-written output
    config = "Loihi2HwCfg" if args.hardware else "Loihi2SimCfg"
    print(f"ran {len(x)} samples x {n_steps} steps on {config}({tag}); wrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ScriptError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
