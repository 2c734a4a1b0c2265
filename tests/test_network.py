"""The Network IR: construction, validation, and its HDF5 file."""

from dataclasses import FrozenInstanceError

import h5py
import numpy as np
import pytest

import neurorecon as nr
from neurorecon.network import SCHEMA_VERSION


def small_fixed(recurrent=False):
    hidden = nr.LIFLayer(np.arange(-6, 6).reshape(4, 3) * 20, du=[1, 1, 4095, 4095], dv=0, vth=[10, 10, 20, 20],
                         bias_mant=[1, -2, 3, -4], bias_exp=[0, 1, 2, 7], weight_exp=-1, num_weight_bits=6,
                         recurrent=nr.Dense(np.eye(4, dtype=int) * -30, weight_exp=1) if recurrent else None)
    out = nr.LIFLayer(np.ones((2, 4), dtype=int) * 8, du=4095, dv=4095, vth=2**17 - 1, sign_mode="mixed")
    return nr.Network([hidden, out], metadata={"profile": "loihi2", "readout": "last", "n_classes": 2})


def test_scalars_broadcast_per_neuron():
    layer = nr.LIFLayer(np.zeros((3, 2)), du=5, dv=7, vth=9)
    assert layer.du.shape == (3,) and layer.vth.tolist() == [9, 9, 9]
    assert layer.n_neurons == 3 and layer.n_inputs == 2


@pytest.mark.parametrize("recurrent", [False, True])
def test_save_load_round_trip(tmp_path, recurrent):
    net = small_fixed(recurrent)
    net.save(tmp_path / "m.h5")
    back = nr.Network.load(tmp_path / "m.h5")
    assert back.equals(net)
    assert back.metadata["readout"] == "last"
    x = (np.random.default_rng(0).random((3, 6, 3)) < 0.5).astype(int)
    a, b = nr.simulate(net, x), nr.simulate(back, x)
    np.testing.assert_array_equal(a.v[1], b.v[1])


def test_float_round_trip_and_run_directory(tmp_path):
    net = nr.Network([nr.LIFLayer(np.random.default_rng(1).normal(size=(3, 2)), du=0.1, dv=[0.2, 0.3, 0.4], vth=1.0,
                                  bias_mant=0.01)], arithmetic="float")
    (tmp_path / "run").mkdir()
    net.save(tmp_path / "run" / "network.h5")
    back = nr.Network.load(tmp_path / "run")  # a run directory loads its network.h5
    assert back.equals(net) and back.arithmetic == "float"


def test_save_is_atomic(tmp_path, monkeypatch):
    net = small_fixed()
    target = tmp_path / "m.h5"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(OSError):
        net.save(target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_unwritable_destination_is_a_clear_error(tmp_path):
    with pytest.raises(nr.NeuroreconError, match="does not exist"):
        small_fixed().save(tmp_path / "missing" / "m.h5")


def test_corrupt_and_foreign_files(tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(nr.NeuroreconError, match="not readable as HDF5"):
        nr.Network.load(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(nr.NeuroreconError, match="not a neurorecon Network"):
        nr.Network.load(tmp_path / "foreign.h5")
    small_fixed().save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(nr.NeuroreconError, match="schema version"):
        nr.Network.load(tmp_path / "m.h5")
    small_fixed().save(tmp_path / "t.h5")
    with h5py.File(tmp_path / "t.h5", "a") as f:
        del f["layers/1/vth"]
    with pytest.raises(nr.NeuroreconError, match="corrupt"):
        nr.Network.load(tmp_path / "t.h5")
    with pytest.raises(nr.NeuroreconError, match="no Network file"):
        nr.Network.load(tmp_path / "absent.h5")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(du=4096), "du=4096"),
        (dict(dv=-1), "dv=-1"),
        (dict(vth=2**17), "vth=131072"),
        (dict(bias_mant=4096), "bias_mant=4096"),
        (dict(bias_mant=-4097), "bias_mant=-4097"),
        (dict(bias_exp=8), "bias_exp=8"),
        (dict(weight_exp=8), "weight_exp=8"),
        (dict(num_weight_bits=0), "num_weight_bits=0"),
        (dict(du=1.5), "must be integers"),
        (dict(vth=np.nan), "NaN"),
    ],
)
def test_fixed_parameters_out_of_range_are_errors(kwargs, message):
    params = dict(weights=np.ones((2, 2), dtype=int), du=0, dv=0, vth=10)
    params.update(kwargs)
    with pytest.raises(nr.NeuroreconError, match=message):
        nr.Network([nr.LIFLayer(**params)])


def test_weights_beyond_8_bits_are_clipped_like_lava_not_rejected():
    layer = nr.LIFLayer(np.array([[1000, -1000, 3, -3]]), du=0, dv=0, vth=1)
    net = nr.Network([layer])
    # Mixed sign: clipped to [-256, 255], then the LSB dropped (flooring): Lava's weightutils.
    assert net.layers[0].dense.effective_weights().tolist() == [[254, -256, 2, -4]]
    exc = nr.Dense(np.array([[300, 3, 0]]), num_weight_bits=6)
    assert exc.effective_weights().tolist() == [[252, 0, 0]]
    inh = nr.Dense(np.array([[-300, -3, 0]]), num_weight_bits=6)
    assert inh.effective_weights().tolist() == [[-252, 0, 0]]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: nr.LIFLayer(np.ones(3), 0, 0, 1), "2-D"),
        (lambda: nr.LIFLayer(np.ones((3, 2)), [0, 0], 0, 1), "shape \\(3,\\)"),
        (lambda: nr.LIFLayer(np.ones((3, 2)), 0, 0, 1, sign_mode="both"), "sign_mode"),
        (lambda: nr.LIFLayer(np.ones((2, 2)), 0, 0, 1, recurrent=nr.Dense(np.ones((3, 3)))), "recurrent weights"),
        (lambda: nr.Network([nr.LIFLayer(np.ones((3, 2)), 0, 0, 1), nr.LIFLayer(np.ones((1, 4)), 0, 0, 1)]), "expect 4 inputs"),
        (lambda: nr.Network([]), "at least one layer"),
        (lambda: nr.Network([nr.LIFLayer(np.ones((1, 1)), 0, 0, 1)], arithmetic="double"), "arithmetic"),
        (lambda: nr.Network([nr.LIFLayer(np.ones((1, 1)), 0, 0, 1)], metadata={"x": object()}), "JSON"),
        (lambda: nr.Network([nr.LIFLayer(np.full((1, 1), np.inf), 0.1, 0.1, 1.0)], arithmetic="float"), "NaN or infinite"),
        (lambda: nr.LIFLayer(np.array([["a"]]), 0, 0, 1), "numeric"),
    ],
)
def test_structural_errors(build, message):
    with pytest.raises(nr.NeuroreconError, match=message):
        build()


def test_groups_in_order_of_first_appearance():
    layer = nr.LIFLayer(np.ones((5, 1)), du=[3, 1, 3, 1, 2], dv=0, vth=1)
    assert [g.tolist() for g in layer.groups()] == [[0, 2], [1, 3], [4]]


def test_a_layer_holds_its_dense_and_reads_through_to_it():
    dense = nr.Dense(np.array([[2, -4], [6, 8]]), weight_exp=-1, num_weight_bits=6)
    layer = nr.LIFLayer(dense, du=1, dv=2, vth=3)
    assert layer.dense is dense
    assert (layer.weight_exp, layer.num_weight_bits, layer.sign_mode) == (-1, 6, None)
    np.testing.assert_array_equal(layer.weights, dense.weights)
    same = nr.LIFLayer(dense.weights, du=1, dv=2, vth=3, weight_exp=-1, num_weight_bits=6)
    assert same.equals(layer) and same.dense.equals(dense)
    with pytest.raises(nr.NeuroreconError, match="on the Dense"):
        nr.LIFLayer(dense, du=1, dv=2, vth=3, weight_exp=2)


def test_comparison_is_identity_and_never_raises():
    """eq=False, as nir does: == on numpy fields would raise; equality of values is .equals()."""
    a = nr.LIFLayer(np.ones((2, 2)), du=0, dv=0, vth=1)
    b = nr.LIFLayer(np.ones((2, 2)), du=0, dv=0, vth=1)
    assert a == a and a != b and a.equals(b)
    assert nr.Network([a]) != nr.Network([b]) and nr.Network([a]).equals(nr.Network([b]))


def test_every_mutation_path_is_validated():
    net = nr.Network([nr.LIFLayer(np.ones((2, 3), dtype=int), du=0, dv=0, vth=10)])
    layer = net.layers[0]
    with pytest.raises(ValueError, match="read-only"):
        layer.du[0] = 9999  # arrays cannot change behind the validation
    with pytest.raises(ValueError, match="read-only"):
        layer.weights[0, 0] = 10**12
    with pytest.raises(FrozenInstanceError):
        layer.du = np.array([9999, 9999])
    with pytest.raises(FrozenInstanceError):
        net.layers = []
    with pytest.raises(AttributeError):
        net.layers.append(layer)  # a tuple: a layer is added only through a new, validated Network
    bad = layer.replace(du=9999)  # a layer alone knows no arithmetic ...
    with pytest.raises(nr.NeuroreconError, match="du=9999"):
        net.replace(layers=[layer, bad.replace(weights=np.ones((2, 2), dtype=int))])  # ... the Network checks it
    with pytest.raises(nr.NeuroreconError, match="du=9999"):
        nr.Network([bad])
    with pytest.raises(nr.NeuroreconError, match="no field"):
        layer.replace(tau=3)
    with pytest.raises(nr.NeuroreconError, match="recurrent weights must have shape"):
        layer.replace(recurrent=nr.Dense(np.ones((3, 3), dtype=int)))


def test_metadata_is_checked_again_when_saved(tmp_path):
    net = nr.Network([nr.LIFLayer(np.ones((1, 1), dtype=int), du=0, dv=0, vth=1)])
    net.metadata["bad"] = object()  # the one mutable part of a Network
    with pytest.raises(nr.NeuroreconError, match="JSON-serialisable"):
        net.save(tmp_path / "n.h5")
    assert not (tmp_path / "n.h5").exists()
    with pytest.raises(nr.NeuroreconError, match="must be a dict"):
        nr.Network(net.layers, metadata=["a list"])
