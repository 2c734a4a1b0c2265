"""``neurorecon train``: data -> a chip network in a RUN directory (network.h5, metrics.json)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from neurorecon.cli import add_command
from neurorecon.cli._common import add_data_arguments, add_quiet, emit_json, progress_option, task_options
from neurorecon.data import load_data
from neurorecon.errors import NeuroreconError
from neurorecon.run import BLOCKS_DIR, check_run_target, save_run
from neurorecon.train.blocks import BlockStore
from neurorecon.train.cluster import check_cluster, parse_memory_limit
from neurorecon.train.pipeline import METHODS, float_model_name, train_dataset

EXAMPLES = """  neurorecon train seq-digits --profile loihi2 --out runs/digits
  neurorecon train first-last-xor --T 50 --out runs/xor50 --readout last
  neurorecon train seq-mnist --mnist-dir ../shared/data/mnist --out runs/mnist --witnesses 8000
  neurorecon train addition-base3 --out runs/add3 --json
  neurorecon train my_data.npz --profile loihi1 --out runs/mine --seed 3
  neurorecon train seq-digits --out runs/small --max-neurons 64 --weight-bits 4
  neurorecon train seq-digits --out runs/qat4 --method sg --qat --weight-bits 4   # SG + QAT peer
  neurorecon train seq-digits --out runs/netx --netx-compatible   # then: neurorecon export runs/netx --netx m.net
  neurorecon train seq-mnist --mnist-dir ../shared/data/mnist --out runs/m20k --witnesses 20000 --cluster local:4
  neurorecon train seq-mnist --mnist-dir ../shared/data/mnist --out runs/m20k --witnesses 20000 --resume
  neurorecon train seq-digits --out runs/gpu --device cuda

  neurorecon train spike-order --option noise_rate=0.05 --data-seed 3 --out runs/order

DATA is a built-in task (first-last-xor, addition-base2|3|5, seq-mnist, seq-digits; the timing
suite spike-order, delayed-match, latency-code, interval) or an .npz
with X_train (n, T, d) non-negative integers, y_train (n,) or (n, T), optional X_test, y_test.
RUN gets network.h5 (the chip network) and metrics.json (accuracies in the chip's arithmetic,
duality gap, sizes, timings, the cluster used, peak memory), all at once. Training into an existing run replaces it as a whole
(its exports/ and report/ too; files you added are kept); a folder that is not a run directory
and not empty is refused. Progress goes to stderr, with the data's shape first: X is read as
(sequences, time steps, channels), so data laid out (n, channels, T) shows there.
Finished blocks are kept in RUN/blocks while the run is unfinished: after an interruption, the
same command with --resume reuses them (a run without --resume starts over).
"""


def add_parser(sub) -> None:
    p = add_command(sub, "train", "train a spiking network by convex parameter reconstruction", EXAMPLES)
    add_data_arguments(p)
    p.add_argument("--profile", default="loihi2", help="hardware profile (default loihi2)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--method", default="cvx", choices=METHODS, help="training method (default cvx)")
    p.add_argument("--readout", default="auto", choices=("auto", "last", "count", "step"),
                   help="what the output layer reads: the last hidden spikes, spike counts, or one class per step "
                        "(default auto: chosen on a validation split)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the training (default 0; same seed, same bits)")
    p.add_argument("--witnesses", type=int, default=None,
                   help="random witnesses drawn first (default 500 with pricing, 2000 with --search random)")
    p.add_argument("--beta", default="auto", help="group-Lasso weight, or 'auto' (validation)")
    p.add_argument("--penalty", default="group", choices=("group", "l1"),
                   help="group: a hidden neuron is kept for all classes or none (default); l1: per weight")
    p.add_argument("--standardize", dest="standardize", action="store_const", const=True, default="auto",
                   help="weigh each hidden neuron's readout penalty by the standard deviation of its feature "
                        "(default: the better of weighed and plain on the validation split)")
    p.add_argument("--no-standardize", dest="standardize", action="store_const", const=False,
                   help="penalise every hidden neuron's readout row alike (the paper's group Lasso)")
    p.add_argument("--search", default="auto", choices=("auto", "pricing", "random"),
                   help="how column generation finds new witnesses: pricing trains them against the dual point, "
                        "random draws them (the paper's CVX); default auto: pricing for cvx, random for sg-cvx")
    p.add_argument("--rounds", type=int, default=None,
                   help="column-generation rounds (default 12 with pricing, 2 with --search random)")
    p.add_argument("--candidates", type=int, default=None,
                   help="candidate witnesses per round (default 128 with pricing, 1000 with --search random)")
    p.add_argument("--pricing-steps", type=int, default=None, help="Adam steps per pricing round (default 40)")
    p.add_argument("--module-size", type=int, default=None,
                   help="witnesses in recurrent modules of this many neurons (priced jointly with pricing)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop column generation before a round would overrun this (the network is the best "
                        "certified one found so far)")
    p.add_argument("--depth", type=int, default=1, choices=(1, 2), help="hidden layers (default 1)")
    p.add_argument("--weight-bits", type=int, default=8, help="Dense weight bits of every layer, 1-8 (default 8)")
    p.add_argument("--max-neurons", type=int, default=None,
                   help="budget: at most this many hidden neurons (beta is raised until the budget is met)")
    p.add_argument("--max-cores", type=int, default=None, help="budget: at most this many chip cores")
    p.add_argument("--time-constants", default=None, metavar="TU:TV[,TU:TV...]",
                   help="witness time constants (tau_u:tau_v in steps, 'inf' = no leak); default: a mix of 16 pairs")
    p.add_argument("--max-delay", default="auto", metavar="STEPS",
                   help="cvx: the witnesses' longest synaptic delay in steps, each synapse drawing its own "
                        "(0: none); default auto: 0.6 x the sequence length where the profile holds delays, "
                        "none for per-step labels (such networks export to Lava; NIR holds one delay per input "
                        "or per neuron only)")
    p.add_argument("--netx-compatible", action="store_true",
                   help="cvx: a network lava-dl's netx holds exactly (one time-constant pair, default 1:4)")
    p.add_argument("--fine-tune", type=int, default=0, metavar="EPOCHS",
                   help="cvx/sg-cvx: SG fine-tuning epochs after reconstruction, then a convex re-fit")
    sg = p.add_argument_group("surrogate-gradient options (sg, sg-cvx)")
    sg.add_argument("--sg-hidden", type=int, default=256, help="hidden neurons (default 256)")
    sg.add_argument("--sg-epochs", type=int, default=30, help="training epochs (default 30)")
    sg.add_argument("--sg-recurrent", action="store_true", help="a recurrent hidden layer")
    sg.add_argument("--sg-lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    sg.add_argument("--qat", action="store_true",
                    help="sg: quantization-aware training at --weight-bits (fake-quantized weights, "
                         "straight-through estimator), then PTQ")
    scale = p.add_argument_group("scale (cvx, sg-cvx)")
    scale.add_argument("--cluster", default=None, metavar="local:N|tcp://HOST:PORT",
                       help="run dictionary blocks on a Dask LocalCluster of N worker processes or an existing "
                            "scheduler (default: in this process); the network is the same either way")
    scale.add_argument("--device", default=None, choices=("cpu", "cuda"),
                       help="simulate dictionary blocks with the torch backend on this device, and run the solver's "
                            "dense products there (in-process dictionaries; default: numpy)")
    scale.add_argument("--memory-limit", default=None, metavar="SIZE",
                       help="bytes one process may hold, e.g. 4GB, or a fraction of the machine's memory "
                            "(default 0.5): sizes the blocks and bounds each local worker; a larger dictionary "
                            "is built and solved from disk, in blocks")
    scale.add_argument("--resume", action="store_true",
                       help="reuse the finished blocks of an interrupted run with the same --out")
    add_quiet(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=run)


def parse_time_constants(value: str | None) -> list[tuple[float, float]] | None:
    """``"1:4,2:inf"`` -> [(1.0, 4.0), (2.0, inf)]: witness (tau_u, tau_v) pairs in steps."""
    if value is None:
        return None
    pairs = []
    for item in value.split(","):
        try:
            tau_u, tau_v = (float(t) for t in item.split(":"))
        except ValueError:
            raise NeuroreconError(f"--time-constants takes TAU_U:TAU_V pairs separated by commas; got {value!r}") from None
        if not (tau_u >= 1 and tau_v >= 1):
            raise NeuroreconError(f"--time-constants: time constants are in steps, at least 1; got {item!r}")
        pairs.append((tau_u, tau_v))
    return pairs


def _beta(value: str) -> float | str:
    if value == "auto":
        return value
    try:
        beta = float(value)
    except ValueError:
        raise NeuroreconError(f"--beta must be a positive number or 'auto'; got {value!r}") from None
    if not beta > 0:
        raise NeuroreconError(f"--beta must be positive; got {value!r}")
    return beta


def _max_delay(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        steps = int(value)
    except ValueError:
        steps = -1
    if steps < 0:
        raise NeuroreconError(f"--max-delay takes a whole number of steps >= 0 or 'auto'; got {value!r}")
    return steps


def _scale_params(args) -> dict:
    scale = dict(cluster=args.cluster, device=args.device, memory_limit=args.memory_limit)
    if args.method == "sg":
        if args.cluster or args.device or args.memory_limit or args.resume:
            raise NeuroreconError("--cluster, --device, --memory-limit and --resume are for --method cvx and sg-cvx")
        return {}
    check_cluster(args.cluster)
    parse_memory_limit(args.memory_limit)
    store = BlockStore(Path(args.out) / BLOCKS_DIR)
    if not args.resume:
        store.clear()
    return dict(scale, block_store=str(store.directory))


def _only_blocks(out: str) -> bool:
    """Whether ``out`` holds nothing but the blocks of an interrupted run."""
    path = Path(out)
    return path.is_dir() and not path.is_symlink() and {p.name for p in path.iterdir()} == {BLOCKS_DIR}


def _resume_command(args) -> str:
    argv = list(args.argv) + ([] if "--resume" in args.argv else ["--resume"])
    return "neurorecon " + shlex.join(argv)


def run(args) -> int:
    if not _only_blocks(args.out):  # an interrupted run holds only its blocks
        check_run_target(args.out)
    existed = Path(args.out).exists()
    try:
        return _run(args)
    except NeuroreconError:
        if not args.resume:  # bad input found late: nothing of this run is left behind
            BlockStore(Path(args.out) / BLOCKS_DIR).clear()
            if not existed and Path(args.out).is_dir() and not any(Path(args.out).iterdir()):
                Path(args.out).rmdir()
        raise
    except KeyboardInterrupt:
        store = BlockStore(Path(args.out) / BLOCKS_DIR)
        sys.stderr.write(f"neurorecon train: interrupted; {store.count()} finished block(s) kept in {store.directory}; "
                         f"resume with: {_resume_command(args)}\n")
        return 130


def _run(args) -> int:
    dataset = load_data(args.data, **task_options(args))
    sg = dict(sg_hidden=args.sg_hidden, sg_epochs=args.sg_epochs, sg_recurrent=args.sg_recurrent, sg_lr=args.sg_lr)
    if args.qat and args.method != "sg":
        raise NeuroreconError("--qat (quantization-aware training) is for --method sg")
    if args.standardize != "auto" and args.method == "sg":
        flag = "--standardize" if args.standardize else "--no-standardize"
        raise NeuroreconError(f"{flag} is for the convex methods (cvx, sg-cvx), not --method sg")
    max_delay = _max_delay(args.max_delay)
    if max_delay != "auto" and args.method != "cvx":
        raise NeuroreconError(f"--max-delay is for --method cvx (random and priced witnesses), not {args.method}")
    if args.method == "sg":
        params = dict(readout=args.readout, netx_compatible=args.netx_compatible, weight_bits=args.weight_bits,
                      qat=args.qat, **sg)
    else:
        params = dict(readout=args.readout, n_witnesses=args.witnesses, beta=_beta(args.beta), penalty=args.penalty,
                      standardize=args.standardize, search=args.search, column_generation_rounds=args.rounds, candidates_per_round=args.candidates,
                      time_budget=args.time_budget, recurrent_module_size=args.module_size,
                      depth=args.depth, weight_bits=args.weight_bits,
                      max_neurons=args.max_neurons, max_cores=args.max_cores,
                      time_constants=parse_time_constants(args.time_constants), netx_compatible=args.netx_compatible,
                      max_delay=max_delay, **sg)
        if args.pricing_steps is not None:
            params["pricing_steps"] = args.pricing_steps
    params.update(_scale_params(args))
    if args.rounds is not None and args.rounds < 0:
        raise NeuroreconError(f"--rounds (column_generation_rounds) must be 0 or more; got {args.rounds}")
    if args.fine_tune < 0 or (args.fine_tune and args.method == "sg"):
        raise NeuroreconError("--fine-tune takes a positive number of epochs, with --method cvx or sg-cvx")
    net, metrics, model = train_dataset(
        dataset, method=args.method, profile=args.profile, seed=args.seed, fine_tune=args.fine_tune,
        progress=progress_option(args), **params,
    )
    if model is not None:
        BlockStore(Path(args.out) / BLOCKS_DIR).clear()  # the run is finished: nothing left to resume
    run_dir = save_run(args.out, net, metrics, None if model is None else model.readout_solution_)
    if args.json:
        emit_json(dict(metrics, out=str(run_dir)))
        return 0
    test = metrics.get("test_accuracy")
    gap = f", duality gap {metrics['duality_gap']:.1e}" if metrics.get("duality_gap") is not None else ""
    print(f"trained {dataset.name} with {args.method} on {metrics['profile']}: {metrics['n_hidden']} hidden neurons, "
          f"readout {metrics['readout']}{gap}")
    print(f"train accuracy {metrics['train_accuracy']:.4f}" + (f", test accuracy {test:.4f}" if test is not None else "")
          + " (chip arithmetic, bit-exact emulator)")
    if test is not None:
        print(f"{float_model_name(args.method)}: test accuracy {metrics['float_test_accuracy']:.4f}")
    for name, split in metrics["splits"].items():
        if name != "test":
            print(f"  {name}: accuracy {split['accuracy']:.4f} on {split['n_samples']} sequences")
    engine = metrics.get("engine")
    if engine is not None:
        cluster = engine["cluster"]
        print(f"blocks: {engine['blocks_computed']} computed, {engine['blocks_reused']} reused "
              f"({cluster['kind']}, {cluster['workers']} worker(s)); peak memory {metrics['peak_rss_bytes'] / 2**20:.0f} MiB")
    print(f"wrote {run_dir}")
    return 0
