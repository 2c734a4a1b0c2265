"""`neurorecon import-nir` and `neurorecon export` on the command line, good and bad input."""

import json

import nir
import numpy as np
import pytest
from clitools import assert_clean_failure, cli

import neurorecon as nr


@pytest.fixture(scope="module")
def nir_dir(shared_dir):
    return shared_dir / "data" / "nir"


@pytest.fixture
def braille(nir_dir, tmp_path):
    x = (np.random.default_rng(0).random((3, 40, 12)) < 0.2).astype(np.uint8)
    np.savez(tmp_path / "x.npz", X=x)
    return nir_dir / "braille_noDelay_noBias_subtract.nir", x, tmp_path


def test_import_nir_writes_a_run_that_simulate_reads_on_emulator_and_lava(capsys, braille):
    graph, x, tmp = braille
    out = cli(capsys, "import-nir", graph, "--profile", "loihi2", "--out", tmp / "run", "--data", tmp / "x.npz", "--json")
    assert out.code == 0, out.err
    report = json.loads(out.out)
    assert report["layers"] == [40, 7] and report["arithmetic"] == "fixed"
    quant = report["nir_import"]["quantization"]
    assert quant["data_samples"] == 3 and all(layer["activity"] for layer in quant["layers"])
    metrics = json.loads((tmp / "run" / "metrics.json").read_text())
    assert metrics["nir_import"]["layers"][0]["recurrent"] == ["lif1.w_rec"]
    net = nr.Network.load(tmp / "run")
    assert net.metadata["profile"] == "loihi2" and net.layers[0].recurrent is not None
    for backend in ("emulator", "lava"):
        done = cli(capsys, "simulate", tmp / "run", "--input", tmp / "x.npz", "--out", tmp / f"{backend}.npz",
                   "--backend", backend, "--steps", "readout", "--record", "spikes,v,u")
        assert done.code == 0, done.err
    with np.load(tmp / "emulator.npz") as e, np.load(tmp / "lava.npz") as l:
        assert sorted(e.files) == sorted(l.files)
        for key in e.files:
            np.testing.assert_array_equal(e[key], l[key], err_msg=key)
        assert e["spikes_0"].any()


def test_import_nir_text_report_and_reset_warning(capsys, braille):
    graph, _, tmp = braille
    out = cli(capsys, "import-nir", graph, "--out", tmp / "run", "--source-reset", "subtract")
    assert out.code == 0, out.err
    assert "lif1.lif (CubaLIF, 40 neurons) <- fc1, recurrent via lif1.w_rec" in out.out
    assert "relative errors: weights" in out.out and "warning: the source framework reset v by subtracting" in out.out
    assert out.err == ""


def test_board_backend_on_an_imported_run_is_one_clear_message(capsys, braille):
    graph, _, tmp = braille
    assert cli(capsys, "import-nir", graph, "--out", tmp / "run").code == 0
    out = cli(capsys, "simulate", tmp / "run", "--input", tmp / "x.npz", "--out", tmp / "o.npz", "--backend", "loihi2-hw")
    assert_clean_failure(out, "lava-loihi")


def test_export_writes_every_requested_artifact(capsys, braille):
    graph, _, tmp = braille
    assert cli(capsys, "import-nir", graph, "--out", tmp / "run", "--weight-exp", "0").code == 0
    out = cli(capsys, "export", tmp / "run", "--nir", "--lava", "--netx", "--json")
    assert out.code == 0, out.err
    written = json.loads(out.out)["written"]
    exports = tmp / "run" / "exports"
    assert written == {"nir": str(exports / "model.nir"), "lava": str(exports / "lava"), "netx": str(exports / "model.net")}
    assert (exports / "lava" / "run_network.py").is_file() and (exports / "model.net").is_file()
    net = nr.Network.load(tmp / "run")
    back = nr.from_nir(exports / "model.nir")
    np.testing.assert_allclose(back.layers[0].weights, nr.dequantize_network(net).layers[0].weights, rtol=1e-12)
    assert isinstance(nir.read(exports / "model.nir").nodes["lif0"], nir.CubaLIF)
    text = cli(capsys, "export", tmp / "run" / "network.h5", "--nir", tmp / "again.nir", "--dt", "1e-3")
    assert text.code == 0 and f"wrote nir: {tmp / 'again.nir'}" in text.out
    assert nir.read(tmp / "again.nir").metadata["neurorecon.dt"] == 1e-3


def test_export_writes_what_it_can_and_refuses_the_rest(capsys, nir_dir, tmp_path):
    # The Braille graph with biases quantizes to biases off netx's 64-grid: netx refuses it, and
    # NIR and Lava are still written; the exit code says "partly done" (3).
    assert cli(capsys, "import-nir", nir_dir / "braille_noDelay_bias_zero.nir", "--out", tmp_path / "run").code == 0
    out = cli(capsys, "export", tmp_path / "run", "--nir", tmp_path / "m.nir", "--lava", tmp_path / "lava",
              "--netx", tmp_path / "m.net")
    assert out.code == 3, out.err
    assert "Traceback" not in out.err and len(out.err.strip().splitlines()) == 1
    assert "netx not written" in out.err and "multiple of 64" in out.err and "--netx-compatible" in out.err
    assert (tmp_path / "m.nir").is_file() and (tmp_path / "lava" / "run_network.py").is_file()
    assert not (tmp_path / "m.net").exists()
    assert f"wrote nir: {tmp_path / 'm.nir'}" in out.out
    out = cli(capsys, "export", tmp_path / "run", "--nir", "--netx", "--json")
    assert out.code == 3
    result = json.loads(out.out)
    assert set(result["written"]) == {"nir"} and set(result["refused"]) == {"netx"}
    assert sorted(p.name for p in (tmp_path / "run" / "exports").iterdir()) == ["model.nir"]
    # Only refusals: nothing written, exit 2, one line per refused format.
    assert_clean_failure(cli(capsys, "export", tmp_path / "run", "--netx", tmp_path / "n.net"), "--netx-compatible")


def test_help_has_examples(capsys):
    for command in ("import-nir", "export"):
        out = cli(capsys, command, "--help")
        assert out.code == 0 and "examples:" in out.out and f"neurorecon {command}" in out.out


def test_import_nir_bad_inputs(capsys, nir_dir, tmp_path):
    (tmp_path / "junk.nir").write_text("not a graph")
    (tmp_path / "file").write_text("")
    np.savez(tmp_path / "wrong.npz", X=np.zeros((2, 5, 3), np.uint8))
    good = nir_dir / "lif_norse.nir"
    base = ["import-nir", "--out", tmp_path / "run"]
    assert_clean_failure(cli(capsys, *base, tmp_path / "absent.nir"), "does not exist")
    assert_clean_failure(cli(capsys, *base, tmp_path / "junk.nir"), "not readable as HDF5")
    assert_clean_failure(cli(capsys, *base, good, "--profile", "loihi9"), "unknown profile")
    delay = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([3])}), nir.Delay(delay=np.full(3, 2e-4)),
                                   nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3)),
                                   nir.Output(output_type={"output": np.array([3])}))
    nir.write(tmp_path / "delay.nir", delay)
    assert_clean_failure(cli(capsys, *base, tmp_path / "delay.nir", "--profile", "loihi1"),
                         "profile loihi1 holds no synaptic delays")
    assert_clean_failure(cli(capsys, *base, tmp_path / "delay.nir", "--dt", "1.5e-4"), "not a whole number of steps")
    assert_clean_failure(cli(capsys, *base, tmp_path / "delay.nir", "--dt", "1e-6"),
                         "profile loihi2 holds synaptic delays up to 63 steps")
    assert_clean_failure(cli(capsys, *base, nir_dir / "braille_noDelay_bias_zero_subgraph.nir"), "the file is malformed")
    assert_clean_failure(cli(capsys, *base, good, "--data", tmp_path / "wrong.npz"), "inputs per step")
    assert_clean_failure(cli(capsys, *base, good, "--dt", "0"), "dt must be")
    assert_clean_failure(cli(capsys, *base, good, "--source", "snntorch"), "invalid choice")
    assert_clean_failure(cli(capsys, "import-nir", good, "--out", tmp_path / "file"), "it is a file")
    assert_clean_failure(cli(capsys, "import-nir", good), "required")
    assert not (tmp_path / "run").exists()


def test_export_bad_inputs(capsys, nir_dir, tmp_path):
    assert cli(capsys, "import-nir", nir_dir / "lif_norse.nir", "--out", tmp_path / "run").code == 0
    run = tmp_path / "run"
    assert_clean_failure(cli(capsys, "export", run), "nothing to export")
    assert_clean_failure(cli(capsys, "export", tmp_path / "absent", "--nir", tmp_path / "m.nir"), "no Network file")
    (tmp_path / "afile").write_text("x")
    assert_clean_failure(cli(capsys, "export", run, "--nir", tmp_path / "afile" / "m.nir"), "cannot create")
    assert_clean_failure(cli(capsys, "export", run, "--lava", tmp_path / "afile" / "lava"), "cannot create")
    assert_clean_failure(cli(capsys, "export", run / "network.h5", "--nir"), "needs a path")
    assert_clean_failure(cli(capsys, "export", run, "--nir", tmp_path / "m.nir", "--dt", "-1"), "dt must be")
    float_run = tmp_path / "float"
    assert cli(capsys, "import-nir", nir_dir / "lif_norse.nir", "--profile", "float", "--out", float_run).code == 0
    assert_clean_failure(cli(capsys, "export", float_run, "--netx", tmp_path / "f.net"), "quantize the float network first")
