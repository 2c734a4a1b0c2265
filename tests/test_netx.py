"""lava-dl netx export, read back with h5py against netx's schema (lava-dl 0.6.0: netx/hdf5.py,
netx/utils.py, slayer's export_hdf5), loaded by an independent model of netx's own loading
(``netx_reference``, checked against lava-dl's recorded ground truth) and run as Lava runs it
(``lava_reference``), and rebuilt by neurorecon's reader (``read_netx``)."""

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from lava_reference import dense_outputs, lif_step, run_processes
from netx_reference import NetxRefused, netx_processes, rescale_weights

import neurorecon as nr
from neurorecon.interchange import from_nir, read_netx, write_netx
from neurorecon.quantize.netx_grid import netx_weight_mapping

ALL = ("spikes", "v", "u")
DATA = Path(__file__).parent / "data" / "netx"


def assert_netx_runs_as_emulated(net, path, x, n_steps):
    """netx's loading of ``path`` (netx_reference), run as Lava runs it, equals the emulator on ``net``."""
    with h5py.File(path, "r") as f:
        message_bits = int(f.attrs["neurorecon.input_message_bits"])  # what a netx user passes
    ref = run_processes(netx_processes(path, input_message_bits=message_bits), x, n_steps)
    emu = nr.simulate(net, x, n_steps=n_steps, record=ALL)
    assert emu.v[0].any(), "a test where no input reaches the neurons proves little"
    for i in range(net.n_layers):
        for var in ALL:
            np.testing.assert_array_equal(ref[var][i], getattr(emu, var)[i], err_msg=f"netx: layer {i} {var}")


def netx_ready(rng):
    """One (du, dv, vth) group per layer, integer per-spike weights, biases on netx's 64-grid."""
    hidden = nr.LIFLayer(rng.integers(-127, 128, (10, 6)) * 2, du=1023, dv=409, vth=700,
                         bias_mant=rng.integers(-8, 8, 10) * 16, bias_exp=2,
                         recurrent=nr.Dense(rng.integers(-40, 40, (10, 10)) * 2))
    exc = nr.LIFLayer(rng.integers(0, 100, (5, 10)), du=4095, dv=0, vth=300, weight_exp=1)
    inh = nr.LIFLayer(-rng.integers(1, 255, (3, 5)), du=200, dv=100, vth=2**17 - 1)
    return nr.Network([hidden, exc, inh])


def test_file_follows_the_netx_schema(tmp_path, rng):
    net = netx_ready(rng)
    write_netx(net, tmp_path / "m.net")
    with h5py.File(tmp_path / "m.net", "r") as f:
        assert "lava-dl 0.6.0" in f.attrs["neurorecon.netx_layout"]
        layer = f["layer"]
        assert sorted(layer) == ["0", "1", "2", "3"]
        assert layer["0/type"].dtype == "S10" and layer["0/type"][0].decode("ascii") == "input"
        assert layer["0/shape"][()].tolist() == [6] and "neuron" not in layer["0"]
        types = [layer[f"{i}/type"][0].decode("ascii") for i in (1, 2, 3)]
        assert types == ["dense_rec", "dense", "dense"]
        for i, src in zip((1, 2, 3), net.layers):
            g = layer[str(i)]
            assert g["shape"][()].tolist() == [src.n_neurons]
            assert (g["inFeatures"][()], g["outFeatures"][()]) == (src.n_inputs, src.n_neurons)
            assert g["weight"].shape == (src.n_neurons, src.n_inputs) and g["weight"].dtype.kind == "i"
            assert set(g["neuron"]) == {"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike"}
            assert g["neuron/type"][0].decode("ascii") == "CUBA"
            assert g["neuron/iDecay"][()] == src.du[0] + 1  # netx: du = iDecay - 1
            assert g["neuron/vDecay"][()] == src.dv[0] and g["neuron/vThMant"][()] == src.vth[0]
            assert g["neuron/refDelay"][()] == 1 and not g["neuron/gradedSpike"][()]
            np.testing.assert_array_equal(g["weight"][()], src.dense.effective_weights() << src.weight_exp)
        np.testing.assert_array_equal(layer["1/weight_rec"][()], net.layers[0].recurrent.effective_weights())
        bias = net.layers[0].bias_mant.astype(int) << net.layers[0].bias_exp.astype(int)
        np.testing.assert_array_equal(layer["1/bias"][()] * 64, bias)  # netx: bias_exp = 6
        assert "bias" not in layer["2"]


def test_netx_builds_the_same_network(tmp_path, rng):
    net = netx_ready(rng)
    write_netx(net, tmp_path / "m.net")
    rebuilt = read_netx(tmp_path / "m.net")
    x = (rng.random((6, 30, 6)) < 0.4).astype(np.uint8)
    a = nr.simulate(net, x, n_steps=33, record=ALL)
    b = nr.simulate(rebuilt, x, n_steps=33, record=ALL)
    assert a.spikes[0].any() and a.spikes[1].any()
    for i in range(net.n_layers):
        for var in ALL:
            np.testing.assert_array_equal(getattr(a, var)[i], getattr(b, var)[i], err_msg=f"layer {i} {var}")
    assert_netx_runs_as_emulated(net, tmp_path / "m.net", x, 33)


def random_netx_ready(rng) -> nr.Network:
    """A random network of the kind netx holds: one (du, dv, vth) per layer, whole weights per
    spike on a random range and grid, biases on the 64-grid, sometimes recurrent or graded."""
    sizes = [int(rng.integers(1, 9))] + [int(rng.integers(1, 13)) for _ in range(int(rng.integers(1, 4)))]
    graded = rng.random() < 0.3
    layers = []
    for i, (m, n) in enumerate(zip(sizes, sizes[1:])):
        top, grid = 2 ** int(rng.integers(2, 8)), 2 ** int(rng.integers(0, 3))
        w = {"mixed": rng.integers(-top, top, (n, m)) * 2, "excitatory": rng.integers(0, 2 * top, (n, m)),
             "inhibitory": -rng.integers(0, 2 * top, (n, m))}[str(rng.choice(["mixed", "excitatory", "inhibitory"]))]
        recurrent = nr.Dense(rng.integers(-40, 40, (n, n)) * 2) if rng.random() < 0.3 else None
        layers.append(nr.LIFLayer(
            w // grid * grid, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
            vth=int(rng.choice([0, int(rng.integers(1, 2000)), 2**17 - 1])),
            bias_mant=rng.integers(-64, 64, n) * 16 if rng.random() < 0.5 else 0, bias_exp=2,
            num_message_bits=4 if graded and i == 0 else 0, recurrent=recurrent))
    return nr.Network(layers)


@pytest.mark.parametrize("seed", range(12))
def test_random_exports_load_in_netx_as_emulated(tmp_path, seed):
    rng = np.random.default_rng(7000 + seed)
    for _ in range(50):  # draw until netx can hold the network exactly (the writer refuses the rest)
        net = random_netx_ready(rng)
        try:
            write_netx(net, tmp_path / "r.net")
            break
        except nr.NeuroreconError:
            continue
    else:
        pytest.fail("no netx-ready network in 50 draws")
    x = (rng.random((3, int(rng.integers(3, 12)), net.n_inputs)) < 0.5).astype(np.int64)
    if net.layers[0].num_message_bits:
        x *= rng.integers(1, 16, x.shape)  # graded payloads of 4 bits
    assert_netx_runs_as_emulated(net, tmp_path / "r.net", x, nr.readout_steps(net, x.shape[1]) + 2)


def test_netx_model_reproduces_lava_dls_own_recordings():
    """The oracle on a file lava-dl wrote (float32 weights, LOIHI neurons, (C, H, W) shapes):
    from each recorded state and the recorded spikes into the layer, every step's u and spikes
    are the recorded ones (the v lava-dl recorded right after a spike is the board's, not
    Lava's reset-to-zero, so v is checked through the spikes it causes)."""
    layers = netx_processes(DATA / "pilotnet_fc.net")
    gt = np.load(DATA / "pilotnet_fc_ground_truth.npz")
    assert [layer["lif"]["shape"] for layer in layers] == [(50,), (10,)]
    for layer, into, name in zip(layers, ("fc0_s", "fc1_s"), ("fc1", "fc2")):
        a = dense_outputs(layer["dense"], gt[into].T)
        u, v, s = (gt[f"{name}_{var}"].T.astype(np.int64) for var in "uvs")
        assert s.sum() >= 5 and np.abs(u).max() > 0  # the recordings hold spikes and input
        state = (np.zeros(u.shape[1], np.int64), np.zeros(u.shape[1], np.int64))
        for t in range(len(a)):
            spikes, u_t, _ = lif_step(layer["lif"], *state, a[t])
            np.testing.assert_array_equal(u_t, u[t], err_msg=f"{name} u at step {t}")
            np.testing.assert_array_equal(spikes, s[t], err_msg=f"{name} spikes at step {t}")
            state = (u[t], v[t])


def test_two_derivations_of_netx_weight_rescaling_agree(rng):
    """neurorecon's model of optimize_weight_bits (netx_grid) and the oracle's, on random matrices."""
    for _ in range(300):
        top = 2 ** int(rng.integers(0, 10))
        w = rng.integers(-top, top + 1, (4, 5)) * 2 ** int(rng.integers(0, 4))
        if rng.random() < 0.3:
            w = np.abs(w) * (1 if rng.random() < 0.5 else -1)
        ours = netx_weight_mapping(w)
        try:
            theirs = rescale_weights(w)
        except NetxRefused:
            theirs = None
        if ours is None or theirs is None:
            assert ours is None and (theirs is None or np.abs(w).max() > 254), w
            continue
        np.testing.assert_array_equal(ours[0], theirs[0])
        assert ours[1:] == theirs[1:], w


def test_weight_rescaling_model_matches_netx_utils_by_hand():
    # Cases worked by hand from netx/utils.py optimize_weight_bits.
    w, bits, exp = netx_weight_mapping(np.array([[127, -128]]))  # mixed: scale 1, shift 1
    assert (w.tolist(), bits, exp) == ([[254, -256]], 8, -1)
    w, bits, exp = netx_weight_mapping(np.array([[4, 8]]))  # excitatory: scale 255/8, shift 4, 2 zero bits
    assert (w.tolist(), bits, exp) == ([[64, 128]], 2, -4)
    assert netx_weight_mapping(np.array([[300, 4]])) is None  # beyond 8 bits: netx would clip
    assert netx_weight_mapping(np.zeros((2, 2), int)) is None  # netx divides by the largest weight


def test_braille_imported_with_weight_exponent_zero_exports(shared_dir, tmp_path):
    net = from_nir(shared_dir / "data" / "nir" / "braille_noDelay_noBias_subtract.nir", "loihi2", weight_exp=0)
    write_netx(net, tmp_path / "braille.net")
    rebuilt = read_netx(tmp_path / "braille.net")
    x = (np.random.default_rng(0).random((4, 60, 12)) < 0.2).astype(np.uint8)
    a, b = nr.simulate(net, x, n_steps=62), nr.simulate(rebuilt, x, n_steps=62)
    for i in range(2):
        np.testing.assert_array_equal(a.v[i], b.v[i])
    assert_netx_runs_as_emulated(net, tmp_path / "braille.net", x[:2], 62)


def _variant(net, **change):
    """``net`` with its first layer's parameters changed."""
    layer = net.layers[0]
    params = dict(weights=layer.weights, du=layer.du, dv=layer.dv, vth=layer.vth, bias_mant=layer.bias_mant,
                  bias_exp=layer.bias_exp, recurrent=layer.recurrent, sign_mode=layer.sign_mode)
    params.update(change)
    return nr.Network([nr.LIFLayer(**params)] + list(net.layers[1:]))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda net, rng: _variant(net, du=[1023] * 9 + [0]), "2 (du, dv, vth) groups"),
        (lambda net, rng: _variant(net, weights=rng.integers(1, 100, (10, 6)) | 1, weight_exp=-1, recurrent=None),
         "fractional per spike"),
        (lambda net, rng: _variant(net, bias_mant=net.layers[0].bias_mant + 1), "multiple of 64"),
        (lambda net, rng: _variant(net, weight_exp=3), "beyond what netx"),
    ],
)
def test_what_netx_cannot_hold_is_refused(tmp_path, rng, change, message):
    bad = change(netx_ready(rng), rng)
    with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
        write_netx(bad, tmp_path / "bad.net")
    assert not (tmp_path / "bad.net").exists()


def test_float_and_all_zero_networks_are_refused(tmp_path):
    with pytest.raises(nr.NeuroreconError, match="quantize the float network first"):
        write_netx(nr.Network([nr.LIFLayer(np.ones((1, 1)), 0.5, 0.5, 1.0)], arithmetic="float"), tmp_path / "f.net")
    with pytest.raises(nr.NeuroreconError, match="all-zero weight matrix"):
        write_netx(nr.Network([nr.LIFLayer(np.zeros((2, 2), int), 0, 0, 1)]), tmp_path / "z.net")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def netx_trained():
    """seq-digits trained netx-compatible (small): one time-constant pair, netx-exact integers."""
    data = nr.load_data("seq-digits")
    model = nr.ReconstructionClassifier(n_witnesses=150, column_generation_rounds=1, netx_compatible=True, seed=1)
    return model.fit(data.X_train[:600], data.y_train[:600]), data


def test_netx_compatible_training_exports_what_netx_rebuilds(netx_trained, tmp_path):
    model, data = netx_trained
    net = model.network_
    assert all(len(layer.groups()) == 1 for layer in net.layers)
    assert model.report_["verification"]["solver_vs_chip_differences"] == 0
    assert model.score(data.X_test, data.y_test) > 0.6
    write_netx(net, tmp_path / "trained.net")
    rebuilt = read_netx(tmp_path / "trained.net")
    X = data.X_test[:40]
    steps = nr.readout_steps(net, X.shape[1])
    a, b = nr.simulate(net, X, n_steps=steps, record=ALL), nr.simulate(rebuilt, X, n_steps=steps, record=ALL)
    assert a.spikes[0].any()
    for i in range(net.n_layers):
        for var in ALL:
            np.testing.assert_array_equal(getattr(a, var)[i], getattr(b, var)[i], err_msg=f"layer {i} {var}")
    assert_netx_runs_as_emulated(net, tmp_path / "trained.net", X[:10], steps)


def test_default_training_mixes_time_constants_that_netx_refuses(tmp_path):
    data = nr.load_data("seq-digits")
    model = nr.ReconstructionClassifier(n_witnesses=120, column_generation_rounds=0, seed=1, max_delay=0)
    model.fit(data.X_train[:400], data.y_train[:400])
    assert len(model.network_.layers[0].groups()) > 1
    with pytest.raises(nr.NeuroreconError, match="groups"):
        write_netx(model.network_, tmp_path / "mixed.net")


def test_given_time_constants_are_the_only_ones_drawn():
    data = nr.load_data("seq-digits")
    model = nr.ReconstructionClassifier(n_witnesses=80, column_generation_rounds=0, time_constants=[(2, 16), (4, "inf")])
    model.fit(data.X_train[:300], data.y_train[:300])
    hidden = model.network_.layers[0]
    assert {(int(du), int(dv)) for du, dv in zip(hidden.du, hidden.dv)} <= {(2047, 256), (1023, 0)}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"netx_compatible": True, "time_constants": [(1, 4), (2, 16)]}, "exactly one time-constant pair"),
        ({"netx_compatible": True, "witness_source": "sg"}, "use method cvx"),
        ({"netx_compatible": True, "profile": "float"}, "is float"),
        ({"time_constants": [(0.5, 4)]}, "at least 1"),
        ({"time_constants": []}, "pairs"),
    ],
)
def test_netx_compatible_bad_settings_are_refused(params, message):
    data = nr.load_data("seq-digits")
    with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
        nr.ReconstructionClassifier(n_witnesses=20, **params).fit(data.X_train[:50], data.y_train[:50])


def _netx_file(path, layer_type="dense", **neuron):
    with h5py.File(path, "w") as f:
        f.create_dataset("layer/0/type", (1,), "S10", [b"input"])
        f.create_dataset("layer/0/shape", data=np.array([3]))
        g = f.create_group("layer/1")
        g.create_dataset("type", (1,), "S10", [layer_type.encode()])
        g.create_dataset("weight", data=np.array([[2, -4, 6], [8, 0, -2]]))
        params = {"type": "CUBA", "iDecay": 1024, "vDecay": 128, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
        params.update(neuron)
        for key, value in params.items():
            if key == "type":
                g.create_dataset("neuron/type", (1,), "S10", [value.encode()])
            else:
                g.create_dataset(f"neuron/{key}", data=value)


def test_read_netx_builds_what_netx_builds(tmp_path):
    _netx_file(tmp_path / "ok.net")
    net = read_netx(tmp_path / "ok.net")
    layer = net.layers[0]
    assert net.sizes == [2] and layer.n_inputs == 3
    assert (layer.du[0], layer.dv[0], layer.vth[0]) == (1023, 128, 80)  # netx: du = iDecay - 1
    np.testing.assert_array_equal(layer.dense.effective_weights() >> -layer.weight_exp, [[2, -4, 6], [8, 0, -2]])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("not hdf5"), "not readable as HDF5"),
        (lambda p: h5py.File(p, "w").close(), "no layer/0"),
        (lambda p: _netx_file(p, layer_type="conv"), "'conv'"),
        (lambda p: _netx_file(p, refDelay=3), "refractory"),
        (lambda p: _netx_file(p, type="LOIHI"), "only CUBA"),
    ],
)
def test_read_netx_bad_files(tmp_path, make, message):
    path = tmp_path / "bad.net"
    make(path)
    with pytest.raises(nr.NeuroreconError, match=re.escape(message)):
        read_netx(path)
    with pytest.raises(nr.NeuroreconError, match="does not exist"):
        read_netx(tmp_path / "missing.net")
