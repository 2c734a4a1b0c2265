"""The CVX trainer end to end on small tasks: accuracy, certificate, verification, determinism."""

import numpy as np
import pytest

import neurorecon as nr
from neurorecon.data import load_data
from neurorecon.simulate.predict import predict_network
from neurorecon.train.convex.classifier import ReconstructionClassifier

SMALL = dict(n_witnesses=300, column_generation_rounds=1, candidates_per_round=150, n_betas=5)


@pytest.fixture(scope="module")
def xor():
    return load_data("first-last-xor", T=8, n_train=600, n_test=300, seed=1)


@pytest.fixture(scope="module")
def xor_model(xor):
    return ReconstructionClassifier(seed=0, **SMALL).fit(xor.X_train, xor.y_train)


def test_first_last_xor_is_solved_exactly_on_chip(xor, xor_model):
    report = xor_model.report_
    assert xor_model.score(xor.X_test, xor.y_test) == 1.0
    assert report["train_accuracy"] == 1.0
    assert report["duality_gap"] <= 1e-6
    assert report["verification"]["solver_vs_chip_differences"] == 0
    net = xor_model.network_
    assert net.arithmetic == "fixed" and net.metadata["readout"] in ("last", "count")
    assert net.sizes[-1] == 2 and net.sizes[0] == report["n_hidden"]


def test_the_penalty_weighing_is_chosen_on_validation_unless_given(xor, xor_model):
    """standardize='auto' solves the path weighed and plain and keeps the better on validation."""
    path = [p for p in xor_model.report_["selection"]["path"] if not p.get("after_pricing")]
    assert {p["standardize"] for p in path} == {True, False}
    best = max(p["validation_accuracy"] for p in path)
    chosen = xor_model.report_["selection"]["standardize"]
    assert max(p["validation_accuracy"] for p in path if p["standardize"] == chosen) == best
    assert xor_model.standardize_ is chosen and xor_model.readout_solution_["standardize"] is chosen
    for given in (True, False):
        model = ReconstructionClassifier(seed=0, standardize=given, **dict(SMALL, column_generation_rounds=0)).fit(
            xor.X_train, xor.y_train)
        assert {p["standardize"] for p in model.report_["selection"]["path"]} == {given}
        assert model.standardize_ is given


def test_chip_network_runs_identically_on_lava(xor, xor_model):
    X = xor.X_test[:6]
    np.testing.assert_array_equal(predict_network(xor_model.network_, X, backend="lava"), xor_model.predict(X))


def test_column_generation_never_worsens_the_objective(xor_model):
    rounds = xor_model.report_["column_generation"]
    objectives = [r["objective"] for r in rounds]
    for before, after in zip(objectives, objectives[1:]):
        assert after <= before * (1 + 1e-6)
    assert rounds[0]["round"] == 0 and len(rounds) >= 2


def test_without_column_generation_the_first_solve_is_the_paths(xor, monkeypatch):
    """No search starts from the first solve, so it is not repeated: the path's solve at the chosen
    beta is round 0, and the one solve after the path is the certified one on all rows."""
    fits = []
    monkeypatch.setattr(ReconstructionClassifier, "_solve_fit", lambda self, *a, **k: fits.append(a) or None)
    model = ReconstructionClassifier(seed=0, **dict(SMALL, column_generation_rounds=0)).fit(xor.X_train, xor.y_train)
    assert fits == []
    report = model.report_
    first = report["column_generation"][0]
    chosen = [p for p in report["selection"]["path"] if p["beta"] == first["beta"] and
              (p["readout"], p["standardize"]) == (report["readout"], model.standardize_)]
    assert len(chosen) == 1 and first["validation_accuracy"] == chosen[0]["validation_accuracy"]
    assert report["duality_gap"] <= 1e-6 and report["converged"]


def test_same_seed_same_bits(xor, xor_model):
    again = ReconstructionClassifier(seed=0, **SMALL).fit(xor.X_train, xor.y_train)
    assert again.network_.equals(xor_model.network_)
    other = ReconstructionClassifier(seed=1, **SMALL).fit(xor.X_train, xor.y_train)
    assert not other.network_.equals(xor_model.network_)


def test_count_readout_on_digits_with_graded_payloads():
    d = load_data("seq-digits", encoding="graded")
    model = ReconstructionClassifier(readout="count", n_witnesses=200, column_generation_rounds=0, n_betas=4, seed=0)
    model.fit(d.X_train[:600], d.y_train[:600])
    assert model.network_.layers[0].num_message_bits == 5
    assert model.report_["verification"]["solver_vs_chip_differences"] == 0
    assert model.score(d.X_test, d.y_test) > 0.8


def test_step_readout_on_addition():
    d = load_data("addition-base2", n_digits=4, n_train=400, n_test=200, ood_digits=(8,))
    model = ReconstructionClassifier(n_witnesses=300, column_generation_rounds=0, n_betas=4, seed=0)
    model.fit(d.X_train, d.y_train)
    assert model.readout_ == "step"
    pred = model.predict(d.X_test)
    assert pred.shape == d.y_test.shape
    assert model.score(d.X_test, d.y_test) > 0.6  # chance is 0.5
    X_ood, y_ood = d.extra["ood-8"]
    assert model.predict(X_ood).shape == y_ood.shape


@pytest.mark.parametrize("task, options, fan_in", [
    ("delayed-match", {}, 6),  # 12 inputs, a label per sequence: half of them
    ("interval", {"channels": 3, "n_noise_channels": 3}, 4),  # 6 inputs: at least 4
    ("first-last-xor", {"T": 10}, 4),  # 4 inputs: all
    ("addition-base3", {"n_digits": 3}, 6),  # 6 inputs, per-step labels: all
    ("spike-order", {}, 5),  # 20 inputs: a quarter
])
def test_auto_connectivity_gives_each_witness_its_share_of_the_inputs(task, options, fan_in):
    d = load_data(task, n_train=300, n_test=10, **options)
    model = ReconstructionClassifier(n_witnesses=40, column_generation_rounds=0, n_betas=3, max_delay=0, seed=0)
    model.fit(d.X_train, d.y_train)
    witnesses = model.network_.layers[-2].weights
    assert witnesses.shape[1] == d.X_train.shape[2]
    # each witness draws exactly fan_in inputs; the grid may round a small weight to 0
    assert (witnesses != 0).sum(axis=1).max() == fan_in


def test_float_profile_gives_a_float_network(xor):
    model = ReconstructionClassifier(profile="float", seed=0, **SMALL).fit(xor.X_train, xor.y_train)
    assert model.network_.arithmetic == "float"
    assert model.score(xor.X_test, xor.y_test) > 0.95


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.full((10, 4, 2), np.nan), np.arange(10) % 2, "NaN"),
        (-np.ones((10, 4, 2)), np.arange(10) % 2, "negative"),
        (np.ones((10, 4)), np.arange(10) % 2, "shape"),
        (np.ones((10, 4, 2)), np.arange(9) % 2, "9 labels"),
        (np.ones((10, 4, 2)), np.zeros(10), "single class"),
        (np.ones((10, 4, 2)), np.arange(10) / 3, "Unknown label type: continuous"),
        (np.ones((10, 4, 2)), np.where(np.arange(10) % 2, 1.0, np.nan), "NaN"),
        (np.ones((10, 4, 2)), np.zeros((10, 4, 1)), "shape"),
        (np.ones((10, 4, 2)), np.zeros((10, 3)), "3 steps"),
        (np.ones((10, 0, 2)), np.arange(10) % 2, "T=0"),
        (np.ones((0, 4, 2)), np.zeros(0), "empty"),
    ],
)
def test_bad_training_data(X, y, message):
    with pytest.raises(nr.NeuroreconError, match=message):
        ReconstructionClassifier(**SMALL).fit(X, y)


def test_bad_hyperparameters_and_profiles(xor):
    X, y = xor.X_train, xor.y_train
    for kwargs, message in [
        (dict(readout="middle"), "readout"),
        (dict(readout="step"), "one label per step"),
        (dict(beta=-1.0), "beta"),
        (dict(penalty="l2"), "penalty"),
        (dict(standardize="yes"), "standardize must be True, False or 'auto'"),
        (dict(standardize=None), "standardize must be True, False or 'auto'"),
        (dict(depth=3), "depth"),
        (dict(profile="loihi9"), "unknown profile"),
        (dict(n_witnesses=0), "n_witnesses"),
    ]:
        with pytest.raises(nr.NeuroreconError, match=message):
            ReconstructionClassifier(**{**SMALL, **kwargs}).fit(X, y)
    graded = X * 3
    with pytest.raises(nr.NeuroreconError, match="binary spikes only"):
        ReconstructionClassifier(profile="loihi1", **SMALL).fit(graded, y)
    with pytest.raises(nr.NeuroreconError, match="not fitted"):
        ReconstructionClassifier().predict(X)
