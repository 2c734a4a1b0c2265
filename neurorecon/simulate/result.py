"""What a simulation returns, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from neurorecon._limits import check_memory


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


def check_record_memory(sizes: Sequence[int], n: int, n_steps: int, record: Sequence[str], layers: Sequence[int],
                        value_itemsize: int) -> None:
    """Refuse, before allocating, per-step records that cannot fit in memory."""
    per_value = {"spikes": 1, "v": value_itemsize, "u": value_itemsize}
    recorded = [var for var in per_value if var in record]
    n_bytes = float(n) * n_steps * sum(sizes[i] for i in set(layers)) * sum(per_value[var] for var in recorded)
    check_memory(n_bytes, f"recording {', '.join(recorded)} for {n} samples x {n_steps} steps x "
                 f"{sum(sizes[i] for i in set(layers))} neurons", "use fewer samples or steps, or record less")
