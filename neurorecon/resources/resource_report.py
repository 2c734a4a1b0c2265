"""What :func:`~neurorecon.resources.check_resources` reports: per-layer use, a core map, violations.

Everything here is plain data (ints, floats, strings, lists): :meth:`ResourceReport.to_dict`
is JSON-ready (strict JSON, no NaN or infinity) and :meth:`ResourceReport.from_dict` reads it
back, so a saved report can be re-loaded for plots.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from neurorecon.errors import NeuroreconError

SEVERITIES = ("error", "warning")


@dataclass
class Violation:
    """One broken limit.

    ``severity`` is ``"error"`` when the network cannot be mapped onto the chip at all (too
    many cores, a fan-in beyond the input axons, an unsupported number format) and
    ``"warning"`` when it maps but the chip's arithmetic would saturate or wrap where Lava's
    CPU models do not (the 16-bit accumulator), or did so on the data given.
    """

    severity: str
    kind: str  # cores, input_axons, output_axons, synapse_memory, format, accumulator, u_wrap, v_saturation, readout_spikes
    message: str
    layer: int | None = None


@dataclass
class CoreUse:
    """One core of the map: which neurons of which layer it holds, and what it uses."""

    core: int  # index on the chip, cores numbered in layer order
    layer: int
    neuron_ranges: list[list[int]]  # [start, stop) index ranges of the layer's neurons on this core
    configs: list[int]  # ids of the (du, dv, vth) groups on this core, as LIFLayer.groups() numbers them
    neurons: int
    input_axons: int
    output_axons: int
    synapse_bits: int


@dataclass
class Measured:
    """Peaks of one layer's integer state on data, from a bit-exact emulator run.

    Peaks are taken *before* the chip's limits act: ``u`` before its 24-bit wrap, ``v``
    before its clip and its reset, ``a_in`` after the weight exponent. Margins are
    ``log2(register limit / peak)`` in bits: negative means the value left the register.
    """

    accumulator_peak: int  # max |a_in|
    u_peak: int  # max |u| before the wrap
    v_peak: int  # max |v| before the clip and the reset
    u_wraps: int  # neuron-steps where u wrapped modulo 2**24
    v_saturations: int  # neuron-steps where v was clipped at -(2**23 - 1)
    readout_spikes: int  # spikes of readout neurons (last layer, vth at its maximum)
    accumulator_margin_bits: float | None  # None: the value stayed 0
    u_margin_bits: float | None
    v_margin_bits: float | None
    readout_margin_bits: float | None  # log2((vth << 6) / max v) over readout neurons; None: none, or v <= 0


@dataclass
class LayerPrecision:
    """Static worst-case ranges of one layer's registers, and measured peaks when data was given.

    ``accumulator_range`` is the exact worst case of ``a_in`` (feed-forward plus recurrent,
    after the weight exponents) over all inputs the formats allow; the u and v peaks are
    bounds from the decays (a u bound above 2**23 means a wrap is *possible*, not that it
    happens: the measured peaks tell). ``v_static_peak`` is ``None`` when v is unbounded (a
    non-leaky voltage, dv = 0, under inhibitory drive or negative bias).
    """

    accumulator_range: list[int]  # [min, max] of a_in
    accumulator_bits: int  # signed bits that range needs
    accumulator_margin_bits: float | None
    u_static_peak: int
    u_margin_bits: float | None
    v_static_peak: int | None
    v_margin_bits: float | None
    measured: Measured | None = None

    @property
    def static_overflow(self) -> bool:
        """True when the static u or v bound leaves its 24-bit register (possible, not certain)."""
        return self.v_static_peak is None or any(m is not None and m < 0 for m in (self.u_margin_bits, self.v_margin_bits))


@dataclass
class LayerUsage:
    """One layer on the chip: its size, its cores, its fan-in/fan-out, synapses and precision."""

    layer: int
    neurons: int
    configs: int  # distinct (du, dv, vth) neuron configurations in the layer
    cores: int
    core_capacity: int  # neurons per core the binding per-core limit allows
    limited_by: str | None  # what set the core count when the layer spans several cores
    input_axons: int  # per core: the layer's inputs, plus its own neurons if recurrent
    output_axons: int  # on the busiest core: neurons x destination cores
    destination_cores: int  # cores each neuron sends spikes to
    synapses: int  # synapses stored (dense: every weight, zeros included)
    nonzero_synapses: int
    synapse_bits: int  # on the busiest core
    weight_field_bits: int  # bits per stored feed-forward synapse (Loihi's numWeightBits field, sign included)
    precision: LayerPrecision | None = None


@dataclass
class ResourceReport:
    """The result of a resource check: per-layer rows, totals, a core map and violations."""

    profile: str
    limits: dict  # the profile's Resources, plus accumulator_bits / state_bits for fixed profiles
    layers: list[LayerUsage]
    cores: list[CoreUse]
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data_samples: int = 0
    data_steps: int = 0

    # ------------------------------------------------------------------ summaries
    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warning"]

    @property
    def fits(self) -> bool:
        """True when the network can be mapped (warnings allowed)."""
        return not self.errors

    @property
    def totals(self) -> dict:
        return {
            "cores_used": len(self.cores),
            "cores_available": self.limits["cores"],
            "neurons": sum(row.neurons for row in self.layers),
            "synapses": sum(row.synapses for row in self.layers),
            "synapse_bits": sum(core.synapse_bits for core in self.cores),
        }

    def raise_for_errors(self) -> None:
        """Raise :class:`NeuroreconError` naming every error-level violation, if any."""
        if self.errors:
            listed = "; ".join(v.message for v in self.errors)
            raise NeuroreconError(f"the network does not fit {self.profile}: {listed}")

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """JSON-ready dict (strict JSON); ``totals`` and ``fits`` are included for readers."""
        out = asdict(self)
        out["totals"] = self.totals
        out["fits"] = self.fits
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ResourceReport":
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        try:
            layers = []
            for row in data["layers"]:
                row = dict(row)
                precision = row.pop("precision")
                if precision is not None:
                    precision = dict(precision)
                    measured = precision.pop("measured")
                    precision = LayerPrecision(**precision, measured=None if measured is None else Measured(**measured))
                layers.append(LayerUsage(**row, precision=precision))
            known = {f.name for f in fields(cls)} - {"layers", "cores", "violations"}
            return cls(
                layers=layers,
                cores=[CoreUse(**c) for c in data["cores"]],
                violations=[Violation(**v) for v in data["violations"]],
                **{k: v for k, v in data.items() if k in known},
            )
        except (KeyError, TypeError) as exc:
            raise NeuroreconError(f"not a resource report: {exc}") from None

    # ------------------------------------------------------------------ text
    def to_text(self) -> str:
        """A readable table: limits, one row per layer, totals, measured peaks, violations."""
        lim = self.limits
        out = [
            f"resources on {self.profile}: {lim['cores']} cores; per core {lim['neurons_per_core']} neurons, "
            f"{lim['neuron_configs_per_core']} neuron configs, {lim['input_axons_per_core']} input / "
            f"{lim['output_axons_per_core']} output axons, {lim['synapse_memory_bits_per_core']} synapse bits"
        ]
        head = (f"{'layer':>5} {'neurons':>7} {'configs':>7} {'cores':>5} {'max/core':>8}  {'limited by':<18}"
                f"{'fan-in':>6} {'fan-out':>7} {'synapses':>9} {'syn bits/core':>13}")
        out += ["", head, "-" * len(head)]
        for r in self.layers:
            out.append(
                f"{r.layer:>5} {r.neurons:>7} {r.configs:>7} {r.cores:>5} {r.core_capacity:>8}  "
                f"{r.limited_by or '-':<18}{r.input_axons:>6} {r.output_axons:>7} {r.synapses:>9} "
                f"{_pct(r.synapse_bits, lim['synapse_memory_bits_per_core']):>13}"
            )
        t = self.totals
        out.append(f"total: {t['cores_used']} of {t['cores_available']} cores, {t['neurons']} neurons, "
                   f"{t['synapses']} synapses ({t['synapse_bits']} bits)")
        if any(r.precision for r in self.layers):
            out += ["", f"precision (bits of headroom; a_in is {lim['accumulator_bits']}-bit, u and v "
                        f"{lim['state_bits']}-bit; static = worst case over all inputs)"]
            head = f"{'layer':>5} {'a_in range':>22} {'bits':>4} {'a_in':>6} {'u static':>8} {'v static':>8}"
            out += [head, "-" * len(head)]
            for r in self.layers:
                p = r.precision
                if p is None:
                    continue
                lo, hi = p.accumulator_range
                out.append(f"{r.layer:>5} {f'[{lo}, {hi}]':>22} {p.accumulator_bits:>4} {_bits(p.accumulator_margin_bits):>6} "
                           f"{_bits(p.u_margin_bits):>8} {_bits(p.v_margin_bits, p.v_static_peak is None):>8}")
            if any(r.precision and r.precision.static_overflow for r in self.layers):
                out.append("negative (or unbounded) static u/v headroom: the worst case over all inputs leaves the "
                           "register; measure on data to see whether it does")
            if any(r.precision and r.precision.measured for r in self.layers):
                out += ["", f"measured on {self.data_samples} samples x {self.data_steps} steps "
                            "(peaks before wrap, clip and reset)"]
                head = (f"{'layer':>5} {'|a_in|':>8} {'bits':>6} {'|u|':>9} {'bits':>6} {'|v|':>9} {'bits':>6} "
                        f"{'u wraps':>8} {'v sat.':>7} {'readout':>8}")
                out += [head, "-" * len(head)]
                for r in self.layers:
                    m = r.precision.measured if r.precision else None
                    if m is None:
                        continue
                    out.append(
                        f"{r.layer:>5} {m.accumulator_peak:>8} {_bits(m.accumulator_margin_bits):>6} {m.u_peak:>9} "
                        f"{_bits(m.u_margin_bits):>6} {m.v_peak:>9} {_bits(m.v_margin_bits):>6} {m.u_wraps:>8} "
                        f"{m.v_saturations:>7} {_bits(m.readout_margin_bits):>8}"
                    )
        out.append("")
        if not self.violations:
            out.append(f"fits {self.profile}: no violations")
        out += [f"{v.severity}: {v.message}" for v in self.violations]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def margin_bits(peak: float, bits: int) -> float | None:
    """Headroom of ``|value| <= peak`` in a signed ``bits``-bit register: log2(2**(bits-1) / peak)."""
    if peak is None or not math.isfinite(peak) or peak <= 0:
        return None
    return round(bits - 1 - math.log2(peak), 2)


def _bits(value: float | None, unbounded: bool = False) -> str:
    if unbounded:
        return "unbnd"
    return "-" if value is None else f"{value:+.1f}"


def _pct(used: int, limit: int) -> str:
    return f"{used} ({100 * used / limit:.0f}%)"
