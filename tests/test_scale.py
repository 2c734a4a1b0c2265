"""Training at scale: Dask clusters, resumable runs, the memory limit (small problems, 2 workers)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from clitools import assert_clean_failure, cli
from distributed import Client, LocalCluster

import neurorecon as nr
from neurorecon.data import load_data
from neurorecon.readout import Readout
from neurorecon.train.blocks import BlockStore, Engine
from neurorecon.train.convex.classifier import ReconstructionClassifier
from neurorecon.train.convex.dictionary import Dictionary

SMALL = ["--T", "6", "--n-train", "300", "--n-test", "100", "--witnesses", "200", "--rounds", "1"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    ds = load_data("first-last-xor", T=6, n_train=240, n_test=10)
    return ds.X_train, ds.y_train


def _fit(X, y, **kw):
    return ReconstructionClassifier(n_witnesses=150, seed=3, column_generation_rounds=1, candidates_per_round=60,
                                    n_betas=3, **kw).fit(X, y)


def assert_same_network(a: nr.Network, b: nr.Network):
    assert a.sizes == b.sizes
    for la, lb in zip(a.layers, b.layers):
        for name in ("weights", "du", "dv", "vth", "bias_mant", "bias_exp"):
            np.testing.assert_array_equal(getattr(la, name), getattr(lb, name), err_msg=name)
        assert la.weight_exp == lb.weight_exp


def test_same_network_in_process_and_on_a_cluster_for_any_block_shape(client, data):
    X, y = data
    reference = _fit(X, y)
    assert reference.report_["engine"]["cluster"]["kind"] == "in-process"
    distributed = _fit(X, y, cluster=client, memory_limit="1MB")  # many small blocks on 2 workers
    engine = distributed.report_["engine"]
    assert engine["cluster"] == {"kind": "client", "address": client.scheduler.address, "workers": 2}
    assert engine["blocks_computed"] > reference.report_["engine"]["blocks_computed"]
    assert len(engine["worker_peak_rss_bytes"]) == 2 and min(engine["worker_peak_rss_bytes"]) > 0
    assert_same_network(reference.network_, distributed.network_)


def test_a_killed_worker_has_its_blocks_recomputed(client):
    rng = np.random.default_rng(0)
    X = (rng.random((400, 12, 6)) < 0.3).astype(np.uint8)
    layer = nr.LIFLayer(rng.integers(-200, 200, (300, 6)), du=rng.integers(0, 4096, 300), dv=100, vth=300)
    readouts = [Readout("count"), Readout("last")]
    expected = Dictionary(X, 12, 0, readouts, "fixed").features(layer)
    before = set(client.run(os.getpid).values())
    killed = []

    def kill_one(done, total):
        if not killed:  # after the first finished block, SIGKILL one worker process
            pid = sorted(client.run(os.getpid).values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    engine = Engine(client, memory_limit="1MB", on_block=kill_one)
    dictionary = Dictionary(X, 12, 0, readouts, "fixed", engine)
    assert dictionary.witness_block < 300 and dictionary.sample_block < 400  # several blocks each way
    got = dictionary.features(layer)
    for kind in expected:
        np.testing.assert_array_equal(got[kind], expected[kind])
    assert killed and killed[0] in before
    deadline = time.time() + 30
    while killed[0] in set(client.run(os.getpid).values()) and time.time() < deadline:
        time.sleep(0.5)
    assert killed[0] not in set(client.run(os.getpid).values())


def test_local_cluster_option_and_metrics(capsys, tmp_path):
    out = cli(capsys, "train", "first-last-xor", "--out", tmp_path / "run", *SMALL, "--cluster", "local:2", "--json")
    assert out.code == 0, out.err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["cluster"]["kind"] == "local" and metrics["cluster"]["workers"] == 2
    assert metrics["peak_rss_bytes"] > 0 and metrics["dictionary_bytes"] > 0
    assert metrics["engine"]["blocks_computed"] > 0 and metrics["engine"]["blocks_reused"] == 0
    assert not (tmp_path / "run" / "blocks").exists()  # a finished run keeps no blocks


def test_unreachable_scheduler_fails_fast_and_clearly(capsys, tmp_path):
    start = time.time()
    out = cli(capsys, "train", "first-last-xor", "--out", tmp_path / "run", *SMALL, "--cluster", "tcp://127.0.0.1:9")
    assert time.time() - start < 60
    assert_clean_failure(out, "cannot reach the Dask scheduler at tcp://127.0.0.1:9")


@pytest.mark.parametrize("option, value, message", [
    ("--cluster", "local:0", "N >= 1"), ("--cluster", "local:two", "N >= 1"), ("--cluster", "spark", "tcp://HOST:PORT"),
    ("--cluster", "tcp://host", "tcp://HOST:PORT"), ("--memory-limit", "lots", "memory limit must be"),
    ("--memory-limit", "-2GB", "memory limit must be"), ("--memory-limit", "0", "positive"),
    ("--memory-limit", "10KB", "below 1 MB"), ("--memory-limit", "1MB", "exceeds the memory limit"),
    ("--device", "tpu", "invalid choice"),
])
def test_bad_scale_options(capsys, tmp_path, option, value, message):
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "r", *SMALL, "--witnesses",
                             "5000", f"{option}={value}"), message)


def test_scale_options_need_a_convex_method_and_cuda(capsys, tmp_path):
    assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "r", "--method", "sg",
                             "--resume"), "are for --method cvx and sg-cvx")
    import torch

    if not torch.cuda.is_available():
        assert_clean_failure(cli(capsys, "train", "first-last-xor", "--out", tmp_path / "r", *SMALL, "--device",
                                 "cuda"), "torch.cuda is not available")
    with pytest.raises(nr.NeuroreconError, match="cluster must be"):
        ReconstructionClassifier(cluster=4).fit(np.zeros((20, 3, 2), np.uint8), np.arange(20) % 2)


def _child(args, **kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + sys.path))
    return subprocess.Popen([sys.executable, "-m", "neurorecon", "train", "first-last-xor", *SMALL, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _wait_for_blocks(store: BlockStore, proc, at_least: int) -> None:
    deadline = time.time() + 240
    while store.count() < at_least and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"


def test_resume_after_sigkill_reuses_finished_blocks(tmp_path):
    run = tmp_path / "run"
    store = BlockStore(run / "blocks")
    args = ["--out", str(run), "--memory-limit", "1MB", "--seed", "5"]
    proc = _child(args)
    _wait_for_blocks(store, proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    kept = store.count()
    assert kept >= 3 and all(store.get(key) is not None for key in store.keys())  # every kept block is whole
    resumed = _child(args + ["--resume"])
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    reused = json.loads((run / "metrics.json").read_text())["engine"]["blocks_reused"]
    assert reused >= kept and f"{reused} reused" in out
    fresh = _child(["--out", str(tmp_path / "fresh"), "--memory-limit", "1MB", "--seed", "5"])
    assert fresh.wait(600) == 0
    assert_same_network(nr.Network.load(run), nr.Network.load(tmp_path / "fresh"))


def test_sigint_stops_cleanly_and_names_the_resume_command(tmp_path):
    run = tmp_path / "run"
    # a user's Ctrl-C reaches a process whose SIGINT is at its default; ours may have inherited it
    # ignored (a job started in the background by a non-interactive shell), and so would the child
    proc = _child(["--out", str(run), "--memory-limit", "1MB", "--cluster", "local:2"],
                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_blocks(BlockStore(run / "blocks"), proc, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = [line for line in err.splitlines() if not line.startswith("[neurorecon]")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "interrupted" in lines[0] and f"--out {run}" in lines[0] and lines[0].endswith("--resume")
