"""Body of the standalone Lava script that ``neurorecon export --lava`` writes.

This file is copied verbatim (after a generated docstring describing the network) into
``run_network.py``. It must not import neurorecon: it needs numpy, lava-nc 0.10.0 and
``lava_network.py``, the copy of :mod:`neurorecon.simulate.lava_network` written beside it (the
same construction neurorecon's Lava backend runs). It is read as text, never imported inside
neurorecon (its ``lava_network`` import resolves only beside the exported script).
"""

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lava_network import RECORDABLE, TAGS, LavaBuildError, import_lava, loihi_runtime_available, run_batch  # noqa: E402

PARAMS = HERE / "network_params.npz"


class ScriptError(Exception):
    """Bad input: printed as one line, exit code 2."""


def load_layers(tag):
    """Per-layer arrays for ``tag``: integers for fixed_pt, floats for floating_pt."""
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


def read_input(path):
    """X from an .npz file; a .npy file, a folder or a damaged file is one clear line."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ScriptError(f"cannot read {path}: it is not an .npz file written by numpy.savez ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ScriptError(f"{path} is a single .npy array, not an .npz archive; write it with numpy.savez(path, X=...)")
    with data:
        if "X" not in data.files:
            raise ScriptError(f"{path} has no array named X (it has: {', '.join(data.files) or 'none'})")
        try:
            return data["X"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ScriptError(f"cannot read X from {path}: {exc}") from None


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
    record = tuple(r for r in args.record.split(",") if r)
    if any(r not in RECORDABLE for r in record):
        raise ScriptError(f"--record takes spikes, v and u; got {args.record!r}")
    if args.batch < 1:
        raise ScriptError("--batch must be at least 1")
    import_lava()
    if args.hardware:
        if not loihi_runtime_available():
            raise ScriptError(
                "--hardware needs Intel's Loihi 2 runtime (lava-loihi, available to INRC members), which is not "
                "installed here; run without --hardware to use Lava's CPU simulator (fixed_pt is bit-exact)"
            )
        if tag != "fixed_pt":
            raise ScriptError("--hardware runs fixed_pt only")
    layers = load_layers(tag)
    x = read_input(args.input)
    if x.ndim != 3 or x.shape[2] != n_inputs or x.shape[0] == 0 or x.shape[1] == 0:
        raise ScriptError(f"X must have shape (n_samples, T, {n_inputs}); got {x.shape}")
    if not np.all(np.isfinite(x)) or x.min() < 0:
        raise ScriptError("X must hold finite, non-negative values (spikes or payloads)")
    if int(layers[0]["num_message_bits"]) == 0 and (x.max() > 1 or not np.array_equal(x, np.round(x))):
        raise ScriptError(f"this network's first layer takes binary spikes (0/1), but X holds values up to {x.max():g}; "
                          "graded payloads need a network trained or imported with graded input")
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
    except (ScriptError, LavaBuildError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
