"""The standalone Lava script export: run as a subprocess, it reproduces the emulator."""

import ast
import inspect
import shutil

import numpy as np
import pytest
from clitools import run_script
from netgen import random_fixed_network, random_float_network, random_input

import neurorecon as nr
from neurorecon._atomic import MARKER
from neurorecon.interchange import write_lava_script
from neurorecon.interchange.lava_script import BUILDER_NAME, PARAMS_NAME, SCRIPT_NAME
from neurorecon.simulate import lava_network
from neurorecon.simulate.lava_backend import lava_layers
from neurorecon.simulate.predict import predict_network

ALL = ("spikes", "v", "u")


def fixed_net(rng):
    """Graded 4-bit input, several (du, dv, vth) groups, recurrence, biases, a flooring readout."""
    hidden = nr.LIFLayer(rng.integers(-120, 120, (12, 5)) * 2, du=rng.choice([409, 4095, 0], 12), dv=rng.choice([0, 300], 12),
                         vth=rng.choice([200, 900], 12), bias_mant=rng.integers(-50, 50, 12), bias_exp=3, weight_exp=-1,
                         num_message_bits=4, recurrent=nr.Dense(rng.integers(-60, 60, (12, 12)) * 2, weight_exp=1))
    readout = nr.LIFLayer(rng.integers(-100, 100, (3, 12)) * 2, du=4095, dv=0, vth=2**17 - 1, weight_exp=-2)
    return nr.Network([hidden, readout], metadata={"name": "script-test"})


@pytest.fixture
def exported(tmp_path, rng):
    net = fixed_net(rng)
    x = rng.integers(0, 16, (5, 9, 5)) * (rng.random((5, 9, 5)) < 0.6)
    np.savez(tmp_path / "x.npz", X=x)
    write_lava_script(net, tmp_path / "lava")
    return net, x, tmp_path


def test_script_is_standalone_python(exported):
    net, _, tmp = exported
    source = (tmp / "lava" / SCRIPT_NAME).read_text()
    modules = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert "neurorecon" not in modules and {"numpy", "lava"} & modules
    builder = (tmp / "lava" / BUILDER_NAME).read_text()
    assert builder == inspect.getsource(lava_network)  # the backend's own construction, verbatim
    assert "neurorecon" not in {node.module.split(".")[0] for node in ast.walk(ast.parse(builder))
                                if isinstance(node, ast.ImportFrom) and node.module}
    assert "ByteEncoder" in builder  # carries its own Python 3.11 fix for lava-nc
    groups = len(net.layers[0].groups())
    assert groups > 1 and f"layer 0: 5 -> 12 LIF, {groups} Lava LIF process(es), recurrent, weight_exp -1" in source
    assert sorted(p.name for p in (tmp / "lava").iterdir()) == sorted([BUILDER_NAME, PARAMS_NAME, SCRIPT_NAME, MARKER])


def test_fixed_pt_run_equals_the_emulator_bit_for_bit(exported, tmp_path):
    net, x, tmp = exported
    moved = tmp_path / "elsewhere"  # the directory works wherever it is copied
    shutil.copytree(tmp / "lava", moved)
    out = run_script(moved, "--input", tmp / "x.npz", "--out", tmp / "o.npz", "--steps", "readout", "--record", "spikes,v,u", "--batch", 3)
    assert out.code == 0, out.err
    assert "Loihi2SimCfg(fixed_pt)" in out.out
    ref = nr.simulate(net, x, n_steps=nr.readout_steps(net, x.shape[1]), record=ALL)
    with np.load(tmp / "o.npz") as f:
        for i in range(net.n_layers):
            for var in ALL:
                np.testing.assert_array_equal(f[f"{var}_{i}"], getattr(ref, var)[i], err_msg=f"layer {i} {var}")
            np.testing.assert_array_equal(f[f"final_v_{i}"], ref.final_v[i])
    assert ref.spikes[0].any()


def test_floating_pt_run_equals_the_dequantized_network(exported):
    net, x, tmp = exported
    out = run_script(tmp / "lava", "--input", tmp / "x.npz", "--out", tmp / "f.npz", "--tag", "floating_pt", "--steps", 11,
                     "--record", "spikes,v")
    assert out.code == 0, out.err
    ref = nr.simulate(nr.dequantize_network(net), x, n_steps=11)
    with np.load(tmp / "f.npz") as f:
        for i in range(net.n_layers):
            np.testing.assert_array_equal(f[f"spikes_{i}"], ref.spikes[i])
            np.testing.assert_allclose(f[f"v_{i}"], ref.v[i], rtol=1e-9, atol=1e-9)


def test_float_network_runs_floating_pt_and_refuses_fixed_pt(tmp_path, rng):
    net = nr.Network([nr.LIFLayer(rng.normal(size=(4, 3)), du=[0.5, 0.5, 1.0, 1.0], dv=0.2, vth=0.8, bias_mant=0.05)],
                     arithmetic="float")
    x = (rng.random((3, 12, 3)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "x.npz", X=x)
    write_lava_script(net, tmp_path / "lava")
    out = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--record", "v,spikes")
    assert out.code == 0, out.err
    ref = nr.simulate(net, x)
    with np.load(tmp_path / "o.npz") as f:
        np.testing.assert_array_equal(f["spikes_0"], ref.spikes[0])
        np.testing.assert_allclose(f["v_0"], ref.v[0], rtol=1e-9, atol=1e-9)
    bad = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "b.npz", "--tag", "fixed_pt")
    assert bad.code == 2 and "no fixed_pt parameters" in bad.err and "Traceback" not in bad.err


def test_hardware_option_without_lava_loihi_is_one_clear_message(exported):
    _, _, tmp = exported
    out = run_script(tmp / "lava", "--input", tmp / "x.npz", "--out", tmp / "h.npz", "--hardware")
    assert out.code == 2 and "Traceback" not in out.err
    assert out.err.strip().splitlines() == [out.err.strip()] and "lava-loihi" in out.err
    assert not (tmp / "h.npz").exists()


def test_bad_input_is_one_clear_message(exported):
    _, _, tmp = exported
    np.savez(tmp / "wrong.npz", X=np.zeros((2, 4, 7)))
    out = run_script(tmp / "lava", "--input", tmp / "wrong.npz", "--out", tmp / "w.npz")
    assert out.code == 2 and "X must have shape (n_samples, T, 5)" in out.err and "Traceback" not in out.err


def test_export_directory_is_replaced_atomically(tmp_path, rng, monkeypatch):
    net = fixed_net(rng)
    target = tmp_path / "lava"
    write_lava_script(net, target)
    before = (target / PARAMS_NAME).read_bytes()
    write_lava_script(net, target)  # replacing a previous export works
    assert (target / PARAMS_NAME).read_bytes() == before

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(nr.NeuroreconError, match="disk full"):  # one clear line (issue 14)
        write_lava_script(net, target)
    assert (target / PARAMS_NAME).read_bytes() == before  # the old export is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lava"]  # no temporary left behind


def test_backend_and_export_refuse_the_same_network(tmp_path):
    """Several (du, dv, vth) groups with a negative vth: the padded group processes would spike."""
    layer = nr.LIFLayer(np.ones((4, 3)), du=[0.1, 0.1, 0.5, 0.5], dv=0.2, vth=[-0.5, -0.5, 1.0, 1.0])
    net = nr.Network([layer, nr.LIFLayer(np.ones((2, 4)), du=1.0, dv=1.0, vth=1e9)], arithmetic="float")
    x = np.ones((1, 3, 3))
    with pytest.raises(nr.NeuroreconError, match="negative vth"):
        nr.simulate(net, x, backend="lava")
    with pytest.raises(nr.NeuroreconError, match="negative vth"):
        write_lava_script(net, tmp_path / "lava")
    assert not (tmp_path / "lava").exists()
    with pytest.raises(lava_network.LavaBuildError, match="negative vth"):  # the shipped builder itself
        lava_network.run_batch(lava_layers(net), x, 4, "floating_pt")


@pytest.mark.parametrize("readout", ["count", "step"])
def test_classifier_script_records_nothing_by_default_and_prints_predictions_and_accuracy(tmp_path, rng, readout):
    net = fixed_net(rng)
    net = nr.Network(net.layers, metadata={"name": "clf", "readout": readout})
    x = rng.integers(0, 16, (7, 9, 5)) * (rng.random((7, 9, 5)) < 0.6)
    expected = predict_network(net, x)
    y = expected.copy()
    y[0] = (y[0] + 1) % 3  # one wrong label (a whole wrong sequence for step)
    np.savez(tmp_path / "x.npz", X=x, y=y)
    write_lava_script(net, tmp_path / "lava")
    out = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--batch", 4)
    assert out.code == 0, out.err
    with np.load(tmp_path / "o.npz") as f:
        assert sorted(f.files) == ["final_v_0", "final_v_1", "predictions"]  # nothing per step by default
        np.testing.assert_array_equal(f["predictions"], expected)
    assert f"predictions ({readout} readout): {expected.tolist()}" in out.out
    assert f"accuracy {(expected == y).mean():.4f} on 7 samples" in out.out
    assert "batch 1/2 (4/7 samples)" in out.err and "batch 2/2 (7/7 samples)" in out.err and "left" in out.err
    quiet = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "q.npz", "--quiet")
    assert quiet.code == 0 and quiet.err == ""


def test_classifier_script_bad_labels_and_options(tmp_path, rng):
    net = nr.Network(fixed_net(rng).layers, metadata={"readout": "last"})
    x = rng.integers(0, 16, (4, 6, 5))
    write_lava_script(net, tmp_path / "lava")
    for name, arrays, args, message in [
        ("shape", dict(X=x, y=np.zeros((3,), int)), (), "y must hold integer labels"),
        ("float", dict(X=x, y=np.zeros(4)), (), "y must hold integer labels"),
        ("per-step", dict(X=x, y=np.zeros((4, 6), int)), (), "answers (4,)"),
        ("steps", dict(X=x, y=np.zeros(4, int)), ("--steps", "3"), "--steps readout"),
        ("batch", dict(X=x), ("--batch", "0"), "--batch must be at least 1"),
        ("record", dict(X=x), ("--record", "w"), "--record takes"),
    ]:
        np.savez(tmp_path / f"{name}.npz", **arrays)
        out = run_script(tmp_path / "lava", "--input", tmp_path / f"{name}.npz", "--out", tmp_path / "o.npz", *args)
        assert out.code == 2 and "Traceback" not in out.err, (name, out.err)
        assert len(out.err.strip().splitlines()) == 1 and message in out.err, (name, out.err)
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_script_backend_and_emulator_agree_on_random_networks(seed, tmp_path):
    """The one Lava construction, run by the backend and by the exported script, is the emulator."""
    rng = np.random.default_rng(seed)
    net = random_fixed_network(rng, graded=seed == 12) if seed != 13 else random_float_network(rng)
    x = random_input(rng, net, 4, 6)
    np.savez(tmp_path / "x.npz", X=x)
    write_lava_script(net, tmp_path / "lava")
    out = run_script(tmp_path / "lava", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--steps", "readout",
                     "--record", "spikes,v")
    assert out.code == 0, out.err
    steps = nr.readout_steps(net, x.shape[1])
    ref = nr.simulate(net, x, n_steps=steps, record=("spikes", "v"))
    lava = nr.simulate(net, x, n_steps=steps, record=("spikes", "v"), backend="lava")
    close = np.testing.assert_array_equal if net.arithmetic == "fixed" else (
        lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=err_msg))
    with np.load(tmp_path / "o.npz") as f:
        for i in range(net.n_layers):
            np.testing.assert_array_equal(f[f"spikes_{i}"], ref.spikes[i], err_msg=f"script layer {i}")
            np.testing.assert_array_equal(lava.spikes[i], ref.spikes[i], err_msg=f"backend layer {i}")
            close(f[f"v_{i}"], ref.v[i], err_msg=f"script v {i}")
            close(lava.v[i], ref.v[i], err_msg=f"backend v {i}")
