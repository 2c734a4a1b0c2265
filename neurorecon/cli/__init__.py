"""The ``neurorecon`` command line.

Each command lives in its own module with ``add_parser(subparsers)``; bad input anywhere raises
:class:`~neurorecon.errors.NeuroreconError`, printed here as one line with exit code 2.
Exit codes: 0 done; 1 a check failed (the demo's Lava/emulator comparison); 2 bad input, nothing
written; 3 partly done (``export``: the formats that hold the network were written, the others
refused with their reasons); 130 interrupted; 141 output pipe closed (e.g. `| head`); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from neurorecon._version import __version__
from neurorecon.errors import NeuroreconError

EXIT_BAD_INPUT = 2  # bad input: nothing was written
EXIT_PARTIAL = 3  # some outputs written, others refused (e.g. `export --netx` of a network netx cannot hold)
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` runs: temporary outputs are
    removed and a Lava child's process group is killed before the command exits."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's error style: one line, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_BAD_INPUT)


def add_command(sub, name: str, help: str, examples: str) -> ArgumentParser:
    """A subcommand parser whose ``--help`` ends with usage examples."""
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> ArgumentParser:
    from neurorecon.cli import demo, evaluate, export, import_nir, profiles, report, resources, simulate, train

    parser = ArgumentParser(
        prog="neurorecon",
        description="Train spiking networks by convex parameter reconstruction, exact in Loihi's "
        "integer arithmetic, and run them on Lava.",
    )
    parser.add_argument("--version", action="version", version=f"neurorecon {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for module in (profiles, train, evaluate, simulate, import_nir, export, resources, report, demo):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return int(args.handler(args) or 0)
    except NeuroreconError as exc:
        sys.stderr.write(f"neurorecon {args.command}: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("neurorecon: interrupted\n")
        return 130
    except BrokenPipeError:  # stdout closed early (`neurorecon resources RUN | head -1`): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_BROKEN_PIPE
    except Terminated:
        sys.stderr.write("neurorecon: terminated\n")
        return EXIT_TERMINATED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
