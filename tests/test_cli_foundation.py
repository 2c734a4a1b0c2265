"""`neurorecon profiles`, `simulate` and `demo` on the command line, good and bad input."""

import json

import numpy as np
import pytest
from clitools import assert_clean_failure, cli, cli_subprocess

import neurorecon as nr


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(0)
    net = nr.Network([nr.LIFLayer(rng.integers(-100, 100, (6, 4)), du=[10, 10, 20, 20, 10, 20], dv=5, vth=20),
                      nr.LIFLayer(rng.integers(-100, 100, (2, 6)), du=4095, dv=0, vth=2**17 - 1)])
    net.save(tmp_path / "model.h5")
    x = (rng.random((3, 7, 4)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "x.npz", X=x)
    return net, x, tmp_path


def test_profiles_table_and_json(capsys):
    out = cli(capsys, "profiles")
    assert out.code == 0 and "loihi2" in out.out and "loihi1" in out.out
    data = json.loads(cli(capsys, "profiles", "--json").out)
    assert {p["name"] for p in data} >= {"loihi1", "loihi2", "float"}


def test_simulate_writes_records(capsys, model):
    net, x, tmp = model
    out = cli(capsys, "simulate", tmp / "model.h5", "--input", tmp / "x.npz", "--out", tmp / "o.npz",
              "--steps", "readout", "--record", "spikes,v,u", "--json")
    assert out.code == 0, out.err
    summary = json.loads(out.out)
    assert summary["n_steps"] == 9 and summary["backend"] == "emulator"
    with np.load(tmp / "o.npz") as f:
        ref = nr.simulate(net, x, n_steps=9, record=("spikes", "v", "u"))
        np.testing.assert_array_equal(f["v_1"], ref.v[1])
        np.testing.assert_array_equal(f["spikes_0"], ref.spikes[0])
        np.testing.assert_array_equal(f["u_0"], ref.u[0])


def test_simulate_on_lava_equals_emulator(capsys, model):
    net, x, tmp = model
    assert cli(capsys, "simulate", tmp, "--input", tmp / "x.npz", "--out", tmp / "e.npz").code == 2  # no network.h5
    (tmp / "run").mkdir()
    net.save(tmp / "run" / "network.h5")
    rec = ("--record", "spikes,v")
    assert cli(capsys, "simulate", tmp / "run", "--input", tmp / "x.npz", "--out", tmp / "e.npz", *rec).code == 0
    out = cli(capsys, "simulate", tmp / "run", "--input", tmp / "x.npz", "--out", tmp / "l.npz", "--backend", "lava", *rec)
    assert out.code == 0
    assert "Lava run batches (3 samples each): 1/1" in out.err  # progress on stderr (plain lines: not a terminal)
    with np.load(tmp / "e.npz") as e, np.load(tmp / "l.npz") as l:
        for key in ("spikes_0", "v_0", "spikes_1", "v_1", "final_v_1"):
            np.testing.assert_array_equal(e[key], l[key])
    out = cli(capsys, "simulate", tmp / "run", "--input", tmp / "x.npz", "--out", tmp / "n.npz", "--backend", "lava", "--quiet")
    assert out.code == 0 and out.err == ""
    with np.load(tmp / "n.npz") as n, np.load(tmp / "l.npz") as l:  # by default only the final voltages
        assert sorted(n.files) == ["final_v_0", "final_v_1"]
        np.testing.assert_array_equal(n["final_v_1"], l["final_v_1"])


def test_simulate_bad_inputs(capsys, model):
    net, x, tmp = model
    np.savez(tmp / "nokey.npz", Y=x)
    np.savez(tmp / "nan.npz", X=np.full((1, 2, 4), np.nan))
    np.savez(tmp / "rank.npz", X=np.ones((2, 4)))
    (tmp / "junk.npz").write_text("nope")
    (tmp / "junk.h5").write_text("nope")
    base = ["simulate", tmp / "model.h5", "--out", tmp / "o.npz", "--input"]
    assert_clean_failure(cli(capsys, *base, tmp / "absent.npz"), "does not exist")
    assert_clean_failure(cli(capsys, *base, tmp / "nokey.npz"), "no array named X")
    assert_clean_failure(cli(capsys, *base, tmp / "nan.npz"), "NaN")
    assert_clean_failure(cli(capsys, *base, tmp / "rank.npz"), "dimensions")
    assert_clean_failure(cli(capsys, *base, tmp / "junk.npz"), "not a readable .npz")
    assert_clean_failure(cli(capsys, *base, tmp / "x.npz", "--steps", "many"), "--steps")
    assert_clean_failure(cli(capsys, *base, tmp / "x.npz", "--record", "w"), "record")
    assert_clean_failure(cli(capsys, *base, tmp / "x.npz", "--backend", "gpu"), "invalid choice")
    assert_clean_failure(cli(capsys, "simulate", tmp / "junk.h5", "--input", tmp / "x.npz", "--out", tmp / "o.npz"), "HDF5")
    (tmp / "afile").write_text("x")
    assert_clean_failure(cli(capsys, "simulate", tmp / "model.h5", "--input", tmp / "x.npz", "--out", tmp / "afile" / "o.npz"),
                         "cannot create")
    assert_clean_failure(cli(capsys, "simulate", tmp / "model.h5", "--input", tmp / "x.npz", "--out", tmp / "o.npz",
                             "--backend", "loihi2-hw"), "lava-loihi")
    assert not (tmp / "o.npz").exists()


def test_unknown_command_and_missing_arguments(capsys):
    assert_clean_failure(cli(capsys, "fly"), "invalid choice")
    assert_clean_failure(cli(capsys, "simulate"), "required")


def test_console_entry_point_demo_trains_exports_and_agrees_with_lava(tmp_path):
    run = tmp_path / "demo"
    out = cli_subprocess("demo", "--samples", "6", "--witnesses", "120", "--rounds", "0", "--out", run, "--json")
    assert out.code == 0, out.err
    summary = json.loads(out.out)
    assert summary["agree"] is True and summary["lava_emulator_differences"] == 0
    assert summary["solver_vs_chip_differences"] == 0
    assert summary["lava_samples"] == 6 and summary["emulator_test_accuracy"] > 0.5
    assert summary["cores_used"] >= 1 and summary["duality_gap"] <= 1e-6
    assert (run / "network.h5").is_file() and (run / "exports" / "model.nir").is_file()
    assert (run / "exports" / "lava" / "run_network.py").is_file()
    assert summary["exports"]["netx"] == str(run / "exports" / "model.net")  # trained netx-compatible
    assert (run / "exports" / "model.net").is_file()
    assert summary["netx_emulator_differences"] == 0
    assert json.loads((run / "demo.json").read_text()) == summary
