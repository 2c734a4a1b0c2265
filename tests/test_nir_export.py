"""NIR export: graph structure, the round trip back into neurorecon (1e-12), and Norse (an
independent NIR simulator) running the exported graph spike for spike like the emulator."""

import nir
import numpy as np
import pytest
from nirtools import emulator_aligned, run_norse

import neurorecon as nr
from netgen import mixed_network
from neurorecon.interchange import NirImportWarning, from_nir, to_nir, write_nir
from neurorecon.quantize import dequantize_network
from neurorecon.readout import NON_SPIKING_VTH

PARAMS = ("weights", "du", "dv", "vth", "bias_mant")


def recurrent_float_net(rng, bias=0.0):
    """Three layers: per-neuron du/dv/vth groups with recurrence, a CubaLIF layer, an IF readout."""
    l1 = nr.LIFLayer(rng.normal(0, 1, (20, 8)), du=rng.choice([0.3, 1.0, 0.05], 20), dv=rng.choice([0.1, 0.5, 1.0], 20),
                     vth=rng.choice([1.0, 0.7], 20), bias_mant=bias * rng.normal(size=20),
                     recurrent=nr.Dense(rng.normal(0, 0.4, (20, 20))))
    l2 = nr.LIFLayer(rng.normal(0, 1, (10, 20)), du=0.2, dv=0.1, vth=1.0, bias_mant=bias * rng.normal(size=10))
    l3 = nr.LIFLayer(rng.normal(0, 1, (4, 10)), du=1.0, dv=0.0, vth=2.0, bias_mant=bias * rng.normal(size=4))
    return nr.Network([l1, l2, l3], arithmetic="float")


def assert_close_networks(a, b, tol=1e-12):
    assert a.sizes == b.sizes and a.n_inputs == b.n_inputs
    for x, y in zip(a.layers, b.layers):
        for name in PARAMS:
            np.testing.assert_allclose(getattr(y, name), getattr(x, name), rtol=tol, atol=tol, err_msg=name)
        assert (x.recurrent is None) == (y.recurrent is None)
        if x.recurrent is not None:
            np.testing.assert_allclose(y.recurrent.weights, x.recurrent.weights, rtol=tol, atol=tol)


def test_graph_structure_types_and_metadata(rng):
    graph = to_nir(recurrent_float_net(rng), dt=1e-4)
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert kinds == {"input": "Input", "fc0": "Affine", "lif0": "CubaLIF", "rec0": "Affine", "fc1": "Affine",
                     "lif1": "CubaLIF", "fc2": "Affine", "if2": "IF", "output": "Output"}
    assert set(graph.edges) == {("input", "fc0"), ("fc0", "lif0"), ("lif0", "rec0"), ("rec0", "lif0"), ("lif0", "fc1"),
                                ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "if2"), ("if2", "output")}
    assert graph.input_type["input"].tolist() == [8] and graph.output_type["output"].tolist() == [4]
    assert graph.nodes["lif0"].input_type["input"].tolist() == [20]
    assert graph.nodes["fc1"].input_type["input"].tolist() == [20] and graph.nodes["fc1"].output_type["output"].tolist() == [10]
    lif = graph.nodes["lif1"]
    np.testing.assert_allclose(lif.tau_syn, 1e-4 / 0.2)
    np.testing.assert_allclose(lif.tau_mem, 1e-4 / 0.1)
    np.testing.assert_allclose(lif.r, 10.0)
    np.testing.assert_allclose(lif.w_in, 5.0)
    assert graph.metadata["neurorecon.dt"] == 1e-4 and "Euler" in graph.metadata["neurorecon.convention"]
    assert "reset of v to 0" in graph.metadata["neurorecon.not_carried"]


@pytest.mark.parametrize("bias", [0.0, 0.05])
def test_export_then_import_gives_the_same_float_network(rng, tmp_path, bias):
    net = recurrent_float_net(rng, bias)
    write_nir(net, tmp_path / "m.nir", dt=1e-4)
    assert_close_networks(net, from_nir(tmp_path / "m.nir", dt=1e-4))
    assert_close_networks(net, from_nir(to_nir(net, dt=1e-3), dt=1e-3))


def test_importing_with_another_dt_than_the_export_warns(rng):
    graph = to_nir(recurrent_float_net(rng), dt=1e-3)
    with pytest.warns(NirImportWarning, match="dt=0.001"):
        from_nir(graph)


def test_non_spiking_layers_round_trip_as_cuba_li_and_i(rng):
    li = nr.LIFLayer(rng.normal(size=(3, 2)), du=0.5, dv=0.25, vth=NON_SPIKING_VTH, bias_mant=0.1)
    integ = nr.LIFLayer(rng.normal(size=(2, 3)), du=1.0, dv=0.0, vth=NON_SPIKING_VTH, bias_mant=-0.2)
    net = nr.Network([li, integ], arithmetic="float")
    graph = to_nir(net)
    assert isinstance(graph.nodes["lif0"], nir.CubaLI) and isinstance(graph.nodes["if1"], nir.I)
    assert_close_networks(net, from_nir(graph))


def test_norse_runs_the_exported_graph_spike_for_spike(rng):
    """Zero-bias network: Norse (delay-free, float32) and the emulator (Lava float, one step of
    delay per Dense) give identical spike trains once aligned by the per-layer delay."""
    net = recurrent_float_net(rng)
    x = (rng.random((4, 100, 8)) < 0.3).astype(np.uint8)
    ours = emulator_aligned(net, x)
    theirs = run_norse(to_nir(net), x, 1e-4, ["lif0", "lif1", "if2"])
    for i, name in enumerate(["lif0", "lif1", "if2"]):
        assert ours[i].mean() > 0.02
        np.testing.assert_array_equal(ours[i], theirs[name], err_msg=name)


def test_norse_runs_a_biased_integrate_and_fire_layer_given_one_leading_frame(rng):
    """Lava applies the bias from step 1, one step before the delayed input arrives; a leading
    empty frame gives the delay-free simulator the same start (docs/interchange.md)."""
    layer = nr.LIFLayer(rng.normal(0, 1, (6, 5)), du=1.0, dv=0.0, vth=1.5, bias_mant=rng.normal(0, 0.2, 6))
    net = nr.Network([layer], arithmetic="float")
    x = (rng.random((3, 60, 5)) < 0.3).astype(np.uint8)
    ours = nr.simulate(net, x, n_steps=61).spikes[0]
    padded = np.concatenate([np.zeros((3, 1, 5), np.uint8), x], axis=1)
    theirs = run_norse(to_nir(net), padded, 1e-4, ["if0"])["if0"]
    assert ours.mean() > 0.02
    np.testing.assert_array_equal(ours, theirs)


def test_fixed_network_exports_its_dequantized_equivalent_with_integers_in_metadata(tmp_path):
    net = mixed_network(0)
    graph = to_nir(net)
    assert graph.metadata["neurorecon.arithmetic"] == "fixed"
    np.testing.assert_array_equal(graph.nodes["fc0"].metadata["neurorecon.weights_int"], net.layers[0].weights)
    assert graph.nodes["fc1"].metadata["neurorecon.weight_exp"] == -2
    np.testing.assert_array_equal(graph.nodes["lif0"].metadata["neurorecon.du"], net.layers[0].du)
    write_nir(net, tmp_path / "fixed.nir")
    back = from_nir(tmp_path / "fixed.nir")  # float, in fixed units
    assert_close_networks(dequantize_network(net), back)
    x = (np.random.default_rng(0).random((8, 28, 28)) < 0.2).astype(np.uint8)
    steps = nr.readout_steps(net, 28)
    a, b = nr.simulate(net, x, n_steps=steps), nr.simulate(back, x, n_steps=steps)
    assert (a.spikes[0] == b.spikes[0]).mean() >= 0.999


@pytest.mark.parametrize(
    "layer, message",
    [
        (dict(du=0.0, dv=0.5), "du=0"),
        (dict(du=0.5, dv=0.0), "dv=0"),
        (dict(du=1.0, dv=0.5, vth=[1.0, NON_SPIKING_VTH]), "mixes spiking and non-spiking"),
    ],
)
def test_layers_without_a_nir_neuron_are_refused(layer, message):
    params = dict(weights=np.ones((2, 2)), vth=1.0)
    params.update(layer)
    with pytest.raises(nr.NeuroreconError, match=message):
        to_nir(nr.Network([nr.LIFLayer(**params)], arithmetic="float"))


def test_bad_arguments(tmp_path, rng):
    with pytest.raises(nr.NeuroreconError, match="dt must be"):
        to_nir(recurrent_float_net(rng), dt=-1)
    with pytest.raises(nr.NeuroreconError, match="does not exist"):
        write_nir(recurrent_float_net(rng), tmp_path / "missing" / "m.nir")
    assert list(tmp_path.iterdir()) == []
