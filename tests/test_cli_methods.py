"""`neurorecon train --method sg|sg-cvx|cvx`, fine-tuning, budgets, then report and resources on
what train wrote: each end to end to a chip network whose Lava run equals the emulator."""

import json

import numpy as np
import pytest
from clitools import assert_clean_failure, cli

from neurorecon.data import load_data
from neurorecon.run import load_network
from neurorecon.simulate.predict import predict_network

TASK = ["first-last-xor", "--T", "3", "--n-train", "300", "--n-test", "100"]
SG = ["--sg-hidden", "32", "--sg-epochs", "20"]  # SG at 10 epochs sits near its floor on this task
CVX = ["--witnesses", "80", "--rounds", "0"]
# Test accuracy (chip, float) each method must reach on TASK; chance is 0.5. Measured with these
# settings for seeds 0-3 (shared machine): sg 0.67-0.82 (float 0.77-0.91; with 3 epochs, or at
# T=6 even with 20, it stays at chance), sg-cvx 1.0 (1.0), cvx + 2 fine-tuning epochs 0.90-1.0
# (0.90-1.0). The floors sit below the lowest of those.
FLOORS = {"sg": (0.62, 0.7), "sg-cvx": (0.95, 0.95), "cvx": (0.85, 0.85)}


def train(capsys, out, *args) -> dict:
    result = cli(capsys, "train", *TASK, "--out", out, "--json", *args)
    assert result.code == 0, result.err
    metrics = json.loads(result.out)
    assert metrics == {**json.loads((out / "metrics.json").read_text()), "out": str(out)}
    return metrics


def task():
    return load_data(TASK[0], T=3, n_train=300, n_test=100)


def assert_lava_equals_emulator(run, n=8):
    net = load_network(run)
    X = task().X_test[:n]
    assert np.array_equal(predict_network(net, X, backend="lava"), predict_network(net, X))


@pytest.mark.parametrize("method, args", [("sg", SG), ("sg", SG + ["--qat", "--weight-bits", "4"]),
                                          ("sg-cvx", SG + CVX), ("cvx", CVX + ["--fine-tune", "2"])])
def test_every_method_gives_a_lava_verified_chip_network(capsys, tmp_path, method, args):
    run = tmp_path / method
    metrics = train(capsys, run, "--method", method, *args)
    if "--qat" in args:  # trained on the 4-bit grid, mapped to it by PTQ without further weight rounding
        assert metrics["training"]["qat"] and metrics["training"]["weight_bits"] == 4
        assert all(layer["errors"]["weights"] < 1e-6 for layer in metrics["training"]["ptq"]["quantization"]["layers"])
        assert load_network(run).layers[0].num_weight_bits == 4
    assert metrics["method"] == method and metrics["profile"] == "loihi2"
    chip_floor, float_floor = FLOORS[method]
    assert metrics["test_accuracy"] >= chip_floor and metrics["float_test_accuracy"] >= float_floor, metrics
    net, data = load_network(run), task()
    assert net.arithmetic == "fixed"
    assert metrics["test_accuracy"] == np.mean(predict_network(net, data.X_test) == data.y_test)  # the saved network's
    assert metrics["train_accuracy"] == np.mean(predict_network(net, data.X_train) == data.y_train)
    if method != "sg" and metrics["training"]["kept"] == "convex readout":
        assert metrics["duality_gap"] <= 1e-6
        assert metrics["training"]["verification"]["solver_vs_chip_differences"] == 0
    if method == "sg-cvx":
        assert set(metrics["training"]["sg_baseline"]) == {"float", "chip"}
        assert metrics["test_accuracy"] >= metrics["training"]["sg_baseline"]["chip"]["test"]["accuracy"]
    if method == "cvx":
        assert metrics["fine_tune_epochs"] == 2
    assert_lava_equals_emulator(run)


def test_neuron_budget_is_met(capsys, tmp_path):
    metrics = train(capsys, tmp_path / "b", *CVX, "--max-neurons", "5")
    assert 1 <= metrics["n_hidden"] <= 5


def test_core_budget_is_met(capsys, tmp_path):
    run = tmp_path / "c"
    train(capsys, run, *CVX, "--max-cores", "2")
    out = cli(capsys, "resources", run, "--profile", "loihi2", "--json")
    assert out.code == 0, out.err
    assert json.loads(out.out)["totals"]["cores_used"] <= 2


@pytest.mark.parametrize("args, fragment", [
    (["--max-neurons", "0"], "budget cannot be met"),
    (["--max-cores", "1"], "budget cannot be met"),
    (["--method", "sg", "--fine-tune", "2"], "--fine-tune"),
    (["--method", "gradient-free"], "invalid choice"),
    (["--qat"], "--qat (quantization-aware training) is for --method sg"),
    (["--method", "sg-cvx", "--qat"], "is for --method sg"),
    (["--method", "sg", "--qat", "--weight-bits", "1"], "weight_bits in 2..8"),
    (["--method", "sg", "--weight-bits", "9"], "weight bits must be in 1..8"),
    (["--method", "sg", "--qat", "--profile", "float"], "needs a fixed-point profile"),
    (["--method", "sg", "--no-standardize"], "--no-standardize is for the convex methods"),
    (["--method", "sg", "--standardize"], "--standardize is for the convex methods"),
    (["--standardize=yes"], "ignored explicit argument"),
    (["--no-standardize=yes"], "ignored explicit argument"),
])
def test_impossible_budgets_and_bad_methods_write_nothing(capsys, tmp_path, args, fragment):
    out = cli(capsys, "train", *TASK, "--out", tmp_path / "r", *CVX, *args)
    assert_clean_failure(out, fragment)
    assert not (tmp_path / "r").exists()


def test_report_on_a_trained_run(capsys, tmp_path):
    run = tmp_path / "run"
    train(capsys, run, *CVX)
    out = cli(capsys, "report", run, "--lava-samples", "3", "--json")
    assert out.code == 0, out.err
    folder = run / "report"
    html = (folder / "report.html").read_text()
    pngs = sorted(p.name for p in folder.glob("*.png"))
    for name in ("rasters.png", "beta_path.png", "weight_bits.png", "cores.png", "float_vs_chip.png",
                 "confusion.png", "activity.png", "weights.png", "decays.png"):
        assert name in pngs, pngs
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "Accuracy vs weight bits" in (folder / "report.md").read_text()
    sections = json.loads(out.out)["sections"]
    metrics = json.loads((run / "metrics.json").read_text())
    per_class = sections["Confusion matrix and per-class accuracy"]
    assert sum(r["correct"] for r in per_class) / sum(r["sequences"] for r in per_class) == metrics["test_accuracy"]
    models = [r["model"] for r in sections["Float models vs chip"]]
    assert models[:2] == ["real-valued convex readout, before integer rounding", "dequantized network (float arithmetic)"]
    assert sum("float" in m for m in models) == 1  # one model called float, and it is the dequantized network
    assert {r["neurons"] for r in sections["Activity"]} == set(load_network(run).sizes)


def test_retraining_replaces_the_run_whole_and_a_failing_report_writes_nothing(capsys, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(capsys, run, *CVX, "--max-delay", "0")  # one delay per synapse has no NIR form
    assert cli(capsys, "export", run, "--nir").code == 0
    (run / "my_notes.txt").write_text("keep")

    def fail(*args):
        raise RuntimeError("late failure after some figures were drawn")

    monkeypatch.setattr("neurorecon.run_report._cores", fail)
    with pytest.raises(RuntimeError):
        cli(capsys, "report", run, "--lava-samples", "0")
    assert not (run / "report").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".report")]  # no temporary folder left
    train(capsys, run, "--method", "sg", *SG)
    assert sorted(p.name for p in run.iterdir()) == [".neurorecon.json", "metrics.json", "my_notes.txt", "network.h5"]
    assert (run / "my_notes.txt").read_text() == "keep"


def test_a_budget_tighter_than_the_whole_beta_path_raises_beta_until_met(capsys, tmp_path):
    metrics = train(capsys, tmp_path / "b", "--witnesses", "200", "--rounds", "0", "--max-neurons", "2")
    path = metrics["training"]["selection"]["path"]
    assert min(p["neurons"] for p in path) > 2  # no point of the usual path meets the budget
    assert 1 <= metrics["n_hidden"] <= 2
