"""neurorecon: spiking networks trained by convex parameter reconstruction, exact on Loihi.

Public API (see README): :class:`LIFLayer`, :class:`Dense`, :class:`Network`,
:func:`simulate`, :func:`load_profile`, :func:`load_data`, :class:`ReconstructionClassifier`,
:func:`check_resources`; interchange: :func:`to_nir`, :func:`from_nir`,
:func:`quantize_network`, :func:`dequantize_network` (docs/interchange.md).
"""

from neurorecon._version import __version__
from neurorecon.data import load_data
from neurorecon.errors import NeuroreconError
from neurorecon.interchange import from_nir, to_nir
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.profiles import load_profile
from neurorecon.quantize import dequantize_network, quantize_network
from neurorecon.simulate import readout_steps, simulate
from neurorecon.resources import check_resources
from neurorecon.simulate.result import SimulationResult
from neurorecon.train.convex.classifier import ReconstructionClassifier

__all__ = [
    "__version__",
    "Dense",
    "LIFLayer",
    "Network",
    "NeuroreconError",
    "ReconstructionClassifier",
    "SimulationResult",
    "check_resources",
    "dequantize_network",
    "from_nir",
    "load_data",
    "load_profile",
    "quantize_network",
    "readout_steps",
    "simulate",
    "to_nir",
]
