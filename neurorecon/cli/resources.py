"""``neurorecon resources``: map a Network onto a profile's cores and report use and violations."""

from __future__ import annotations

import numpy as np

from neurorecon.cli import add_command
from neurorecon.cli._common import emit_json
from neurorecon.data.files import read_npz
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.resources import check_resources

EXIT_DOES_NOT_FIT = 1
DATA_KEYS = ("X", "X_train", "X_test")

EXAMPLES = """  neurorecon resources runs/digits                      # the profile the network was made for
  neurorecon resources model.h5 --profile loihi1
  neurorecon resources runs/digits --profile loihi2 --data data.npz --json

--data takes an .npz with X (n_samples, T, n_inputs), or a dataset with X_train / X_test
(every one present is used): the network is emulated on it and the measured peaks of a_in,
u and v are reported next to the static worst cases.

exit status: 0 the network fits (warnings, such as a possible 16-bit accumulator overflow or
a wrap on the data, allowed); 1 it does not fit (an error-level violation: too many cores, a
fan-in beyond the input axons, a number format the chip lacks); 2 bad input (missing or
corrupt file, unknown profile, bad .npz). The report is printed in cases 0 and 1.
"""


def add_parser(sub) -> None:
    p = add_command(sub, "resources", "map a Network onto a profile's cores; report use, limits and violations", EXAMPLES)
    p.add_argument("model", help="Network file (.h5) or run directory")
    p.add_argument("--profile", default=None,
                   help="profile name or TOML path (default: the profile named in the network's metadata)")
    p.add_argument("--data", default=None, help=".npz with X (or X_train / X_test) to measure peaks on")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def _data(path: str | None) -> np.ndarray | None:
    if path is None:
        return None
    arrays = read_npz(path, ())
    present = [arrays[key] for key in DATA_KEYS if key in arrays]
    if not present:
        raise NeuroreconError(f"{path} has no array named {' or '.join(DATA_KEYS)}")
    if len(present) == 1:
        return present[0]
    shapes = {a.shape[1:] for a in present}
    if len(shapes) != 1 or any(a.ndim != 3 for a in present):
        raise NeuroreconError(f"{path}: X_train and X_test must both be (n_samples, T, n_inputs) with the same T and inputs")
    return np.concatenate(present)


def run(args) -> int:
    net = Network.load(args.model)
    profile = args.profile or net.metadata.get("profile")
    if not profile:
        raise NeuroreconError("no --profile given and the network's metadata names none")
    report = check_resources(net, profile, _data(args.data))
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.to_text())
    return 0 if report.fits else EXIT_DOES_NOT_FIT
