"""What a simulation returns, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class SimulationResult:
    """Per-layer records of one simulation of ``n`` samples for ``n_steps`` steps.

    ``spikes[i]``, ``v[i]`` and ``u[i]`` have shape (n, n_steps, N_i) for the layers and
    variables that were recorded and are ``None`` otherwise. ``final_v[i]`` (n, N_i) is always
    there: it is what an on-chip readout reads. ``spike_counts[i]`` (n, N_i) is there for layers
    whose ``"counts"`` were recorded, ``final_spikes[i]`` (n, N_i) for ``"final_spikes"``. Step ``t`` of the records is Lava's time step ``t + 1``.
    """

    spikes: list[np.ndarray | None]
    v: list[np.ndarray | None]
    u: list[np.ndarray | None]
    final_v: list[np.ndarray]
    spike_counts: list[np.ndarray | None]
    n_steps: int
    backend: str
    final_spikes: list[np.ndarray | None] | None = None  # (n, N_i) spikes of the last step, if recorded
