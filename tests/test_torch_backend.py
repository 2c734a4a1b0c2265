"""The torch backend: the emulator's loop and arithmetic on torch tensors, bit-exact to numpy.

Every comparison runs on CPU torch; where torch sees a CUDA device (a lent GPU machine) each also
runs there.
"""

import numpy as np
import pytest
import torch
from clitools import assert_clean_failure, cli
from netgen import random_fixed_network, random_float_network, random_input

import neurorecon as nr

RECORD = ("spikes", "v", "u", "counts", "final_spikes")
FIELDS = ("spikes", "v", "u", "final_v", "spike_counts", "final_spikes")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def assert_same_bits(a, b):
    for name in FIELDS:
        for p, q in zip(getattr(a, name), getattr(b, name)):
            assert (p is None) == (q is None), name
            if p is not None:
                assert p.dtype == q.dtype, name
                np.testing.assert_array_equal(p, q, err_msg=name)


@pytest.mark.parametrize("device", DEVICES)
def test_random_fixed_networks_are_bit_exact(device):
    """Random networks (recurrent layers, graded inputs, every decay corner); some wrap u and
    saturate v, and the count of those is checked so the corners are really exercised."""
    wrapped = saturated = recurrent = graded = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        net = random_fixed_network(rng, graded=seed % 2 == 0)
        x = random_input(rng, net, 5, int(rng.integers(1, 25)))
        try:
            ref = nr.simulate(net, x, n_steps=x.shape[1] + 3, record=RECORD)
        except nr.NeuroreconError:  # Lava's int32 datapath refused: nothing to compare
            continue
        out = nr.simulate(net, x, backend="torch", device=device, n_steps=x.shape[1] + 3, record=RECORD)
        assert out.backend == "torch"
        assert_same_bits(ref, out)
        saturated += any(v.min() == -(2**23 - 1) for v in ref.v)
        wrapped += any(np.any(np.abs(np.diff(u.astype(np.int64), axis=1)) > 2**23) for u in ref.u)
        recurrent += any(layer.recurrent is not None for layer in net.layers)
        graded += net.layers[0].num_message_bits > 0
    assert wrapped and saturated and recurrent and graded


@pytest.mark.parametrize("device", DEVICES)
def test_u_wraps_and_v_saturates_the_same_way(device):
    # u: four inputs of (255 << 7) << 6 = 2,088,960 each, no current decay: past 2**23 it wraps.
    wrap = nr.Network([nr.LIFLayer(np.array([[255]]), du=0, dv=0, vth=2**17 - 1, weight_exp=7)])
    x = np.ones((1, 6, 1), np.int64)
    ref = nr.simulate(wrap, x, record=("u", "v"))
    assert ref.u[0][0, :, 0].min() < 0  # wrapped to negative
    assert_same_bits(ref, nr.simulate(wrap, x, backend="torch", device=device, record=("u", "v")))
    # v: a strongly inhibitory input with no voltage leak saturates at -(2**23 - 1).
    sat = nr.Network([nr.LIFLayer(np.array([[-256]]), du=4095, dv=0, vth=10, weight_exp=7)])
    x = np.ones((2, 12, 1), np.int64)
    ref = nr.simulate(sat, x, record=("u", "v"))
    assert ref.v[0].min() == -(2**23 - 1)
    assert_same_bits(ref, nr.simulate(sat, x, backend="torch", device=device, record=("u", "v")))


@pytest.mark.parametrize("device", DEVICES)
def test_negative_weight_exp_floors_the_same_way(device):
    net = nr.Network([nr.LIFLayer(np.array([[-3, 2], [5, -7]]), du=4095, dv=4095, vth=10**5, weight_exp=-2,
                                  sign_mode="mixed", num_weight_bits=6)])
    x = np.random.default_rng(1).integers(0, 2, (4, 9, 2))
    ref = nr.simulate(net, x, record=("u",))
    assert ref.u[0].min() < 0
    assert_same_bits(ref, nr.simulate(net, x, backend="torch", device=device, record=("u",)))


@pytest.mark.parametrize("device", DEVICES)
def test_float_networks_agree_to_1e9(device):
    for seed in range(30):
        rng = np.random.default_rng(seed)
        net = random_float_network(rng)
        x = random_input(rng, net, 5, 12)
        ref = nr.simulate(net, x, record=("v", "u", "spikes"))
        out = nr.simulate(net, x, backend="torch", device=device, record=("v", "u", "spikes"))
        for p, q in zip(ref.v + ref.u + ref.final_v, out.v + out.u + out.final_v):
            np.testing.assert_allclose(q, p, rtol=0, atol=1e-9)


def test_cuda_runs_bit_exact_or_fails_with_one_clear_error():
    rng = np.random.default_rng(3)
    net = random_fixed_network(rng)
    x = random_input(rng, net, 4, 10)
    if torch.cuda.is_available():
        assert_same_bits(nr.simulate(net, x, record=RECORD), nr.simulate(net, x, backend="torch", device="cuda",
                                                                         record=RECORD))
    else:
        with pytest.raises(nr.NeuroreconError, match="torch.cuda is not available"):
            nr.simulate(net, x, backend="torch", device="cuda")


@pytest.mark.parametrize("device, message", [("tpu", "device must be"), (3, "device must be"),
                                             ("cuda:x", "device must be")])
def test_bad_devices(device, message):
    net = nr.Network([nr.LIFLayer(np.array([[10]]), du=1, dv=1, vth=5)])
    with pytest.raises(nr.NeuroreconError, match=message):
        nr.simulate(net, np.ones((1, 3, 1)), backend="torch", device=device)
    with pytest.raises(nr.NeuroreconError, match="device is for the torch backend"):
        nr.simulate(net, np.ones((1, 3, 1)), device="cpu")


def test_cli_simulate_on_torch(capsys, tmp_path):
    rng = np.random.default_rng(0)
    net = nr.Network([nr.LIFLayer(rng.integers(-100, 100, (6, 4)), du=10, dv=5, vth=20)])
    net.save(tmp_path / "m.h5")
    x = (rng.random((3, 7, 4)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "x.npz", X=x)
    out = cli(capsys, "simulate", tmp_path / "m.h5", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz",
              "--backend", "torch", "--device", "cpu", "--record", "spikes,v,u")
    assert out.code == 0, out.err
    ref = nr.simulate(net, x, record=("spikes", "v", "u"))
    with np.load(tmp_path / "o.npz") as f:
        np.testing.assert_array_equal(f["v_0"], ref.v[0])
        np.testing.assert_array_equal(f["u_0"], ref.u[0])
    for device in ("gpu7", "cuda" if not torch.cuda.is_available() else "cuda:99"):
        assert_clean_failure(cli(capsys, "simulate", tmp_path / "m.h5", "--input", tmp_path / "x.npz", "--out",
                                 tmp_path / "d.npz", "--backend", "torch", "--device", device), "device")
    assert_clean_failure(cli(capsys, "simulate", tmp_path / "m.h5", "--input", tmp_path / "x.npz", "--out",
                             tmp_path / "d.npz", "--device", "cpu"), "torch backend")
