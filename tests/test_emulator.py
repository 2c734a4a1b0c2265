"""Emulator semantics, spelled out case by case, plus recording, determinism and input checks."""

import numpy as np
import pytest

import neurorecon as nr


def one_neuron(w=10, du=4095, dv=0, vth=1000, **kw):
    return nr.Network([nr.LIFLayer(np.array([[w]]), du=du, dv=dv, vth=vth, **kw)])


def run(net, x, steps=None, **kw):
    return nr.simulate(net, np.asarray(x).reshape(1, -1, net.n_inputs), n_steps=steps, record=("spikes", "v", "u"), **kw)


def test_dense_delays_by_one_step():
    res = run(one_neuron(), [1, 0, 0, 0])
    # Frame 0 is sent at step 1 and reaches the LIF at step 2 (index 1): a<<6 = 640.
    assert res.u[0][0, :, 0].tolist() == [0, 640, 0, 0]


def test_current_decay_uses_du_plus_one_and_truncates_toward_zero():
    res = run(one_neuron(w=-10, du=0, vth=10**5), [1, 0, 0])
    # u = trunc0(-640 * 4095 / 4096) = -639 (toward zero), not floor's -640
    assert res.u[0][0, :, 0].tolist() == [0, -640, -639]


def test_strict_threshold_and_reset_of_v_only():
    net = one_neuron(w=10, du=4095, dv=4095, vth=10)  # vth << 6 = 640 = exactly one input
    assert run(net, [1, 0]).spikes[0].sum() == 0  # v == 640 is not > 640
    net = one_neuron(w=10, du=4095, dv=4095, vth=9)
    res = run(net, [1, 0])
    assert res.spikes[0][0, 1, 0] and res.v[0][0, 1, 0] == 0 and res.u[0][0, 1, 0] == 640


def test_bias_is_shifted_by_exponent_not_by_six():
    res = run(one_neuron(w=0, dv=4095, vth=10**5, bias_mant=3, bias_exp=4), [0, 0])
    assert res.v[0][0, 0, 0] == 3 << 4


def test_negative_weight_exp_floors_the_accumulation():
    net = nr.Network([nr.LIFLayer(np.array([[-3, 2]]), du=4095, dv=4095, vth=10**5, weight_exp=-1, sign_mode="mixed")])
    res = run(net, [[1, 1], [0, 0]])
    # mixed sign at 8 bits: -3 -> -4, 2 -> 2 ; acc = -2 ; -2 >> 1 = -1 ; << 6 = -64
    assert res.u[0][0, 1, 0] == -64


def test_graded_payloads_multiply_weights():
    net = nr.Network([nr.LIFLayer(np.array([[4, 2]]), du=4095, dv=4095, vth=10**5, num_message_bits=3)])
    res = run(net, [[3, 5], [0, 0]])
    assert res.u[0][0, 1, 0] == (4 * 3 + 2 * 5) << 6


def test_float_arithmetic_follows_lava_float_model():
    net = nr.Network([nr.LIFLayer(np.array([[0.5]]), du=0.5, dv=0.25, vth=1.0, bias_mant=0.1)], arithmetic="float")
    res = run(net, [1, 1, 0])
    u1, v1 = 0.0, 0.1  # step 1: no input yet
    u2 = u1 * 0.5 + 0.5
    v2 = v1 * 0.75 + u2 + 0.1
    assert res.v[0][0, 0, 0] == pytest.approx(v1)
    assert res.u[0][0, 1, 0] == pytest.approx(u2) and res.v[0][0, 1, 0] == pytest.approx(v2)


def test_steps_default_to_input_length_and_extend_with_zeros():
    net = one_neuron()
    assert run(net, [1, 1, 1]).spikes[0].shape == (1, 3, 1)
    longer = run(net, [1, 1, 1], steps=5)
    assert longer.u[0].shape == (1, 5, 1) and longer.u[0][0, 4, 0] == 0
    assert nr.readout_steps(net, 3) == 4


def test_recording_is_opt_in_per_layer_and_variable():
    rng = np.random.default_rng(0)
    net = nr.Network([nr.LIFLayer(rng.integers(-50, 50, (1024, 28)), du=409, dv=204, vth=100),
                      nr.LIFLayer(rng.integers(-50, 50, (10, 1024)), du=4095, dv=0, vth=2**17 - 1, weight_exp=-3)])
    x = (rng.random((10_000, 28, 28)) < 0.2).astype(np.uint8)
    res = nr.simulate(net, x, n_steps=30, record=("counts",), layers=[0])
    assert res.spikes == [None, None] and res.v == [None, None]
    assert res.final_v[1].shape == (10_000, 10) and res.spike_counts[0].shape == (10_000, 1024)
    small = nr.simulate(net, x[:50], n_steps=30, record=("v",), layers=[1])
    assert small.v[0] is None and small.v[1].shape == (50, 30, 10)
    np.testing.assert_array_equal(small.final_v[1], res.final_v[1][:50])
    np.testing.assert_array_equal(small.v[1][:, -1], res.final_v[1][:50])


def test_same_bits_whatever_the_chunking_and_threads():
    from neurorecon.simulate.emulator import emulate

    rng = np.random.default_rng(1)
    net = nr.Network([nr.LIFLayer(rng.integers(-255, 256, (40, 7)), du=rng.choice([0, 100], 40), dv=50, vth=60,
                                  weight_exp=-2)])
    x = (rng.random((101, 9, 7)) < 0.4).astype(np.uint8)
    a = emulate(net, x, 11, ("spikes", "v", "u"), chunk_size=7, threads=1)
    b = emulate(net, x, 11, ("spikes", "v", "u"), chunk_size=64, threads=2)
    for var in ("spikes", "v", "u"):
        np.testing.assert_array_equal(getattr(a, var)[0], getattr(b, var)[0])
    np.testing.assert_array_equal(emulate(net, x, 11, ("spikes", "counts")).spike_counts[0], a.spikes[0].sum(axis=1))


def test_int32_datapath_overflow_is_refused():
    net = nr.Network([nr.LIFLayer(np.full((1, 4), 255), du=0, dv=0, vth=1, weight_exp=7, num_message_bits=24)])
    with pytest.raises(nr.NeuroreconError, match="32-bit datapath"):
        nr.simulate(net, np.full((1, 2, 4), 2**23))


@pytest.mark.parametrize(
    "x, message",
    [
        (np.ones((2, 3)), "shape \\(n_samples, T, n_inputs\\)"),
        (np.ones((2, 3, 5)), "expects 1"),
        (np.ones((0, 3, 1)), "no samples"),
        (np.ones((2, 0, 1)), "T=0"),
        (np.full((1, 2, 1), np.nan), "NaN"),
        (-np.ones((1, 2, 1)), "negative"),
        (np.full((1, 2, 1), 2), "binary spikes"),
        (np.full((1, 2, 1), 0.5), "binary spikes"),
        (np.array([[["a"]]]), "numeric"),
    ],
)
def test_bad_inputs(x, message):
    with pytest.raises(nr.NeuroreconError, match=message):
        nr.simulate(one_neuron(), x)


def test_bad_arguments():
    net, x = one_neuron(), np.ones((1, 2, 1))
    with pytest.raises(nr.NeuroreconError, match="unknown backend"):
        nr.simulate(net, x, backend="gpu")
    with pytest.raises(nr.NeuroreconError, match="record"):
        nr.simulate(net, x, record=("w",))
    with pytest.raises(nr.NeuroreconError, match="layers"):
        nr.simulate(net, x, layers=[3])
    with pytest.raises(nr.NeuroreconError, match="n_steps"):
        nr.simulate(net, x, n_steps=0)
    graded = nr.Network([nr.LIFLayer(np.ones((1, 1)), 0, 0, 1, num_message_bits=2)])
    with pytest.raises(nr.NeuroreconError, match="2-bit messages"):
        nr.simulate(graded, np.full((1, 2, 1), 4))
