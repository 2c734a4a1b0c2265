"""The resource check: core mapping, per-core limits, precision use, report formats and the CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest
from clitools import assert_clean_failure, cli

import neurorecon as nr
from neurorecon.network import VTH_MAX
from neurorecon.profiles import load_profile
from neurorecon.resources import ResourceReport, check_resources
from neurorecon.resources.core_map import axon_synapse_bits, core_synapse_bits, weight_field_bits, _inputs

LOIHI1 = load_profile("loihi1")


def tiny_profile(**limits):
    """loihi1 with some per-core limits replaced (small numbers keep the tests small)."""
    return replace(LOIHI1, name="tiny", resources=replace(LOIHI1.resources, **limits))


def layer(n, n_in, w=1, **kw):
    return nr.LIFLayer(np.full((n, n_in), w), du=kw.pop("du", 100), dv=kw.pop("dv", 100), vth=kw.pop("vth", 10), **kw)


def small_net(rng):
    return nr.Network([
        nr.LIFLayer(rng.integers(-100, 100, (6, 4)), du=[10, 10, 20, 20, 10, 20], dv=5, vth=20,
                    recurrent=nr.Dense(rng.integers(-50, 50, (6, 6)))),
        nr.LIFLayer(rng.integers(-100, 100, (2, 6)), du=4095, dv=0, vth=VTH_MAX),
    ], metadata={"profile": "loihi1"})


def kinds(report, severity):
    return [v.kind for v in report.violations if v.severity == severity]


def test_small_network_fits_one_core_per_layer(rng):
    report = check_resources(small_net(rng), "loihi1")
    assert report.fits and report.violations == []
    assert [r.cores for r in report.layers] == [1, 1] and report.totals["cores_used"] == 2
    first, last = report.layers
    assert (first.configs, first.input_axons, first.destination_cores) == (2, 4 + 6, 1 + 1)  # next layer + itself
    assert first.output_axons == 6 * 2 and last.output_axons == 0  # the readout is read by the host
    assert [c.layer for c in report.cores] == [0, 1] and report.cores[0].neuron_ranges == [[0, 6]]
    assert report.cores[0].configs == [0, 1] and report.cores[0].synapse_bits == first.synapse_bits
    report.raise_for_errors()  # no errors: does not raise


def test_layer_bigger_than_a_core_spans_ceil_n_over_limit_cores():
    net = nr.Network([layer(2500, 4)])
    report = check_resources(net, "loihi1")
    assert report.layers[0].cores == 3 == -(-2500 // 1024) and report.layers[0].limited_by == "neurons per core"
    assert [c.neuron_ranges for c in report.cores] == [[[0, 1024]], [[1024, 2048]], [[2048, 2500]]]
    assert [c.neurons for c in report.cores] == [1024, 1024, 452] and report.fits


def test_configuration_groups_force_more_cores():
    vth = np.arange(40) % 20 + 1  # 20 groups, interleaved: packed group by group
    report = check_resources(nr.Network([layer(40, 3, vth=vth)]), tiny_profile(neuron_configs_per_core=8))
    row = report.layers[0]
    assert (row.configs, row.cores, row.limited_by) == (20, 3, "neuron configs")
    assert [c.configs for c in report.cores] == [list(range(8)), list(range(8, 16)), list(range(16, 20))]
    assert report.cores[0].neuron_ranges == [[0, 8], [20, 28]] and report.cores[0].neurons == 16
    assert report.fits


def test_synapse_memory_limits_neurons_per_core():
    net = nr.Network([layer(1024, 1000, w=-3)])
    report = check_resources(net, "loihi1")
    row, limit = report.layers[0], LOIHI1.resources.synapse_memory_bits_per_core
    inputs = _inputs(net.layers[0])
    k = row.core_capacity
    assert row.limited_by == "synapse memory" and row.cores == -(-1024 // k)
    assert core_synapse_bits(inputs, k) <= limit < core_synapse_bits(inputs, k + 1)
    assert all(c.synapse_bits <= limit for c in report.cores) and row.synapses == 1024 * 1000
    # the layout: 64 synapses per entry, 10-bit header, 64-bit words; 8-bit weight fields
    assert axon_synapse_bits(64, 8) == 576 and axon_synapse_bits(65, 8) == 576 + 64 and axon_synapse_bits(1, 8) == 64
    assert [weight_field_bits(b) for b in (1, 6, 7, 8)] == [1, 6, 8, 8]


def test_output_axons_count_destination_cores():
    # layer 1 spans 3 cores, so each layer-0 neuron takes 3 output axons: 12 axons hold 4 neurons
    net = nr.Network([layer(10, 2), layer(9, 10)])
    report = check_resources(net, tiny_profile(neurons_per_core=4, output_axons_per_core=12))
    first, second = report.layers
    assert second.cores == 3 and first.destination_cores == 3 and first.core_capacity == 4
    assert all(c.output_axons <= 12 for c in report.cores)
    report = check_resources(net, tiny_profile(neurons_per_core=4, output_axons_per_core=6))
    assert report.layers[0].core_capacity == 2 and report.layers[0].limited_by == "output axons"
    assert report.layers[0].cores == 5 and report.fits


def test_recurrent_layer_sends_to_its_own_cores():
    rec = nr.Dense(np.ones((10, 10), int))
    net = nr.Network([layer(10, 2, recurrent=rec)])
    report = check_resources(net, tiny_profile(neurons_per_core=4, output_axons_per_core=12))
    row = report.layers[0]
    assert row.input_axons == 12 and row.cores == 3 and row.destination_cores == 3 and row.output_axons == 12
    report = check_resources(net, tiny_profile(neurons_per_core=4, output_axons_per_core=8))
    assert "output_axons" in kinds(report, "error")  # more cores -> more destinations -> never fits


def test_fan_in_beyond_input_axons_is_an_error():
    report = check_resources(nr.Network([layer(2, 5000)]), "loihi1")
    assert kinds(report, "error") == ["input_axons"] and not report.fits
    with pytest.raises(nr.NeuroreconError, match="fan-in of 5000 input axons exceeds the 4096"):
        report.raise_for_errors()


def test_exceeding_the_chips_cores_is_an_error():
    report = check_resources(nr.Network([layer(9, 2), layer(5, 9)]), tiny_profile(neurons_per_core=4, cores=3))
    assert report.totals["cores_used"] == 5 and kinds(report, "error") == ["cores"]
    with pytest.raises(nr.NeuroreconError) as err:
        report.raise_for_errors()
    assert "needs 5 cores (per layer: 3, 2); the chip has 3" in str(err.value) and "\n" not in str(err.value)


def test_format_the_chip_lacks_is_an_error():
    graded = nr.Network([layer(3, 2, num_message_bits=4)])
    assert kinds(check_resources(graded, "loihi1"), "error") == ["format"]  # Loihi 1: binary spikes
    assert check_resources(graded, "loihi2").fits
    narrow = replace(LOIHI1, precision=replace(LOIHI1.precision, weight_bits=4, threshold_bits=8))
    report = check_resources(nr.Network([layer(3, 2, vth=300)]), narrow)
    assert sorted(v.message.split(":")[1].split("=")[0].strip() for v in report.errors) == ["num_weight_bits", "vth"]


def test_accumulator_overflow_is_a_warning():
    # 200 excitatory weights of 255: a_in reaches 51000 > 2**15 - 1, in 17 bits
    report = check_resources(nr.Network([layer(2, 200, w=255)]), "loihi1")
    p = report.layers[0].precision
    assert p.accumulator_range == [0, 51000] and p.accumulator_bits == 17 and p.accumulator_margin_bits < 0
    assert kinds(report, "warning") == ["accumulator"] and report.fits
    report.raise_for_errors()  # warnings do not raise
    # the exact worst case is per sign: 100 weights of +126 and 100 of -126 need only 15 bits
    mixed = np.concatenate([np.full((2, 100), 126), np.full((2, 100), -126)], axis=1)
    p = check_resources(nr.Network([nr.LIFLayer(mixed, du=1, dv=1, vth=1)]), "loihi1").layers[0].precision
    assert p.accumulator_range == [-12600, 12600] and p.accumulator_bits == 15
    # weight_exp shifts the accumulation (flooring when negative)
    shifted = check_resources(nr.Network([layer(1, 3, w=-5, weight_exp=-1)]), "loihi1").layers[0].precision
    assert shifted.accumulator_range == [-8, 0]


def test_measured_v_saturation_is_a_warning():
    # a_in = -255 << 7 per step, u = a << 6 (du = 4095 keeps nothing), v integrates (dv = 0): v
    # passes -(2**23 - 1) at step 6 of a constant input
    net = nr.Network([nr.LIFLayer(np.full((1, 1), -255), du=4095, dv=0, vth=VTH_MAX, weight_exp=7)])
    x = np.ones((2, 8, 1), np.uint8)
    static = check_resources(net, "loihi1")
    assert static.violations == [] and static.layers[0].precision.v_static_peak is None  # unbounded below
    report = check_resources(net, "loihi1", x)
    m = report.layers[0].precision.measured
    a6 = 255 * 2**7 * 64
    steps = nr.readout_steps(net, 8)
    v, peak, saturated = 0, 0, 0
    for t in range(steps):  # the reference: u = a, v = v + u, clipped
        a = -a6 if 1 <= t <= 8 else 0
        v = v + a
        peak, saturated = max(peak, abs(v)), saturated + (v < -(2**23 - 1))
        v = max(v, -(2**23 - 1))
    assert (m.accumulator_peak, m.v_peak, m.v_saturations) == (255 * 2**7, peak, 2 * saturated)
    assert m.v_margin_bits < 0 and m.u_wraps == 0 and m.readout_spikes == 0
    assert kinds(report, "warning") == ["v_saturation"] and report.data_samples == 2 and report.data_steps == steps


def test_measured_u_wrap_is_a_warning():
    # du = 0 keeps 4095/4096 of u: a constant a << 6 = (128 << 6) << 6 = 2**19 passes 2**23 and wraps
    net = nr.Network([nr.LIFLayer(np.full((1, 1), 128), du=0, dv=4095, vth=VTH_MAX, weight_exp=6)])
    x = np.ones((1, 20, 1), np.uint8)
    report = check_resources(net, "loihi1", x)
    m = report.layers[0].precision.measured
    u, peak, wraps = 0, 0, 0
    for t in range(nr.readout_steps(net, 20)):  # the reference: Lava's current update
        u = int(np.trunc(u * 4095 / 4096)) + (2**19 if 1 <= t <= 20 else 0)
        peak = max(peak, abs(u))
        if u > 2**23 or u <= -(2**23):
            wraps += 1
            u = u - 2**24 if u > 0 else u + 2**24
    assert (m.u_peak, m.u_wraps) == (peak, wraps) and wraps > 0 and m.u_margin_bits < 0
    assert report.layers[0].precision.u_margin_bits < 0  # the static bound saw it coming
    assert kinds(report, "warning") == ["u_wrap"] and m.readout_spikes == 0 and m.readout_margin_bits >= 0


def test_measured_readout_spikes_are_a_warning():
    # a readout integrating a << 6 = 12800 << 6 per step (dv = 0) passes vth << 6 at step 11
    net = nr.Network([nr.LIFLayer(np.full((2, 1), 100), du=4095, dv=0, vth=[VTH_MAX, 10], weight_exp=7)])
    report = check_resources(net, "loihi1", np.ones((3, 20, 1), np.uint8))
    m = report.layers[0].precision.measured
    assert m.readout_spikes == 3 and m.readout_margin_bits < 0  # once per sample; the vth=10 neuron does not count
    assert kinds(report, "warning") == ["readout_spikes"]
    assert "readout neurons (vth 131071) spiked 3 times" in report.warnings[0].message


def test_measured_peaks_agree_with_recorded_states(rng):
    net = small_net(rng)
    x = (rng.random((40, 12, 4)) < 0.6).astype(np.uint8)
    report = check_resources(net, "loihi1", x)
    records = nr.simulate(net, x, n_steps=nr.readout_steps(net, 12), record=("u", "v"))
    for row, u, v in zip(report.layers, records.u, records.v):
        m, p = row.precision.measured, row.precision
        assert m.u_wraps == 0 and m.u_peak == np.abs(u).max()  # no wrap: u as recorded
        assert m.v_peak >= np.abs(v).max()  # v before the reset can only be larger
        assert m.accumulator_peak <= max(-p.accumulator_range[0], p.accumulator_range[1])
        assert m.u_peak <= p.u_static_peak and (p.v_static_peak is None or m.v_peak <= p.v_static_peak)
    assert report.layers[1].precision.measured.readout_margin_bits > 0


def test_float_profile_and_float_network_report_resources_only(rng):
    report = check_resources(small_net(rng), "float")
    assert all(r.precision is None for r in report.layers) and "float profile" in report.notes[-1]
    assert report.layers[0].cores == 1 and "accumulator_bits" not in report.limits
    float_net = nr.Network([nr.LIFLayer(rng.normal(size=(3, 2)), du=0.1, dv=0.2, vth=[1.0, 1.0, 2.0])], arithmetic="float")
    report = check_resources(float_net, "loihi2", np.ones((1, 3, 2)))
    assert report.layers[0].configs == 2 and report.layers[0].precision is None
    assert any("quantize" in n for n in report.notes) and any("data was not used" in n for n in report.notes)
    assert any("not public" in n for n in report.notes)


def test_report_json_round_trip_and_text(rng):
    report = check_resources(small_net(rng), "loihi1", (rng.random((5, 6, 4)) < 0.5).astype(np.uint8))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert ResourceReport.from_dict(data) == report and ResourceReport.from_dict(data).to_dict() == data
    assert data["totals"] == {"cores_used": 2, "cores_available": 128, "neurons": 8, "synapses": 72,
                              "synapse_bits": report.totals["synapse_bits"]} and data["fits"] is True
    text = report.to_text()
    assert "measured on 5 samples" in text and "no violations" in text and "2 of 128 cores" in text
    with pytest.raises(nr.NeuroreconError, match="not a resource report"):
        ResourceReport.from_dict({"layers": []})


def test_bad_arguments():
    with pytest.raises(nr.NeuroreconError, match="needs a neurorecon.Network"):
        check_resources("model.h5", "loihi1")
    with pytest.raises(nr.NeuroreconError, match="unknown profile"):
        check_resources(nr.Network([layer(1, 1)]), "loihi9")
    with pytest.raises(nr.NeuroreconError, match="binary spikes"):
        check_resources(nr.Network([layer(1, 1)]), "loihi1", np.full((1, 2, 1), 3))


# ------------------------------------------------------------------ command line
@pytest.fixture
def saved(tmp_path, rng):
    net = small_net(rng)
    net.save(tmp_path / "model.h5")
    (tmp_path / "run").mkdir()
    net.save(tmp_path / "run" / "network.h5")
    np.savez(tmp_path / "x.npz", X=(rng.random((4, 5, 4)) < 0.5).astype(np.uint8))
    return tmp_path


def test_cli_good_path(capsys, saved):
    out = cli(capsys, "resources", saved / "model.h5")  # profile from the metadata
    assert out.code == 0 and "resources on loihi1" in out.out and "no violations" in out.out
    out = cli(capsys, "resources", saved / "run", "--profile", "loihi2", "--data", saved / "x.npz", "--json")
    assert out.code == 0, out.err
    data = json.loads(out.out)
    assert data["profile"] == "loihi2" and data["data_samples"] == 4 and data["layers"][0]["precision"]["measured"]
    np.savez(saved / "ds.npz", X_train=np.zeros((3, 5, 4), np.uint8), X_test=np.zeros((2, 5, 4), np.uint8))
    assert json.loads(cli(capsys, "resources", saved / "run", "--data", saved / "ds.npz", "--json").out)["data_samples"] == 5


def test_cli_network_that_does_not_fit_exits_1(capsys, tmp_path):
    nr.Network([layer(2, 5000)]).save(tmp_path / "wide.h5")
    out = cli(capsys, "resources", tmp_path / "wide.h5", "--profile", "loihi1")
    assert out.code == 1 and "error: layer 0: fan-in of 5000" in out.out and out.err == ""
    assert json.loads(cli(capsys, "resources", tmp_path / "wide.h5", "--profile", "loihi1", "--json").out)["fits"] is False


def test_cli_bad_inputs(capsys, saved):
    np.savez(saved / "nokey.npz", Y=np.zeros(3))
    (saved / "junk.npz").write_text("nope")
    np.savez(saved / "wrong.npz", X=np.ones((2, 3, 7)))
    nr.Network([layer(1, 1)]).save(saved / "anonymous.h5")
    base = ["resources", saved / "model.h5"]
    assert_clean_failure(cli(capsys, "resources", saved / "absent.h5"), "no Network file")
    assert_clean_failure(cli(capsys, *base, "--profile", "loihi9"), "unknown profile")
    assert_clean_failure(cli(capsys, *base, "--data", saved / "absent.npz"), "does not exist")
    assert_clean_failure(cli(capsys, *base, "--data", saved / "junk.npz"), "not a readable .npz")
    assert_clean_failure(cli(capsys, *base, "--data", saved / "nokey.npz"), "no array named X")
    assert_clean_failure(cli(capsys, *base, "--data", saved / "wrong.npz"), "network expects 4")
    assert_clean_failure(cli(capsys, "resources", saved / "anonymous.h5"), "no --profile")
    assert "exit status" in cli(capsys, "resources", "--help").out
