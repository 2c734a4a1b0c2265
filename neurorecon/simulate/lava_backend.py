"""Run a Network on real Lava processes (``Loihi2SimCfg``; ``Loihi2HwCfg`` with lava-loihi).

The processes are built by :mod:`neurorecon.simulate.lava_network`, the one construction the
exported script ships too; this module turns a Network into its layer arrays
(:func:`lava_layers`), runs batches, and assembles a :class:`SimulationResult` laid out as the
emulator's. Every batch runs in a forked child process with a timeout: a failing Lava worker
otherwise hangs ``run()`` forever (SPEC section 8). The child and Lava's workers form their own
process group, killed whole on timeout, on an error, when a worker dies, and when the parent
ends (the child watches its parent, so even a SIGKILL of the parent leaves no process behind).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Sequence

import numpy as np

from neurorecon._progress import ProgressOption, as_progress
from neurorecon.convolution import ConvGeometry, conv_geometry, read_kernel
from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.simulate import LAVA_TIMEOUT, lava_network
from neurorecon.simulate.result import SimulationResult, check_record_memory

WATCH_INTERVAL = 0.2  # seconds between the parent's and the child's checks on each other


def import_lava() -> None:
    """Import lava-nc (applying the Python 3.11 fix first) or raise a clear error."""
    try:
        lava_network.import_lava()
    except lava_network.LavaBuildError:
        raise NeuroreconError(
            "the Lava backend needs lava-nc 0.10.0, which is not installed; "
            "run `make setup` (it installs lava-nc with the Python 3.11 fix)"
        ) from None


def _dense_arrays(prefix: str, dense: Dense, fixed: bool) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}weights": dense.weights, f"{prefix}num_message_bits": np.array(dense.num_message_bits)}
    if dense.delays is not None:
        arrays[f"{prefix}delays"] = dense.delays
    if fixed:
        arrays.update({
            f"{prefix}weight_exp": np.array(dense.weight_exp),
            f"{prefix}num_weight_bits": np.array(dense.num_weight_bits),
            f"{prefix}sign_mode": np.array(dense.resolved_sign_mode()),
        })
    return arrays


def _run_geometry(ops: list[dict]) -> ConvGeometry | None:
    """The one convolution a run of imported nodes applies: a Conv2d, or non-overlapping sum pools
    then a Conv2d with groups = dilation = 1 (a pool of stride k then a kernel K is a kernel
    k + (K - 1) k of stride k S), each optionally followed by Flattens; else None."""
    kinds = [op["type"] for op in ops]
    while kinds and kinds[-1] == "Flatten":
        kinds.pop()
    if not kinds or kinds[-1] != "Conv2d":
        return None
    conv = conv_geometry(ops[len(kinds) - 1])
    pools = ops[:len(kinds) - 1]
    if not pools:
        return conv
    if conv.groups != 1 or conv.dilation != (1, 1) or any(
            op["type"] != "SumPool2d" or op["stride"] != op["kernel_size"] or any(op["padding"]) for op in pools):
        return None
    kernel, stride, padding = np.array(conv.weight_shape[2:]), np.array(conv.stride), np.array(conv.padding)
    for op in reversed(pools):
        k = np.array(op["kernel_size"])
        kernel, stride, padding = k + (kernel - 1) * k, stride * k, padding * k
    return ConvGeometry(tuple(pools[0]["in_shape"]), conv.weight_shape[:2] + tuple(int(v) for v in kernel),
                        tuple(int(v) for v in stride), tuple(int(v) for v in padding))


def _conv_arrays(layer: LIFLayer, ops: list[dict] | None, fixed: bool, max_payload: float) -> dict[str, np.ndarray]:
    """Lava ``Conv`` process arrays for a layer whose matrix is exactly a convolution, or {} (Dense).

    Lava 0.10's fixed-point Conv model applies no weight exponent, no weight clipping or
    truncation, and clamps its output to 24 bits: the kernel is the Dense's effective weights
    shifted by a non-negative ``weight_exp``, used only where the clamp can never act. It needs
    one LIF process (one (du, dv, vth) group), no recurrence and no synaptic delays.
    """
    geometry = _run_geometry(ops) if ops else None
    if geometry is None or layer.recurrent is not None or layer.dense.delays is not None or len(layer.groups()) > 1:
        return {}
    if fixed:
        if layer.weight_exp < 0:
            return {}
        weights = layer.dense.effective_weights().astype(np.int64) << layer.weight_exp
    else:
        weights = layer.weights
    kernel = read_kernel(weights, geometry, exact=True)
    if weights.shape != (int(np.prod(geometry.taps()[3])), int(np.prod(geometry.in_shape))) or not np.array_equal(
            geometry.matrix(kernel).toarray(), weights):
        return {}
    if fixed and float(np.abs(weights).sum(axis=1).max(initial=0)) * max_payload >= lava_network.CONV_OUTPUT_LIMIT:
        return {}
    lava_order = kernel.transpose(0, 3, 2, 1)[:, ::-1, ::-1]  # (C_out, W, H, C_in), flipped: Lava convolves
    return {"conv_weight": np.ascontiguousarray(lava_order.astype(np.int64) if fixed else lava_order),
            "conv_in_shape": np.array(geometry.in_shape), "conv_stride": np.array(geometry.stride),
            "conv_padding": np.array(geometry.padding), "conv_dilation": np.array(geometry.dilation),
            "conv_groups": np.array(geometry.groups)}


def _layer_arrays(layer: LIFLayer, fixed: bool, ops: list[dict] | None, max_payload: float) -> dict[str, np.ndarray]:
    arrays = {"du": layer.du, "dv": layer.dv, "vth": layer.vth, "bias_mant": layer.bias_mant,
              "bias_exp": layer.bias_exp if fixed else np.zeros(layer.n_neurons)}
    arrays.update(_dense_arrays("", layer.dense, fixed))
    if layer.recurrent is not None:
        arrays.update(_dense_arrays("rec_", layer.recurrent, fixed))
    arrays.update(_conv_arrays(layer, ops, fixed, max_payload))
    return {key: np.asarray(value) for key, value in arrays.items()}


def lava_layers(net: Network) -> list[dict[str, np.ndarray]]:
    """The layer arrays :mod:`~neurorecon.simulate.lava_network` builds ``net`` from (its own arithmetic).

    A layer imported from a convolution (the import report's ``structure``) that Lava's ``Conv``
    process computes exactly runs on it (``conv_*`` arrays); every other layer on ``Dense``.
    """
    imported = (net.metadata.get("nir_import") or {}).get("layers") or []
    bits = net.layers[0].num_message_bits
    payloads = [2.0**bits - 1 if bits else 1.0] + [1.0] * (net.n_layers - 1)
    return [_layer_arrays(layer, net.arithmetic == "fixed", imported[i].get("structure") if i < len(imported) else None,
                          payloads[i]) for i, layer in enumerate(net.layers)]


def _children() -> set[int]:
    """This process's children (Lava's workers and multiprocessing's resource tracker), from /proc."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            pids.update(int(p) for p in task.read_text().split())
        except (OSError, ValueError):
            continue
    return pids


def _is_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # gone already: not a worker to watch


class _WorkerWatch:
    """Notices a Lava worker's death, which otherwise leaves Lava's run() waiting forever.

    A worker killed by a signal or failing is seen as a zombie (``waitid`` with ``WNOWAIT`` leaves
    it to Lava to reap). When something else reaped it first (multiprocessing reaps finished
    children whenever it starts another), the death shows as a worker gone while others run on:
    Lava stops its workers one after another, so ``GRACE`` seconds without another one ending
    means the run is stuck. A worker killed and reaped between two checks is never seen at all,
    so :meth:`record_exits` also hooks multiprocessing's reaping to note every failed exit.
    """

    GRACE = 5.0

    def __init__(self) -> None:
        self.workers: set[int] = set()
        self.gone: set[int] = set()
        self.finished: set[int] = set()
        self.last_gone = 0.0
        self.failed_exits: list[tuple[int, int]] = []

    def record_exits(self) -> None:
        """Note each child multiprocessing reaps with a failure (in the forked child only)."""
        from multiprocessing import popen_fork

        reap = popen_fork.Popen.poll
        failed_exits = self.failed_exits

        def noting_poll(popen, flag=os.WNOHANG):
            code = reap(popen, flag)
            if code:
                failed_exits.append((popen.pid, code))
            return code

        popen_fork.Popen.poll = noting_poll

    def problem(self) -> str | None:
        if self.failed_exits:
            pid, code = self.failed_exits[0]
            return (f"a Lava worker (pid {pid}) was killed by signal {-code}" if code < 0
                    else f"a Lava worker (pid {pid}) exited with code {code}")
        current = _children()
        self.workers |= {pid for pid in current - self.workers if not _is_tracker(pid)}
        for pid in sorted(self.workers & current):
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                continue
            if info is not None and info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
                return f"a Lava worker (pid {pid}) was killed by signal {info.si_status}"
            if info is not None and info.si_status != 0:
                return f"a Lava worker (pid {pid}) exited with code {info.si_status}"
            if info is not None:
                self.finished.add(pid)  # a normal exit, seen before anyone reaped it
        gone = self.workers - current - self.finished
        if gone - self.gone:
            self.gone, self.last_gone = gone, time.monotonic()
        if self.gone and self.workers - self.gone - self.finished and time.monotonic() - self.last_gone > self.GRACE:
            return (f"a Lava worker (pid {min(self.gone)}) ended while {len(self.workers - self.gone - self.finished)} others "
                    f"waited for it for {self.GRACE:g} s")
        return None


def _watchdog(conn, lock: threading.Lock, parent: int, watch: _WorkerWatch) -> None:
    """In the child: end the whole group (Lava's workers too) when the parent or a worker dies."""
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != parent:
            os.killpg(0, signal.SIGKILL)
        problem = watch.problem()
        if problem is not None:
            with lock:
                try:
                    conn.send(("error", problem))
                finally:
                    os.killpg(0, signal.SIGKILL)


def _child(conn, unused, parent: int, fn, args) -> None:
    os.setsid()  # own process group: the parent, or the watchdog, kills Lava's workers with it
    unused.close()  # the parent's read end: holding it would block our writes forever once the parent is gone
    lock = threading.Lock()
    watch = _WorkerWatch()
    watch.record_exits()
    threading.Thread(target=_watchdog, args=(conn, lock, parent, watch), daemon=True).start()
    try:
        result = ("ok", fn(*args))
    except BaseException as exc:  # reported to the parent, which raises a clear error
        result = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
    with lock:
        conn.send(result)
        conn.close()


def check_timeout(timeout) -> float:
    """A Lava timeout (seconds per batch) must be a positive, finite number."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise NeuroreconError(f"the Lava timeout must be a number of seconds; got {timeout!r}") from None
    if not (0 < value < float("inf")):
        raise NeuroreconError(f"the Lava timeout must be a positive number of seconds; got {timeout!r}")
    return value


def run_isolated(fn, args: tuple, timeout: float, what: str):
    """Run ``fn(*args)`` in a forked child with its own process group; every way out kills the group.

    The child watches its parent and its own workers: if the parent dies (even by SIGKILL) or a
    Lava worker dies, the child kills its whole group within ``WATCH_INTERVAL`` seconds. The parent
    watches the child: a child that dies without a result, a timeout, an exception or a signal in
    the parent (SIGINT, or SIGTERM through the command line's handler) kills the group too.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, receiver, os.getpid(), fn, args), daemon=False)
    child.start()
    sender.close()
    deadline = time.monotonic() + timeout
    try:
        while not receiver.poll(WATCH_INTERVAL):
            if not child.is_alive() and not receiver.poll(0):
                raise NeuroreconError(f"{what} crashed (its process exited without a result, code {child.exitcode})")
            if time.monotonic() > deadline:
                raise NeuroreconError(f"{what} did not finish within {timeout:g} s and was stopped "
                                      "(a longer run needs a larger Lava timeout)")
        try:
            status, payload = receiver.recv()
        except EOFError:
            raise NeuroreconError(f"{what} crashed (its process exited without a result)") from None
    finally:
        receiver.close()
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        child.join(5)
    if status == "error":
        raise NeuroreconError(f"{what} failed: {payload}")
    return payload


def run_lava(
    net: Network,
    x: np.ndarray,
    n_steps: int,
    record: Sequence[str],
    layers: Sequence[int],
    hardware: bool = False,
    timeout: float = LAVA_TIMEOUT,
    progress: ProgressOption = None,
) -> SimulationResult:
    """Simulate ``x`` on Lava, batch by batch (each stopped after ``timeout`` s); same layout as the emulator.

    Only what ``record`` asks for is probed (a Monitor per variable and (du, dv, vth) group costs
    far more than the run itself); the final voltages are read from the LIF processes, always.
    """
    timeout = check_timeout(timeout)
    import_lava()
    if hardware and not lava_network.loihi_runtime_available():
        raise NeuroreconError(
            "backend 'loihi2-hw' needs Intel's Loihi 2 runtime (lava-loihi, available to INRC "
            "members), which is not installed here; backend 'lava' runs the same network "
            "bit-exactly on Lava's CPU simulator"
        )
    if hardware and net.arithmetic != "fixed":
        raise NeuroreconError("backend 'loihi2-hw' runs fixed-point networks only; quantize the network first")
    tag = "fixed_pt" if net.arithmetic == "fixed" else "floating_pt"
    arrays = lava_layers(net)
    try:
        lava_network.check_layers(arrays, tag)
    except lava_network.LavaBuildError as exc:
        raise NeuroreconError(f"the Lava backend cannot run this network: {exc}") from None
    n = x.shape[0]
    derived = {"counts", "final_spikes"} & set(record)
    probed = [var for var in lava_network.RECORDABLE if var in record or (var == "spikes" and derived)]
    batch = lava_network.batch_size(arrays, n)
    dtype = np.int32 if net.arithmetic == "fixed" else np.float64
    sizes = net.sizes
    check_record_memory(sizes, n, n_steps, probed, layers, np.dtype(dtype).itemsize)
    out = {var: [np.zeros((n, n_steps, s), bool if var == "spikes" else dtype) if i in layers and var in probed else None
                 for i, s in enumerate(sizes)] for var in lava_network.RECORDABLE}
    final_v = [np.zeros((n, s), dtype) for s in sizes]
    label = "Loihi 2 run" if hardware else "Lava run"
    starts = range(0, n, batch)
    for start in as_progress(progress).steps(starts, len(starts), f"{label} batches ({batch} samples each)"):
        rows = slice(start, min(start + batch, n))
        part = run_isolated(lava_network.run_batch,
                            (arrays, x[rows], n_steps, tag, hardware, tuple(probed), list(layers)), timeout, label)
        for i in range(len(sizes)):
            final_v[i][rows] = part[f"final_v_{i}"].astype(dtype)
            for var in probed:
                if out[var][i] is not None:
                    values = part[f"{var}_{i}"]
                    out[var][i][rows] = values != 0 if var == "spikes" else values.astype(dtype)
    counts = [None if s is None or "counts" not in derived else s.sum(axis=1, dtype=np.int32) for s in out["spikes"]]
    final_spikes = [None if s is None or "final_spikes" not in derived else s[:, -1] for s in out["spikes"]]
    if derived and "spikes" not in record:
        out["spikes"] = [None] * len(sizes)
    return SimulationResult(
        out["spikes"], out["v"], out["u"], final_v, counts, n_steps, "loihi2-hw" if hardware else "lava", final_spikes
    )
