"""Where training's blocks run: this process, a LocalCluster, or an existing Dask scheduler.

``cluster`` (the ``--cluster`` option, ``ReconstructionClassifier(cluster=...)``) is ``None``
(in process), ``"local:N"`` (a Dask LocalCluster of N worker processes, one thread each, started
and stopped here), a scheduler address ``"tcp://HOST:PORT"`` (a cluster started by
dask-jobqueue, Kubernetes or by hand), or a ``dask.distributed.Client`` the caller already has
(used, never closed). The engine is Dask's; nothing here schedules work itself.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import signal
import threading
from dataclasses import dataclass

from neurorecon.errors import NeuroreconError

CONNECT_TIMEOUT_S = 10  # an unreachable scheduler fails within this (plus Dask's own retry pause)
SCHEMES = ("tcp", "tls")
DEFAULT_MEMORY_FRACTION = 0.5  # of the machine's memory, when no --memory-limit is given
# The memory limit bounds the data a process holds (blocks, the dictionary); a local worker's Dask
# limit adds what the interpreter and its libraries take (Dask pauses a worker at 80 % of it).
WORKER_BASELINE = 1 << 30
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


@dataclass(eq=False)
class Cluster:
    """A connected Dask client (or none: in process) and what the run reports about it."""

    client: object | None
    description: dict
    _owned: tuple = ()  # what close() shuts down (a LocalCluster and its client)

    def close(self) -> None:
        for thing in self._owned:
            try:
                thing.close()
            except Exception:  # shutting down after an interrupt: nothing left to report
                pass
        self._owned = ()


def machine_memory() -> int:
    """Physical memory of this machine in bytes."""
    return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def parse_memory_limit(value) -> int:
    """Bytes from ``"4GB"``, ``"512MiB"``, ``"2e9"``, an int, or a fraction of the machine's memory
    (``"0.25"``: a number below 1); ``None`` gives the default fraction."""
    if value is None:
        return int(DEFAULT_MEMORY_FRACTION * machine_memory())
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if match is None:
            try:
                number, unit = float(value), ""
            except ValueError:
                raise NeuroreconError(f"memory limit must be a size such as 4GB or 512MB, or a fraction "
                                      f"of the machine's memory such as 0.5; got {value!r}") from None
        else:
            number, unit = float(match.group(1)), match.group(2).lower()
    if not number > 0 or number != number:
        raise NeuroreconError(f"memory limit must be positive; got {value!r}")
    if unit == "" and number < 1:
        return int(number * machine_memory())
    size = int(number * 1024 ** " kmgt".index(unit or " "))
    if size < 1 << 20:
        raise NeuroreconError(f"memory limit {value!r} is below 1 MB: no block fits")
    return size


def check_cluster(cluster) -> None:
    """Validate a ``cluster`` value without connecting (bad values fail before any work)."""
    if cluster is None or _is_client(cluster):
        return
    if not isinstance(cluster, str):
        raise NeuroreconError(f"cluster must be 'local:N', a scheduler address (tcp://HOST:PORT) or a "
                              f"dask.distributed.Client; got {cluster!r}")
    if cluster.startswith("local:"):
        count = cluster[len("local:"):]
        if not count.isdigit() or int(count) < 1:
            raise NeuroreconError(f"cluster 'local:N' needs a number of workers N >= 1; got {cluster!r}")
        return
    scheme, _, rest = cluster.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in SCHEMES or not host or not port.isdigit():
        raise NeuroreconError(f"cluster must be 'local:N' or a scheduler address such as tcp://HOST:PORT; "
                              f"got {cluster!r}")


def _is_client(obj) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise NeuroreconError("--cluster needs dask.distributed (installed by `make setup`)") from None
    return distributed


@contextlib.contextmanager
def _starting_workers():
    """Start worker processes (1) with SIGINT ignored, inherited through exec: Ctrl-C stops the run
    in this process, which shuts the workers down, instead of a traceback from every worker; and
    (2) leaving this process's default multiprocessing start method unset, as it was: spawning
    sets it as a side effect, and Lava sets its own at import (it would then fail to import)."""
    method = multiprocessing.get_start_method(allow_none=True)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        if method is None:
            multiprocessing.set_start_method(None, force=True)


def connect(cluster, memory_limit: int) -> Cluster:
    """Connect to ``cluster`` (see the module docstring); ``memory_limit`` bounds each local worker."""
    check_cluster(cluster)
    if cluster is None:
        return Cluster(None, {"kind": "in-process", "workers": 1})
    if _is_client(cluster):
        return Cluster(cluster, {"kind": "client", "address": cluster.scheduler.address,
                                 "workers": len(cluster.scheduler_info()["workers"])})
    distributed = _import_distributed()
    if cluster.startswith("local:"):
        n = int(cluster[len("local:"):])
        logging.getLogger("distributed").setLevel(logging.ERROR)  # Dask's INFO lines are not ours to print
        # nor is the traceback Dask's event loop logs when Ctrl-C cuts a client call short
        # (distributed.utils.sync's cancel callback fails there): the run says it was interrupted
        logging.getLogger("tornado.application").setLevel(logging.CRITICAL)
        with _starting_workers():
            local = distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                             dashboard_address=":0", memory_limit=memory_limit + WORKER_BASELINE,
                                             silence_logs=logging.CRITICAL)
        client = distributed.Client(local)
        return Cluster(client, {"kind": "local", "address": local.scheduler_address, "workers": n}, (client, local))
    try:
        client = distributed.Client(cluster, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise NeuroreconError(f"cannot reach the Dask scheduler at {cluster} within {CONNECT_TIMEOUT_S} s "
                              f"({type(exc).__name__})") from None
    workers = len(client.scheduler_info()["workers"])
    if workers == 0:
        client.close()
        raise NeuroreconError(f"the Dask scheduler at {cluster} has no workers")
    return Cluster(client, {"kind": "scheduler", "address": cluster, "workers": workers}, (client,))
