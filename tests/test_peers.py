"""The NIR peers themselves: our exports load and run in snnTorch, Sinabs and Rockpool (spike for
spike where their semantics equal our float arithmetic, measured where they differ), and small
models written by each peer's own NIR writer (and Norse's) import into neurorecon.

The measured differences are the ones docs/interchange.md tabulates (docs/peers_table.py).
"""

import nir
import numpy as np
import pytest
from peertools import (
    agreement, cuba_net, emulator_output, if_net, norse_writer, rockpool_model, rockpool_writer, run_norse_module,
    run_rockpool, run_sinabs, run_snntorch, sinabs_model, sinabs_writer, snntorch_model, snntorch_writer, spikes_in,
)

import neurorecon as nr
from neurorecon.interchange import from_nir, to_nir
from neurorecon.quantize import dequantize_network


# ------------------------------------------------------------------ our exports in the peers
def test_snntorch_runs_our_float_export_spike_for_spike(rng):
    net, x = cuba_net(rng), spikes_in(rng)
    ours = emulator_output(net, x)
    assert 0.05 < ours.mean() < 0.95
    assert agreement(run_snntorch(snntorch_model(to_nir(net)), x), ours) == 1.0


def test_snntorch_runs_our_fixed_export_as_its_float_equivalent(rng):
    net, x = cuba_net(rng), spikes_in(rng)
    fixed, _ = nr.quantize_network(net, "loihi2", data=x)
    theirs = run_snntorch(snntorch_model(to_nir(fixed)), x)
    assert agreement(theirs, emulator_output(dequantize_network(fixed), x)) == 1.0
    assert agreement(theirs, emulator_output(fixed, x)) > 0.97  # Lava's roundings (docs/interchange.md)


def test_sinabs_runs_our_if_export_and_differs_only_by_its_if_defaults(rng):
    net, x = if_net(rng), spikes_in(rng)
    ours = emulator_output(net, x)
    graph = to_nir(net)
    default = agreement(run_sinabs(sinabs_model(graph, len(x)), x), ours)
    assert 0.5 < default < 0.95  # several spikes per step, reset by subtraction, v floored at -v_threshold
    assert agreement(run_sinabs(sinabs_model(graph, len(x), single_spike_reset=True), x), ours) == 1.0


def test_rockpool_loads_and_runs_our_export_with_its_own_reading(rng):
    net, x = cuba_net(rng), spikes_in(rng)
    theirs = run_rockpool(rockpool_model(to_nir(net)), x)
    assert theirs.shape == (8, 50, 4) and theirs.any()
    assert 0.5 < agreement(theirs, emulator_output(net, x)) < 0.99  # exponential decays, its own dt, multi-spike


# ------------------------------------------------------------------ the peers' writers into neurorecon
def test_snntorch_writer_imports_spike_for_spike(rng):
    model, graph = snntorch_writer()
    net = from_nir(graph)
    assert [type(n).__name__ for n in graph.nodes.values() if isinstance(n, (nir.CubaLIF, nir.LIF))] == ["CubaLIF", "LIF"]
    x = spikes_in(rng)
    theirs = run_snntorch(model, x)
    assert theirs.any() and agreement(theirs, emulator_output(net, x)) == 1.0


@pytest.mark.parametrize("nir_defaults", [True, False])
def test_sinabs_writer_imports(rng, nir_defaults):
    x = spikes_in(rng)
    model, graph = sinabs_writer(len(x), nir_defaults)
    net = from_nir(graph)
    theirs = run_sinabs(model, x)
    match = agreement(theirs, emulator_output(net, x))
    if nir_defaults:
        assert theirs.any() and match == 1.0
    else:  # Sinabs' IAF defaults (multi-spike, subtract) are not in the file: measured, documented
        assert 0.5 < match < 0.95


def test_rockpool_writer_imports_at_its_dt(rng):
    model, graph = rockpool_writer()
    net = from_nir(graph, dt=1e-3)  # Rockpool writes r = tau exp(-dt/tau)/dt: dt is recoverable, not stated
    assert net.sizes == [12, 4] and net.metadata["nir_import"]["framework"] == "nir"
    x = spikes_in(rng)
    match = agreement(run_rockpool(model, x), emulator_output(net, x))
    assert 0.4 < match < 0.95  # its LIFTorch adds inputs to the current whole; its file says w_in = 1


@pytest.mark.parametrize("cell", ["LIFBoxCell", "LIFCell"])
def test_norse_writer_imports_without_dt_spike_for_spike(rng, cell):
    model, graph = norse_writer(cell)  # Input [1, 5], scalar parameters, tau = dt * tau
    assert graph.nodes["input"].input_type["input"].tolist() == [1, 5]
    net = from_nir(graph)
    report = net.metadata["nir_import"]
    assert report["framework"] == "norse" and report["dt"] == 1e-3 and net.sizes == [8, 3]
    assert any("detected Norse" in note for note in report["notes"])
    np.testing.assert_allclose(net.layers[0].dv, 0.1, rtol=1e-6)  # Norse's dt * tau_mem_inv = 1e-3 * 100
    x = spikes_in(rng, width=5, t=60)
    theirs = run_norse_module(model, x)
    assert theirs.any() and agreement(theirs, emulator_output(net, x)) == 1.0
    as_nir = from_nir(graph, source="nir", dt=1e-6)  # the --dt a user had to find in Norse's source
    np.testing.assert_allclose(as_nir.layers[0].dv, net.layers[0].dv, rtol=1e-6)


def test_norse_detection_does_not_touch_other_graphs(rng):
    graph = to_nir(cuba_net(rng))
    assert from_nir(graph).metadata["nir_import"]["framework"] == "nir"
    with pytest.raises(nr.NeuroreconError, match="source must be one of"):
        from_nir(graph, source="snntorch")
