"""`neurorecon train` and `neurorecon evaluate` on the command line, good and bad input."""

import json

import numpy as np
import pytest
from clitools import assert_clean_failure, cli

SMALL = ["--T", "6", "--n-train", "300", "--n-test", "100", "--witnesses", "200", "--rounds", "1", "--json"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import neurorecon.cli as c

    out = tmp_path_factory.mktemp("runs") / "xor"
    code = c.main(["train", "first-last-xor", "--out", str(out), *SMALL])
    assert code == 0
    return out


def test_train_writes_network_and_metrics(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("train_accuracy", "test_accuracy", "duality_gap", "n_hidden", "dictionary_size", "train_seconds", "profile"):
        assert key in metrics, key
    assert metrics["profile"] == "loihi2" and metrics["test_accuracy"] >= 0.95
    assert metrics["duality_gap"] <= 1e-6
    assert (run_dir / "network.h5").is_file()


def test_evaluate_matches_metrics_and_lava_matches_emulator(capsys, run_dir):
    out = cli(capsys, "evaluate", run_dir, "--json")
    assert out.code == 0, out.err
    result = json.loads(out.out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["n_samples"] == 100 and result["accuracy"] == metrics["test_accuracy"]
    explicit = cli(capsys, "evaluate", run_dir, "--data", "first-last-xor", *SMALL[:6], "--json")
    assert json.loads(explicit.out)["accuracy"] == metrics["test_accuracy"]
    emu = json.loads(cli(capsys, "evaluate", run_dir, "--limit", "4", "--json").out)
    lava = json.loads(cli(capsys, "evaluate", run_dir, "--limit", "4", "--backend", "lava", "--json").out)
    assert lava["accuracy"] == emu["accuracy"] and lava["n_samples"] == 4
    floating = json.loads(cli(capsys, "evaluate", run_dir, "--backend", "float", "--json").out)
    # the float equivalent differs from the chip network only by Lava's roundings: on this task
    # their predictions agree on all 100 test sequences; allow 3 to differ
    assert floating["n_samples"] == 100 and abs(floating["accuracy"] - metrics["test_accuracy"]) <= 0.03


def test_per_step_task_reports_token_accuracy(capsys, tmp_path):
    out = cli(capsys, "train", "addition-base2", "--digits", "3", "--n-train", "300", "--n-test", "50",
              "--option", "ood_digits=6", "--witnesses", "200", "--rounds", "0", "--out", tmp_path / "add", "--json")
    assert out.code == 0, out.err
    metrics = json.loads(out.out)
    assert metrics["readout"] == "step" and "token_accuracy" in metrics["splits"]["test"]
    ood = json.loads(cli(capsys, "evaluate", tmp_path / "add", "--split", "ood-6", "--json").out)
    assert "token_accuracy" in ood and ood["n_samples"] == 50


def test_train_from_an_npz_file(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (200, 5, 3))
    y = X[:, -1, 0] + 2 * X[:, -1, 1]  # four classes from the last frame
    np.savez(tmp_path / "d.npz", X_train=X[:150], y_train=y[:150], X_test=X[150:], y_test=y[150:])
    # the answer is in the last frame: without synaptic delays every synapse delivers it in time
    out = cli(capsys, "train", tmp_path / "d.npz", "--out", tmp_path / "r", "--witnesses", "150", "--rounds", "0",
              "--max-delay", "0", "--json")
    assert out.code == 0, out.err
    assert json.loads(out.out)["test_accuracy"] > 0.9


def test_train_and_evaluate_bad_input(capsys, tmp_path, run_dir):
    (tmp_path / "junk.npz").write_text("junk")
    (tmp_path / "afile").write_text("x")
    assert_clean_failure(cli(capsys, "train", "no-such-task", "--out", tmp_path / "r"), "unknown task")
    assert_clean_failure(cli(capsys, "train", tmp_path / "junk.npz", "--out", tmp_path / "r"), "not a readable .npz")
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "afile"), "it is a file")
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "afile" / "r"), "is a file")
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "r", "--beta", "-1"), "--beta")
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "r", "--T", "1"), "T >= 2")
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "r", "--option", "x"), "KEY=VALUE")
    assert_clean_failure(cli(capsys, "train", "spike-order", "--out", tmp_path / "r", "--option", "n_markers=9"), "at most 5")
    assert_clean_failure(cli(capsys, "train", "delayed-match", "--out", tmp_path / "r", "--T", "10"), "too short")
    assert_clean_failure(cli(capsys, "train", "seq-digits", "--out", tmp_path / "r", "--readout", "step"), "one label per step")
    assert_clean_failure(cli(capsys, "train", "seq-digits", "--out", tmp_path / "r", "--time-constants", "2"), "TAU_U:TAU_V")
    assert_clean_failure(cli(capsys, "train", "seq-digits", "--out", tmp_path / "r", "--time-constants", "0:4"), "at least 1")
    for method in ("sg", "sg-cvx"):
        assert_clean_failure(cli(capsys, "train", "seq-digits", "--out", tmp_path / "r", "--netx-compatible",
                                 "--method", method), "for method cvx")
    assert_clean_failure(cli(capsys, "train", "seq-digits", "--out", tmp_path / "r", "--netx-compatible",
                             "--time-constants", "1:4,2:16"), "one time-constant pair")
    assert not (tmp_path / "r").exists()
    assert_clean_failure(cli(capsys, "evaluate", tmp_path / "none"), "no Network file")
    assert_clean_failure(cli(capsys, "evaluate", run_dir, "--split", "ood-3"), "no split")
    assert_clean_failure(cli(capsys, "evaluate", run_dir, "--limit", "0"), "--limit")
    assert_clean_failure(cli(capsys, "evaluate", run_dir, "seq-digits"), "inputs per step")


def test_netx_compatible_train_then_export_netx(capsys, tmp_path):
    run = tmp_path / "netx"
    out = cli(capsys, "train", "seq-digits", "--out", run, "--witnesses", "120", "--rounds", "0",
              "--netx-compatible", "--time-constants", "2:16", "--json")
    assert out.code == 0, out.err
    metrics = json.loads(out.out)
    assert metrics["training"]["verification"]["solver_vs_chip_differences"] == 0
    exported = cli(capsys, "export", run, "--netx", tmp_path / "m.net", "--json")
    assert exported.code == 0, exported.err
    assert (tmp_path / "m.net").is_file()
