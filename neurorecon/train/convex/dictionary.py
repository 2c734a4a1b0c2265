"""The spike dictionary: exact features of every witness on every training sequence.

Witnesses are simulated in independent blocks (bounded memory; blocks could run in parallel)
with the emulator, i.e. in the profile's exact arithmetic. Per readout kind, duplicate and
constant columns are dropped and each kept column remembers the witness that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurorecon.network import LIFLayer, Network
from neurorecon.simulate.emulator import emulate
from neurorecon.readout import Readout
from neurorecon.train.convex.witnesses import concat_layers, select_rows

BLOCK = 1024


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

    def __init__(self, inputs: np.ndarray, t_frames: int, depth: int, readouts: list[Readout], arithmetic: str):
        self.inputs = inputs
        self.t_frames = t_frames
        self.depth = depth
        self.readouts = readouts
        self.arithmetic = arithmetic
        self.n_steps = inputs.shape[1] + 1
        self.witnesses: LIFLayer | None = None
        self.modules = np.zeros(0, dtype=np.int64)  # module of each witness (recurrent ones move together)
        self.columns = {r.kind: Columns(np.zeros((0, 0), np.float32), np.zeros(0, np.int64)) for r in readouts}

    @property
    def n_witnesses(self) -> int:
        return 0 if self.witnesses is None else self.witnesses.n_neurons

    def features(self, layer: LIFLayer) -> dict[str, np.ndarray]:
        """Each readout's features of ``layer``'s neurons on all inputs, block by block
        (a recurrent layer is simulated whole: its neurons interact)."""
        record = tuple(sorted({item for r in self.readouts for item in r.record()}))
        out: dict[str, list[np.ndarray]] = {r.kind: [] for r in self.readouts}
        block = layer.n_neurons if layer.recurrent is not None else BLOCK
        for start in range(0, layer.n_neurons, block):
            rows = np.arange(start, min(start + block, layer.n_neurons))
            part = select_rows(layer, rows)
            result = emulate(Network([part], arithmetic=self.arithmetic), self.inputs, self.n_steps, record, [0])
            for r in self.readouts:
                out[r.kind].append(r.features(result, 0, self.t_frames, self.depth))
        return {kind: np.concatenate(parts, axis=1) for kind, parts in out.items()}

    def add(self, layer: LIFLayer, features: dict[str, np.ndarray] | None = None,
            modules: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Add witnesses (their features, if already computed); returns, per readout, the
        indices of the new distinct columns. ``modules`` labels groups of witnesses that must be
        kept together (recurrent modules); by default every witness is its own module."""
        offset = self.n_witnesses
        features = self.features(layer) if features is None else features
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
