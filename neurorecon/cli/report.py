"""``neurorecon report``: a self-contained HTML (and markdown) report of a training run."""

from __future__ import annotations

from neurorecon.cli import add_command
from neurorecon.cli._common import add_quiet, emit_json, progress_option
from neurorecon.errors import NeuroreconError
from neurorecon.run_report import build_report

EXAMPLES = """  neurorecon report runs/digits
  neurorecon report runs/mnist --lava-samples 0 --no-bit-sweep --json

Writes RUN/report/report.html (figures embedded), RUN/report/report.md and the PNG figures:
input and spike rasters (a sorted sample of wide layers) with the output voltages, true and
predicted class; float models vs the chip (emulator and Lava); the confusion matrix and
per-class accuracy; firing rates and synaptic operations per inference; integer weight
histograms; the (du, dv) mix of the selected neurons; accuracy vs beta; accuracy vs weight
bits; column-generation rounds; the core map. Progress goes to stderr.
"""


def add_parser(sub) -> None:
    p = add_command(sub, "report", "write the HTML/markdown report of a training run", EXAMPLES)
    p.add_argument("run", help="run directory written by `neurorecon train`")
    p.add_argument("--lava-samples", type=int, default=20, help="test sequences also run on Lava (0: none)")
    p.add_argument("--no-bit-sweep", action="store_true", help="skip the accuracy-vs-weight-bits sweep")
    p.add_argument("--json", action="store_true", help="print the written paths and tables as JSON")
    add_quiet(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.lava_samples < 0:
        raise NeuroreconError("--lava-samples must be 0 or more")
    result = build_report(args.run, lava_samples=args.lava_samples, bit_sweep=not args.no_bit_sweep,
                          progress=progress_option(args))
    if args.json:
        emit_json(result)
    else:
        print(f"wrote {result['html']} and {result['markdown']} ({len(result['figures'])} figures)")
    return 0
