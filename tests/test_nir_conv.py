"""Convolutional NIR graphs: Conv2d, SumPool2d, AvgPool2d and Flatten lowered to the Dense matrices
they apply (checked against torch), the Sinabs N-MNIST CNN imported, run spike for spike like
Sinabs itself (with NIR's IF) and bit-exactly on Lava, image-shaped inputs, and one clear error
per malformed convolutional graph."""

import itertools
import re
import warnings

import nir
import numpy as np
import pytest
import torch
from clitools import assert_clean_failure, cli, run_script
from peertools import agreement, emulator_output, run_sinabs, sinabs_model

import neurorecon as nr
from neurorecon.simulate.lava_backend import lava_layers
from neurorecon.interchange import from_nir, read_nir
from neurorecon.interchange.nir_linear import LinearMap

CNN_SIZES = [4096, 4096, 512, 256, 10]


@pytest.fixture(scope="module")
def cnn_path(shared_dir):
    return shared_dir / "data" / "nir" / "cnn_sinabs.nir"


def _apply(node, x: np.ndarray) -> np.ndarray:
    """A linear node applied by the lowering, to one (C, H, W) image."""
    fmap = LinearMap.identity(x.shape).then("n", node)
    return (fmap.weight @ x.reshape(-1) + fmap.bias).reshape(fmap.shape)


@pytest.mark.parametrize("stride,padding,dilation,groups", list(itertools.product([1, 2], [0, 1, (2, 0)], [1, 2], [1, 2])))
def test_conv2d_lowering_is_torch_conv2d(rng, stride, padding, dilation, groups):
    x = rng.normal(size=(4, 9, 8))
    weight, bias = rng.normal(size=(6, 4 // groups, 3, 2)), rng.normal(size=6)
    node = nir.Conv2d(input_shape=(9, 8), weight=weight, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=bias)
    expected = torch.nn.functional.conv2d(torch.as_tensor(x)[None], torch.as_tensor(weight), torch.as_tensor(bias),
                                          stride, padding, dilation, groups)[0].numpy()
    np.testing.assert_allclose(_apply(node, x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 1, 1), ((2, 3), (1, 2), (1, 0))])
def test_pool_lowering_is_torch_pooling(rng, kernel, stride, padding):
    x = rng.normal(size=(3, 7, 8))
    pair = lambda v: np.broadcast_to(np.asarray(v), (2,))  # noqa: E731
    t = torch.as_tensor(x)[None]
    avg = torch.nn.functional.avg_pool2d(t, kernel, stride, padding)[0].numpy()  # count_include_pad
    area = float(np.prod(pair(kernel)))
    np.testing.assert_allclose(_apply(nir.AvgPool2d(pair(kernel), pair(stride), pair(padding)), x), avg, atol=1e-12)
    np.testing.assert_allclose(_apply(nir.SumPool2d(pair(kernel), pair(stride), pair(padding)), x), avg * area,
                               atol=1e-12)


@pytest.fixture(scope="module")
def cnn_float(cnn_path):
    return from_nir(cnn_path)


def nmnist_like(n=2, t=8, p=0.1, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, t, 2, 34, 34)) < p).astype(np.uint8)


def test_sinabs_cnn_imports_as_dense_layers_with_its_image_input(cnn_float):
    assert cnn_float.sizes == CNN_SIZES and cnn_float.n_inputs == 2 * 34 * 34
    assert cnn_float.metadata["input_shape"] == [2, 34, 34]
    report = cnn_float.metadata["nir_import"]
    assert [layer["type"] for layer in report["layers"]] == ["IF"] * 5
    assert report["layers"][2]["linear"] == ["4", "5"]  # SumPool2d then Conv2d, composed
    assert any("lowered to the Dense matrices" in note for note in report["notes"])
    conv = cnn_float.layers[0].weights
    assert np.count_nonzero(conv) < 0.03 * conv.size  # a 5x5 kernel per output: sparse


def test_sinabs_cnn_runs_spike_for_spike_like_sinabs_with_nirs_if(cnn_path, cnn_float):
    x = nmnist_like(n=2, t=12, p=0.15)
    ours = emulator_output(cnn_float, x)
    graph = read_nir(cnn_path)
    flat = x.reshape(*x.shape[:2], -1)
    theirs = run_sinabs(sinabs_model(graph, len(x), single_spike_reset=True), x.astype(np.float32))
    assert ours.any() and agreement(theirs, ours) == 1.0
    np.testing.assert_array_equal(emulator_output(cnn_float, flat), ours)  # (n, T, C, H, W) == flattened


def test_sinabs_cnn_is_bit_exact_on_lava(cnn_path):
    """Its three convolutions (the third after a sum pool) run on Lava's Conv process, the rest on Dense."""
    x = nmnist_like(n=2, t=8, p=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_nir(cnn_path, "loihi2")
    assert ["conv_weight" in layer for layer in lava_layers(net)] == [True, True, True, False, False]
    steps = nr.readout_steps(net, x.shape[1]) + 1
    emu = nr.simulate(net, x, n_steps=steps, record=("spikes", "v", "u"))
    lava = nr.simulate(net, x, "lava", n_steps=steps, record=("spikes", "v", "u"), timeout=600)
    for i in range(net.n_layers):
        np.testing.assert_array_equal(emu.spikes[i], lava.spikes[i], err_msg=f"layer {i}")
        np.testing.assert_array_equal(emu.v[i], lava.v[i], err_msg=f"layer {i}")
        np.testing.assert_array_equal(emu.u[i], lava.u[i], err_msg=f"layer {i}")
    assert emu.spikes[3].any()


def test_resource_check_counts_the_lowered_convolutions(cnn_float):
    """Lowered to Dense, every connection is a stored synapse: the check counts the dense matrix (what
    Lava's Dense and the chip store for it) and the non-zero synapses a shared-kernel format would need."""
    layers = nr.check_resources(cnn_float, "loihi2").layers
    assert [layer.neurons for layer in layers] == CNN_SIZES
    assert layers[0].synapses == 4096 * 2312 and layers[0].nonzero_synapses == np.count_nonzero(cnn_float.layers[0].weights)
    assert layers[1].nonzero_synapses < layers[1].synapses // 10


def test_image_inputs_of_the_wrong_shape_are_clear_errors(cnn_float):
    with pytest.raises(nr.NeuroreconError, match=re.escape("frames of shape [2, 32, 34] but the network's Input is [2, 34, 34]")):
        nr.simulate(cnn_float, np.zeros((1, 3, 2, 32, 34), np.uint8))
    with pytest.raises(nr.NeuroreconError, match="2312"):
        nr.simulate(cnn_float, np.zeros((1, 3, 100), np.uint8))


def _image_graph(*linear, neuron_shape=(2, 3, 3), in_shape=(1, 4, 4)):
    nodes = {"i": nir.Input(input_type={"input": np.array(in_shape)})}
    edges, previous = [], "i"
    for k, node in enumerate(linear):
        nodes[f"l{k}"] = node
        edges.append((previous, f"l{k}"))
        previous = f"l{k}"
    n = int(np.prod(neuron_shape))
    nodes["n"] = nir.IF(r=np.ones(neuron_shape), v_threshold=np.ones(neuron_shape), v_reset=np.zeros(neuron_shape))
    nodes["o"] = nir.Output(output_type={"output": np.array([n])})
    edges += [(previous, "n"), ("n", "o")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _conv(weight=None, **kw):
    params = dict(input_shape=None, weight=np.ones((2, 1, 2, 2)) if weight is None else weight, stride=1, padding=0,
                  dilation=1, groups=1, bias=np.zeros(2))
    params.update(kw)
    return nir.Conv2d(**params)


def test_a_small_conv_graph_imports(rng):
    net = from_nir(_image_graph(_conv()))
    assert net.sizes == [18] and net.metadata["input_shape"] == [1, 4, 4]


BAD_CONV = {
    "NaN weight": (_image_graph(_conv(np.full((2, 1, 2, 2), np.nan))), "weight contains NaN or infinite values"),
    "NaN bias": (_image_graph(_conv(bias=np.array([0.0, np.inf]))), "bias contains NaN or infinite values"),
    "3-D weight": (_image_graph(_conv(np.ones((2, 2, 2)))), "3-D weight; Conv2d needs"),
    "channels": (_image_graph(_conv(np.ones((2, 3, 2, 2)))), "does not fit 1 input channels"),
    "kernel too large": (_image_graph(_conv(np.ones((2, 1, 5, 5)))), "does not fit the 4x4 input"),
    "stride 0": (_image_graph(_conv(stride=0)), "stride must be >= 1"),
    "padding same": (_image_graph(_conv(padding="same")), "padding='same' is not supported"),
    "declared input": (_image_graph(_conv(input_shape=(5, 5))), "declares input [5, 5] but receives [4, 4]"),
    "conv on a vector": (_image_graph(_conv(), in_shape=(16,)), "needs a (C, H, W) input"),
    "pool on a vector": (_image_graph(nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
                                      in_shape=(16,)), "needs a (C, H, W) input"),
    "pool kernel 0": (_image_graph(nir.AvgPool2d(np.array([0, 2]), np.array([2, 2]), np.array([0, 0]))),
                      "kernel_size must be >= 1"),
    "flatten dims": (_image_graph(_conv(), nir.Flatten(input_type=None, start_dim=2, end_dim=1)),
                     "do not fit shape [2, 3, 3]"),
    "neurons after conv": (_image_graph(_conv(), neuron_shape=(2, 4, 4)), "has 32 neurons but receives 18"),
    "Conv1d": (_image_graph(nir.Conv1d(None, np.ones((1, 1, 2)), 1, 0, 1, 1, np.zeros(1))), "1-D convolutions"),
    "Delay after a bias": (_image_graph(_conv(bias=np.ones(2)), nir.Delay(np.full(18, 1e-4))), "follows a bias"),
    "Delay mixed by a conv": (_image_graph(_conv(), nir.Delay(np.arange(18) * 1e-4), _conv(np.ones((2, 2, 2, 2))),
                                           neuron_shape=(2, 2, 2)), "one synapse would need several delays"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONV))
def test_malformed_convolutional_graphs_are_clear_errors(case):
    graph, message = BAD_CONV[case]
    with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
        from_nir(graph)


def test_cli_imports_the_cnn_and_simulates_image_frames(capsys, cnn_path, tmp_path):
    out = cli(capsys, "import-nir", cnn_path, "--profile", "float", "--out", tmp_path / "run")
    assert out.code == 0, out.err
    np.savez(tmp_path / "x.npz", X=nmnist_like(n=1, t=4))
    out = cli(capsys, "simulate", tmp_path / "run", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz")
    assert out.code == 0, out.err
    np.savez(tmp_path / "bad.npz", X=np.zeros((1, 4, 2, 30, 34), np.uint8))
    assert_clean_failure(cli(capsys, "simulate", tmp_path / "run", "--input", tmp_path / "bad.npz",
                             "--out", tmp_path / "o2.npz"), "frames of shape [2, 30, 34]")


def test_the_cnn_exports_back_to_its_convolution_and_pooling_nodes(cnn_path, cnn_float, tmp_path):
    graph = nr.interchange.to_nir(cnn_float)
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    assert kinds.count("Conv2d") == 3 and kinds.count("SumPool2d") == 2 and kinds.count("Flatten") == 1
    assert graph.nodes["input"].input_type["input"].tolist() == [2, 34, 34]
    source = read_nir(cnn_path)
    np.testing.assert_allclose(graph.nodes["fc2_1"].weight, source.nodes["5"].weight, rtol=1e-12, atol=1e-12)
    nr.interchange.write_nir(cnn_float, tmp_path / "cnn.nir")
    back = from_nir(tmp_path / "cnn.nir")
    assert back.sizes == CNN_SIZES and back.metadata["input_shape"] == [2, 34, 34]
    for a, b in zip(cnn_float.layers, back.layers):
        np.testing.assert_array_equal(a.weights, b.weights)


def test_a_quantized_conv_network_exports_its_kernel_and_other_runs_as_affine():
    rng = np.random.default_rng(0)
    pool = nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))
    conv = _conv(rng.normal(size=(2, 1, 2, 2)), bias=np.array([0.1, -0.2]))
    fixed = from_nir(_image_graph(pool, conv, neuron_shape=(2, 1, 1)), "loihi2")  # pool, then conv
    exported = nr.interchange.to_nir(fixed)
    assert [type(n).__name__ for n in exported.nodes.values()] == ["Input", "SumPool2d", "Conv2d", "IF", "Output"]
    back = from_nir(exported)
    np.testing.assert_allclose(back.layers[0].weights, nr.dequantize_network(fixed).layers[0].weights, rtol=1e-12)
    after = from_nir(_image_graph(conv, pool, neuron_shape=(2, 1, 1)))  # a pool after the conv: no kernel to read off
    exported = nr.interchange.to_nir(after)
    assert [type(n).__name__ for n in exported.nodes.values()] == ["Input", "Flatten", "Affine", "IF", "Output"]
    np.testing.assert_allclose(from_nir(exported).layers[0].weights, after.layers[0].weights, rtol=1e-12)


def _kernel(rng, shape):
    return rng.uniform(-1.0, 2.0, shape) * 3


CONV_PROCESS_GRAPHS = {
    "plain": lambda rng: _image_graph(_conv(_kernel(rng, (2, 1, 2, 2)))),
    "stride and padding": lambda rng: _image_graph(_conv(_kernel(rng, (2, 1, 3, 3)), stride=2, padding=1),
                                                   neuron_shape=(2, 2, 2)),
    "dilation": lambda rng: _image_graph(_conv(_kernel(rng, (2, 1, 2, 2)), dilation=2), neuron_shape=(2, 2, 2)),
    "groups": lambda rng: _image_graph(_conv(_kernel(rng, (4, 1, 2, 2)), groups=2, bias=np.zeros(4)),
                                       neuron_shape=(4, 2, 2), in_shape=(2, 3, 3)),
    "sum pool then conv": lambda rng: _image_graph(
        nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        _conv(_kernel(rng, (2, 1, 2, 2)), input_shape=(2, 2)), neuron_shape=(2, 1, 1)),
}


@pytest.mark.parametrize("profile", ["loihi2", "float"])
@pytest.mark.parametrize("case", sorted(CONV_PROCESS_GRAPHS))
def test_convolutions_run_on_lavas_conv_process_as_the_emulator_runs_them(case, profile):
    rng = np.random.default_rng(1)
    graph = CONV_PROCESS_GRAPHS[case](rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_nir(graph, profile)
    assert "conv_weight" in lava_layers(net)[0]
    x = (rng.random((5, 8, net.n_inputs)) < 0.5).astype(np.uint8)  # 5 samples: one Lava run, 5 channel groups
    emu = nr.simulate(net, x, n_steps=10, record=("spikes", "v"))
    lava = nr.simulate(net, x, "lava", n_steps=10, record=("spikes", "v"))
    assert emu.spikes[0].any()
    np.testing.assert_array_equal(emu.spikes[0], lava.spikes[0])
    if profile == "loihi2":
        np.testing.assert_array_equal(emu.v[0], lava.v[0])
    else:  # the Conv process sums in another order than the emulator's matrix product
        np.testing.assert_allclose(emu.v[0], lava.v[0], rtol=0, atol=1e-9)


def test_layers_lavas_conv_process_cannot_compute_exactly_stay_dense(rng):
    """Lava 0.10's fixed-point Conv applies no weight exponent: a negative one keeps the layer on Dense."""
    graph = CONV_PROCESS_GRAPHS["plain"](rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_nir(graph, "loihi2", weight_exp=-1)
        mixed = from_nir(graph, "float")
    assert net.layers[0].weight_exp == -1 and "conv_weight" not in lava_layers(net)[0]
    two_groups = mixed.replace(layers=[mixed.layers[0].replace(vth=np.r_[np.ones(9), np.full(9, 2.0)])])
    assert "conv_weight" not in lava_layers(two_groups)[0]
    x = (rng.random((3, 6, 16)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(nr.simulate(net, x, n_steps=8).spikes[0],
                                  nr.simulate(net, x, "lava", n_steps=8).spikes[0])


def test_the_exported_lava_script_runs_the_conv_process_too(rng, tmp_path):
    from neurorecon.interchange import write_lava_script

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_nir(CONV_PROCESS_GRAPHS["stride and padding"](rng), "loihi2")
    x = (rng.random((3, 8, net.n_inputs)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "x.npz", X=x)
    write_lava_script(net, tmp_path / "lava")
    with np.load(tmp_path / "lava" / "network_params.npz") as params:
        assert "fixed_0_conv_weight" in params.files
    out = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--steps", "readout",
                     "--record", "spikes,v")
    assert out.code == 0, out.err
    ref = nr.simulate(net, x, n_steps=nr.readout_steps(net, x.shape[1]), record=("spikes", "v"))
    with np.load(tmp_path / "o.npz") as f:
        np.testing.assert_array_equal(f["spikes_0"], ref.spikes[0])
        np.testing.assert_array_equal(f["v_0"], ref.v[0])
