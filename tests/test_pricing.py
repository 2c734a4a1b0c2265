"""Column generation with pricing: candidates trained against the dual point, exact on the chip."""

import numpy as np
import pytest

from clitools import assert_clean_failure, cli
from neurorecon.data import load_data
from neurorecon.errors import NeuroreconError
from neurorecon.network import LIFLayer, Network
from neurorecon.profiles import load_profile
from neurorecon.readout import Readout
from neurorecon.simulate.emulator import emulate
from neurorecon.simulate.predict import predict_network
from neurorecon.train.convex import classifier
from neurorecon.train.convex.classifier import SEARCH_TOL, ReconstructionClassifier
from neurorecon.train.convex.dictionary import Dictionary
from neurorecon.train.convex.pricing import Pricer, PricingSettings
from neurorecon.train.convex.witnesses import WitnessSampler

FAST = dict(n_witnesses=60, column_generation_rounds=2, candidates_per_round=32, pricing_steps=8, n_betas=4)


@pytest.fixture(scope="module")
def order():
    """A small spike-order task: the class is in the order of three marker volleys."""
    return load_data("spike-order", T=16, n_train=400, n_test=200, n_noise_channels=4, seed=3)


@pytest.fixture(scope="module")
def priced(order):
    return ReconstructionClassifier(seed=0, **FAST).fit(order.X_train, order.y_train)


def test_pricing_never_worsens_the_objective_and_reports_each_round(priced):
    report = priced.report_
    assert report["search"] == "pricing"
    rounds = report["column_generation"]
    assert len(rounds) >= 2 and rounds[0]["max_violation"] is None
    for before, after in zip(rounds, rounds[1:]):
        assert after["objective"] <= before["objective"] * (1 + 1e-6)
        assert after["gap"] <= SEARCH_TOL  # rounds guide the search; the final solve is certified below
        assert after["max_violation"] > 0 and after["max_normalised_violation"] > 0
        assert 0 <= after["validation_accuracy"] <= 1 and after["seconds"] > 0
    assert report["remaining_violation"] == rounds[-1]["max_violation"]
    kept, last = report["column_generation_kept_round"], len(rounds) - 1
    if kept != last:  # an earlier round only where it beat the last one on validation
        assert rounds[kept]["validation_accuracy"] == max(r["validation_accuracy"] for r in rounds)
        assert rounds[kept]["validation_accuracy"] > rounds[last]["validation_accuracy"]
    assert report["dictionary_size"] == rounds[kept]["dictionary_size"]
    assert report["duality_gap"] <= 1e-6
    assert report["verification"]["solver_vs_chip_differences"] == 0


@pytest.mark.parametrize("z, keeps", [(np.inf, "last"), (-1e9, "best")])
def test_column_generation_keeps_its_last_round_unless_an_earlier_one_is_significantly_better(order, monkeypatch,
                                                                                               z, keeps):
    """KEEP_Z: at an unreachable threshold the last round is kept; at one every difference passes,
    the round of best validation accuracy (here round 2: 70.0 % against the last round's 67.5 %)."""
    monkeypatch.setattr(classifier, "KEEP_Z", z)
    model = ReconstructionClassifier(seed=0, **dict(FAST, column_generation_rounds=3)).fit(order.X_train,
                                                                                           order.y_train)
    rounds = model.report_["column_generation"]
    kept, accuracies = model.report_["column_generation_kept_round"], [r["validation_accuracy"] for r in rounds]
    assert max(accuracies) > accuracies[-1]  # the case under test: an earlier round validates better
    assert kept == (len(rounds) - 1 if keeps == "last" else int(np.argmax(accuracies)))
    assert model.report_["dictionary_size"] == rounds[kept]["dictionary_size"]


def test_priced_neurons_lie_on_the_grid_and_their_columns_are_the_emulators(order):
    profile = load_profile("loihi2")
    rng = np.random.default_rng(0)
    X = order.X_train
    sampler = WitnessSampler(profile, X[:128], X.shape[1], 0, "rate", rng)
    readout = Readout("count")
    dictionary = Dictionary(X, X.shape[1], 0, [readout], "fixed")
    dictionary.add(sampler.sample(40))
    dual = rng.standard_normal((len(X), 6))
    dual -= dual.mean(axis=0)
    pricer = Pricer(sampler, X, X.shape[1], 0, readout, PricingSettings(candidates=16, steps=5), seed=0)
    layer, modules = pricer.search(dual, np.arange(len(X)), dictionary.witnesses, np.arange(10), 1)
    assert modules is None and layer.n_neurons == 16
    np.testing.assert_array_equal(sampler.grid.snap(layer.weights), layer.weights)
    assert layer.weight_exp == sampler.calibration.weight_exp
    pairs = {tuple(map(int, d)) for d in sampler.calibration.group_decays}
    assert {(int(u), int(v)) for u, v in zip(layer.du, layer.dv)} <= pairs
    assert set(layer.vth.tolist()) <= set(sampler.calibration.group_vth.tolist())
    Network([layer], arithmetic="fixed")  # every parameter in Loihi's ranges
    exact = emulate(Network([layer], arithmetic="fixed"), X, X.shape[1] + 1, ("counts",), [0]).spike_counts[0]
    np.testing.assert_array_equal(dictionary.features(layer)["count"], exact)
    # the search moved the neurons: they are not their random starts
    again = Pricer(sampler, X, X.shape[1], 0, readout, PricingSettings(candidates=16, steps=0), seed=0)
    start, _ = again.search(dual, np.arange(len(X)), dictionary.witnesses, np.arange(10), 1)
    assert not np.array_equal(start.weights, layer.weights)


@pytest.mark.parametrize("every_input", [False, True])
def test_priced_candidates_keep_their_input_subset_unless_they_may_use_every_input(every_input):
    rng = np.random.default_rng(0)
    X = (rng.random((96, 12, 24)) < 0.2).astype(np.uint8)  # wide inputs, dense enough to train on
    dual = rng.standard_normal((len(X), 3))

    def priced(steps: int) -> LIFLayer:
        """Candidates after ``steps`` Adam steps, from the same starts (a fresh sampler each time)."""
        sampler = WitnessSampler(load_profile("loihi2"), X[:64], X.shape[1], 0, "rate", np.random.default_rng(1),
                                 connectivity=0.25)
        pricer = Pricer(sampler, X, X.shape[1], 0, Readout("count"),
                        PricingSettings(candidates=8, steps=steps, every_input=every_input), seed=0)
        return pricer.search(dual - dual.mean(axis=0), np.arange(len(X)), None, np.arange(0), 1)[0]

    start, layer = priced(0), priced(10)
    assert np.count_nonzero(start.weights, axis=1).max() == 6  # a quarter of 24
    outside = (start.weights == 0) & (layer.weights != 0)  # synapses the start did not have
    assert outside.any() == every_input


def test_pricing_uses_every_input_only_where_auto_gives_a_quarter():
    assert ReconstructionClassifier()._auto_wide(28)
    assert not ReconstructionClassifier()._auto_wide(16)  # narrow: half of them, kept
    assert not ReconstructionClassifier(connectivity=0.25)._auto_wide(28)  # the user's subset


def test_same_seed_same_bits(order, priced):
    again = ReconstructionClassifier(seed=0, **FAST).fit(order.X_train, order.y_train)
    assert again.network_.equals(priced.network_)


def test_pricing_beats_random_candidates_on_a_timing_task(order):
    """Same start, beta, rounds and candidates per round: the priced dictionary fits better."""
    common = dict(n_witnesses=60, beta=20.0, readout="count", column_generation_rounds=3, candidates_per_round=48,
                  pricing_steps=15, seed=0)
    priced = ReconstructionClassifier(search="pricing", **common).fit(order.X_train, order.y_train)
    drawn = ReconstructionClassifier(search="random", **common).fit(order.X_train, order.y_train)
    p, r = priced.report_["column_generation"], drawn.report_["column_generation"]
    assert p[0]["objective"] == pytest.approx(r[0]["objective"], rel=1e-9)  # the same first dictionary
    assert p[-1]["objective"] < 0.97 * r[-1]["objective"]
    assert p[1]["max_violation"] > r[1]["max_violation"]


def test_a_round_without_violator_halves_beta_and_column_generation_goes_on():
    """FIRST-LAST-XOR's first dictionaries carry little signal: pricing starts at most at the
    path's largest beta, and a round that finds no violator halves beta (up to 3 times)."""
    halved = 0
    for T in (30, 50):
        data = load_data("first-last-xor", T=T, n_train=400, n_test=50, seed=1)
        report = ReconstructionClassifier(seed=0, max_delay=0, n_witnesses=60, column_generation_rounds=5,
                                          candidates_per_round=16, pricing_steps=4, n_betas=4
                                          ).fit(data.X_train, data.y_train).report_
        rounds, path = report["column_generation"], report["selection"]["path"]
        assert rounds[0]["beta"] <= max(p["beta"] for p in path if p["readout"] == report["readout"]) * (1 + 1e-12)
        for before, after in zip(rounds[1:], rounds[2:]):
            assert after["beta"] == pytest.approx(before["beta"] / 2 if before["added"] == 0 else before["beta"])
            halved += before["added"] == 0
        assert report["column_generation_stopped_by"] == "rounds"
        assert report["duality_gap"] <= 1e-6 and report["verification"]["solver_vs_chip_differences"] == 0
    assert halved >= 1


def test_a_time_budget_stops_cleanly_with_a_certified_network(order):
    model = ReconstructionClassifier(seed=0, time_budget=1e-3, **FAST).fit(order.X_train, order.y_train)
    report = model.report_
    assert report["column_generation_stopped_by"] == "time budget"
    assert len(report["column_generation"]) == 1  # the first solve only
    assert report["duality_gap"] <= 1e-6 and report["verification"]["solver_vs_chip_differences"] == 0
    assert model.predict(order.X_test).shape == order.y_test.shape


def test_priced_recurrent_modules_run_identically_on_lava(order):
    model = ReconstructionClassifier(seed=0, recurrent_module_size=4, **FAST).fit(order.X_train, order.y_train)
    hidden = model.network_.layers[0]
    assert hidden.recurrent is not None and np.any(hidden.recurrent.weights != 0)
    assert model.report_["column_generation"][1]["neurons_added"] % 4 == 0
    X = order.X_test[:6]
    np.testing.assert_array_equal(predict_network(model.network_, X, backend="lava"), model.predict(X))


def test_priced_second_layer_runs_identically_on_lava(order):
    model = ReconstructionClassifier(seed=0, depth=2, first_layer_size=24, **FAST).fit(order.X_train, order.y_train)
    assert model.network_.n_layers == 3 and model.report_["column_generation"][1]["added"] > 0
    X = order.X_test[:6]
    np.testing.assert_array_equal(predict_network(model.network_, X, backend="lava"), model.predict(X))


@pytest.mark.parametrize("params, fragment", [
    (dict(time_budget=0), "time_budget"),
    (dict(time_budget=-5.0), "time_budget"),
    (dict(time_budget=float("inf")), "time_budget"),
    (dict(time_budget="10"), "time_budget"),
    (dict(search="best"), "search"),
    (dict(column_generation_rounds=-1), "column_generation_rounds"),
    (dict(candidates_per_round=0), "candidates_per_round"),
    (dict(pricing_steps=0), "pricing_steps"),
    (dict(recurrent_module_size=0), "recurrent_module_size"),
    (dict(n_witnesses=2.5), "n_witnesses"),
    (dict(search="pricing", witness_source="sg"), "search='random'"),
])
def test_bad_hyperparameters_are_clear_errors(order, params, fragment):
    with pytest.raises(NeuroreconError, match=fragment):
        ReconstructionClassifier(**params).fit(order.X_train[:50], order.y_train[:50])


@pytest.mark.parametrize("args, fragment", [
    (["--time-budget", "0"], "time_budget"),
    (["--time-budget", "-1"], "time_budget"),
    (["--time-budget", "soon"], "--time-budget"),
    (["--search", "best"], "--search"),
    (["--rounds", "-2"], "column_generation_rounds"),
    (["--candidates", "0"], "candidates_per_round"),
    (["--candidates", "many"], "--candidates"),
    (["--pricing-steps", "0"], "pricing_steps"),
    (["--module-size", "0"], "recurrent_module_size"),
    (["--method", "sg-cvx", "--search", "pricing"], "search='random'"),
])
def test_cli_bad_pricing_options(capsys, tmp_path, args, fragment):
    outcome = cli(capsys, "train", "spike-order", "--n-train", "40", "--n-test", "10", "--out", tmp_path / "run", *args)
    assert_clean_failure(outcome, fragment)


def test_the_default_is_pricing_from_its_own_witness_count(order):
    """No size given: pricing with its defaults (a regression: None once reached int())."""
    model = ReconstructionClassifier(column_generation_rounds=1, candidates_per_round=16, pricing_steps=2, n_betas=3)
    model.fit(order.X_train[:150], order.y_train[:150])
    provenance = model.network_.metadata["provenance"]
    assert provenance["search"] == "pricing" and provenance["n_witnesses"] == 500
    assert model.report_["duality_gap"] <= 1e-6
