"""Witnesses with synaptic delays: drawn, priced, emulated and run on Lava exactly; bad values refused."""

import re
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import neurorecon as nr
import neurorecon._halves as halves
from neurorecon.data import load_data
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.readout import Readout
from neurorecon.simulate.emulator import emulate
from neurorecon.simulate.events import gather_events, spread_events
from neurorecon.train.convex.classifier import ReconstructionClassifier
from neurorecon.train.convex.pricing import DELAY_MOVE_DENSITY, Pricer, PricingSettings, _Taps
from neurorecon.train.convex.witnesses import WitnessSampler

from clitools import assert_clean_failure, cli

SMALL = dict(n_witnesses=300, column_generation_rounds=1, candidates_per_round=64, n_betas=5)


@pytest.fixture(scope="module")
def interval():
    return load_data("interval", T=30, min_interval=4, max_interval=20, n_train=500, n_test=300, seed=5)


def test_witnesses_draw_one_delay_per_synapse_up_to_max_delay(interval):
    model = ReconstructionClassifier(max_delay=7, **SMALL).fit(interval.X_train, interval.y_train)
    delays = model.network_.layers[0].dense.delays
    assert delays is not None and delays.max() == 7 and len(np.unique(delays)) == 8
    assert model.report_["max_delay"] == 7 and model.network_.metadata["provenance"]["max_delay"] == 7
    assert model.report_["verification"]["solver_vs_chip_differences"] == 0
    # the chip network on Lava: the same spikes as the emulator (DelayDense, one delay per synapse)
    x = interval.X_test[:3]
    mine = nr.simulate(model.network_, x, record=("spikes", "v"))
    lava = nr.simulate(model.network_, x, backend="lava", record=("spikes", "v"))
    for i in range(model.network_.n_layers):
        np.testing.assert_array_equal(mine.spikes[i], lava.spikes[i])
        np.testing.assert_array_equal(mine.v[i], lava.v[i])


def test_auto_delays_follow_the_profile_and_the_export_target(interval):
    X, y = interval.X_train, interval.y_train
    auto = ReconstructionClassifier(**SMALL).fit(X, y)
    assert auto.report_["max_delay"] == round(0.6 * 30) == auto.network_.layers[0].dense.max_delay
    for kwargs in (dict(profile="loihi1"), dict(netx_compatible=True), dict(max_delay=0)):
        model = ReconstructionClassifier(**SMALL, **kwargs).fit(X, y)
        assert model.report_["max_delay"] == 0 and model.network_.layers[0].dense.delays is None, kwargs


def test_auto_gives_per_step_labels_no_delays():
    """Each per-step label is read at its own step: delays would deliver what it needs too late
    (measured on addition in bases 2 / 3 / 5: 0.4 to 29 points lost with delays of 0.6 T)."""
    data = load_data("addition-base2", n_train=200, n_test=50)
    model = ReconstructionClassifier(n_witnesses=100, column_generation_rounds=0, n_betas=3).fit(data.X_train,
                                                                                                data.y_train)
    assert data.y_train.ndim == 2 and model.readout_ == "step"
    assert model.report_["max_delay"] == 0 and model.network_.layers[0].dense.delays is None


def test_delayed_witnesses_tell_intervals_apart_where_undelayed_ones_do_not(interval):
    """Measured: a neuron fed the volley now and the volley d steps ago detects an interval of
    d; undelayed neurons see two volleys whatever their distance (same seeds, random witnesses)."""
    X, y = interval.X_train, interval.y_train
    scores = {}
    for max_delay in (0, 18):
        model = ReconstructionClassifier(max_delay=max_delay, search="random", n_witnesses=400,
                                         column_generation_rounds=0, n_betas=6).fit(X, y)
        scores[max_delay] = model.score(interval.X_test, interval.y_test)
    assert scores[18] >= scores[0] + 0.1, scores


def test_the_stacked_first_layer_input_is_the_sum_of_its_delay_taps():
    """The emulator's one product over delayed input copies (fixed point, weight_exp >= 0)
    against the definition, tap by tap: a_t = sum_k W_k x_{t-1-k} << (weight_exp + 6)."""
    rng = np.random.default_rng(4)
    n, n_in, T = 7, 5, 16
    w = rng.integers(-120, 120, (n, n_in)) * 2
    delays = rng.integers(0, 12, (n, n_in))
    x = (rng.random((3, T, n_in)) < 0.3).astype(np.uint8)
    for weight_exp in (0, 2):
        # du = 4095: the current keeps nothing of the previous step (Lava decays it by du + 1);
        # the threshold out of reach keeps v from resetting
        layer = LIFLayer(Dense(w, weight_exp=weight_exp, delays=delays), du=4095, dv=0, vth=2**17 - 1)
        u = emulate(Network([layer]), x, T + 1, ("u",)).u[0]
        expected = np.zeros((3, T + 1, n), dtype=np.int64)
        for t in range(1, T + 1):
            for k in range(12):
                if 1 <= t - k <= T:
                    expected[:, t] += x[:, t - 1 - k] @ np.where(delays == k, w, 0).T
        np.testing.assert_array_equal(u, expected << (weight_exp + 6))


@pytest.mark.parametrize("spread_events", [True, False])
def test_the_pricing_twin_delivers_each_synapse_at_its_delay(spread_events):
    rng = np.random.default_rng(0)
    n, d, T = 4, 3, 9
    mask = rng.random((n, d)) < 0.7  # the synapses that exist (connectivity)
    weight = torch.tensor(rng.standard_normal((n, d)) * mask, dtype=torch.float64, requires_grad=True)
    delays = rng.integers(0, 5, (n, d))
    # graded inputs: an event carries its value
    x = torch.as_tensor((rng.random((2, T, d)) < 0.5) * rng.integers(1, 4, (2, T, d)), dtype=torch.float64)
    current = Pricer._current(x, weight, _Taps(torch.as_tensor(delays), spread_events, mask))
    expected = torch.zeros(2, T, n, dtype=torch.float64)
    for p in range(n):
        for j in range(d):
            k = int(delays[p, j])
            expected[:, k:, p] += weight[p, j] * x[:, :T - k, j]
    torch.testing.assert_close(current, expected)
    # the weights' gradient is the oracle's too (it is what pricing trains on)
    probe = torch.as_tensor(rng.standard_normal((2, T, n)))
    (grad,) = torch.autograd.grad((current * probe).sum(), weight)
    (expected_grad,) = torch.autograd.grad((expected * probe).sum(), weight)
    # the event path has no synapse where the mask has none: no gradient there (the twin's
    # weights are masked, so the product's gradient there is never used)
    torch.testing.assert_close(grad, expected_grad * torch.as_tensor(mask if spread_events else np.ones_like(mask)))


def test_the_pricing_twin_spreads_events_only_for_sparse_inputs():
    """Sparse rasters take the event path, dense ones (with many synapses per event) the delayed product."""
    layer = LIFLayer(Dense(np.ones((3, 2)), delays=np.full((3, 2), 9)), du=0, dv=0, vth=10)
    for density, spread in ((0.05, True), (0.5, False)):
        inputs = (np.arange(1000).reshape(10, 50, 2) % int(1 / density) == 0).astype(float)
        sampler = SimpleNamespace(arithmetic="fixed")
        pricer = Pricer(sampler, inputs, 50, 0, Readout("count"), PricingSettings(), seed=0)
        assert pricer._twin(layer, np.ones((3, 2), dtype=bool), None).taps.spread_events is spread


def test_bias_bisection_gives_the_same_witnesses_with_or_without_a_shared_input_drive(interval, monkeypatch):
    import neurorecon.train.convex.witnesses as witnesses

    def fit():
        return ReconstructionClassifier(max_delay=6, n_witnesses=150, column_generation_rounds=1,
                                        candidates_per_round=32, pricing_steps=3, n_betas=3,
                                        ).fit(interval.X_train, interval.y_train).network_
    shared = fit()
    monkeypatch.setattr(witnesses, "SHARED_DRIVE_BYTES", 0)  # every bisection run computes its own
    for a, b in zip(shared.layers, fit().layers):
        assert a.dense.equals(b.dense) and np.array_equal(a.bias_mant, b.bias_mant) and np.array_equal(a.vth, b.vth)


def test_priced_candidates_keep_delays_in_range_and_run_as_emulated(interval):
    model = ReconstructionClassifier(max_delay=5, n_witnesses=200, column_generation_rounds=2, candidates_per_round=32,
                                     pricing_steps=5, n_betas=4).fit(interval.X_train, interval.y_train)
    rounds = model.report_["column_generation"]
    assert len(rounds) == 3 and sum(r["added"] for r in rounds) > 0
    assert model.network_.layers[0].dense.max_delay == 5
    assert model.report_["verification"]["solver_vs_chip_differences"] == 0


def _delay_pricer(inputs, max_delay):
    rng = np.random.default_rng(0)
    profile = nr.load_profile("loihi2")
    sampler = WitnessSampler(profile, inputs[:128], inputs.shape[1], 0, "rate", rng, max_delay=max_delay)
    settings = PricingSettings(candidates=24, steps=8)
    return sampler, Pricer(sampler, inputs, inputs.shape[1], 0, Readout("count"), settings, seed=0)


def test_the_best_delays_are_the_first_order_oracles():
    """Each synapse's proposed delay minimises w * sum_{b,t} g[b, t, n] x[b, t - k, c] over k (loops)."""
    rng = np.random.default_rng(1)
    n, d, T, K = 5, 4, 12, 6
    x = torch.as_tensor((rng.random((3, T, d)) < 0.3).astype(np.float64))
    grad = torch.as_tensor(rng.standard_normal((3, T, n)))
    weight = torch.as_tensor(rng.standard_normal((n, d)))
    mask = torch.as_tensor((rng.random((n, d)) < 0.8).astype(np.float64))
    pricer = SimpleNamespace(sampler=SimpleNamespace(max_delay=K - 1), _shifted=Pricer._shifted)
    best = Pricer._best_delays(pricer, x, weight, grad, mask)
    for p in range(n):
        for c in range(d):
            change = [float(weight[p, c] * (grad[:, k:, p] * x[:, :T - k, c]).sum()) for k in range(K)]
            assert int(best[p, c]) == (int(np.argmin(change)) if mask[p, c] else 0)


def test_pricing_moves_delays_on_sparse_inputs_only_and_never_for_a_lower_score(interval):
    X = interval.X_train
    sampler, pricer = _delay_pricer(X, 8)
    start = sampler.sample(24)
    mask = start.weights != 0
    dual = np.random.default_rng(2).standard_normal((len(X), 3))
    dual -= dual.mean(axis=0)
    twin = pricer._twin(start, mask, None)
    x, check = pricer.inputs[:200], (pricer.inputs[200:400], torch.as_tensor(dual[200:400], dtype=torch.float32))
    weight = (twin.layer.weight * twin.mask).detach()
    current = pricer._current(x, weight, twin.taps).requires_grad_(True)
    loss = -pricer.score(pricer._features(twin, current), torch.as_tensor(dual[:200], dtype=torch.float32)).sum()
    (grad,) = torch.autograd.grad(loss, current)

    def scores(taps):
        with torch.no_grad():
            return pricer.score(pricer._features(twin, pricer._current(check[0], weight, taps)), check[1])

    before, old = scores(twin.taps), twin.taps.delays.clone()
    pricer._move_delays(twin, x, weight, grad, check)
    moved = (twin.taps.delays != old).any(dim=1)
    assert moved.any() and not moved.all()  # some candidates moved, some kept their drawn delays
    assert torch.all(scores(twin.taps)[moved] > before[moved])
    assert int(twin.taps.delays.max()) <= 8 and torch.all(twin.taps.delays[~torch.as_tensor(mask)] == 0)
    # a search snaps the moved delays on these sparse inputs; on dense ones it keeps the drawn ones
    dense = np.clip(X + (np.random.default_rng(3).random(X.shape) < 0.2), 0, 1)
    tailed = np.concatenate([dense, np.zeros((len(X), 3 * X.shape[1], X.shape[2]))], axis=1)
    for inputs, moves in ((X, True), (dense, False), (tailed, False)):
        searched = []
        for delay_moves in (0, 4):
            _, pricer = _delay_pricer(inputs, 8)
            pricer.settings.delay_moves = delay_moves
            layer, _ = pricer.search(dual, np.arange(len(X)), None, np.arange(0), 1)
            searched.append(layer)
        assert (pricer.data_density < DELAY_MOVE_DENSITY) is moves
        kept = (searched[0].weights != 0) & (searched[1].weights != 0)  # a zero weight drops its delay
        assert np.array_equal(searched[0].dense.delays[kept], searched[1].dense.delays[kept]) is not moves


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_delay=-1), "max_delay must be 'auto' or a whole number of steps >= 0; got -1"),
    (dict(max_delay=2.5), "max_delay must be 'auto' or a whole number of steps >= 0; got 2.5"),
    (dict(max_delay=True), "max_delay must be 'auto' or a whole number of steps >= 0; got True"),
    (dict(max_delay="long"), "max_delay must be 'auto' or a whole number of steps >= 0"),
    (dict(max_delay=64), "max_delay=64 is beyond profile loihi2, which holds synaptic delays up to 63 steps"),
    (dict(max_delay=3, profile="loihi1"), "max_delay=3 is beyond profile loihi1, which holds synaptic delays up to 0"),
    (dict(max_delay=3, netx_compatible=True), "synaptic delays are drawn for random witnesses only, and netx holds none"),
    (dict(max_delay=3, witness_source="sg"), "synaptic delays are drawn for random witnesses only"),
])
def test_bad_max_delays_are_refused(interval, kwargs, message):
    with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
        ReconstructionClassifier(**{**SMALL, **kwargs}).fit(interval.X_train[:40], interval.y_train[:40])


TASK = ["interval", "--T", "30", "--option", "min_interval=4", "--option", "max_interval=20", "--n-train", "200",
        "--n-test", "50"]


@pytest.mark.parametrize("args, fragment", [
    (["--max-delay", "-1"], "--max-delay takes a whole number of steps >= 0 or 'auto'; got '-1'"),
    (["--max-delay", "ten"], "--max-delay takes a whole number of steps >= 0 or 'auto'; got 'ten'"),
    (["--max-delay", "64"], "max_delay=64 is beyond profile loihi2"),
    (["--max-delay", "3", "--method", "sg"], "--max-delay is for --method cvx"),
    (["--max-delay", "3", "--method", "sg-cvx"], "--max-delay is for --method cvx"),
    (["--max-delay", "3", "--netx-compatible"], "netx holds none"),
    (["--max-delay", "3", "--fine-tune", "2"], "SG fine-tuning trains delay-free networks"),
])
def test_bad_max_delay_options_write_nothing(capsys, tmp_path, args, fragment):
    out = cli(capsys, "train", *TASK, "--out", tmp_path / "r", *args)
    assert_clean_failure(out, fragment)
    assert not (tmp_path / "r").exists()


def test_a_delayed_network_exports_to_lava_and_says_why_not_to_nir(capsys, tmp_path):
    run = tmp_path / "run"
    out = cli(capsys, "train", *TASK, "--out", run, "--witnesses", "150", "--rounds", "0", "--quiet")
    assert out.code == 0, out.err
    assert nr.Network.load(run / "network.h5").layers[0].dense.delays is not None
    out = cli(capsys, "export", run, "--nir", "--lava", tmp_path / "lava")
    assert out.code == 3 and "train with --max-delay 0" in out.err  # 3: written in part
    assert (tmp_path / "lava" / "run_network.py").exists() and not (run / "exports" / "network.nir").exists()


def test_the_pricing_twins_event_current_has_one_calls_bits_on_two_threads(monkeypatch):
    # the spread is cut into halves of the batch, its gradient into halves of the input channels:
    # the same sums in the same order as one call of each compiled loop over everything
    rng = np.random.default_rng(1)
    n, d, T, batch = 16, 7, 30, 9
    mask = rng.random((n, d)) < 0.7
    taps = _Taps(torch.as_tensor(rng.integers(0, 12, (n, d))), True, mask)
    x = torch.as_tensor((rng.random((batch, T, d)) < 0.2).astype(np.float32))
    probe = torch.as_tensor(rng.standard_normal((batch, T, n)).astype(np.float32))
    weight = torch.tensor(rng.standard_normal((n, d)).astype(np.float32) * mask, requires_grad=True)
    helper = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(halves, "_helper", lambda: helper)  # two threads, on any machine
    current = Pricer._current(x, weight, taps)
    (grad,) = torch.autograd.grad((current * probe).sum(), weight)

    start, neuron, delay, flat = taps.lists
    whole = np.zeros((batch, T, n), np.float32)
    spread_events(x.numpy(), start, neuron, delay, weight.detach().numpy().reshape(-1)[flat], whole)
    whole_grad = np.zeros(len(flat), np.float32)
    gather_events(x.numpy(), start, neuron, delay, probe.numpy(), whole_grad)
    expected_grad = np.zeros(n * d, np.float32)
    expected_grad[flat] = whole_grad
    assert float(np.abs(whole).sum()) > 0 and float(np.abs(whole_grad).sum()) > 0
    np.testing.assert_array_equal(current.detach().numpy(), whole)
    np.testing.assert_array_equal(grad.numpy().reshape(-1), expected_grad)
