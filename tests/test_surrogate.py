"""Surrogate-gradient baseline: forward == emulator, training, determinism, divergence, bad
input, post-training quantization (emulator and Lava)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import neurorecon as nr
from neurorecon import NeuroreconError
from neurorecon.data import load_data
from neurorecon.readout import NON_SPIKING_VTH
from neurorecon.quantize import ptq as ptq_module
from neurorecon.readout import Readout
from neurorecon.train.surrogate.architecture import MAX_SCORE_SPREAD, best_temperature, initial_network, threshold_units
from neurorecon.train.surrogate.model import SurrogateNetwork
from neurorecon.quantize.ptq import predict, sg_ptq
from neurorecon.train.surrogate.trainer import train_surrogate
from neurorecon.train.convex.witnesses import default_palette


def _random_network(rng, readout: str, recurrent: bool, d: int = 5, t: int = 7, bits: int = 0) -> nr.Network:
    """A calibrated initial network with random biases everywhere (init has zero biases)."""
    x = _inputs(rng, 64, t, d, bits)
    net = initial_network(x, 3, (12, 9), Readout(readout), default_palette(t), recurrent, bits, rng)
    layers = [layer.replace(bias_mant=rng.normal(0, 0.1, layer.n_neurons)) for layer in net.layers]
    return nr.Network(layers, arithmetic="float", metadata={"readout": readout})


def _inputs(rng, n: int, t: int, d: int, bits: int = 0) -> np.ndarray:
    if bits:
        return rng.integers(0, 2**bits, (n, t, d)).astype(np.uint8)
    return (rng.random((n, t, d)) < 0.4).astype(np.uint8)


def _torch_run(net: nr.Network, x: np.ndarray, dtype: torch.dtype):
    model = SurrogateNetwork(net, x.shape[1], dtype=dtype)
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=dtype), record_spikes=True)


@pytest.fixture(scope="module")
def xor():
    return load_data("first-last-xor", T=6, n_train=400, n_test=200)


@pytest.fixture(scope="module")
def trained(xor):
    net, history = train_surrogate(xor.X_train, xor.y_train, readout="last", hidden=(32,), epochs=20, lr=1e-2,
                                   batch_size=64)
    return net, history


# ------------------------------------------------------------------ forward == emulator
@pytest.mark.parametrize("readout,recurrent,bits", [("count", False, 0), ("last", True, 0), ("step", True, 2)])
def test_forward_equals_emulator_exactly_in_float64(rng, readout, recurrent, bits):
    net = _random_network(rng, readout, recurrent, bits=bits)
    x = _inputs(rng, 40, 7, 5, bits)
    steps = nr.readout_steps(net, 7)
    emulated = nr.simulate(net, x, n_steps=steps, record=("spikes", "v"))
    out = _torch_run(net, x, torch.float64)
    for i, spikes in enumerate(out.spikes):
        assert np.array_equal(spikes.numpy().astype(bool), emulated.spikes[i])
        assert emulated.spikes[i].any()
    assert np.abs(out.readout_v.numpy() - emulated.v[-1]).max() <= 1e-12


def test_forward_float32_agrees_with_the_emulator(rng):
    net = _random_network(rng, "count", True)
    x = _inputs(rng, 200, 7, 5)
    emulated = nr.simulate(net, x, n_steps=nr.readout_steps(net, 7), record=("spikes", "v"))
    out = _torch_run(net, x, torch.float32)
    same = np.ones(len(x), bool)
    for i, spikes in enumerate(out.spikes):
        same &= (spikes.numpy().astype(bool) == emulated.spikes[i]).all(axis=(1, 2))
    # float32 can flip a spike only where v lies within its rounding of vth.
    assert same.mean() >= 0.97
    scale = np.abs(emulated.v[-1]).max()
    assert np.abs(out.readout_v.numpy()[same] - emulated.v[-1][same]).max() <= 1e-5 * scale


def test_network_round_trips_through_the_module_exactly(rng):
    net = _random_network(rng, "last", True)
    back = SurrogateNetwork(net, 7, dtype=torch.float64).to_network(net.metadata)
    assert back.equals(net)
    assert back.layers[-1].vth[0] == NON_SPIKING_VTH


# ------------------------------------------------------------------ training
def test_training_improves_accuracy(xor, trained):
    net, history = trained
    assert history.train_accuracy[-1] > history.train_accuracy[0] + 0.2
    assert history.loss[-1] < history.loss[0]
    pred, spiked = predict(net, xor.X_test)
    assert (pred == xor.y_test).mean() >= 0.85 and spiked == 0
    meta = net.metadata
    assert meta["readout"] == "last" and meta["n_classes"] == 2 and meta["t_frames"] == 6
    assert meta["provenance"]["method"] == "sg" and meta["provenance"]["epochs"] == 20
    assert net.arithmetic == "float" and net.sizes == [32, 2]
    groups = {tuple(k) for k in zip(net.layers[0].du, net.layers[0].dv, net.layers[0].vth)}
    assert len(groups) == len(set(default_palette(6)))  # one (du, dv, vth=1) group per palette pair


def test_same_seed_same_bits_other_seed_differs(xor):
    def run(seed):
        return train_surrogate(xor.X_train[:128], xor.y_train[:128], hidden=(8,), recurrent=True, epochs=2,
                               seed=seed, batch_size=32)

    (a, ha), (b, hb), (c, _) = run(3), run(3), run(4)
    assert a.equals(b) and ha.loss == hb.loss
    assert not np.array_equal(a.layers[0].weights, c.layers[0].weights)


def test_step_readout_trains_on_per_step_labels():
    data = load_data("addition-base3", n_train=200, n_test=50)
    net, history = train_surrogate(data.X_train, data.y_train, readout="step", hidden=(16,), epochs=2)
    pred, _ = predict(net, data.X_test)
    assert pred.shape == data.y_test.shape and len(history.loss) == 2


def test_fine_tuning_a_fixed_network(xor, trained):
    net, _ = trained
    fixed, _ = sg_ptq(net, "loihi2", xor.X_train)
    start = threshold_units(nr.dequantize_network(fixed), xor.X_train, xor.y_train, Readout("last"),
                            np.random.default_rng(0))
    assert all(np.all(layer.vth == 1) for layer in start.layers[:-1])
    agree = predict(start, xor.X_test)[0] == predict(nr.dequantize_network(fixed), xor.X_test)[0]
    assert agree.mean() >= 0.99
    tuned, history = train_surrogate(xor.X_train, xor.y_train, readout="last", init=fixed, epochs=2, lr=1e-3)
    assert tuned.sizes == net.sizes and tuned.arithmetic == "float"
    assert tuned.metadata["provenance"]["fine_tuned_from"]["method"] == "sg"
    chip = (predict(fixed, xor.X_train)[0] == xor.y_train).mean()
    assert chip >= 0.7 and min(history.train_accuracy) >= chip - 0.1  # starts where the chip network is


def test_fine_tuning_temperature_is_bounded_for_separable_scores(rng):
    labels = rng.integers(0, 3, 500)
    separable = np.eye(3)[labels] * 1000.0  # every sample right with a huge margin
    c = best_temperature(separable, labels)
    assert np.std(separable / c) <= MAX_SCORE_SPREAD and np.std(separable / c) > MAX_SCORE_SPREAD / 2
    noisy = np.eye(3)[labels] + rng.normal(0, 2.0, (500, 3))  # overlapping classes: a finite optimum
    assert 2 ** -4 <= best_temperature(noisy * 64, labels) / 64 <= 2 ** 4


# ------------------------------------------------------------------ divergence and bad input
def test_divergence_is_a_clear_error(xor):
    with pytest.raises(NeuroreconError, match="diverged at epoch 1"):
        train_surrogate(xor.X_train, xor.y_train, readout="last", hidden=(8,), epochs=3, lr=1e36)


@pytest.mark.parametrize("kwargs,message", [
    (dict(readout="mean"), "readout must be one of"),
    (dict(hidden=(0,)), "hidden layer size"),
    (dict(hidden=()), "non-empty sequence"),
    (dict(hidden="256"), "non-empty sequence"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(lr=-1.0), "lr must be a positive finite"),
    (dict(lr=float("nan")), "lr must be a positive finite"),
    (dict(batch_size=0), "batch_size must be"),
    (dict(seed=-1), "seed must be"),
    (dict(device="tpu"), "device"),
    (dict(surrogate=("bogus", 1.0)), "surrogate method"),
    (dict(time_constants=[(0.5, 2)]), "time constants are in steps"),
    (dict(readout="step"), "'step' readout needs one label per step"),
])
def test_bad_arguments_are_clear_errors(xor, kwargs, message):
    with pytest.raises(NeuroreconError, match=message):
        train_surrogate(xor.X_train[:50], xor.y_train[:50], **{"hidden": (4,), "epochs": 1, **kwargs})


def test_bad_data_and_init_are_clear_errors(xor, trained):
    X, y = xor.X_train[:50], xor.y_train[:50]
    with pytest.raises(NeuroreconError, match="single class"):
        train_surrogate(X, np.zeros(50, int), hidden=(4,), epochs=1)
    with pytest.raises(NeuroreconError, match="labels but X has"):
        train_surrogate(X, y[:40], hidden=(4,), epochs=1)
    with pytest.raises(NeuroreconError, match="negative values"):
        train_surrogate(-X.astype(int), y, hidden=(4,), epochs=1)
    net, _ = trained
    with pytest.raises(NeuroreconError, match="init fixes the architecture"):
        train_surrogate(X, y, readout="last", init=net, hidden=(4,))
    with pytest.raises(NeuroreconError, match="init takes 4 inputs"):
        train_surrogate(X[:, :, :3], y, readout="last", init=net)
    with pytest.raises(NeuroreconError, match="built for the 'last' readout"):
        train_surrogate(X, y, readout="count", init=net)


# ------------------------------------------------------------------ post-training quantization
def test_ptq_runs_on_the_emulator_and_matches_lava(xor, trained):
    net, _ = trained
    fixed, report = sg_ptq(net, "loihi2", xor.X_train, xor.y_train, evaluate={"test": (xor.X_test, xor.y_test)})
    assert fixed.arithmetic == "fixed" and fixed.metadata["profile"] == "loihi2"
    assert fixed.metadata["readout"] == "last" and fixed.metadata["ptq"]["readout_margin"] >= 0.5
    assert report.readout.margin >= 0.5
    test = report.accuracy["test"]
    assert test["readout_spiked"] == 0 and test["chip"] >= 0.75 and test["float"] >= 0.85
    x = xor.X_test[:3]
    steps = nr.readout_steps(fixed, x.shape[1])
    emulated = nr.simulate(fixed, x, n_steps=steps, record=("spikes", "v"))
    lava = nr.simulate(fixed, x, backend="lava", n_steps=steps, record=("spikes", "v"), timeout=120)
    for i in range(fixed.n_layers):
        assert np.array_equal(emulated.spikes[i], lava.spikes[i])
        assert np.array_equal(emulated.v[i], lava.v[i])


def test_ptq_rescales_a_readout_too_close_to_spiking(xor, trained, monkeypatch):
    net, _ = trained
    _, plain = sg_ptq(net, "loihi2", xor.X_train)
    monkeypatch.setattr(ptq_module, "READOUT_HEADROOM", (1 - plain.readout.margin) / 3)
    fixed, report = sg_ptq(net, "loihi2", xor.X_train, xor.y_train)
    assert report.readout.rescaled >= 1
    assert report.readout.peak_voltage <= ptq_module.READOUT_HEADROOM * report.readout.spiking_level
    assert report.readout.scale < plain.readout.scale
    assert "re-quantized by sg_ptq" in " ".join(report.quantization.layers[-1].notes)
    assert report.accuracy["calibration"]["readout_spiked"] == 0


def test_ptq_bad_input_is_a_clear_error(xor, trained):
    net, _ = trained
    with pytest.raises(NeuroreconError, match="calibration data"):
        sg_ptq(net, "loihi2")
    with pytest.raises(NeuroreconError, match="already fixed point"):
        sg_ptq(sg_ptq(net, "loihi2", xor.X_train)[0], "loihi2", xor.X_train)
    with pytest.raises(NeuroreconError, match="names no readout"):
        sg_ptq(nr.Network(net.layers, arithmetic="float"), "loihi2", xor.X_train)
    with pytest.raises(NeuroreconError, match="label"):
        sg_ptq(net, "loihi2", xor.X_train, xor.y_train[:10])
