"""Feed-forward fixed-point networks run layer by layer, each layer's loop compiled, give the
stepped update's integers."""

from __future__ import annotations

import numpy as np
import pytest

import neurorecon as nr
from neurorecon.simulate import emulator
from neurorecon.simulate.emulator import emulate, input_drive
from tests.lava_reference import run_reference
from tests.netgen import random_fixed_network, random_input

RECORDS = ("spikes", "v", "u", "counts", "final_spikes")


def _feed_forward(net: nr.Network) -> nr.Network:
    return nr.Network([layer.replace(recurrent=None) for layer in net.layers], arithmetic="fixed")


def _stepped(layers: list[nr.LIFLayer], x, n_steps, record):
    """The layers' records through the stepped update: under a layer with a recurrent Dense of
    zero weights (it adds nothing), the emulator steps the network."""
    above = nr.LIFLayer(np.ones((1, layers[-1].n_neurons), dtype=np.int64), du=0, dv=0, vth=1,
                        recurrent=nr.Dense(np.zeros((1, 1), dtype=np.int64)))
    net = nr.Network([*layers, above], arithmetic="fixed")
    return emulate(net, x, n_steps, record, list(range(len(layers))))


@pytest.fixture
def compiled_calls(monkeypatch):
    calls = []
    run_layer = emulator.run_layer

    def counted(*args, **kwargs):
        calls.append(1)
        return run_layer(*args, **kwargs)

    monkeypatch.setattr(emulator, "run_layer", counted)
    return calls


@pytest.mark.parametrize("seed", range(40))
def test_layer_by_layer_equals_lava_reference(seed, compiled_calls):
    rng = np.random.default_rng(seed)
    net = _feed_forward(random_fixed_network(rng))
    x = random_input(rng, net, 5, int(rng.integers(1, 12)))
    n_steps = x.shape[1] + int(rng.integers(0, 4))
    got = emulate(net, x, n_steps, RECORDS)
    assert len(compiled_calls) == net.n_layers
    want = run_reference(net, x, n_steps)
    for i in range(net.n_layers):
        for var in ("spikes", "v", "u"):
            np.testing.assert_array_equal(getattr(got, var)[i], want[var][i], err_msg=f"{var} of layer {i}")
        np.testing.assert_array_equal(got.spike_counts[i], want["spikes"][i].sum(axis=1))
        np.testing.assert_array_equal(got.final_spikes[i], want["spikes"][i][:, -1])
        np.testing.assert_array_equal(got.final_v[i], want["v"][i][:, -1])


def test_only_what_is_asked_is_recorded_between_layers():
    """The layers below the top run without records asked of them; the top's equal the stepped."""
    rng = np.random.default_rng(11)
    layers = [nr.LIFLayer(nr.Dense(rng.integers(-90, 91, (30, 6)), delays=rng.integers(0, 4, (30, 6))), du=300,
                          dv=200, vth=20),
              nr.LIFLayer(rng.integers(-60, 61, (8, 30)), du=100, dv=0, vth=2**17 - 1)]
    x = (rng.random((50, 15, 6)) < 0.3).astype(np.uint8)
    got = emulate(nr.Network(layers, arithmetic="fixed"), x, 18, ("v",), [1])
    assert got.v[0] is None and got.spikes[0] is None
    want = _stepped(layers, x, 18, ("v",))
    np.testing.assert_array_equal(got.v[1], want.v[1])
    np.testing.assert_array_equal(got.final_v[0], want.final_v[0])
    assert np.any(got.v[1] != 0)


def test_wrap_and_clip_are_reached_and_held():
    """A layer driven past u's 24 bits (wrap) and below v's floor (clip), on both paths."""
    rng = np.random.default_rng(7)
    n, d = 24, 12
    layer = nr.LIFLayer(rng.choice([-255, 255], (n, d)), du=0, dv=rng.choice([0, 1, 300], n), vth=2**17 - 1,
                        bias_mant=rng.integers(-4096, 4096, n), bias_exp=7, weight_exp=3)
    x = (rng.random((30, 40, d)) < 0.9).astype(np.uint8)
    got = emulate(nr.Network([layer], arithmetic="fixed"), x, 45, RECORDS)
    want = _stepped([layer], x, 45, RECORDS)
    u = got.u[0].astype(np.int64)
    assert np.any(np.abs(np.diff(u, axis=1)) > 2**23)  # wrapped
    assert np.any(got.v[0] == -(2**23 - 1))  # clipped
    for var in ("spikes", "v", "u", "spike_counts", "final_spikes", "final_v"):
        np.testing.assert_array_equal(getattr(got, var)[0], getattr(want, var)[0], err_msg=var)


def test_delayed_synapses_shared_drive_and_threads():
    """Witness-like layers (delays, a shared input drive, chunks on two threads) as stepped."""
    rng = np.random.default_rng(3)
    n, d = 70, 9
    layer = nr.LIFLayer(nr.Dense(rng.integers(-60, 61, (n, d)), weight_exp=0, delays=rng.integers(0, 6, (n, d))),
                        du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n), vth=rng.integers(1, 40, n),
                        bias_mant=rng.integers(-50, 50, n))
    x = (rng.random((300, 20, d)) < 0.1).astype(np.uint8)
    net = nr.Network([layer], arithmetic="fixed")
    drive = input_drive(net, x, 26)
    got = emulate(net, x, 26, ("counts", "final_spikes"), chunk_size=64, threads=2, drive=drive)
    want = _stepped([layer], x, 26, ("counts", "final_spikes"))
    for var in ("spike_counts", "final_spikes", "final_v"):
        np.testing.assert_array_equal(getattr(got, var)[0], getattr(want, var)[0], err_msg=var)
    assert got.spike_counts[0].sum() > 0


def test_float_and_recurrent_layers_keep_the_stepped_update(compiled_calls):
    rng = np.random.default_rng(0)
    x = (rng.random((4, 6, 3)) < 0.5).astype(np.uint8)
    emulate(nr.Network([nr.LIFLayer(rng.random((5, 3)), du=0.1, dv=0.1, vth=0.5)], arithmetic="float"), x, 7)
    recurrent = nr.LIFLayer(rng.integers(-9, 10, (5, 3)), du=0, dv=0, vth=3, recurrent=nr.Dense(np.ones((5, 5))))
    emulate(nr.Network([recurrent], arithmetic="fixed"), x, 7)
    assert not compiled_calls
