"""neurorecon: spiking networks trained by convex parameter reconstruction, exact on Loihi.

Public API (see README): :class:`LIFLayer`, :class:`Dense`, :class:`Network`,
:func:`simulate`, :func:`load_profile`.
"""

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.simulate import readout_steps, simulate
from neurorecon.simulate.result import SimulationResult

__all__ = [
    "Dense",
    "LIFLayer",
    "Network",
    "NeuroreconError",
    "SimulationResult",
    "readout_steps",
    "simulate",
]
__version__ = "0.1.0"
