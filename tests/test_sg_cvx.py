"""sg-cvx: never below its own SG network after PTQ (feed-forward and recurrent SG layers).

The convex readout sees the SG hidden layer (unperturbed, quantized) among its witnesses, but it
minimises squared loss, not errors; the SG network's own readout is therefore kept as an option
and chosen when it is at least as accurate on the validation split.
"""

import json

import numpy as np
import pytest
from clitools import cli

from neurorecon.data import load_data
from neurorecon.simulate.predict import predict_network
from neurorecon.train.convex.classifier import ReconstructionClassifier
from neurorecon.train.pipeline import split_accuracy, train_dataset

SG = dict(readout="count", sg_hidden=32, sg_epochs=4, sg_lr=1e-2, n_witnesses=96, column_generation_rounds=1,
          candidates_per_round=64, n_betas=5)


@pytest.fixture(scope="module")
def match():
    return load_data("delayed-match", T=20, delay=8, channels=8, active=3, n_train=400, n_test=300, seed=1)


@pytest.fixture(scope="module")
def latency():
    """Large enough a validation split (300 sequences) for the comparison to be meaningful."""
    return load_data("latency-code", T=16, channels=10, n_classes=3, n_early=3, separation=4, n_train=1500,
                     n_test=600, seed=1)


def _chip(metrics: dict, split: str = "test") -> tuple[float, float]:
    """(sg-cvx chip accuracy, its own SG network's chip accuracy after PTQ) on ``split``."""
    return metrics["splits"][split]["accuracy"], metrics["training"]["sg_baseline"]["chip"][split]["accuracy"]


@pytest.mark.parametrize("recurrent", [True, False])
def test_sg_cvx_is_not_below_its_sg_network_on_chip(latency, recurrent):
    net, metrics, model = train_dataset(latency, method="sg-cvx", sg_recurrent=recurrent, **SG)
    ours, sg = _chip(metrics)
    assert ours >= sg
    assert metrics["train_accuracy"] == split_accuracy(net, latency.X_train, latency.y_train)["accuracy"]
    selection = model.report_["selection"]
    comparison = selection["sg_comparison"]
    assert comparison["convex_kept"] == (model.report_["kept"] == "convex readout")
    sg_layer = model.surrogate_.chip_network.layers[0]
    assert (sg_layer.recurrent is not None) == recurrent
    if model.report_["kept"] == "convex readout":
        assert metrics["duality_gap"] <= 1e-6 and model.report_["verification"]["solver_vs_chip_differences"] == 0
        assert selection["validation_accuracy"] > comparison["sg_network_validation_accuracy"]
        assert comparison["gained"] - comparison["lost"] > comparison["z"] * np.sqrt(comparison["gained"] + comparison["lost"])
        # the unperturbed SG hidden layer is in the dictionary: its neurons are the first witnesses
        witnesses = model.network_.layers[0]
        if recurrent:  # a recurrent layer is one module, kept whole
            assert witnesses.recurrent is not None
    else:
        np.testing.assert_array_equal(predict_network(net, latency.X_test),
                                      predict_network(model.surrogate_.chip_network, latency.X_test))


def _rigged_select(right: bool):
    """``_select`` whose convex readout is right (or wrong) on every validation row."""
    original = ReconstructionClassifier._select

    def select(self, *args, **kwargs):
        choice = original(self, *args, **kwargs)
        choice.validation_correct = np.full_like(choice.validation_correct, right)
        choice.validation_accuracy = float(right)
        return choice
    return select


def test_sg_network_is_kept_when_the_convex_readout_loses(match, monkeypatch):
    monkeypatch.setattr(ReconstructionClassifier, "_select", _rigged_select(False))
    net, metrics, model = train_dataset(match, method="sg-cvx", sg_recurrent=True, **SG)
    assert model.report_["kept"] == "sg network" and metrics["duality_gap"] is None
    assert model.readout_solution_ is None and net.metadata["provenance"]["method"] == "sg-cvx"
    ours, sg = _chip(metrics)
    assert ours == sg
    assert metrics["train_accuracy"] == split_accuracy(net, match.X_train, match.y_train)["accuracy"]
    np.testing.assert_array_equal(predict_network(net, match.X_test),
                                  predict_network(model.surrogate_.chip_network, match.X_test))
    assert metrics["float_test_accuracy"] == metrics["training"]["sg_baseline"]["float"]["test"]["accuracy"]


def test_sg_network_over_the_budget_is_not_kept(match, monkeypatch):
    monkeypatch.setattr(ReconstructionClassifier, "_select", _rigged_select(False))
    net, metrics, model = train_dataset(match, method="sg-cvx", max_neurons=20, **SG)
    comparison = model.report_["selection"]["sg_comparison"]
    assert not comparison["sg_network_fits_budget"] and comparison["convex_kept"]
    assert model.report_["kept"] == "convex readout" and 1 <= metrics["n_hidden"] <= 20


def test_convex_readout_is_kept_when_clearly_better(match, monkeypatch):
    monkeypatch.setattr(ReconstructionClassifier, "_select", _rigged_select(True))
    net, metrics, model = train_dataset(match, method="sg-cvx", sg_recurrent=True, **SG)
    comparison = model.report_["selection"]["sg_comparison"]
    assert model.report_["kept"] == "convex readout" and comparison["convex_kept"] and comparison["lost"] == 0
    assert metrics["duality_gap"] <= 1e-6 and model.report_["verification"]["solver_vs_chip_differences"] == 0
    assert net.layers[0].recurrent is not None  # the recurrent SG module(s), kept whole


def test_cli_run_that_kept_the_sg_network(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(ReconstructionClassifier, "_select", _rigged_select(False))
    run = tmp_path / "run"
    out = cli(capsys, "train", "first-last-xor", "--T", "6", "--n-train", "300", "--n-test", "100", "--out", run,
              "--method", "sg-cvx", "--sg-recurrent", "--sg-hidden", "16", "--sg-epochs", "2", "--witnesses", "48",
              "--rounds", "0")
    assert out.code == 0, out.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["kept"] == "sg network" and not (run / "readout_solution.npz").exists()
    assert "duality gap" not in out.out and "test accuracy" in out.out
    assert cli(capsys, "report", run, "--lava-samples", "2").code == 0
