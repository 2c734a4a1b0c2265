"""Run the command line in-process or as a real subprocess (test helper)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from neurorecon.cli import main


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


def assert_clean_failure(outcome: Outcome, fragment: str) -> None:
    assert outcome.code == 2, (outcome.code, outcome.err)
    assert "Traceback" not in outcome.err and "Traceback" not in outcome.out
    assert fragment in outcome.err, outcome.err
    assert len(outcome.err.strip().splitlines()) == 1, outcome.err


__all__ = ["cli", "cli_subprocess", "assert_clean_failure", "pytest"]
