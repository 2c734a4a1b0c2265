"""The report's figures compute what they claim: sampled rasters, synaptic operations, confusion."""

import numpy as np

import neurorecon as nr
from neurorecon.run_report import RASTER_NEURONS, _activity, _confusion, _decays, _shown_neurons, _weights


def test_a_wide_layer_shows_a_sorted_sample():
    rng = np.random.default_rng(0)
    spikes = rng.random((2, 10, 1000)) < rng.random(1000)  # neuron k fires with its own rate
    shown, what = _shown_neurons(spikes)
    counts = spikes.sum(axis=(0, 1))
    assert len(shown) == RASTER_NEURONS and what.startswith(f"{RASTER_NEURONS} of 1000 neurons")
    assert np.all(np.diff(counts[shown]) <= 0)  # most active first
    assert counts[shown[0]] == counts.max() and counts[shown[-1]] == counts.min()  # the whole range
    small, what = _shown_neurons(spikes[:, :, :10])
    assert sorted(small) == list(range(10)) and what.startswith("all 10 neurons")


def _net():
    # Hidden neuron 0 spikes on every input event of channel 0 (drives both outputs), neuron 1 never.
    hidden = nr.LIFLayer(np.array([[100, 0], [0, 0]]), du=4095, dv=4095, vth=10)
    out = nr.LIFLayer(np.array([[5, 0], [-5, 0]]), du=4095, dv=0, vth=2**17 - 1)
    return nr.Network([hidden, out], metadata={"readout": "count"})


def test_synaptic_operations_are_events_times_fan_out(tmp_path):
    X = np.zeros((3, 4, 2), np.uint8)
    X[0, :2, 0] = 1  # 2 events on channel 0 (fan-out 1)
    X[1, :, 1] = 1  # 4 events on channel 1 (fan-out 0)
    section = _activity(_net(), X, tmp_path)
    layer0, layer1 = section.table
    assert layer0["input events / inference"] == (2 + 4 + 0) / 3
    assert layer0["synaptic ops / inference"] == 2 / 3  # only channel 0's events reach a synapse
    assert layer1["input events / inference"] == layer0["spikes / inference"] == 2 / 3
    assert layer1["synaptic ops / inference"] == 2 * 2 / 3  # each hidden spike drives both outputs
    assert (tmp_path / "activity.png").is_file()


def test_confusion_matrix_and_per_class_accuracy(tmp_path):
    X = np.zeros((4, 4, 2), np.uint8)
    X[:2, :2, 0] = 1  # samples 0, 1 make neuron 0 spike: class 0; samples 2, 3 leave both at 0 (argmax: 0)
    y = np.array([0, 1, 1, 0])
    rows = _confusion(_net(), X, y, tmp_path).table
    assert [r["sequences"] for r in rows] == [2, 2] and [r["correct"] for r in rows] == [2, 0]
    assert [r["accuracy"] for r in rows] == [1.0, 0.0]


def test_weight_histograms_and_decay_mix(tmp_path):
    net = nr.Network([nr.LIFLayer(np.array([[2, -4], [0, 6], [8, 0]]), du=[4095, 4095, 512], dv=[0, 0, 1024], vth=10),
                      nr.LIFLayer(np.ones((2, 3), int), du=4095, dv=0, vth=100)])
    weights = _weights(net, tmp_path).table
    assert weights[0] == {"layer": 0, "non-zero": 4, "of": 6, "min": -4, "max": 8, "distinct values": 4}
    mix = _decays(net, tmp_path).table
    assert [(r["du"], r["dv"], r["neurons"]) for r in mix] == [(4095, 0, 2), (512, 1024, 1)]
    assert mix[0]["tau_v (steps)"] == "inf" and mix[1]["tau_u (steps)"] == "8"


def test_float_network_figures(tmp_path):
    net = nr.Network([nr.LIFLayer(np.array([[0.5, -0.25], [0.0, 1.0]]), du=[0.5, 0.5], dv=[0.0, 0.25], vth=1.0),
                      nr.LIFLayer(np.array([[1.0, -1.0]]), du=1.0, dv=0.0, vth=1e9)], arithmetic="float")
    assert _weights(net, tmp_path).table[0]["non-zero"] == 3
    mix = _decays(net, tmp_path).table
    assert [(r["tau_u (steps)"], r["tau_v (steps)"]) for r in mix] == [("2", "inf"), ("2", "4")]
