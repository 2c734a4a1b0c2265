"""Training's unit of work, run in this process or on a Dask cluster, and kept for resuming.

A block is a pure function of its arguments (e.g. one witness block simulated on one sample
block: :func:`neurorecon.train.convex.dictionary.block_features`), named by a content key: a hash
of the witnesses' parameters and of the data it reads. Because blocks are pure and their results
exact integers, the result of a run does not depend on where blocks ran, in which order, on how
many workers, or whether some were recomputed after a worker died (Dask recomputes the lost ones).

:class:`BlockStore` keeps finished blocks as files in the run directory (written atomically as
each one completes), so an interrupted run loses at most the blocks in flight and ``--resume``
reuses the rest. Results may also stay where they were made (``Engine.map(keep=True)``): futures
on the cluster's workers, or, in process with a spill store, block files read back when used.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from neurorecon._atomic import atomic_path
from neurorecon._progress import ProgressOption, as_progress
from neurorecon.errors import NeuroreconError
from neurorecon.simulate.arrays import array_ops
from neurorecon.train.cluster import Cluster, connect, parse_memory_limit


def content_key(*parts) -> str:
    """A hex digest of arrays, numbers, strings and None (nested in tuples/lists), by value."""
    h = hashlib.sha256()

    def feed(x) -> None:
        if isinstance(x, np.ndarray):
            h.update(f"a{x.dtype.str}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (tuple, list)):
            h.update(f"l{len(x)}".encode())
            for item in x:
                feed(item)
        elif x is None or isinstance(x, (str, int, float, bool, np.integer, np.floating)):
            h.update(f"s{type(x).__name__}:{x!r};".encode())
        else:
            raise TypeError(f"content_key cannot hash {type(x).__name__}")

    for part in parts:
        feed(part)
    return h.hexdigest()[:40]


class BlockStore:
    """Finished blocks as ``<key>.npz`` files in one directory (a run's ``blocks/``)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def clear(self) -> None:
        """Start over: forget every stored block."""
        if self.directory.is_dir():
            shutil.rmtree(self.directory)

    def keys(self) -> list[str]:
        """Keys of the finished blocks (a write cut short leaves only a hidden temporary file)."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.npz") if not p.name.startswith("."))

    def count(self) -> int:
        return len(self.keys())

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.directory / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path) as f:
                return {name: f[name] for name in f.files}
        except (OSError, ValueError, zipfile.BadZipFile):  # unreadable: compute it again
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        with atomic_path(self.directory / f"{key}.npz") as tmp:
            np.savez(tmp, **arrays)  # by path, not an open file: see neurorecon._atomic


@dataclass(frozen=True)
class StoredBlock:
    """A finished block kept in a block store instead of in memory: read back when used."""

    store: BlockStore
    key: str

    def load(self) -> dict[str, np.ndarray]:
        value = self.store.get(self.key)
        if value is None:
            raise NeuroreconError(f"the stored block {self.key} in {self.store.directory} is missing or unreadable")
        return value


def local(handle) -> dict[str, np.ndarray]:
    """A block result held in this process: the result itself, or a stored one read back."""
    return handle.load() if isinstance(handle, StoredBlock) else handle


TASK_RETRIES = 3  # a block whose worker died is run again, at most this many times


def _data(array: np.ndarray) -> np.ndarray:
    """A task whose result is its argument: data a cluster can re-make after losing a worker."""
    return array


def _lost_errors() -> tuple[type, ...]:
    """Exceptions meaning a block's result was lost (its worker died), not that the block failed."""
    from concurrent.futures import CancelledError

    from distributed.comm import CommClosedError

    return CancelledError, CommClosedError


class Engine:
    """Runs blocks in this process or on a Dask cluster, reusing and filling a block store.

    ``backend``/``device``: the simulation backend of the blocks (``"emulator"``, or ``"torch"``
    on ``"cpu"``/``"cuda"``). ``memory_limit`` (bytes, or a string such as ``"4GB"``; default a
    fraction of the machine's memory) sizes the blocks and bounds each local worker.
    ``on_block(done, total)`` is called after every finished block (progress, tests). ``spill``:
    a block store where, in process, blocks kept by :meth:`map` wait on disk instead of in memory
    (a dictionary larger than the memory limit).
    """

    def __init__(self, cluster=None, store: BlockStore | None = None, backend: str = "emulator",
                 device: str | None = None, memory_limit=None, on_block: Callable[[int, int], None] | None = None,
                 spill: BlockStore | None = None):
        self.memory_limit = parse_memory_limit(memory_limit)
        if backend not in ("emulator", "torch"):
            raise NeuroreconError(f"blocks are simulated with 'emulator' or 'torch'; got {backend!r}")
        array_ops(backend, device)  # a bad or missing device fails here, before any work
        self.backend, self.device = backend, device
        self.store = store
        self.spill = spill
        self.on_block = on_block
        self.cluster: Cluster = connect(cluster, self.memory_limit)
        self.computed = 0
        self.reused = 0

    @property
    def client(self):
        return self.cluster.client

    def close(self) -> None:
        self.cluster.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def share(self, array: np.ndarray):
        """A handle on ``array`` for blocks to read: the array, or a Dask future of a task that
        holds it (not scattered data: a task's result lost with its worker is made again)."""
        if self.client is None:
            return array
        return self.client.submit(_data, array, key=f"neurorecon-data-{content_key(array)}", retries=TASK_RETRIES)

    @property
    def where(self) -> str:
        """Where blocks kept by :meth:`map` stay: ``"workers"``, ``"disk"`` or ``"memory"``."""
        return "workers" if self.client is not None else ("disk" if self.spill is not None else "memory")

    @property
    def solver_device(self) -> str | None:
        """The torch device where the solver's dense products run: the blocks' device when the
        dictionary is held in this process's memory, else None (numpy, where the blocks live)."""
        return self.device if self.backend == "torch" and self.where == "memory" else None

    def map(self, fn: Callable[..., dict[str, np.ndarray]], tasks: Sequence[tuple[str, tuple]],
            progress: ProgressOption = None, what: str = "blocks", keep: bool = False) -> list:
        """``fn(*args)`` for each ``(key, args)``; stored blocks are reused, new ones stored.
        ``progress`` reports the blocks computed here as they finish.

        ``keep``: the results stay where they were made: Dask futures on a cluster (with a block
        store each is fetched once, to be stored, and dropped here); in process with ``spill``,
        :class:`StoredBlock` handles; otherwise the results themselves."""
        # in process, kept blocks wait on disk only with a spill store (where the block store, if
        # any, already holds them); otherwise they stay in memory, not written and read back
        spill = (self.store or self.spill) if keep and self.client is None and self.spill is not None else None
        results: list = [None] * len(tasks)
        todo = []
        for i, (key, args) in enumerate(tasks):
            cached = self.store.get(key) if self.store is not None else None
            if cached is None:
                todo.append(i)
            else:
                results[i] = StoredBlock(self.store, key) if spill is not None else cached
                self.reused += 1
        done = len(tasks) - len(todo)

        def finished(i: int, value: dict | None, handle=None) -> None:
            nonlocal done
            if self.store is not None:
                self.store.put(tasks[i][0], value)
            elif spill is not None:
                spill.put(tasks[i][0], value)
            results[i] = handle if handle is not None else (StoredBlock(spill, tasks[i][0]) if spill else value)
            self.computed += 1
            done += 1
            if self.on_block is not None:
                self.on_block(done, len(tasks))

        if self.client is None:
            for i in as_progress(progress).steps(todo, len(todo), what):
                finished(i, fn(*tasks[i][1]))
            return results
        from distributed import as_completed

        attempts = dict.fromkeys(todo, 0)

        def submit(i: int):
            key, args = tasks[i]
            return self.client.submit(fn, *args, key=f"neurorecon-{key}-{attempts[i]}", retries=TASK_RETRIES)

        futures = {submit(i): i for i in todo}
        pending = as_completed(list(futures))
        try:
            for future in as_progress(progress).steps(pending, len(todo), what):
                i = futures.pop(future)
                try:  # a kept block is fetched only to be stored
                    fetch = not keep or self.store is not None or future.status != "finished"
                    value = future.result() if fetch else None
                except _lost_errors() as exc:  # lost with a worker before it reached us: run it again
                    attempts[i] += 1
                    if attempts[i] > TASK_RETRIES:
                        raise NeuroreconError(f"a block was lost {attempts[i]} times on the cluster: {exc}") from None
                    retry = submit(i)
                    futures[retry] = i
                    pending.add(retry)
                    future.release()
                    continue
                if not keep:
                    future.release()
                finished(i, value, future if keep else None)
        finally:
            for future in futures:
                future.release()
        return results

    def describe(self) -> dict:
        """What the run reports: the cluster, the backend (and where the solver's products ran), the
        blocks computed and reused."""
        return {"cluster": dict(self.cluster.description), "backend": self.backend, "device": self.device,
                "solver_device": self.solver_device, "memory_limit_bytes": self.memory_limit,
                "blocks_computed": self.computed, "blocks_reused": self.reused}

    def worker_peak_memory(self) -> list[int]:
        """Peak resident memory (bytes) of each worker process, or [] in process."""
        if self.client is None:
            return []
        try:
            return sorted(self.client.run(peak_resident_memory).values())
        except Exception:  # a worker going away at the end is not worth failing a finished run for
            return []


def peak_resident_memory() -> int:
    """Peak resident memory of this process in bytes (``getrusage``; Linux reports KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

