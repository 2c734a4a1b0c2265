"""A dictionary as row blocks that stay where they were made: in memory, on disk, or on Dask workers.

``D`` (n x P) is held as row blocks ``D_b`` (n_b x P, stacked in order). Every pass the solver
makes over D is a reduction over blocks, each block's part computed where the block lives::

    D^T R = sum_b D_b^T R_b        sum_i D_ip = sum_b sum_{i in b} D_ip        D[:, idx] = [D_b[:, idx]]_b

so only per-block partial results (P x C products, column statistics, a few gathered columns)
travel, never a block. A :class:`RowBlocks` may also stand for a row subset and a column subset
of its blocks (a *view*): each block's task selects its rows and columns before computing, so a
subset never copies the dictionary where it lives (in memory, where copying is cheapest, a subset
is copied once instead). Blocks are read one at a time: a pass over blocks on disk (``.npy``
files, memory-mapped) holds one block.

Stores (where the blocks are): :class:`MemoryBlocks` (arrays), :class:`DeviceBlocks` (arrays
with a copy on a torch device, where the dense products run), :class:`DiskBlocks` (``.npy``
files, memory-mapped), :class:`DaskBlocks` (futures of tasks on a Dask cluster, which are computed
again if a worker dies). A store runs ``fn(block, *args)`` for each block and returns the results
in block order; functions sent to a cluster must be importable module-level functions.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from neurorecon.simulate.arrays import check_device

TASK_RETRIES = 3  # a pass's task whose worker died is run again, at most this many times
# numpy block function -> its twin on a torch tensor of the block (same arguments, same result bits)
_DEVICE_TWINS: dict[Callable, Callable] = {}


def device_twin(numpy_fn: Callable) -> Callable[[Callable], Callable]:
    """Register the decorated function as ``numpy_fn``'s twin on a :class:`DeviceBlocks` block: it
    takes the block as a torch tensor on the device (in the array's dtype), the other arguments as
    they are, and returns what ``numpy_fn`` returns, bit for bit."""
    def register(torch_fn: Callable) -> Callable:
        _DEVICE_TWINS[numpy_fn] = torch_fn
        return torch_fn
    return register


class MemoryBlocks:
    """Blocks as numpy arrays in this process."""

    where = "memory"

    def __init__(self, arrays: Sequence[np.ndarray]):
        self.arrays = list(arrays)

    def run(self, fn: Callable, args: Sequence[tuple]) -> list:
        return [fn(block, *extra) for block, extra in zip(self.arrays, args)]

    def like(self, arrays: Sequence[np.ndarray]) -> "MemoryBlocks":
        """A store of the same kind holding ``arrays`` (a view's copied blocks)."""
        return MemoryBlocks(arrays)


class DeviceBlocks(MemoryBlocks):
    """Blocks as numpy arrays in this process, each also copied (once, when first needed) to a
    torch device (its dtype), where the functions with a registered twin (:func:`device_twin`: the
    solver's dense products) run; every other function runs on the arrays. The twins compute
    float32 products of integers whose every partial sum is below 2^24, in IEEE single precision
    (TF32 off for their duration), so they are exact in any summation order: the same bits as numpy."""

    def __init__(self, arrays: Sequence[np.ndarray], device: str):
        super().__init__(arrays)
        self.device = check_device(device)
        self._tensors: list = [None] * len(self.arrays)

    def run(self, fn: Callable, args: Sequence[tuple]) -> list:
        twin = _DEVICE_TWINS.get(fn)
        if twin is None:
            return super().run(fn, args)
        with _ieee_float32():
            return [twin(self._tensor(b), *extra) for b, extra in enumerate(args)]

    def like(self, arrays: Sequence[np.ndarray]) -> "DeviceBlocks":
        return DeviceBlocks(arrays, str(self.device))

    def _tensor(self, b: int):
        if self._tensors[b] is None:
            import torch
            self._tensors[b] = torch.as_tensor(np.ascontiguousarray(self.arrays[b]), device=self.device)
        return self._tensors[b]


@contextlib.contextmanager
def _ieee_float32() -> Iterator[None]:
    """float32 matrix products in IEEE single precision (not TF32) while inside; restored after."""
    import torch
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(precision)


class DiskBlocks:
    """Blocks as ``.npy`` files, memory-mapped one at a time for each pass. A block may be several
    files side by side (column segments: columns appended later), stacked when it is read."""

    where = "disk"

    def __init__(self, paths: Sequence[str | Path | Sequence[str | Path]]):
        self.paths = [[Path(p)] if isinstance(p, (str, Path)) else [Path(q) for q in p] for p in paths]

    @staticmethod
    def write(directory: str | Path, block: np.ndarray) -> Path:
        """Save ``block`` as a new ``.npy`` file in ``directory``; returns its path."""
        path = Path(directory) / f"block-{uuid.uuid4().hex}.npy"
        np.save(path, block, allow_pickle=False)
        return path

    def run(self, fn: Callable, args: Sequence[tuple]) -> list:
        out = []
        for segments, extra in zip(self.paths, args):
            parts = [np.asarray(np.load(path, mmap_mode="r")) for path in segments]
            block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            del parts
            out.append(fn(block, *extra))
            del block  # the mapping closes before the next block is read
        return out


class DaskBlocks:
    """Blocks as futures on a Dask cluster: one small task per block and pass, results gathered."""

    where = "workers"

    def __init__(self, client, futures: Sequence):
        self.client = client
        self.futures = list(futures)

    def run(self, fn: Callable, args: Sequence[tuple]) -> list:
        tasks = [self.client.submit(fn, future, *extra, pure=False, retries=TASK_RETRIES)
                 for future, extra in zip(self.futures, args)]
        try:
            return self.client.gather(tasks)
        finally:
            for task in tasks:
                task.release()


def take_columns(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``x[:, idx]`` (a copy), gathered along the contiguous axis."""
    if x.flags.f_contiguous and not x.flags.c_contiguous:
        return x.T[idx].T  # whole columns: contiguous copies (10x faster than x[:, idx])
    return x[:, idx]


def select(block: np.ndarray, rows: np.ndarray | None, cols: np.ndarray | None) -> np.ndarray:
    """The rows ``rows`` and columns ``cols`` of a block (None: all); the block itself when both are None."""
    if rows is not None:
        block = block[rows]
    return block if cols is None else take_columns(block, cols)


def _on_view(block: np.ndarray, fn: Callable, rows, cols, *args):
    """A view's task: select the block's part, then compute on it (where the block lives)."""
    return fn(select(block, rows, cols), *args)


class RowBlocks:
    """D (n x P) as row blocks in a store, or a view of its rows and columns.

    ``counts``: the rows of each block; ``n_cols``: the columns of every block. ``rows`` (per
    block: local row indices or None) and ``cols`` (column indices or None) make a view.
    """

    def __init__(self, store, counts: Sequence[int], n_cols: int, dtype, rows: list | None = None,
                 cols: np.ndarray | None = None):
        self.store = store
        self.counts = [int(c) for c in counts]
        self.dtype = np.dtype(dtype)
        self._rows = rows if rows is not None else [None] * len(self.counts)
        self._cols = cols
        self.n_cols = int(n_cols)
        sizes = [c if r is None else len(r) for c, r in zip(self.counts, self._rows)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)  # the view's rows of each block
        self.shape = (int(self.offsets[-1]), self.n_cols if cols is None else len(cols))

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray], device: str | None = None) -> "RowBlocks":
        """In-memory blocks (used in place); with a torch ``device`` ("cpu", "cuda"), the dense
        products run there (:class:`DeviceBlocks`)."""
        return cls._holding(MemoryBlocks(arrays) if device is None else DeviceBlocks(arrays, device))

    @classmethod
    def _holding(cls, store: MemoryBlocks) -> "RowBlocks":
        """All of an in-memory store's blocks."""
        arrays = store.arrays
        return cls(store, [a.shape[0] for a in arrays], arrays[0].shape[1], arrays[0].dtype)

    @property
    def where(self) -> str:
        """Where the blocks live: ``"memory"``, ``"disk"`` or ``"workers"``."""
        return self.store.where

    @property
    def n_blocks(self) -> int:
        return len(self.counts)

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.dtype.itemsize

    def map(self, fn: Callable, args: Sequence[tuple] | None = None) -> list:
        """``fn(D_b, *args[b])`` for each block b of the view, in order, run where the block lives."""
        args = [()] * self.n_blocks if args is None else list(args)
        if self._cols is None and all(r is None for r in self._rows):
            return self.store.run(fn, args)
        return self.store.run(_on_view, [(fn, r, self._cols, *a) for r, a in zip(self._rows, args)])

    def split(self, A: np.ndarray) -> list[np.ndarray]:
        """The rows of ``A`` (n x k, the view's rows) that go with each block."""
        return [A[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def columns(self, idx: np.ndarray) -> np.ndarray:
        """``D[:, idx]`` (n x len(idx), D's dtype): each block's rows of those columns, stacked."""
        parts = self.map(take_columns, [(np.asarray(idx),)] * self.n_blocks)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def rows(self, idx: np.ndarray) -> "RowBlocks":
        """The view of rows ``idx`` (increasing) of this view."""
        idx = np.asarray(idx, dtype=np.intp)
        if idx.ndim != 1 or idx.size == 0 or np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= self.shape[0]:
            raise ValueError("row indices must be increasing, within the dictionary, and not none")
        bounds = np.searchsorted(idx, self.offsets)
        kept, rows = [], []
        for b in range(self.n_blocks):  # blocks without a selected row drop out of the view
            local = idx[bounds[b]:bounds[b + 1]] - self.offsets[b]
            if local.size:
                base = self._rows[b]
                kept.append(b)
                rows.append(local if base is None else base[local])
        return self._view([self.counts[b] for b in kept], kept, rows, self._cols)

    def cols(self, idx: np.ndarray) -> "RowBlocks":
        """The view of columns ``idx`` of this view."""
        idx = np.asarray(idx, dtype=np.intp)
        cols = idx if self._cols is None else self._cols[idx]
        return self._view(self.counts, range(self.n_blocks), self._rows, cols)

    def _view(self, counts, blocks, rows, cols) -> "RowBlocks":
        blocks = list(blocks)
        store = self.store
        if isinstance(store, MemoryBlocks):  # copying in memory costs less than selecting on every pass
            return RowBlocks._holding(store.like([select(store.arrays[b], r, cols) for b, r in zip(blocks, rows)]))
        if len(blocks) < self.n_blocks:
            store = _subset(store, blocks)
        return RowBlocks(store, counts, self.n_cols, self.dtype, list(rows), cols)


def _subset(store, blocks: list[int]):
    """The same kind of store holding only the blocks ``blocks``."""
    if isinstance(store, DiskBlocks):
        return DiskBlocks([store.paths[b] for b in blocks])
    return DaskBlocks(store.client, [store.futures[b] for b in blocks])
