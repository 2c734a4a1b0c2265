"""Float <-> fixed-point mapping of a Network onto a hardware profile.

Public API: :func:`quantize_network` (float -> profile integers, with a per-layer
:class:`QuantizationReport`), :func:`dequantize_network` (integers -> float in fixed units),
:class:`QuantizationWarning`. NIR import/export and post-training quantization share it.
"""

from neurorecon.quantize.fixed_point import dequantize_network, quantize_network
from neurorecon.quantize.quantization_report import LayerReport, QuantizationReport, QuantizationWarning

__all__ = [
    "LayerReport",
    "QuantizationReport",
    "QuantizationWarning",
    "dequantize_network",
    "quantize_network",
]
