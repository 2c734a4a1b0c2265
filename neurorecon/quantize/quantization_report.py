"""What :func:`~neurorecon.quantize.quantize_network` tells the user about each layer.

Relative errors compare each quantized parameter, converted back to float units (divided by
the layer scale), with the float value it came from:

* ``weights``, ``recurrent_weights``, ``bias``: ``max|x_q - x| / max|x|`` (error relative to
  the layer's largest magnitude, the usual fixed-point measure; 0 when the parameter is all 0);
* ``vth``, ``du``, ``dv``: the largest per-neuron ``|x_q - x| / x`` over neurons with ``x > 0``
  (each neuron's own threshold and time constants matter individually).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class QuantizationWarning(UserWarning):
    """Quantization silences, saturates or otherwise changes a layer's activity on data."""


@dataclass
class LayerReport:
    """How one layer was mapped onto the integer grid, and what it cost."""

    layer: int
    scale: float  # fixed v units per float v unit (lambda)
    weight_exp: int
    recurrent_weight_exp: int | None
    limited_by: str  # the constraint that set the scale
    bounds: dict[str, float]  # every upper bound on the scale, by constraint
    errors: dict[str, float]  # relative errors per parameter (see module docstring)
    weight_range_used: float  # max |W_int| / largest grid value: 1.0 uses all 8 bits
    notes: list[str] = field(default_factory=list)
    activity: dict | None = None  # float vs fixed on data, when data was given


@dataclass
class QuantizationReport:
    """Per-layer reports plus the warnings raised, for ``metrics.json`` and the CLI."""

    profile: str
    layers: list[LayerReport]
    warnings: list[str] = field(default_factory=list)
    data_samples: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """A short human-readable table."""
        checked = f" (activity checked on {self.data_samples} samples)" if self.data_samples else ""
        out = [f"quantized for profile {self.profile}{checked}"]
        columns = ("weights", "vth", "bias", "du", "dv")
        out.append(f"{'layer':>5} {'scale':>10} {'w_exp':>5} " + " ".join(f"{c:>8}" for c in columns) + "  limited by")
        for r in self.layers:
            e = r.errors
            out.append(
                f"{r.layer:>5} {r.scale:>10.4g} {r.weight_exp:>5} {e['weights']:>8.2e} {e['vth']:>8.2e} "
                f"{e['bias']:>8.2e} {e['du']:>8.2e} {e['dv']:>8.2e}  {r.limited_by}"
            )
            if r.activity:
                a = r.activity
                out.append(
                    f"      rate float {a['float_rate']:.4f} fixed {a['fixed_rate']:.4f}, "
                    f"spike agreement {a['spike_agreement']:.4f}"
                )
            out.extend(f"      note: {n}" for n in r.notes)
        out.extend(f"warning: {w}" for w in self.warnings)
        return out
