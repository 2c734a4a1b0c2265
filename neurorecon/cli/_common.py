"""Helpers shared by the commands: reading inputs, printing results, writing npz atomically."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from neurorecon._atomic import atomic_path
from neurorecon.errors import NeuroreconError


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (compressed)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


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


def progress_to_stderr(message: str) -> None:
    """Progress lines for long steps, on stderr so that --json output stays clean."""
    sys.stderr.write(f"[neurorecon] {message}\n")
    sys.stderr.flush()


def check_writable(out: str | Path) -> None:
    """Fail before a long computation, not after, when the output directory cannot be written."""
    path = Path(out)
    target = path if path.exists() else path.parent if str(path.parent) else Path(".")
    if path.exists() and not path.is_dir():
        raise NeuroreconError(f"cannot use {path} as a run directory: it is a file")
    if not target.is_dir():
        raise NeuroreconError(f"cannot create {path}: {target} does not exist")
    if not os.access(target, os.W_OK):
        raise NeuroreconError(f"cannot write into {target}: permission denied")
