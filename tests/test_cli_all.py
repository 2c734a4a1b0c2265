"""Every command: --help with examples, and a bad argument gives one line and exit code 2."""

import json

import numpy as np
import pytest
from clitools import assert_clean_failure, cli, cli_subprocess

from neurorecon.cli import build_parser

COMMANDS = ["profiles", "train", "evaluate", "simulate", "import-nir", "export", "resources", "report", "demo"]


def test_every_command_is_registered_and_documented(capsys):
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([name, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"neurorecon {name}" in out, name


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["profiles", "--colour"], "unrecognized arguments"),
        (["train", "no-such-task", "--out", "{tmp}/r"], "unknown task"),
        (["evaluate", "{tmp}/missing"], "no Network file"),
        (["simulate", "{tmp}/missing.h5", "--input", "{tmp}/x.npz", "--out", "{tmp}/o.npz"], "no Network file"),
        (["import-nir", "{tmp}/missing.nir", "--out", "{tmp}/r"], "missing.nir"),
        (["export", "{tmp}/missing", "--nir"], "no Network file"),
        (["resources", "{tmp}/missing.h5", "--profile", "loihi2"], "no Network file"),
        (["report", "{tmp}/missing"], "no Network file"),
        (["demo", "--samples", "0"], "--samples"),
    ],
)
def test_bad_argument_is_one_line_exit_2(capsys, tmp_path, args, fragment):
    out = cli(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert_clean_failure(out, fragment)


def test_real_console_script_has_no_traceback(tmp_path):
    out = cli_subprocess("evaluate", tmp_path / "missing")
    assert out.code == 2 and "Traceback" not in out.err and out.err.count("\n") == 1


def test_profiles_json_is_machine_readable(capsys):
    data = json.loads(cli(capsys, "profiles", "--json").out)
    assert all("resources" in p for p in data)


def test_simulate_json_summary(capsys, tmp_path):
    import neurorecon as nr

    nr.Network([nr.LIFLayer(np.ones((2, 3), dtype=int) * 50, du=4095, dv=0, vth=10)]).save(tmp_path / "m.h5")
    np.savez(tmp_path / "x.npz", X=np.ones((2, 4, 3), dtype=np.uint8))
    out = cli(capsys, "simulate", tmp_path / "m.h5", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--json")
    assert json.loads(out.out)["n_steps"] == 4
