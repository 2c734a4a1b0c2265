"""Synaptic delays (Lava's DelayDense, NIR's Delay): the IR, the emulator against Lava, import and export."""

import re
import sys

import nir
import numpy as np
import pytest
from clitools import run_script

import neurorecon as nr
from neurorecon.interchange import from_nir, to_nir
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.quantize import dequantize_network
from neurorecon.simulate.emulator import emulate, input_drive

DT = 1e-4
SCALE0, SCALE1 = 2, 2  # weights that make both layers spike on _spikes()


def _delayed_network(rng, weight_exp=-1) -> Network:
    """Two layers, every connection delayed (feed-forward and recurrent), a flooring weight shift."""
    n_in, n, m = 5, 4, 3
    first = LIFLayer(Dense(rng.integers(-100, 100, (n, n_in)) * 2, weight_exp=weight_exp,
                           delays=rng.integers(0, 4, (n, n_in))),
                     du=500, dv=300, vth=40, bias_mant=3,
                     recurrent=Dense(rng.integers(-60, 60, (n, n)) * 2, delays=rng.integers(0, 3, (n, n))))
    second = LIFLayer(Dense(rng.integers(-120, 120, (m, n)) * 2, delays=rng.integers(0, 5, (m, n))),
                      du=1000, dv=100, vth=30)
    return Network([first, second], arithmetic="fixed")


def _spikes(rng, n=6, t=12, channels=5) -> np.ndarray:
    return (rng.random((n, t, channels)) < 0.4).astype(np.uint8)


# ------------------------------------------------------------------------------------------ IR
def test_delays_are_whole_steps_of_the_weights_shape():
    w = np.array([[2, 0], [4, 6]])
    assert Dense(w, delays=np.zeros((2, 2))).delays is None  # no delay is stored as none
    dense = Dense(w, delays=[[1, 5], [0, 2]])
    np.testing.assert_array_equal(dense.delays, [[1, 0], [0, 2]])  # a zero weight carries no delay
    assert dense.max_delay == 2 and not dense.delays.flags.writeable
    assert dense.equals(Dense(w, delays=[[1, 0], [0, 2]])) and not dense.equals(Dense(w))
    for bad, message in [(np.ones((2, 3)), "delays must have the weights' shape"), ([[1, -1], [0, 0]], ">= 0"),
                         ([[0.5, 0], [0, 0]], "whole numbers"), ([[np.nan, 0], [0, 0]], "whole numbers"),
                         ("x", "must be numeric")]:
        with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
            Dense(w, delays=bad)
    with pytest.raises(nr.NeuroreconError, match=re.escape("delays=64 is outside Loihi's range [0, 63]")):
        Network([LIFLayer(Dense(w, delays=[[64, 0], [0, 0]]), du=0, dv=0, vth=10)], arithmetic="fixed")


def test_a_delayed_network_survives_its_file(tmp_path):
    net = _delayed_network(np.random.default_rng(1))
    net.save(tmp_path / "net.h5")
    back = Network.load(tmp_path / "net.h5")
    assert back.equals(net) and back.layers[0].recurrent.delays is not None


def test_a_delay_of_k_steps_moves_the_response_k_steps_later():
    """Closed form: one input spike at frame 0 through weight 200 reaches v at step 1 + k."""
    x = np.zeros((1, 4, 1), np.uint8)
    x[0, 0, 0] = 1
    for k in (0, 1, 5):
        layer = LIFLayer(Dense([[200]], delays=[[k]]), du=4095, dv=4095, vth=100_000)
        v = emulate(Network([layer]), x, 10, ("v",)).v[0][0, :, 0]
        assert np.flatnonzero(v)[0] == 1 + k and v[1 + k] == 200 << 6  # then 1/4096 of it lingers


# ---------------------------------------------------------------- emulator against Lava
@pytest.mark.parametrize("weight_exp", [-1, 2])
def test_the_emulator_holds_delays_bit_exactly_as_lava_does(weight_exp):
    """DelayDense shifts each delay's sum on its own (flooring for a negative exponent)."""
    rng = np.random.default_rng(weight_exp + 10)
    net = _delayed_network(rng, weight_exp)
    x = _spikes(rng)
    mine = nr.simulate(net, x, n_steps=20, record=("spikes", "v", "u"))
    lava = nr.simulate(net, x, n_steps=20, backend="lava", record=("spikes", "v", "u"))
    for i in range(net.n_layers):
        for var in ("spikes", "v", "u"):
            np.testing.assert_array_equal(getattr(mine, var)[i], getattr(lava, var)[i])
    assert mine.spikes[1].any()
    undelayed = Network([layer.replace(delays=None, recurrent=layer.recurrent and layer.recurrent.replace(delays=None))
                         for layer in net.layers], arithmetic="fixed")
    assert not np.array_equal(nr.simulate(undelayed, x, n_steps=20).spikes[0], mine.spikes[0])


@pytest.mark.parametrize("payload", [1, 7])
def test_input_events_added_where_they_land_give_the_products_bits(monkeypatch, payload):
    """Sparse delayed inputs take the event path (each event added at its delays), dense ones the
    product over the input's delayed copies: the same integers either way, graded payloads and
    delays reaching past the run included (fixed point, weight_exp >= 0, where taps stack)."""
    emulator = sys.modules[emulate.__module__]  # (neurorecon.simulate is also a function's name)
    rng = np.random.default_rng(11)
    net = _delayed_network(rng, weight_exp=1)
    layer = net.layers[0]
    sparse_weights = np.where(rng.random(layer.weights.shape) < 0.5, layer.weights, 0)
    net = Network([layer.replace(weights=sparse_weights), net.layers[1]], arithmetic="fixed")
    x = (rng.random((30, 12, 5)) < 0.15) * rng.integers(1, payload + 1, (30, 12, 5))
    assert emulator.plan_network(net, payload)[0].synapses.spread is not None  # the taps stack: both paths exist
    runs = {}
    for name, cost in (("events", 0), ("product", np.inf)):
        monkeypatch.setattr(emulator, "SPREAD_COST", cost)
        runs[name] = emulate(net, x.astype(np.uint8), 14, ("spikes", "v", "u"), chunk_size=8, threads=2)
    for i in range(net.n_layers):
        for var in ("spikes", "v", "u"):
            np.testing.assert_array_equal(getattr(runs["events"], var)[i], getattr(runs["product"], var)[i])
    assert runs["events"].spikes[0].any() and not runs["events"].spikes[0].all()


@pytest.mark.parametrize("weight_exp", [-1, 2])
def test_a_shared_input_drive_gives_the_emulators_bits_and_is_refused_for_other_synapses(weight_exp):
    """Bias bisection computes the first layer's input once and re-runs only the neurons: the
    runs are the emulator's own, bit for bit (delays, flooring shifts, chunks on two threads)."""
    rng = np.random.default_rng(7)
    net = _delayed_network(rng, weight_exp)
    x = _spikes(rng, n=40)
    drive = input_drive(net, x, 20)
    for bias in (0, 37, -50):
        changed = Network([net.layers[0].replace(bias_mant=bias, vth=25), net.layers[1]], arithmetic="fixed")
        shared = emulate(changed, x, 20, ("spikes", "v", "u"), drive=drive, chunk_size=16, threads=2)
        own = emulate(changed, x, 20, ("spikes", "v", "u"))
        for i in range(net.n_layers):
            for var in ("spikes", "v", "u"):
                np.testing.assert_array_equal(getattr(shared, var)[i], getattr(own, var)[i])
    other = Network([net.layers[0].replace(weights=net.layers[0].weights + 2), net.layers[1]], arithmetic="fixed")
    for args in ((other, x, 20), (net, x.copy(), 20), (net, x, 21)):
        with pytest.raises(ValueError, match="input drive was computed for other"):
            emulate(*args, drive=drive)


def test_float_delays_agree_with_lava_and_torch_with_the_emulator():
    rng = np.random.default_rng(3)
    fixed = _delayed_network(rng)
    net = dequantize_network(fixed)
    x = _spikes(rng)
    mine = nr.simulate(net, x, n_steps=20, record=("spikes", "v"))
    lava = nr.simulate(net, x, n_steps=20, backend="lava", record=("spikes", "v"))
    for i in range(net.n_layers):
        np.testing.assert_array_equal(mine.spikes[i], lava.spikes[i])
        np.testing.assert_allclose(mine.v[i], lava.v[i], rtol=0, atol=1e-9)
    torch = nr.simulate(fixed, x, n_steps=20, backend="torch", record=("spikes", "v"))
    exact = nr.simulate(fixed, x, n_steps=20, record=("spikes", "v"))
    for i in range(fixed.n_layers):
        np.testing.assert_array_equal(torch.v[i], exact.v[i])


def test_the_resource_check_counts_every_delay_at_once():
    """The worst case a_in adds every delay's shifted sum; the measured peaks read delayed spikes."""
    w = np.full((1, 2), 200)
    plain = Network([LIFLayer(Dense(w), du=0, dv=0, vth=1000)])
    delayed = Network([LIFLayer(Dense(w, delays=[[0, 3]]), du=0, dv=0, vth=1000)])
    assert nr.check_resources(delayed, "loihi2").layers[0].precision.accumulator_range == [0, 400]
    x = np.zeros((1, 6, 2), np.uint8)
    x[0, 0, 1] = x[0, 3, 0] = 1  # both arrive together only with the delay
    assert nr.check_resources(delayed, "loihi2", data=x).layers[0].precision.measured.accumulator_peak == 400
    assert nr.check_resources(plain, "loihi2", data=x).layers[0].precision.measured.accumulator_peak == 200
    report = nr.check_resources(delayed, "loihi1")
    assert any("synaptic delay" in v.message for v in report.errors)


# ------------------------------------------------------------------------------------------ NIR
def _delay_graph(first=(0, 2, 1), second=(3, 0, 1, 2), bias=0.0) -> nir.NIRGraph:
    """Input(3) -> Delay -> Affine -> CubaLIF(4) -> Affine -> Delay -> CubaLIF(4) -> Output."""
    rng = np.random.default_rng(0)
    lif = dict(tau_syn=np.full(4, 2e-4), tau_mem=np.full(4, 4e-4), r=np.ones(4), v_leak=np.zeros(4),
               v_threshold=np.ones(4))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "d0": nir.Delay(delay=np.array(first, dtype=float) * DT),
        "fc0": nir.Affine(weight=rng.uniform(0.5, 2.0, (4, 3)) * SCALE0, bias=np.zeros(4)),
        "lif0": nir.CubaLIF(**lif),
        "fc1": nir.Affine(weight=rng.uniform(-1.0, 2.0, (4, 4)) * SCALE1, bias=np.full(4, bias)),
        "d1": nir.Delay(delay=np.array(second, dtype=float) * DT),
        "lif1": nir.CubaLIF(**lif),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def test_nir_delays_import_as_synaptic_delays_and_run_exactly_on_lava():
    net = from_nir(_delay_graph(), "loihi2", dt=DT)
    np.testing.assert_array_equal(net.layers[0].dense.delays, np.tile([0, 2, 1], (4, 1)))  # one per input
    np.testing.assert_array_equal(net.layers[1].dense.delays, np.tile([[3], [0], [1], [2]], (1, 4)))  # per neuron
    assert net.metadata["nir_import"]["layers"][0]["linear"] == ["d0", "fc0"]
    x = _spikes(np.random.default_rng(5), n=4, t=15, channels=3)
    mine = nr.simulate(net, x, n_steps=22, record=("spikes", "v"))
    lava = nr.simulate(net, x, n_steps=22, backend="lava", record=("spikes", "v"))
    assert mine.spikes[1].any()
    for i in range(2):
        np.testing.assert_array_equal(mine.spikes[i], lava.spikes[i])
        np.testing.assert_array_equal(mine.v[i], lava.v[i])


def test_a_delayed_network_exports_its_delay_nodes_and_imports_back(tmp_path):
    net = from_nir(_delay_graph(), "float", dt=DT)
    graph = to_nir(net, dt=DT)
    assert isinstance(graph.nodes["fc0_delay"], nir.Delay) and ("fc0_delay", "fc0") in graph.edges  # before
    assert ("fc1", "fc1_delay") in graph.edges and ("fc1_delay", "lif1") in graph.edges  # after
    nir.write(tmp_path / "g.nir", graph)
    back = from_nir(tmp_path / "g.nir", "float")
    for a, b in zip(back.layers, net.layers):
        np.testing.assert_array_equal(a.dense.delays, b.dense.delays)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
    fixed = from_nir(_delay_graph(), "loihi2", dt=DT)
    back_fixed = from_nir(to_nir(fixed, dt=DT), "loihi2")
    np.testing.assert_array_equal(back_fixed.layers[1].dense.delays, fixed.layers[1].dense.delays)


def test_a_recurrent_delay_imports_and_exports():
    lif = nir.CubaLIF(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 2e-2), r=np.ones(2), v_leak=np.zeros(2),
                      v_threshold=np.ones(2))
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2])}), "fc": nir.Affine(weight=np.eye(2) * 50, bias=np.zeros(2)),
        "lif": lif, "rec": nir.Affine(weight=np.array([[0.0, 30.0], [30.0, 0.0]]), bias=np.zeros(2)),
        "rd": nir.Delay(delay=np.array([2.0, 4.0]) * DT), "output": nir.Output(output_type={"output": np.array([2])}),
    }, edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "rd"), ("rd", "lif"), ("lif", "output")],
        type_check=False)
    net = from_nir(graph, "loihi2", dt=DT)
    np.testing.assert_array_equal(net.layers[0].recurrent.delays, [[0, 2], [4, 0]])
    exported = to_nir(net, dt=DT)
    assert isinstance(exported.nodes["rec0_delay"], nir.Delay)
    again = from_nir(exported, "loihi2")
    np.testing.assert_array_equal(again.layers[0].recurrent.delays, net.layers[0].recurrent.delays)


BAD_DELAYS = {
    "loihi1 holds none": (dict(), "loihi1", DT, "profile loihi1 holds no synaptic delays (delay_bits = 0)"),
    "longer than 63 steps": (dict(first=(0, 64, 1)), "loihi2", DT, "holds synaptic delays up to 63 steps"),
    "not a whole step": (dict(first=(0, 1.5, 1)), "loihi2", DT, "is not a whole number of steps of dt=0.0001"),
    "after a bias": (dict(bias=0.5), "float", DT, "follows a bias (fc1)"),
    "negative": (dict(first=(0, -1, 1)), "float", DT, "delays must be >= 0"),
    "NaN": (dict(first=(0, np.nan, 1)), "float", DT, "delay contains NaN or infinite values"),
    "shape": (dict(first=(0, 1)), "float", DT, "shape mismatch: node 'd0' (Delay) delays 2 values but receives 3"),
}


@pytest.mark.parametrize("case", sorted(BAD_DELAYS))
def test_delays_that_cannot_run_exactly_are_refused_with_the_reason(case):
    options, profile, dt, message = BAD_DELAYS[case]
    with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
        from_nir(_delay_graph(**options), profile, dt=dt)


def test_delays_nir_cannot_write_and_netx_exports_are_refused():
    per_synapse = Network([LIFLayer(Dense([[2.0, 4.0], [6.0, 8.0]], delays=[[1, 0], [0, 1]]), du=0.1, dv=0.1, vth=1.0)],
                          arithmetic="float")
    with pytest.raises(nr.NeuroreconError, match="differ both along inputs and along neurons"):
        to_nir(per_synapse)
    per_neuron = Network([LIFLayer(Dense([[2.0, 4.0], [6.0, 8.0]], delays=[[1, 1], [0, 0]]), du=1.0, dv=0.0, vth=1.0,
                                   bias_mant=0.5)], arithmetic="float")  # an IF layer: NIR puts its bias on the Affine
    with pytest.raises(nr.NeuroreconError, match="whose bias"):
        to_nir(per_neuron)
    from neurorecon.quantize.netx_grid import netx_layers

    with pytest.raises(nr.NeuroreconError, match="synaptic delays; this netx export writes none"):
        netx_layers(_delayed_network(np.random.default_rng(0), 0))


def test_the_exported_lava_script_runs_delays_as_the_emulator_does(tmp_path):
    from neurorecon.interchange import write_lava_script

    rng = np.random.default_rng(7)
    net = _delayed_network(rng)
    x = _spikes(rng)
    np.savez(tmp_path / "x.npz", X=x)
    write_lava_script(net, tmp_path / "lava")
    out = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--steps", "readout",
                     "--record", "spikes,v")
    assert out.code == 0, out.err
    ref = nr.simulate(net, x, n_steps=nr.readout_steps(net, x.shape[1]), record=("spikes", "v"))
    with np.load(tmp_path / "o.npz") as f:
        for i in range(net.n_layers):
            np.testing.assert_array_equal(f[f"spikes_{i}"], ref.spikes[i])
            np.testing.assert_array_equal(f[f"v_{i}"], ref.v[i])
