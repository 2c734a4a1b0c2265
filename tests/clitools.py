"""Run the command line in-process or as a real subprocess (test helper)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from neurorecon.cli import main
from neurorecon.interchange.lava_script import SCRIPT_NAME


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def cli(capsys, *args) -> Outcome:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def cli_subprocess(*args, timeout: float = 600) -> Outcome:
    """Run the installed ``neurorecon`` console script."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "neurorecon"), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def run_script(directory, *args, timeout=240) -> Outcome:
    """Run the exported script in its own session so a hung Lava run can be killed whole."""
    proc = subprocess.Popen([sys.executable, str(directory / SCRIPT_NAME), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return Outcome(proc.returncode, out, err)


def assert_clean_failure(outcome: Outcome, fragment: str) -> None:
    assert outcome.code == 2, (outcome.code, outcome.err)
    assert "Traceback" not in outcome.err and "Traceback" not in outcome.out
    assert fragment in outcome.err, outcome.err
    assert len(outcome.err.strip().splitlines()) == 1, outcome.err


__all__ = ["cli", "cli_subprocess", "run_script", "assert_clean_failure", "pytest"]
