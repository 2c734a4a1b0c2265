"""The float <-> fixed mapping: formulas, the scale rule, reports, warnings and errors."""

import warnings

import numpy as np
import pytest

import neurorecon as nr
from netgen import mixed_network
from neurorecon.profiles import load_profile
from neurorecon.quantize import QuantizationWarning, dequantize_network, quantize_network
from neurorecon.readout import NON_SPIKING_VTH

LOIHI2 = load_profile("loihi2").precision


def float_net(rng, recurrent=True):
    l1 = nr.LIFLayer(rng.normal(0, 1, (20, 10)), du=0.3, dv=0.1, vth=1.0, bias_mant=rng.normal(0, 0.02, 20),
                     recurrent=nr.Dense(rng.normal(0, 0.3, (20, 20))) if recurrent else None)
    l2 = nr.LIFLayer(rng.normal(0, 1, (5, 20)), du=1.0, dv=0.05, vth=[1.0, 1.5, 1.0, 2.0, 1.0])
    return nr.Network([l1, l2], arithmetic="float")


def spikes(rng, n=48, t=40, d=10, p=0.2):
    return (rng.random((n, t, d)) < p).astype(np.uint8)


def test_mapping_formulas_per_parameter(rng):
    net = float_net(rng)
    fixed, report = quantize_network(net, "loihi2")
    for layer_f, layer_q, r in zip(net.layers, fixed.layers, report.layers):
        lam, e = r.scale, r.weight_exp
        np.testing.assert_array_equal(layer_q.du, np.round(4096 * layer_f.du) - 1)
        np.testing.assert_array_equal(layer_q.dv, np.round(4096 * layer_f.dv))
        np.testing.assert_array_equal(layer_q.vth, np.round(lam * layer_f.vth / 64))
        # weights on Lava's grid: mixed sign keeps even values in [-256, 254], so Lava's own
        # clip/truncation leaves them as they are, and they fill the grid (|W| max = 254).
        assert layer_q.sign_mode == "mixed" and np.all(layer_q.weights % 2 == 0)
        np.testing.assert_array_equal(layer_q.dense.effective_weights(), layer_q.weights)
        assert np.abs(layer_q.weights).max() == 254 and r.weight_range_used == 1.0
        np.testing.assert_allclose(64 * layer_q.weights * 2.0**e / lam, layer_f.weights, atol=64 * 2.0**e / lam)
        bias = layer_q.bias_mant.astype(np.int64) << layer_q.bias_exp.astype(np.int64)
        np.testing.assert_allclose(bias / lam, layer_f.bias_mant, atol=2.0 ** layer_q.bias_exp.max() / lam)
        assert np.all(np.abs(layer_q.bias_mant) <= 4095) and LOIHI2.weight_exp_min <= e <= LOIHI2.weight_exp_max
        assert r.errors["weights"] <= 1 / 254 + 1e-12 and r.errors["vth"] < 1e-3
        assert r.scale == min(r.bounds.values()) or r.scale < min(r.bounds.values())
    rec = fixed.layers[0].recurrent
    assert rec is not None and np.all(rec.effective_weights() == rec.weights)
    assert report.layers[0].recurrent_weight_exp == rec.weight_exp


def test_scale_is_the_largest_that_fits_the_weight_grid(rng):
    layer = nr.LIFLayer(np.array([[0.5, -0.25]]), du=1.0, dv=0.5, vth=1.0)
    fixed, report = quantize_network(nr.Network([layer], arithmetic="float"), "loihi2")
    r = report.layers[0]
    # lambda_e = 64 * 2**e * 254 / 0.5 for the largest e whose lambda respects every bound
    assert r.scale == pytest.approx(64 * 2.0**r.weight_exp * 254 / 0.5)
    assert 64 * 2.0 ** (r.weight_exp + 1) * 254 / 0.5 > min(r.bounds.values())
    assert fixed.layers[0].weights.tolist() == [[254, -128]]


def test_sign_modes_follow_the_weights(rng):
    exc = nr.LIFLayer(np.abs(rng.normal(size=(3, 4))), du=1.0, dv=0.5, vth=1.0)
    inh = nr.LIFLayer(-np.abs(rng.normal(size=(3, 3))), du=1.0, dv=0.5, vth=1.0)
    fixed, _ = quantize_network(nr.Network([exc, inh], arithmetic="float"), "loihi2")
    assert fixed.layers[0].sign_mode == "excitatory" and fixed.layers[0].weights.max() == 255
    assert fixed.layers[1].sign_mode == "inhibitory" and fixed.layers[1].weights.min() == -255
    for layer in fixed.layers:
        np.testing.assert_array_equal(layer.dense.effective_weights(), layer.weights)


def test_dequantize_formulas():
    layer = nr.LIFLayer(np.array([[3, -5], [254, -256]]), du=[0, 4095], dv=[7, 0], vth=[100, 2**17 - 1],
                        bias_mant=[3, -4], bias_exp=[2, 7], weight_exp=-1,
                        recurrent=nr.Dense(np.array([[2, 0], [0, -2]]), weight_exp=3))
    d = dequantize_network(nr.Network([layer])).layers[0]
    np.testing.assert_array_equal(d.weights, np.array([[2, -6], [254, -256]]) * 0.5)  # Lava's truncation first
    np.testing.assert_array_equal(d.du, [1 / 4096, 1.0])
    np.testing.assert_array_equal(d.dv, [7 / 4096, 0.0])
    np.testing.assert_array_equal(d.vth, [100, 2**17 - 1])
    np.testing.assert_array_equal(d.bias_mant, [(3 << 2) / 64, (-4 << 7) / 64])
    np.testing.assert_array_equal(d.recurrent.weights, [[16, 0], [0, -16]])


def test_dequantized_integrators_match_fixed_exactly(rng):
    """du=4095, dv=0, weight_exp >= 0: no rounding anywhere, so v_fixed == 64 v_float exactly."""
    hidden = nr.LIFLayer(rng.integers(-60, 60, (12, 6)) * 2, du=4095, dv=0, vth=rng.integers(50, 400, 12),
                         bias_mant=rng.integers(-20, 20, 12), bias_exp=3, weight_exp=1)
    out = nr.LIFLayer(rng.integers(-60, 60, (3, 12)) * 2, du=4095, dv=0, vth=2**17 - 1)
    net = nr.Network([hidden, out])
    x = spikes(rng, 16, 30, 6, 0.4)
    a = nr.simulate(net, x, n_steps=32)
    b = nr.simulate(dequantize_network(net), x, n_steps=32)
    for i in range(2):
        np.testing.assert_array_equal(a.spikes[i], b.spikes[i])
        np.testing.assert_array_equal(a.v[i], 64 * b.v[i])


@pytest.mark.parametrize("seed", range(3))
def test_dequantized_tracks_fixed_on_typical_data(seed):
    """Leaky layers round (trunc0) and the readout floors (weight_exp=-2): agreement is measured."""
    net = mixed_network(seed)
    x = spikes(np.random.default_rng(seed), 64, 28, 28)
    steps = nr.readout_steps(net, 28)
    a = nr.simulate(net, x, n_steps=steps)
    b = nr.simulate(dequantize_network(net), x, n_steps=steps)
    assert a.spikes[0].mean() > 0.1
    for i in range(2):
        assert (a.spikes[i] == b.spikes[i]).mean() >= 0.999
    np.testing.assert_array_equal(a.v[1][:, -1].argmax(1), b.v[1][:, -1].argmax(1))
    assert np.abs(a.v[1] / 64 - b.v[1]).max() <= 0.02 * np.abs(b.v[1]).max()


def test_quantized_tracks_float_on_data_and_is_deterministic(rng):
    net = float_net(rng)
    x = spikes(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizationWarning)
        fixed, report = quantize_network(net, "loihi2", data=x)
    again, _ = quantize_network(net, "loihi2", data=x)
    assert fixed.equals(again)
    assert report.data_samples == len(x) and not report.warnings
    for r in report.layers:
        assert r.activity["spike_agreement"] >= 0.97
        assert abs(r.activity["fixed_rate"] - r.activity["float_rate"]) <= 0.01
        assert r.limited_by in ("state u (data)", "state v (data)", "threshold", "bias", "weights", "recurrent weights")
    assert fixed.metadata["profile"] == "loihi2"
    assert report.to_dict()["layers"][0]["scale"] == report.layers[0].scale
    assert any("spike agreement" in line for line in report.lines())


def _outlier_layer(rng, inhibit):
    # Outlier weights on inputs that never fire set the 8-bit grid; every other weight is below
    # half a grid step, so it rounds to 0 (the classic post-training failure).
    w = np.full((6, 5), -0.3 if inhibit else 0.3)
    w[:, 0], w[:, 1] = 100.0, -100.0
    bias = 0.3 if inhibit else 0.0
    return nr.LIFLayer(w, du=1.0, dv=0.2, vth=0.5, bias_mant=bias)


@pytest.mark.parametrize("inhibit, word", [(False, "silences"), (True, "saturates")])
def test_warns_when_quantization_silences_or_saturates_a_layer(rng, inhibit, word):
    net = nr.Network([_outlier_layer(rng, inhibit)], arithmetic="float")
    x = spikes(rng, 16, 30, 5, 0.6)
    x[:, :, :2] = 0
    with pytest.warns(QuantizationWarning, match=word):
        _, report = quantize_network(net, "loihi2", data=x)
    assert any(word in w for w in report.warnings)


def test_du_zero_is_reported_and_non_spiking_layers_get_the_maximal_threshold(rng):
    hidden = nr.LIFLayer(rng.normal(size=(4, 3)), du=0.0, dv=0.5, vth=1.0)
    readout = nr.LIFLayer(rng.normal(size=(2, 4)), du=1.0, dv=1.0, vth=NON_SPIKING_VTH)
    fixed, report = quantize_network(nr.Network([hidden, readout], arithmetic="float"), "loihi2")
    assert fixed.layers[0].du.tolist() == [0] * 4
    assert any("du=0" in note for note in report.layers[0].notes)
    assert fixed.layers[1].vth.tolist() == [2**17 - 1] * 2 and fixed.layers[1].dv.tolist() == [4095] * 2
    assert any("dv=1" in note for note in report.layers[1].notes)


def test_forced_weight_exponent(rng):
    fixed, report = quantize_network(float_net(rng), "loihi2", weight_exp=0)
    assert [layer.weight_exp for layer in fixed.layers] == [0, 0]


def test_float_profile_returns_the_network(rng):
    net = float_net(rng)
    same, report = quantize_network(net, "float")
    assert same is net and report.layers == []


@pytest.mark.parametrize(
    "layer, message",
    [
        (dict(du=1.5), "du=1.5 is outside"),
        (dict(dv=-0.1), "dv=-0.1 is outside"),
        (dict(dv=1e-5), "unrepresentable decay"),
        (dict(vth=-1.0), "unsigned"),
        (dict(vth=[1e-9, 1e3]), "rounds to 0"),
    ],
)
def test_unrepresentable_layers_are_errors(layer, message):
    params = dict(weights=np.ones((2, 2)), du=0.5, dv=0.5, vth=1.0)
    params.update(layer)
    with pytest.raises(nr.NeuroreconError, match=message):
        quantize_network(nr.Network([nr.LIFLayer(**params)], arithmetic="float"), "loihi2")


def test_bad_arguments_are_errors(rng):
    net = float_net(rng)
    with pytest.raises(nr.NeuroreconError, match="already fixed"):
        quantize_network(mixed_network(0), "loihi2")
    with pytest.raises(nr.NeuroreconError, match="this one is float"):
        dequantize_network(net)
    with pytest.raises(nr.NeuroreconError, match="unknown profile"):
        quantize_network(net, "loihi9")
    with pytest.raises(nr.NeuroreconError, match="weight_exp=9"):
        quantize_network(net, "loihi2", weight_exp=9)
    with pytest.raises(nr.NeuroreconError, match="inputs per step"):
        quantize_network(net, "loihi2", data=np.zeros((2, 3, 4)))
    graded = nr.Network([nr.LIFLayer(np.ones((2, 3)), 0.5, 0.5, 1.0, num_message_bits=4)], arithmetic="float")
    with pytest.raises(nr.NeuroreconError, match="4-bit input payloads"):
        quantize_network(graded, "loihi1")
