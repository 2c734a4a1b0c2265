"""The compiled loop of a lone feed-forward layer gives the stepped update's integers."""

from __future__ import annotations

import numpy as np
import pytest

import neurorecon as nr
from neurorecon.simulate import emulator
from neurorecon.simulate.emulator import emulate, input_drive
from tests.lava_reference import run_reference
from tests.netgen import random_fixed_network, random_input

RECORDS = ("spikes", "v", "u", "counts", "final_spikes")


def _lone(layer: nr.LIFLayer) -> nr.LIFLayer:
    return layer.replace(recurrent=None)


def _stepped(layer: nr.LIFLayer, x, n_steps, record, drive=None):
    """The layer's records through the stepped update: under a second layer, the emulator steps
    the network (the second layer reads the first, which runs as it would alone)."""
    above = nr.LIFLayer(np.ones((1, layer.n_neurons), dtype=np.int64), du=0, dv=0, vth=1)
    return emulate(nr.Network([layer, above], arithmetic="fixed"), x, n_steps, record, [0], drive=drive)


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
def test_compiled_layer_equals_lava_reference(seed, compiled_calls):
    rng = np.random.default_rng(seed)
    layer = _lone(random_fixed_network(rng).layers[0])
    net = nr.Network([layer], arithmetic="fixed")
    x = random_input(rng, net, 5, int(rng.integers(1, 12)))
    n_steps = x.shape[1] + int(rng.integers(0, 4))
    got = emulate(net, x, n_steps, RECORDS)
    assert compiled_calls
    want = run_reference(net, x, n_steps)
    for var in ("spikes", "v", "u"):
        np.testing.assert_array_equal(getattr(got, var)[0], want[var][0], err_msg=var)
    np.testing.assert_array_equal(got.spike_counts[0], want["spikes"][0].sum(axis=1))
    np.testing.assert_array_equal(got.final_spikes[0], want["spikes"][0][:, -1])
    np.testing.assert_array_equal(got.final_v[0], want["v"][0][:, -1])


def test_wrap_and_clip_are_reached_and_held():
    """A layer driven past u's 24 bits (wrap) and below v's floor (clip), on both paths."""
    rng = np.random.default_rng(7)
    n, d = 24, 12
    layer = nr.LIFLayer(rng.choice([-255, 255], (n, d)), du=0, dv=rng.choice([0, 1, 300], n), vth=2**17 - 1,
                        bias_mant=rng.integers(-4096, 4096, n), bias_exp=7, weight_exp=3)
    x = (rng.random((30, 40, d)) < 0.9).astype(np.uint8)
    got = emulate(nr.Network([layer], arithmetic="fixed"), x, 45, RECORDS)
    want = _stepped(layer, x, 45, RECORDS)
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
    want = _stepped(layer, x, 26, ("counts", "final_spikes"))
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
