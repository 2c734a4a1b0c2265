"""The fused LIF loop (pricing's twin) against the surrogate layer stepped in torch."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import neurorecon._halves as halves
from neurorecon.network import Dense, LIFLayer
from neurorecon.train.surrogate import fused
from neurorecon.train.surrogate.fused import VECTOR_STEP_MULTIPLE, lif_raster, parallel_tanh
from neurorecon.train.surrogate.model import SurrogateLayer


def _layer(rng, n=48, d=6, vth=None, recurrent=None, surrogate="tanh"):
    vth = rng.uniform(0.5, 2.0, n) if vth is None else vth
    float_layer = LIFLayer(rng.standard_normal((n, d)) * 0.8, du=rng.uniform(0.05, 1.0, n), dv=rng.uniform(0.0, 1.0, n),
                           vth=vth, bias_mant=rng.standard_normal(n) * 0.05, recurrent=recurrent)
    return SurrogateLayer(float_layer, True, surrogate, 5.0, torch.float32)


def _stepped(frames, layer, n_steps):
    constants, steps = layer.constants(), frames.unbind(dim=1)
    u = frames.new_zeros(frames.shape[0], frames.shape[2])
    v = torch.zeros_like(u)
    spikes = []
    for t in range(n_steps):
        u, v, s = layer.step(u, v, steps[t - 1] if 1 <= t <= len(steps) else 0.0, constants)
        spikes.append(s)
    return torch.stack(spikes, dim=1)


@pytest.mark.parametrize("extra_steps", [1, 4])
def test_fused_loop_has_the_stepped_layers_spikes_and_gradients(extra_steps):
    rng = np.random.default_rng(3)
    layer = _layer(rng)
    x = torch.as_tensor((rng.random((32, 20, 6)) < 0.2).astype(np.float32))
    n_steps = x.shape[1] + extra_steps
    upstream = torch.as_tensor(rng.standard_normal((32, n_steps, 48)).astype(np.float32))
    results = []
    for run in (_stepped, lif_raster):
        layer.zero_grad()
        raster = run(x @ layer.weight.T, layer, n_steps)
        (raster * upstream).sum().backward()
        results.append((raster.detach(), layer.weight.grad.clone(), layer.bias.grad.clone()))
    (stepped, w_stepped, b_stepped), (fused, w_fused, b_fused) = results
    assert 0.05 < float(stepped.mean()) < 0.5  # neurons spike, and not always
    assert torch.equal(fused, stepped)
    assert float(w_stepped.abs().max()) > 1.0
    torch.testing.assert_close(w_fused, w_stepped, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(b_fused, b_stepped, rtol=1e-5, atol=1e-4)


def test_fused_loop_refuses_what_it_does_not_compute():
    rng = np.random.default_rng(0)
    frames = torch.zeros(2, 5, 48)
    with pytest.raises(ValueError, match="feed-forward"):
        lif_raster(frames, _layer(rng, surrogate="super"), 6)
    with pytest.raises(ValueError, match="feed-forward"):
        lif_raster(frames, _layer(rng, recurrent=Dense(np.zeros((48, 48)))), 6)


@pytest.mark.parametrize("size", [1, 31, 33, 2 * VECTOR_STEP_MULTIPLE - 1, 2 * VECTOR_STEP_MULTIPLE + 17, 70_001,
                                  256 * 41 * 128])
def test_tanh_in_two_parts_has_one_calls_bits(size):
    # each part starts at a multiple of torch's vector step, so every element takes the path
    # (vectorised or the scalar remainder) it takes in one call over the whole array
    x = (np.random.default_rng(size).standard_normal(size) * 4).astype(np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in training (the backward runs inside _torch_settings)
    try:
        whole = torch.from_numpy(x).tanh().numpy()
        assert np.array_equal(parallel_tanh(x).view(np.int32), whole.view(np.int32))
    finally:
        torch.set_num_threads(threads)


def test_fused_loop_has_one_calls_bits_on_two_threads(monkeypatch):
    # the forward and backward loops run in halves of the batch on two threads: the same bits
    # as one call of each compiled loop over the whole batch
    rng = np.random.default_rng(5)
    layer = _layer(rng)
    frames = torch.as_tensor(rng.standard_normal((33, 20, 48)).astype(np.float32))
    upstream = torch.as_tensor(rng.standard_normal((33, 23, 48)).astype(np.float32))
    helper = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(halves, "_helper", lambda: helper)  # two threads, on any machine
    x = frames.clone().requires_grad_(True)
    raster = lif_raster(x, layer, 23)
    (raster * upstream).sum().backward()

    c = layer.constants()
    arrays = [np.ascontiguousarray(t.detach().numpy()) for t in (c.bias, c.current_keep, c.voltage_keep, c.threshold,
                                                                  layer.inverse_unit)]
    bias, current_keep, voltage_keep, threshold, inverse_unit = arrays
    spikes, scaled = np.zeros((33, 23, 48), np.float32), np.empty((33, 23, 48), np.float32)
    fused._forward(frames.numpy(), bias, current_keep, voltage_keep, threshold, inverse_unit, np.float32(layer.alpha),
                   spikes, scaled)
    grad_frames, grad_bias = np.zeros((33, 20, 48), np.float32), np.zeros((33, 48), np.float32)
    fused._backward(upstream.numpy(), torch.from_numpy(scaled).tanh().numpy(), spikes, current_keep, voltage_keep,
                    inverse_unit, grad_frames, grad_bias)
    assert 0.05 < float(spikes.mean()) < 0.5
    np.testing.assert_array_equal(raster.detach().numpy(), spikes)
    np.testing.assert_array_equal(x.grad.numpy(), grad_frames)
    np.testing.assert_array_equal(layer.bias.grad.numpy(), grad_bias.sum(axis=0))
