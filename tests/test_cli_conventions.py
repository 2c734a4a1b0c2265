"""Command-line conventions: --version, help for every option, missing parents, the umask."""

import argparse
import os
import stat

import numpy as np
import pytest
from clitools import assert_clean_failure, cli

import neurorecon as nr
from neurorecon.cli import build_parser


def _options(parser: argparse.ArgumentParser, name: str = "neurorecon"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from _options(sub, command)
        else:
            yield name, action


def test_every_option_of_every_command_has_help():
    seen = list(_options(build_parser()))
    assert {name for name, _ in seen} >= {"train", "evaluate", "simulate", "export", "report", "demo", "import-nir"}
    missing = [(name, a.option_strings or a.dest) for name, a in seen
               if not a.help or a.help == argparse.SUPPRESS or not a.help.strip()]
    assert missing == []


def test_version(capsys):
    out = cli(capsys, "--version")
    assert out.code == 0 and out.out.strip() == f"neurorecon {nr.__version__}"


@pytest.fixture
def small(tmp_path):
    net = nr.Network([nr.LIFLayer(np.array([[50, -20], [30, 40]]), du=100, dv=200, vth=60)])
    net.save(tmp_path / "m.h5")
    np.savez(tmp_path / "x.npz", X=np.ones((2, 3, 2), np.uint8))
    return tmp_path


def test_missing_out_parents_are_created(capsys, small):
    out = small / "a" / "b" / "o.npz"
    assert cli(capsys, "simulate", small / "m.h5", "--input", small / "x.npz", "--out", out).code == 0
    assert out.is_file()
    assert cli(capsys, "export", small / "m.h5", "--lava", small / "c" / "d" / "lava").code == 0
    assert (small / "c" / "d" / "lava" / "run_network.py").is_file()
    (small / "afile").write_text("x")
    assert_clean_failure(cli(capsys, "simulate", small / "m.h5", "--input", small / "x.npz",
                             "--out", small / "afile" / "o.npz"), "cannot create")


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_respect_the_umask(capsys, small, mask):
    old = os.umask(mask)
    try:
        assert cli(capsys, "simulate", small / "m.h5", "--input", small / "x.npz", "--out", small / "o" / "o.npz").code == 0
        assert cli(capsys, "export", small / "m.h5", "--lava", small / "lava", "--nir", small / "m.nir").code == 0
    finally:
        os.umask(old)

    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode(small / "o" / "o.npz") == 0o666 & ~mask
    assert mode(small / "o") == 0o777 & ~mask
    assert mode(small / "m.nir") == 0o666 & ~mask
    assert mode(small / "lava") == 0o777 & ~mask
    assert mode(small / "lava" / "run_network.py") == 0o777 & ~mask
    assert mode(small / "lava" / "network_params.npz") == 0o666 & ~mask
