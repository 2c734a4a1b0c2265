"""Readouts: which hidden-layer features the convex solve sees, and the on-chip layer reading them.

The output layer is Dense + LIF that never spikes; the class is the argmax of its voltage.

* ``last`` (the paper's): spikes of the last hidden layer at the step the final input frame
  reaches it. Output LIF du=4095, dv=4095: v holds this step's input (plus 1/4096 of the
  previous step's voltage, which the exact verification accounts for).
* ``count``: spike counts over the whole sequence. Output LIF du=4095, dv=0: a pure integrator.
* ``step``: one label per input frame, the readout shared over time; rows are (sample, step).

Timing: a hidden layer at depth ``h`` (0 = first) sees input frame ``k`` at step index
``k + 1 + h``; simulating it for ``T + h + 1`` steps covers the whole input, and the output
layer reads frame ``k`` at index ``k + h + 2`` (see :func:`neurorecon.simulate.readout_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurorecon.errors import NeuroreconError

READOUTS = ("last", "count", "step")
NON_SPIKING_VTH = float(np.finfo(np.float64).max)  # float vth of a layer that never spikes (a readout, NIR's LI)


@dataclass(frozen=True)
class Readout:
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in READOUTS:
            raise NeuroreconError(f"readout must be one of {READOUTS} or 'auto'; got {self.kind!r}")

    @property
    def per_step(self) -> bool:
        return self.kind == "step"

    def record(self) -> tuple[str, ...]:
        """What the emulator must record on the witness layer to build these features."""
        return {"last": ("final_spikes",), "count": ("counts",), "step": ("spikes",)}[self.kind]

    def features(self, result, layer: int, t_frames: int, depth: int) -> np.ndarray:
        """Feature matrix from a witness-layer simulation: (n, P) or (n * T, P) for ``step``."""
        if self.kind == "last":
            return result.final_spikes[layer]
        if self.kind == "count":
            return result.spike_counts[layer]
        raster = result.spikes[layer][:, depth + 1 : depth + 1 + t_frames]
        return raster.reshape(-1, raster.shape[-1])

    def output_decays(self, arithmetic: str) -> tuple[float, float]:
        """(du, dv) of the output LIF: no current memory; voltage memory only for ``count``."""
        if arithmetic == "fixed":
            return 4095, (0 if self.kind == "count" else 4095)
        return 1.0, (0.0 if self.kind == "count" else 1.0)

    def targets(self, y: np.ndarray, n_classes: int) -> np.ndarray:
        """One-hot targets, one row per feature row."""
        labels = y.reshape(-1)
        onehot = np.zeros((labels.size, n_classes))
        onehot[np.arange(labels.size), labels] = 1.0
        return onehot

    def predictions_from_voltage(self, v: np.ndarray, t_frames: int, n_layers: int) -> np.ndarray:
        """Class predictions from the output layer's recorded voltage (n, steps, C)."""
        if self.kind == "step":
            start = n_layers  # frame k is read at index k + L, L = number of Dense stages
            return v[:, start : start + t_frames].argmax(axis=-1)
        return v[:, -1].argmax(axis=-1)
