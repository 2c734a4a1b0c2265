"""A Lava run leaves no process behind: SIGTERM or SIGKILL of the command, or a dead Lava worker,
ends every process within seconds (issue 14, item 2). Real processes, real signals, bounded time."""

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

import neurorecon as nr
from neurorecon.errors import NeuroreconError

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read Linux /proc")

START_S = 180  # the Lava child and its workers start (minutes on a loaded machine)
END_S = 15  # every process is gone within this after the signal


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _group(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def _lava_group(cli_pid: int) -> tuple[int, list[int]]:
    """The Lava child of ``cli_pid`` (leader of its own group) once its workers run."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            fields = _stat(int(entry.name)) if entry.name.isdigit() else None
            if fields and int(fields[1]) == cli_pid and int(fields[2]) == int(entry.name):
                workers = [p for p in _group(int(entry.name)) if p != int(entry.name) and _is_worker(p)]
                if len(workers) >= 2:
                    return int(entry.name), workers
        time.sleep(0.2)
    pytest.fail("the Lava child did not start its workers in time")


def _is_worker(pid: int) -> bool:
    try:
        return b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _gone_within(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _group(pgid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def long_run(tmp_path):
    """A Lava simulation that runs for minutes: X of shape (4, 3000, 4)."""
    rng = np.random.default_rng(0)
    net = nr.Network([nr.LIFLayer(rng.integers(-100, 100, (6, 4)), du=10, dv=5, vth=20),
                      nr.LIFLayer(rng.integers(-100, 100, (2, 6)), du=4095, dv=0, vth=2**17 - 1)])
    net.save(tmp_path / "model.h5")
    np.savez(tmp_path / "long.npz", X=(rng.random((4, 3000, 4)) < 0.3).astype(np.uint8))
    command = [sys.executable, "-m", "neurorecon", "simulate", tmp_path / "model.h5", "--input", tmp_path / "long.npz",
               "--out", tmp_path / "o.npz", "--backend", "lava", "--quiet"]
    proc = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        yield proc, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_sigterm_of_the_command_ends_every_lava_process(long_run):
    proc, tmp = long_run
    child, _ = _lava_group(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(END_S) == 128 + signal.SIGTERM
    assert _gone_within(child, END_S)
    assert proc.stderr.read().strip() == "neurorecon: terminated"
    assert sorted(p.name for p in tmp.iterdir()) == ["long.npz", "model.h5"]  # no output, no temporary file


def test_sigkill_of_the_command_ends_every_lava_process(long_run):
    proc, _ = long_run
    child, _ = _lava_group(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(END_S)
    assert _gone_within(child, END_S)  # the child watches its parent


def test_a_dead_lava_worker_ends_the_run_with_one_clear_line(long_run):
    proc, tmp = long_run
    child, workers = _lava_group(proc.pid)
    os.kill(workers[-1], signal.SIGKILL)
    assert proc.wait(END_S) == 2
    assert _gone_within(child, END_S)
    err = proc.stderr.read()
    assert "Lava worker" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp / "o.npz").exists()


def test_the_lava_timeout_is_an_option_with_checked_values(capsys, tmp_path):
    rng = np.random.default_rng(0)
    net = nr.Network([nr.LIFLayer(rng.integers(-100, 100, (2, 4)), du=10, dv=5, vth=20)])
    net.save(tmp_path / "m.h5")
    np.savez(tmp_path / "x.npz", X=np.ones((1, 3, 4), np.uint8))
    base = ["simulate", tmp_path / "m.h5", "--input", tmp_path / "x.npz", "--out", tmp_path / "o.npz", "--backend", "lava",
            "--quiet"]
    for bad in ("0", "-1", "inf", "nan", "soon"):
        assert_clean_failure(cli(capsys, *base, "--lava-timeout", bad), "--lava-timeout")
    for bad in (0, -1.0, float("nan"), "soon"):
        with pytest.raises(NeuroreconError, match="timeout"):
            nr.simulate(net, np.ones((1, 3, 4)), backend="lava", timeout=bad)
    out = cli(capsys, *base, "--lava-timeout", "0.05")  # far too short for Lava to start
    assert_clean_failure(out, "did not finish within 0.05 s")
    assert not (tmp_path / "o.npz").exists()
    assert json.loads(cli(capsys, *base, "--lava-timeout", "300", "--json").out)["backend"] == "lava"


def _watch_in_a_fresh_process(reap: bool, conn) -> None:
    """Fork two sleeping 'workers', kill one (reaping it or not), report what the watch says."""
    from neurorecon.simulate import lava_backend

    lava_backend._WorkerWatch.GRACE = 0.5
    watch = lava_backend._WorkerWatch()
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
    watch.problem()  # sees both workers
    os.kill(pids[0], signal.SIGKILL)
    if reap:  # as multiprocessing does when it starts another process
        os.waitpid(pids[0], 0)
    deadline, problem = time.monotonic() + 10, None
    while problem is None and time.monotonic() < deadline:
        time.sleep(0.1)
        problem = watch.problem()
    os.kill(pids[1], signal.SIGKILL)
    conn.send(problem)


@pytest.mark.parametrize("reap", [False, True])
def test_the_worker_watch_sees_a_killed_worker_reaped_or_not(reap):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    proc = context.Process(target=_watch_in_a_fresh_process, args=(reap, sender))
    proc.start()
    assert receiver.poll(30)
    problem = receiver.recv()
    proc.join(10)
    assert problem is not None
    assert ("waited for it" if reap else "killed by signal 9") in problem, problem


def _sleep() -> None:
    time.sleep(60)


def _unseen_kill_in_a_fresh_process(conn) -> None:
    """A worker killed and reaped by multiprocessing before the watch's first look at it."""
    import multiprocessing

    from neurorecon.simulate import lava_backend

    watch = lava_backend._WorkerWatch()
    watch.record_exits()
    context = multiprocessing.get_context("fork")
    first = context.Process(target=_sleep, daemon=True)
    first.start()
    os.kill(first.pid, signal.SIGKILL)
    while first.is_alive():  # multiprocessing reaps it, as when Lava starts its next worker
        time.sleep(0.01)
    second = context.Process(target=_sleep, daemon=True)
    second.start()
    conn.send(watch.problem())
    second.kill()


def test_the_worker_watch_sees_a_worker_reaped_before_it_looked():
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    proc = context.Process(target=_unseen_kill_in_a_fresh_process, args=(sender,))
    proc.start()
    assert receiver.poll(30)
    problem = receiver.recv()
    proc.join(10)
    assert problem is not None and "killed by signal 9" in problem, problem
