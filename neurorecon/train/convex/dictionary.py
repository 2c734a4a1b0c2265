"""The spike dictionary: exact features of every witness on every training sequence.

The unit of work is a *block*: one witness block simulated on one sample block
(:func:`block_features`), in the profile's exact arithmetic (the emulator, or its torch twin).
Blocks run on an :class:`~neurorecon.train.blocks.Engine`: in this process or on a Dask cluster,
reused from and saved to a run's block store. Their sizes follow the engine's memory limit; since
every neuron's and every sample's spikes are independent of the others', the dictionary's bits
do not depend on the block sizes or on where blocks ran. A recurrent layer is one witness block
(its neurons interact). Per readout kind, duplicate and constant columns are dropped and each
kept column remembers the witness that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurorecon._progress import ProgressOption
from neurorecon.network import LIFLayer, Network
from neurorecon.simulate.arrays import array_ops
from neurorecon.simulate.emulator import emulate
from neurorecon.readout import Readout
from neurorecon.train.blocks import Engine, content_key
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
    """One readout's dictionary: D (rows x P, float32) and the witness behind each column."""

    matrix: np.ndarray
    witness: np.ndarray
    _seen: dict = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return self.matrix.shape[1]


def _column_keys(block: np.ndarray) -> list[bytes]:
    if block.dtype == bool:
        packed = np.packbits(block, axis=0)
        return [packed[:, j].tobytes() for j in range(block.shape[1])]
    compact = block.astype(np.int16 if block.max(initial=0) > 255 else np.uint8)
    return [np.ascontiguousarray(compact[:, j]).tobytes() for j in range(block.shape[1])]


class Dictionary:
    """Features of a growing set of witnesses for one or more readouts."""

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
        self.columns = {r.kind: Columns(np.zeros((0, 0), np.float32), np.zeros(0, np.int64)) for r in readouts}
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

    @property
    def n_witnesses(self) -> int:
        return 0 if self.witnesses is None else self.witnesses.n_neurons

    def features(self, layer: LIFLayer, progress: ProgressOption = None) -> dict[str, np.ndarray]:
        """Each readout's features of ``layer``'s neurons on all inputs, block by block
        (a recurrent layer is one witness block: its neurons interact)."""
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
        results = engine.map(block_features, tasks, progress, "dictionary blocks")
        out = {}
        for kind in kinds:
            columns = [np.concatenate([results[i * len(samples) + j][kind] for j in range(len(samples))], axis=0)
                       for i in range(len(parts))]
            out[kind] = np.concatenate(columns, axis=1)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes the dictionary's matrices take (float32), over all readouts."""
        return int(sum(c.matrix.nbytes for c in self.columns.values()))

    def add(self, layer: LIFLayer, features: dict[str, np.ndarray] | None = None,
            modules: np.ndarray | None = None, progress: ProgressOption = None) -> dict[str, np.ndarray]:
        """Add witnesses (their features, if already computed); returns, per readout, the
        indices of the new distinct columns. ``modules`` labels groups of witnesses that must be
        kept together (recurrent modules); by default every witness is its own module."""
        offset = self.n_witnesses
        features = self.features(layer, progress) if features is None else features
        labels = np.arange(layer.n_neurons) if modules is None else np.asarray(modules)
        first_new = int(self.modules.max(initial=-1)) + 1
        self.modules = np.concatenate([self.modules, first_new + np.unique(labels, return_inverse=True)[1]])
        self.witnesses = layer if self.witnesses is None else concat_layers([self.witnesses, layer])
        added = {}
        for kind, block in features.items():
            cols = self.columns[kind]
            constant = block.min(axis=0) == block.max(axis=0)
            keep = []
            for j, key in enumerate(_column_keys(block)):
                if not constant[j] and key not in cols._seen:
                    cols._seen[key] = offset + j
                    keep.append(j)
            keep = np.asarray(keep, dtype=np.int64)
            new = block[:, keep].astype(np.float32)
            start = cols.size
            cols.matrix = new if cols.matrix.size == 0 else np.concatenate([cols.matrix, new], axis=1)
            cols.witness = np.concatenate([cols.witness, offset + keep])
            added[kind] = np.arange(start, cols.size)
        return added
