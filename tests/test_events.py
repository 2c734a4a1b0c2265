"""The event spread over delayed synapses and its adjoint (simulate/events.py)."""

import numpy as np

from neurorecon.simulate.events import gather_events, spread_events, synapse_lists


def _synapses(rng, n_neurons=5, n_inputs=4, max_delay=6):
    neuron, channel = np.nonzero(rng.random((n_neurons, n_inputs)) < 0.6)
    delay = rng.integers(0, max_delay + 1, len(neuron))
    start, neuron, delay, order = synapse_lists(channel, neuron, delay, n_inputs)
    weight = rng.standard_normal(len(neuron))
    return start, neuron, delay, channel[order], weight[order]


def test_spread_adds_each_event_where_its_synapses_deliver_it():
    rng = np.random.default_rng(1)
    start, neuron, delay, channel, weight = _synapses(rng)
    x = (rng.random((3, 8, 4)) < 0.4) * rng.integers(1, 4, (3, 8, 4)).astype(np.float64)
    out = np.zeros((3, 10, 5))
    spread_events(x, start, neuron, delay, weight, out)
    expected = np.zeros((3, 10, 5))
    for s in range(len(weight)):
        for j in range(8):
            if j + delay[s] < 10:
                expected[:, j + delay[s], neuron[s]] += x[:, j, channel[s]] * weight[s]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(expected).max() > 1


def test_gather_is_the_adjoint_of_spread():
    """<spread(w), G> = <w, gather(G)>: the gradient of any loss of the current in the weights."""
    rng = np.random.default_rng(2)
    start, neuron, delay, _, weight = _synapses(rng)
    x = (rng.random((3, 8, 4)) < 0.4) * 1.0
    grad_out = rng.standard_normal((3, 8, 5))  # steps past the input drop what lands there
    out = np.zeros_like(grad_out)
    spread_events(x, start, neuron, delay, weight, out)
    grad = np.zeros_like(weight)
    gather_events(x, start, neuron, delay, grad_out, grad)
    assert np.abs(grad).max() > 0.5
    np.testing.assert_allclose(np.sum(out * grad_out), weight @ grad, rtol=1e-12)
