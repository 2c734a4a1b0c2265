"""The emulator against real Lava 0.10 (and a literal transcription of Lava's code).

Fixed point must agree exactly (spikes, u, v at every step); float spikes exactly and
voltages to 1e-9. These run real Lava processes on Loihi2SimCfg.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lava_reference import run_reference
from netgen import random_fixed_network, random_float_network, random_input

import neurorecon as nr

ALL = ("spikes", "v", "u")


def assert_same(a, b, net):
    for i in range(net.n_layers):
        for var in ALL:
            np.testing.assert_array_equal(getattr(a, var)[i], getattr(b, var)[i], err_msg=f"layer {i} {var}")
        np.testing.assert_array_equal(a.final_v[i], b.final_v[i])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), graded=st.booleans())
def test_emulator_matches_literal_lava_transcription(seed, graded):
    rng = np.random.default_rng(seed)
    net = random_fixed_network(rng, graded=graded)
    x = random_input(rng, net, n=int(rng.integers(1, 5)), t=int(rng.integers(1, 12)))
    steps = nr.readout_steps(net, x.shape[1]) + int(rng.integers(0, 3))
    got = nr.simulate(net, x, n_steps=steps, record=ALL)
    ref = run_reference(net, x, steps)
    for i in range(net.n_layers):
        for var in ALL:
            np.testing.assert_array_equal(getattr(got, var)[i], ref[var][i], err_msg=f"layer {i} {var}")


@pytest.mark.parametrize("seed", range(16))
def test_fixed_random_networks_match_lava(seed):
    rng = np.random.default_rng(1000 + seed)
    net = random_fixed_network(rng, graded=seed % 4 == 3)
    x = random_input(rng, net, n=3, t=int(rng.integers(3, 12)))
    steps = nr.readout_steps(net, x.shape[1])
    assert_same(nr.simulate(net, x, n_steps=steps, record=ALL), nr.simulate(net, x, "lava", n_steps=steps, record=ALL), net)


@pytest.mark.parametrize("seed", range(6))
def test_float_random_networks_match_lava(seed):
    rng = np.random.default_rng(2000 + seed)
    net = random_float_network(rng)
    x = random_input(rng, net, n=3, t=10)
    steps = nr.readout_steps(net, x.shape[1])
    emu = nr.simulate(net, x, n_steps=steps, record=ALL)
    lava = nr.simulate(net, x, "lava", n_steps=steps, record=ALL)
    for i in range(net.n_layers):
        np.testing.assert_array_equal(emu.spikes[i], lava.spikes[i])
        np.testing.assert_allclose(emu.v[i], lava.v[i], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(emu.u[i], lava.u[i], rtol=1e-9, atol=1e-9)


def _wrap_and_saturation_network():
    # Strong excitatory drive, du=0 (u barely decays): u crosses 2**23 and wraps;
    # dv=0 integrates u: v saturates at 2**23 - 1; vth=131071 cannot stop the spike.
    drive = nr.LIFLayer(np.full((4, 8), 255), du=[0, 0, 1, 4095], dv=[0, 0, 1, 0], vth=[2**17 - 1, 2**17 - 1, 5, 0],
                        weight_exp=3, bias_mant=4095, bias_exp=7)
    inhibit = nr.LIFLayer(np.full((3, 4), -200), du=0, dv=0, vth=10, weight_exp=2, num_weight_bits=5)
    return nr.Network([drive, inhibit])


def test_wrap_and_saturation_cases_match_lava():
    net = _wrap_and_saturation_network()
    x = np.ones((2, 40, 8), dtype=np.int64)
    x[1, ::3] = 0
    emu = nr.simulate(net, x, n_steps=42, record=ALL)
    u0 = emu.u[0].astype(np.int64)
    assert (np.diff(u0, axis=1) < -(2**22)).any(), "u never wrapped: the case does not test the wrap"
    assert (emu.v[1] == -(2**23 - 1)).any(), "v never saturated"
    assert emu.spikes[0][:, :, 0].any(), "vth=131071 never crossed"
    assert_same(emu, nr.simulate(net, x, "lava", n_steps=42, record=ALL), net)


def test_grouped_layer_uses_one_lava_process_per_group_and_matches():
    rng = np.random.default_rng(7)
    layer = nr.LIFLayer(rng.integers(-255, 256, (9, 5)), du=[1, 1, 4095, 0, 1, 4095, 0, 0, 1],
                        dv=[5, 5, 0, 0, 5, 0, 0, 0, 5], vth=[10, 10, 3, 3, 10, 3, 3, 3, 10], weight_exp=-2)
    readout = nr.LIFLayer(rng.integers(-255, 256, (3, 9)), du=4095, dv=0, vth=2**17 - 1, weight_exp=-1)
    net = nr.Network([layer, readout])
    assert [g.tolist() for g in layer.groups()] == [[0, 1, 4, 8], [2, 5], [3, 6, 7]]
    x = (rng.random((5, 12, 5)) < 0.5).astype(int)
    assert_same(nr.simulate(net, x, n_steps=14, record=ALL), nr.simulate(net, x, "lava", n_steps=14, record=ALL), net)


def test_samples_are_independent_on_lava():
    """Sample k's result must not depend on sample k-1 (state is reset between samples)."""
    net = _wrap_and_saturation_network()
    rng = np.random.default_rng(3)
    x = (rng.random((4, 10, 8)) < 0.5).astype(int)
    together = nr.simulate(net, x, "lava", n_steps=12, record=("v",))
    alone = nr.simulate(net, x[2:3], "lava", n_steps=12, record=("v",))
    np.testing.assert_array_equal(together.v[1][2:3], alone.v[1])


def test_record_subset_and_final_v_on_lava():
    net = _wrap_and_saturation_network()
    x = np.ones((2, 5, 8), dtype=int)
    res = nr.simulate(net, x, "lava", n_steps=7, record=("v",), layers=[1])
    emu = nr.simulate(net, x, n_steps=7, record=("v",), layers=[1])
    assert res.spikes == [None, None] and res.v[0] is None
    np.testing.assert_array_equal(res.v[1], emu.v[1])
    for i in range(2):
        np.testing.assert_array_equal(res.final_v[i], emu.final_v[i])


def test_hardware_backend_without_lava_loihi_is_a_clear_error():
    net = _wrap_and_saturation_network()
    with pytest.raises(nr.NeuroreconError, match="lava-loihi"):
        nr.simulate(net, np.ones((1, 3, 8), dtype=int), backend="loihi2-hw")
