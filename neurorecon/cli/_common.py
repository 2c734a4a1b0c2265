"""Helpers shared by the commands: reading inputs, printing results, writing npz atomically."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from neurorecon._atomic import atomic_path
from neurorecon.errors import NeuroreconError
from neurorecon.simulate import LAVA_TIMEOUT


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (compressed)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)  # by path, not an open file: see neurorecon._atomic


def emit_json(obj) -> None:
    """Print one JSON object on stdout (the ``--json`` output of every command)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def add_data_arguments(parser, required: bool = True) -> None:
    """DATA (a task name or .npz) and the task options every data-reading command takes."""
    parser.add_argument("data", nargs=None if required else "?", help="built-in task name or .npz data file")
    if not required:
        parser.add_argument("--data", dest="data_option", metavar="DATA", help="the same, as an option")
    group = parser.add_argument_group("task options (built-in tasks only)")
    group.add_argument("--T", dest="opt_T", type=int, help="sequence length (first-last-xor, timing tasks)")
    group.add_argument("--digits", dest="opt_n_digits", type=int, help="operand digits (addition-base*)")
    group.add_argument("--mnist-dir", dest="opt_mnist_dir", help="folder with the MNIST IDX files (seq-mnist)")
    group.add_argument("--encoding", dest="opt_encoding", choices=("binary", "graded"), help="pixel encoding")
    group.add_argument("--n-train", dest="opt_n_train", type=int, help="training sequences")
    group.add_argument("--n-test", dest="opt_n_test", type=int, help="test sequences")
    group.add_argument("--data-seed", dest="opt_seed", type=int, help="seed of the generated task data")
    group.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="any other task option (repeatable)")


def task_options(args) -> dict:
    """Task options given on the command line (only those set)."""
    options = {key[4:]: value for key, value in vars(args).items() if key.startswith("opt_") and value is not None}
    for item in args.option:
        if "=" not in item:
            raise NeuroreconError(f"--option must look like KEY=VALUE; got {item!r}")
        key, value = item.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        options[key.strip().replace("-", "_")] = value
    return options


def progress_option(args) -> bool:
    """The ``progress=`` every command passes: on stderr unless ``--quiet`` or ``--json``."""
    return not (getattr(args, "quiet", False) or getattr(args, "json", False))


def add_quiet(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr (also off with --json)")


def add_lava_timeout_argument(parser) -> None:
    """``--lava-timeout SECONDS``: how long one Lava batch may run before every Lava process is stopped."""
    parser.add_argument("--lava-timeout", type=_seconds, default=LAVA_TIMEOUT, metavar="SECONDS",
                        help=f"stop a Lava batch that runs longer than this, with all its processes "
                             f"(default {LAVA_TIMEOUT:g}; a failing Lava worker can otherwise hang a run)")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds; got {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds; got {value!r}")
    return seconds
