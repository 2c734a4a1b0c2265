"""Convex readout repair of imported networks (``import-nir --refit-readout``)."""

import json
import warnings

import nir
import numpy as np
import pytest
import torch
from clitools import assert_clean_failure, cli
from peertools import quiet

import neurorecon as nr
from neurorecon.data.tasks import seq_digits
from neurorecon.interchange import from_nir
from neurorecon.simulate.predict import predict_network
from neurorecon.train.convex.repair import imported_predictions, repair_readout


def norse_graph(spiking_output: bool) -> nir.NIRGraph:
    """An untrained Norse network on seq-digits' 8 inputs (LI or LIF readout), Norse's to_nir."""
    import norse.torch as norse

    torch.manual_seed(0)
    lif = norse.LIFParameters(tau_syn_inv=torch.tensor(1000.0), tau_mem_inv=torch.tensor(500.0))
    model = norse.SequentialState(
        torch.nn.Linear(8, 40, bias=False), norse.LIFCell(lif), torch.nn.Linear(40, 10, bias=False),
        norse.LIFCell(lif) if spiking_output else norse.LIBoxCell(),
    )
    with torch.no_grad():
        model[0].weight.mul_(4.0)
    with quiet():
        return norse.to_nir(model, torch.zeros(1, 8))


def writable(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Norse's graph with its 0-d neuron parameters spread per neuron: nir.write (h5py) cannot store
    0-d parameters with its compression, so a Norse user has to do this to write a file."""
    sizes = {"1": 40, "3": 10}
    for name, n in sizes.items():
        node = graph.nodes[name]
        for key in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
            if hasattr(node, key) and np.ndim(getattr(node, key)) == 0:
                setattr(node, key, np.full(n, float(getattr(node, key))))
    return graph


@pytest.fixture(scope="module")
def digits():
    X, y = seq_digits().split("train")
    return X[:400], y[:400]


@pytest.mark.parametrize("spiking_output", [False, True])
def test_repair_refits_the_readout_on_the_chips_hidden_spikes(digits, spiking_output):
    X, y = digits
    graph = norse_graph(spiking_output)
    net_float = from_nir(graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net_fixed = from_nir(graph, "loihi2", data=X)
    repaired, report = repair_readout(net_float, net_fixed, X, y, "loihi2")
    acc = report.accuracy["data"]
    assert acc["repaired"] >= acc["ptq"] and acc["repaired"] > 0.5  # untrained readout: near chance before
    assert report.converged and report.duality_gap <= 1e-6 and 0 < report.n_selected <= 40
    for before, after in zip(net_fixed.layers[:-1], repaired.layers[:-1]):
        assert before.equals(after)  # the hidden layers are the chip's, untouched
    out = repaired.layers[-1]
    assert out.du.tolist() == [4095] * 10 and out.dv.tolist() == [0] * 10  # count readout
    assert repaired.metadata["readout"] == "count" and "nir_import" in repaired.metadata
    np.testing.assert_array_equal(predict_network(repaired, X), imported_predictions(repaired, X))
    assert acc["repaired"] == pytest.approx(np.mean(predict_network(repaired, X) == y))


def test_predictions_of_imported_networks_follow_their_last_layer(digits):
    X, _ = digits
    li = from_nir(norse_graph(False))
    res = nr.simulate(li, X[:20], n_steps=nr.readout_steps(li, X.shape[1]), layers=[1])
    np.testing.assert_array_equal(imported_predictions(li, X[:20]), res.final_v[1].argmax(axis=1))
    spiking = from_nir(norse_graph(True))
    res = nr.simulate(spiking, X[:20], n_steps=nr.readout_steps(spiking, X.shape[1]), record=("counts",), layers=[1])
    np.testing.assert_array_equal(imported_predictions(spiking, X[:20]), res.spike_counts[1].argmax(axis=1))


def test_repair_refuses_what_it_cannot_refit(digits, shared_dir):
    X, y = digits
    graph = norse_graph(False)
    net_float = from_nir(graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net_fixed = from_nir(graph, "loihi2", data=X)
    with pytest.raises(nr.NeuroreconError, match="fixed-point profile"):
        repair_readout(net_float, net_float, X, y, "float")
    with pytest.raises(nr.NeuroreconError, match="at least two classes"):
        repair_readout(net_float, net_fixed, X, np.zeros_like(y), "loihi2")
    with pytest.raises(nr.NeuroreconError, match="y"):
        repair_readout(net_float, net_fixed, X, y[:-1], "loihi2")
    with pytest.raises(nr.NeuroreconError, match="y"):
        repair_readout(net_float, net_fixed, X, np.full(len(y), 10), "loihi2")  # class 10 of 10 outputs
    single = from_nir(shared_dir / "data" / "nir" / "lif_norse.nir", "loihi2")
    with pytest.raises(nr.NeuroreconError, match="single layer"):
        repair_readout(single, single, np.ones((4, 5, 1)), np.array([0, 1, 0, 1]), "loihi2")


def test_import_nir_refit_readout_command(capsys, digits, tmp_path):
    X, y = digits
    with quiet():
        nir.write(tmp_path / "g.nir", writable(norse_graph(False)))
    np.savez(tmp_path / "train.npz", X=X, y=y)
    out = cli(capsys, "import-nir", tmp_path / "g.nir", "--data", tmp_path / "train.npz", "--refit-readout",
              "--out", tmp_path / "run")
    assert out.code == 0, out.err
    assert "readout repair" in out.out and "plain PTQ" in out.out and "repaired" in out.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    accuracy = metrics["repair"]["accuracy"]["data"]
    assert accuracy["repaired"] >= accuracy["ptq"]
    net = nr.Network.load(tmp_path / "run")
    assert net.metadata["readout"] == "count"
    assert np.mean(predict_network(net, X) == y) == pytest.approx(accuracy["repaired"])


def test_import_nir_refit_readout_bad_inputs(capsys, digits, tmp_path, shared_dir):
    X, y = digits
    with quiet():
        nir.write(tmp_path / "g.nir", writable(norse_graph(False)))
    np.savez(tmp_path / "x_only.npz", X=X)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    np.savez(tmp_path / "nan.npz", X=np.full(X.shape, np.nan), y=y)
    base = ["import-nir", tmp_path / "g.nir", "--out", tmp_path / "run", "--refit-readout"]
    assert_clean_failure(cli(capsys, *base), "needs --data")
    assert_clean_failure(cli(capsys, *base, "--data", tmp_path / "x_only.npz"), "no array named y")
    assert_clean_failure(cli(capsys, *base, "--data", tmp_path / "train.npz", "--profile", "float"), "is float")
    assert_clean_failure(cli(capsys, *base, "--data", tmp_path / "nan.npz"), "X")
    single = shared_dir / "data" / "nir" / "lif_norse.nir"
    np.savez(tmp_path / "one.npz", X=np.ones((4, 5, 1), np.uint8), y=np.array([0, 1, 0, 1]))
    assert_clean_failure(cli(capsys, "import-nir", single, "--out", tmp_path / "run", "--refit-readout",
                             "--data", tmp_path / "one.npz"), "single layer")
    assert not (tmp_path / "run").exists()
