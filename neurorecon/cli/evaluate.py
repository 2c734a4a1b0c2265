"""``neurorecon evaluate``: accuracy of a trained run on data, on any backend."""

from __future__ import annotations

from neurorecon.cli import add_command
from neurorecon._progress import Progress
from neurorecon.cli._common import (add_data_arguments, add_lava_timeout_argument, add_quiet, emit_json,
                                    progress_option, task_options)
from neurorecon.data import load_data
from neurorecon.data.dataset import describe_shape
from neurorecon.simulate import check_input
from neurorecon.errors import NeuroreconError
from neurorecon.quantize import dequantize_network
from neurorecon.run import load_network, read_metrics
from neurorecon.train.pipeline import split_accuracy

BACKENDS = ("emulator", "float", "lava", "lava-float", "loihi2-hw")
EXAMPLES = """  neurorecon evaluate runs/digits
  neurorecon evaluate runs/digits --data seq-digits --backend lava --limit 50 --json
  neurorecon evaluate runs/add3 --split ood-25
  neurorecon evaluate runs/mine --data other.npz --backend float

Without DATA the run's own task (from metrics.json) is rebuilt. The accuracy is on the test
split (or on all the data when it has none). Backends: emulator (bit-exact chip arithmetic),
lava (Lava's CPU simulator, fixed_pt), float / lava-float (the network's float equivalent on
the emulator / on Lava floating_pt), loihi2-hw (the board, with lava-loihi).
"""


def add_parser(sub) -> None:
    p = add_command(sub, "evaluate", "measure a trained network's accuracy", EXAMPLES)
    p.add_argument("run", help="run directory (or Network .h5 with classifier metadata)")
    add_data_arguments(p, required=False)
    p.add_argument("--split", default="test", help="split to evaluate: test (default), train, or an extra split")
    p.add_argument("--backend", default="emulator", choices=BACKENDS,
                   help="where the network runs (default emulator; see below)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N sequences")
    add_lava_timeout_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_quiet(p)
    p.set_defaults(handler=run)


def _dataset(args, net):
    if args.data and args.data_option:
        raise NeuroreconError("give DATA once (positional or --data)")
    if args.data or args.data_option:
        return load_data(args.data or args.data_option, **task_options(args))
    spec = net.metadata.get("data")
    if spec is None:
        try:
            spec = read_metrics(args.run).get("data")
        except NeuroreconError:
            spec = None
    if not spec:
        raise NeuroreconError("this run does not record its data; pass DATA")
    options = dict(spec.get("options", {}))
    if "path" in options:
        return load_data(options.pop("path"))
    return load_data(spec["name"], **{**options, **task_options(args)})


def run(args) -> int:
    net = load_network(args.run)
    if "readout" not in net.metadata:
        raise NeuroreconError(f"{args.run} holds no classifier (its network has no readout metadata)")
    dataset = _dataset(args, net)
    X, y = dataset.split(args.split)
    if X.shape[2] != net.n_inputs:
        raise NeuroreconError(f"the data has {X.shape[2]} inputs per step but the network expects {net.n_inputs}")
    if args.limit is not None:
        if args.limit < 1:
            raise NeuroreconError("--limit must be at least 1")
        X, y = X[: args.limit], y[: args.limit]
    progress = Progress(progress_option(args))
    backend = args.backend
    if backend in ("float", "lava-float"):
        if net.arithmetic == "fixed":
            net = dequantize_network(net)
        backend = "emulator" if backend == "float" else "lava"
    progress.say(f"evaluating on {dataset.name} [{args.split}]: {describe_shape(check_input(net, X))}")
    result = split_accuracy(net, X, y, backend=backend, progress=progress, timeout=args.lava_timeout)
    result.update(backend=args.backend, split=args.split, data=dataset.name, shape=list(X.shape))
    if args.json:
        emit_json(result)
    else:
        extra = f" (token-wise; whole sequences {result['sequence_accuracy']:.4f})" if "token_accuracy" in result else ""
        print(f"{dataset.name} [{args.split}] on {args.backend}: accuracy {result['accuracy']:.4f}{extra} "
              f"over {result['n_samples']} sequences")
    return 0
