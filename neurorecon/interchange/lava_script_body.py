"""Body of the standalone Lava script that ``neurorecon export --lava`` writes.

This file is copied verbatim (after a generated docstring describing the network) into
``run_network.py``. It must not import neurorecon: it needs numpy, lava-nc 0.10.0 and
``lava_network.py``, the copy of :mod:`neurorecon.simulate.lava_network` written beside it (the
same construction neurorecon's Lava backend runs). It is read as text, never imported inside
neurorecon (its ``lava_network`` import resolves only beside the exported script).
"""

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lava_network import (  # noqa: E402
    RECORDABLE, TAGS, LavaBuildError, batch_size, import_lava, loihi_runtime_available, readout_predictions, run_batch,
)

PARAMS = HERE / "network_params.npz"
SHOWN_PREDICTIONS = 20  # printed on stdout; all of them are in the output file


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


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help=".npz file with X (n_samples, T, n_inputs) and optional labels y")
    p.add_argument("--out", required=True,
                   help="output .npz: final_v_<i> (n, N_i), predictions (classifiers), the recorded variables")
    p.add_argument("--tag", choices=TAGS, default=None, help="Lava model tag (default: the network's arithmetic)")
    p.add_argument("--hardware", action="store_true", help="run on a Loihi 2 board (Loihi2HwCfg; needs lava-loihi)")
    p.add_argument("--steps", default=None,
                   help="time steps: an integer, or 'readout' for T + tail + n_layers (default: readout for a classifier, "
                        "else T)")
    p.add_argument("--record", default="",
                   help="comma-separated per-step variables to record, spikes,v,u (default: none; each costs a Lava "
                        "Monitor per layer and makes the run many times slower)")
    p.add_argument("--batch", type=int, default=None,
                   help="samples per Lava run (disjoint copies of the network; default: as neurorecon's backend)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def read_input(path, n_inputs):
    """X (n, T, n_inputs), and the labels y when the file has them (else None)."""
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile)
    try:
        data = np.load(path, allow_pickle=False)
    except unreadable as exc:
        raise ScriptError(f"cannot read {path}: it is not an .npz file written by numpy.savez ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ScriptError(f"{path} is a single .npy array, not an .npz archive; write it with numpy.savez(path, X=...)")
    with data:
        if "X" not in data.files:
            raise ScriptError(f"{path} has no array named X (it has: {', '.join(data.files) or 'none'})")
        try:
            x = data["X"]
            y = data["y"] if "y" in data.files else None
        except unreadable as exc:
            raise ScriptError(f"cannot read X from {path}: {exc}") from None
    if x.ndim != 3 or x.shape[2] != n_inputs or x.shape[0] == 0 or x.shape[1] == 0:
        raise ScriptError(f"X must have shape (n_samples, T, {n_inputs}); got {x.shape}")
    if not np.all(np.isfinite(x)) or x.min() < 0:
        raise ScriptError("X must hold finite, non-negative values (spikes or payloads)")
    if y is not None and (y.shape[:1] != x.shape[:1] or y.ndim > 2 or not np.issubdtype(y.dtype, np.integer)):
        raise ScriptError(f"y must hold integer labels, (n_samples,) or (n_samples, T); got {y.dtype} {y.shape}")
    return x, y


def say(args, message):
    if not args.quiet:
        sys.stderr.write(f"[run_network] {message}\n")
        sys.stderr.flush()


def run(args, layers, x, n_steps, tag, record, readout):
    """All batches; returns the arrays to save. A ``step`` readout also needs the output voltage trace."""
    last = len(layers) - 1
    probe, probe_layers = record, None
    if readout == "step" and "v" not in record:
        probe, probe_layers = record + ("v",), (None if record else [last])
    batch = args.batch or batch_size(layers, len(x))
    starts = range(0, len(x), batch)
    results, started = {}, time.perf_counter()
    for k, start in enumerate(starts):
        part = run_batch(layers, x[start:start + batch], n_steps, tag, args.hardware, probe, probe_layers)
        for key, value in part.items():
            results.setdefault(key, []).append(value)
        elapsed = time.perf_counter() - started
        left = elapsed / (k + 1) * (len(starts) - k - 1)
        say(args, f"batch {k + 1}/{len(starts)} ({min(start + batch, len(x))}/{len(x)} samples), "
                  f"{elapsed:.0f} s, about {left:.0f} s left")
    dtype = np.int32 if tag == "fixed_pt" else np.float64
    arrays = {k: np.concatenate(v) for k, v in results.items()}
    arrays = {k: (v != 0 if k.startswith("spikes") else v.astype(dtype)) for k, v in arrays.items()}
    if readout is not None:
        v_last = arrays.get(f"v_{last}")
        arrays["predictions"] = readout_predictions(readout, arrays[f"final_v_{last}"], v_last, x.shape[1], len(layers))
    return {k: v for k, v in arrays.items() if k.startswith(("final_v", "predictions")) or k.split("_")[0] in record}


def main(argv=None):
    args = parse_args(argv)
    with np.load(PARAMS, allow_pickle=False) as f:
        arithmetic, n_inputs, n_layers = str(f["arithmetic"]), int(f["n_inputs"]), int(f["n_layers"])
        tail = int(f["tail_steps"])
        readout = str(f["readout"]) if "readout" in f.files else None
    tag = args.tag or ("fixed_pt" if arithmetic == "fixed" else "floating_pt")
    record = tuple(r for r in args.record.split(",") if r)
    if any(r not in RECORDABLE for r in record):
        raise ScriptError(f"--record takes spikes, v and u; got {args.record!r}")
    if args.batch is not None and args.batch < 1:
        raise ScriptError("--batch must be at least 1")
    x, y = read_input(args.input, n_inputs)
    readout_steps = x.shape[1] + tail + n_layers
    steps = args.steps if args.steps is not None else ("readout" if readout else None)
    if steps == "readout":
        n_steps = readout_steps
    else:
        try:
            n_steps = x.shape[1] if steps is None else int(steps)
        except ValueError:
            raise ScriptError(f"--steps must be an integer or 'readout'; got {args.steps!r}") from None
    if n_steps < 1:
        raise ScriptError("--steps must be at least 1")
    if readout is not None and n_steps != readout_steps:
        readout = None  # a classifier's answer is read after T + tail + n_layers steps only
    if y is not None:
        if readout is None:
            raise ScriptError("labels y need a classifier network run for --steps readout (T + tail + n_layers steps)")
        answers = (len(x), x.shape[1]) if readout == "step" else (len(x),)
        if y.shape != answers:
            raise ScriptError(f"y has shape {y.shape} but this network ({readout} readout) answers {answers}")
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
    if int(layers[0]["num_message_bits"]) == 0 and (x.max() > 1 or not np.array_equal(x, np.round(x))):
        raise ScriptError(f"this network's first layer takes binary spikes (0/1), but X holds values up to {x.max():g}; "
                          "graded payloads need a network trained or imported with graded input")
    arrays = run(args, layers, x, n_steps, tag, record, readout)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)  # atomic: a failed run never leaves a half-written output
    config = "Loihi2HwCfg" if args.hardware else "Loihi2SimCfg"
    print(f"ran {len(x)} samples x {n_steps} steps on {config}({tag}); wrote {out}")
    if readout is not None:
        shown = arrays["predictions"][:SHOWN_PREDICTIONS].tolist()
        more = f" ... ({len(x)} in {out.name}: predictions)" if len(x) > SHOWN_PREDICTIONS else ""
        print(f"predictions ({readout} readout): {shown}{more}")
    if y is not None:
        print(f"accuracy {float((arrays['predictions'] == y).mean()):.4f} on {len(x)} samples")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ScriptError, LavaBuildError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
