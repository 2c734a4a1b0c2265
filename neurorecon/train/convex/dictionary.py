"""The spike dictionary: exact features of every witness on every training sequence.

The unit of work is a *block*: one witness block simulated on one sample block
(:func:`block_features`), in the profile's exact arithmetic (the emulator, or its torch twin).
Blocks run on an :class:`~neurorecon.train.blocks.Engine`: in this process or on a Dask cluster,
reused from and saved to a run's block store. Their sizes follow the engine's memory limit; since
every neuron's and every sample's spikes are independent of the others', the dictionary's bits
do not depend on the block sizes or on where blocks ran. A recurrent layer is one witness block
(its neurons interact). Per readout kind, duplicate and constant columns are dropped and each
kept column remembers the witness that produced it.

Blocks stay where they were made (:attr:`Engine.where`): per readout, the dictionary is one row
block per sample block (its kept columns of every witness block side by side) on the cluster's
workers or in ``.npy`` files, or one matrix in memory, and the solver reads it through
:class:`~neurorecon.solve.row_blocks.RowBlocks`. Deduplication needs only small summaries
computed where each block is (a digest of every column's values on the block's rows, its min and
max), combined here in sample-block order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from neurorecon._progress import ProgressOption
from neurorecon.network import LIFLayer, Network
from neurorecon.simulate.arrays import array_ops
from neurorecon.simulate.emulator import emulate
from neurorecon.readout import Readout
from neurorecon.solve.row_blocks import TASK_RETRIES, DaskBlocks, DiskBlocks, RowBlocks
from neurorecon.train.blocks import Engine, content_key, local
from neurorecon.train.convex.witnesses import concat_layers, layer_key, select_rows

BLOCK = 1024  # witnesses per block, at most
SAMPLE_BLOCK = 4096  # samples per block, at most
MIN_BLOCK = 64  # witnesses per block, at least, unless the memory limit allows no more
BLOCK_SHARE = 8  # one block's records may take this fraction (1/8) of the memory limit


def block_features(layer: LIFLayer, inputs: np.ndarray, n_steps: int, kinds: tuple[str, ...], t_frames: int,
                   depth: int, arithmetic: str, backend: str = "emulator",
                   device: str | None = None) -> dict[str, np.ndarray]:
    """The unit of work: each readout's features of ``layer``'s neurons on the samples ``inputs``."""
    readouts = [Readout(kind) for kind in kinds]
    record = tuple(sorted({item for r in readouts for item in r.record()}))
    result = emulate(Network([layer], arithmetic=arithmetic), inputs, n_steps, record, [0],
                     ops=array_ops(backend, device))
    return {r.kind: r.features(result, 0, t_frames, depth) for r in readouts}


def block_shape(n_samples: int, n_steps: int, per_step: bool, memory_limit: int) -> tuple[int, int]:
    """(witnesses, samples) per block: the records of one block within 1/8 of the memory limit;
    samples are cut first, down to what leaves room for 64 witnesses."""
    per_pair = (n_steps if per_step else 1) + 16  # recorded bytes per (witness, sample), with state
    budget = memory_limit // BLOCK_SHARE
    samples = min(n_samples, SAMPLE_BLOCK, max(1, budget // (per_pair * MIN_BLOCK)))  # keep witness blocks wide
    witnesses = int(np.clip(budget // (per_pair * samples), 1, BLOCK))
    return witnesses, int(samples)


@dataclass(eq=False)
class Columns:
    """One readout's dictionary: D (rows x P, float32) as row blocks, the witness behind each
    column, and each column's largest |value| over all rows (``extent``: a bound on any row
    subset's entries, which exact block products need; known from deduplication's summaries, so
    no pass over D computes it again)."""

    blocks: RowBlocks | None  # None while there is no column
    witness: np.ndarray
    extent: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _seen: dict = field(default_factory=dict, repr=False)

    def first(self, n: int) -> "Columns":
        """The first ``n`` columns (a view of the blocks)."""
        return Columns(self.blocks.cols(np.arange(n)), self.witness[:n], self.extent[:n])

    @property
    def size(self) -> int:
        return len(self.witness)


def block_summary(result: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Per readout, what deduplication needs of one feature block, computed where the block is: a
    digest of each column's values on the block's rows, each column's min and max, the dtype."""
    out = {}
    for kind, x in result.items():
        compact = np.packbits(x, axis=0) if x.dtype == bool else x.astype(np.int16)
        rows = np.ascontiguousarray(compact.T)
        digests = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows]
        out[kind] = (digests, x.min(axis=0, initial=x.max(initial=0)), x.max(axis=0, initial=x.min(initial=0)),
                     x.dtype == bool)
    return out


def assemble(kind: str, parts: list[tuple[dict, np.ndarray | None]], old: np.ndarray | None = None) -> np.ndarray:
    """One row block: the columns ``keep`` of each feature block ``(result, keep)`` of a sample
    block side by side (float32), after the row block's ``old`` columns. Runs where the blocks are."""
    new = np.concatenate([r[kind] if keep is None else r[kind][:, keep] for r, keep in parts], axis=1)
    new = new.astype(np.float32)
    return new if old is None else np.concatenate([old, new], axis=1)


def _local_parts(parts: list[tuple]) -> list[tuple[dict, np.ndarray | None]]:
    return [(local(handle), keep) for handle, keep in parts]


@dataclass(eq=False)
class FeatureBlocks:
    """Each readout's features of a layer as blocks (witness block i x sample block j), kept where
    they were made (see :meth:`Engine.map`); ``keep`` selects columns of each witness block."""

    handles: list[list]  # [i][j]: a result, a StoredBlock or a Dask future
    widths: list[int]  # columns of witness block i
    keep: list[np.ndarray] | None = None
    _summaries: list | None = field(default=None, repr=False)

    def selected(self, i: int) -> np.ndarray:
        return np.arange(self.widths[i]) if self.keep is None else self.keep[i]

    @property
    def n_columns(self) -> int:
        return sum(len(self.selected(i)) for i in range(len(self.widths)))

    def columns(self, idx: np.ndarray) -> "FeatureBlocks":
        """The columns ``idx`` (increasing) of these features."""
        idx = np.asarray(idx, dtype=np.int64)
        starts = np.cumsum([0] + [len(self.selected(i)) for i in range(len(self.widths))])
        keep = [self.selected(i)[idx[(idx >= a) & (idx < b)] - a] for i, (a, b) in enumerate(zip(starts, starts[1:]))]
        return FeatureBlocks(self.handles, self.widths, keep, self._summaries)


class Dictionary:
    """Features of a growing set of witnesses for one or more readouts, as row blocks where the
    engine keeps blocks (:attr:`Engine.where`): in memory (one matrix), on disk (one ``.npy``
    file per sample block and addition) or on the cluster's workers (one future per sample block)."""

    def __init__(self, inputs: np.ndarray, t_frames: int, depth: int, readouts: list[Readout], arithmetic: str,
                 engine: Engine | None = None):
        self.inputs = inputs
        self.engine = engine if engine is not None else Engine()
        self.t_frames = t_frames
        self.depth = depth
        self.readouts = readouts
        self.arithmetic = arithmetic
        self.n_steps = inputs.shape[1] + 1
        self.witnesses: LIFLayer | None = None
        self.modules = np.zeros(0, dtype=np.int64)  # module of each witness (recurrent ones move together)
        self.columns = {r.kind: Columns(None, np.zeros(0, np.int64)) for r in readouts}
        self._samples: list[tuple[str, object]] | None = None  # (data key, handle) per sample block
        per_step = any(r.per_step for r in readouts)
        self.witness_block, self.sample_block = block_shape(inputs.shape[0], self.n_steps, per_step,
                                                            self.engine.memory_limit)

    def _sample_blocks(self) -> list[tuple[str, object]]:
        if self._samples is None:
            share = self.engine.share
            self._samples = []
            for start in range(0, self.inputs.shape[0], self.sample_block):
                part = np.ascontiguousarray(self.inputs[start:start + self.sample_block])
                self._samples.append((content_key(part), share(part)))
        return self._samples

    def _row_counts(self, kind: str) -> list[int]:
        """Rows of each sample block's row block for the readout ``kind``."""
        per_sample = self.t_frames if Readout(kind).per_step else 1
        n = self.inputs.shape[0]
        return [per_sample * (min(start + self.sample_block, n) - start) for start in range(0, n, self.sample_block)]

    @property
    def n_witnesses(self) -> int:
        return 0 if self.witnesses is None else self.witnesses.n_neurons

    @property
    def where(self) -> str:
        """Where the dictionary's blocks live: ``"memory"``, ``"disk"`` or ``"workers"``."""
        return self.engine.where

    def feature_blocks(self, layer: LIFLayer, progress: ProgressOption = None) -> FeatureBlocks:
        """Each readout's features of ``layer``'s neurons on all inputs, block by block, kept where
        they were made (a recurrent layer is one witness block: its neurons interact)."""
        kinds = tuple(r.kind for r in self.readouts)
        engine = self.engine
        setup = (self.n_steps, kinds, self.t_frames, self.depth, self.arithmetic,
                 engine.backend if self.arithmetic == "float" else None)
        block = layer.n_neurons if layer.recurrent is not None else self.witness_block
        parts = [select_rows(layer, np.arange(start, min(start + block, layer.n_neurons)))
                 for start in range(0, layer.n_neurons, block)]
        samples = self._sample_blocks()
        tasks = [(content_key("features", layer_key(part), data_key, setup),
                  (part, handle, *setup[:5], engine.backend, engine.device))
                 for part in parts for data_key, handle in samples]
        results = engine.map(block_features, tasks, progress, "dictionary blocks", keep=True)
        handles = [results[i * len(samples):(i + 1) * len(samples)] for i in range(len(parts))]
        return FeatureBlocks(handles, [part.n_neurons for part in parts])

    def features(self, layer: LIFLayer, progress: ProgressOption = None) -> dict[str, np.ndarray]:
        """Each readout's features of ``layer``'s neurons on all inputs, gathered here (rows x neurons)."""
        features = self.feature_blocks(layer, progress)
        return {r.kind: self.stack(features, r.kind).columns(np.arange(features.n_columns)) for r in self.readouts}

    def stack(self, features: FeatureBlocks, kind: str, old: RowBlocks | None = None) -> RowBlocks:
        """The selected columns of ``features`` for one readout as row blocks (after ``old``'s
        columns), made where the dictionary lives: one matrix in memory, one ``.npy`` file per
        sample block on disk, one future per sample block on the workers."""
        engine = self.engine
        n_cols = (0 if old is None else old.shape[1]) + features.n_columns
        blocks = [i for i in range(len(features.widths)) if len(features.selected(i))]
        per_sample = [[(features.handles[i][j], None if features.keep is None else features.keep[i]) for i in blocks]
                      for j in range(len(self._sample_blocks()))]
        if engine.where == "memory":
            new = np.concatenate([assemble(kind, _local_parts(parts)) for parts in per_sample], axis=0)
            return RowBlocks.of([new if old is None else np.concatenate([old.store.arrays[0], new], axis=1)],
                                device=engine.solver_device)
        counts = self._row_counts(kind)
        if engine.where == "disk":
            directory = engine.spill.directory / "rows"
            directory.mkdir(parents=True, exist_ok=True)
            written = [DiskBlocks.write(directory, assemble(kind, _local_parts(parts))) for parts in per_sample]
            paths = [[p] for p in written] if old is None else [o + [p] for o, p in zip(old.store.paths, written)]
            return RowBlocks(DiskBlocks(paths), counts, n_cols, np.float32)
        futures = [engine.client.submit(assemble, kind, parts, None if old is None else old.store.futures[j],
                                        pure=False, retries=TASK_RETRIES) for j, parts in enumerate(per_sample)]
        return RowBlocks(DaskBlocks(engine.client, futures), counts, n_cols, np.float32)

    def _summaries(self, features: FeatureBlocks) -> dict[str, tuple[list, np.ndarray, np.ndarray, bool]]:
        """Per readout and selected column (in order): its key (the digests of its values on each
        sample block), min and max over all rows; and whether the features are boolean."""
        if features._summaries is None:
            flat = [h for row in features.handles for h in row]
            if self.engine.client is not None:
                tasks = [self.engine.client.submit(block_summary, h, pure=False, retries=TASK_RETRIES) for h in flat]
                summaries = self.engine.client.gather(tasks)
            else:
                summaries = [block_summary(local(h)) for h in flat]
            per_sample = len(features.handles[0])
            features._summaries = [summaries[i * per_sample:(i + 1) * per_sample] for i in range(len(features.widths))]
        out = {}
        for r in self.readouts:
            keys, lows, highs = [], [], []
            for i, row in enumerate(features._summaries):
                cols = features.selected(i)
                parts = [s[r.kind] for s in row]
                keys += [b"".join(p[0][c] for p in parts) for c in cols]
                lows.append(np.min([p[1][cols] for p in parts], axis=0))
                highs.append(np.max([p[2][cols] for p in parts], axis=0))
            out[r.kind] = (keys, np.concatenate(lows), np.concatenate(highs), bool(features._summaries[0][0][r.kind][3]))
        return out

    @property
    def nbytes(self) -> int:
        """Bytes the dictionary's matrices take (float32), over all readouts."""
        return int(sum(c.blocks.nbytes for c in self.columns.values() if c.blocks is not None))

    def add(self, layer: LIFLayer, features: FeatureBlocks | None = None,
            modules: np.ndarray | None = None, progress: ProgressOption = None) -> dict[str, np.ndarray]:
        """Add witnesses (their features, if already computed); returns, per readout, the
        indices of the new distinct columns. ``modules`` labels groups of witnesses that must be
        kept together (recurrent modules); by default every witness is its own module.

        A column is kept unless it is constant or equal to a column already kept; equality is
        decided from the blocks' digests (combined here in sample-block order), within the same
        value encoding as before: packed bits for spikes, one byte per count up to 255, two
        beyond (chosen per addition from its largest value)."""
        offset = self.n_witnesses
        features = self.feature_blocks(layer, progress) if features is None else features
        labels = np.arange(layer.n_neurons) if modules is None else np.asarray(modules)
        first_new = int(self.modules.max(initial=-1)) + 1
        self.modules = np.concatenate([self.modules, first_new + np.unique(labels, return_inverse=True)[1]])
        self.witnesses = layer if self.witnesses is None else concat_layers([self.witnesses, layer])
        added = {}
        for kind, (keys, low, high, boolean) in self._summaries(features).items():
            cols = self.columns[kind]
            encoding = b"b" if boolean else (b"h" if high.max(initial=0) > 255 else b"B")
            keep = []
            for j, key in enumerate(keys):
                key = encoding + key
                if low[j] != high[j] and key not in cols._seen:
                    cols._seen[key] = offset + j
                    keep.append(j)
            keep = np.asarray(keep, dtype=np.int64)
            start = cols.size
            if keep.size:
                cols.blocks = self.stack(features.columns(keep), kind, cols.blocks)
            cols.witness = np.concatenate([cols.witness, offset + keep])
            cols.extent = np.concatenate([cols.extent, np.maximum(np.abs(low), np.abs(high))[keep].astype(np.float64)])
            added[kind] = np.arange(start, cols.size)
        return added
