"""Post-training quantization (PTQ) of an SG-trained float Network: the peers' path to a chip.

:func:`neurorecon.quantize.quantize_network` maps every layer onto the profile's integers (one
scale per layer, from the calibration data's state peaks). The readout layer must then never
spike: on the chip it is an LIF with the largest threshold (``vth_int << 6 = 8,388,544``) and a
voltage that saturates at ``2**23 - 1``, *above* that threshold, so a readout voltage that
grows too large spikes and resets to 0, and the class it stood for is lost.

The quantizer bounds the voltage by the float peak on the data times 1.25. That is not a
guarantee on other data (and hidden-layer rounding changes the spikes the readout sums), so
:func:`sg_ptq` checks the fixed readout on the calibration data and requires its peak voltage to
stay below ``READOUT_HEADROOM`` (half) of the spiking level; if not, it re-quantizes the readout
layer alone with a smaller scale (the float peak inflated until it fits). That costs nothing in
weight precision (the weights keep their 8-bit mantissas under a smaller ``weight_exp``), only
resolution in the bias. The report gives the margin, and the accuracies count readouts that
spiked on every evaluated split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neurorecon.data.dataset import check_labels, check_sequences
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.profiles import load_profile
from neurorecon.quantize import QuantizationReport, quantize_network
from neurorecon.quantize.activity import float_state_peaks
from neurorecon.quantize.fixed_point import quantize_layer
from neurorecon.simulate import check_input, readout_steps, simulate
from neurorecon.simulate.arithmetic import STATE_SHIFT
from neurorecon.simulate.predict import readout_run
from neurorecon.readout import Readout

READOUT_HEADROOM = 0.5  # fixed readout peak voltage / spiking level allowed on the calibration data
MAX_RESCALES = 16
CALIBRATION_SAMPLES = 4096


@dataclass
class ReadoutCheck:
    """The fixed readout's voltage on the calibration data against the level where it spikes."""

    peak_voltage: float  # largest readout voltage (fixed units) on the calibration data
    spiking_level: float  # vth_int << 6
    margin: float  # 1 - peak / spiking level
    rescaled: int  # times the readout layer was re-quantized with a smaller scale
    scale: float  # the readout layer's final scale (fixed v units per float v unit)


@dataclass
class PTQReport:
    """What :func:`sg_ptq` did and what it cost: quantization, readout check, accuracies."""

    profile: str
    quantization: QuantizationReport
    readout: ReadoutCheck | None  # None for a float profile
    accuracy: dict[str, dict] = field(default_factory=dict)  # split -> float/chip accuracy, agreement

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = self.quantization.lines()
        if self.readout is not None:
            r = self.readout
            out.append(f"readout: peak voltage {r.peak_voltage:.0f} of {r.spiking_level:.0f} "
                       f"(margin {r.margin:.1%}), re-scaled {r.rescaled} time(s)")
        for split, a in self.accuracy.items():
            out.append(f"{split}: float {a['float']:.4f}, chip {a['chip']:.4f}, agreement {a['agreement']:.4f}, "
                       f"readout spiked on {a['readout_spiked']} of {a['samples']} samples")
        return out


def predict(net: Network, X, backend: str = "emulator") -> tuple[np.ndarray, int]:
    """Class predictions of a classifier Network (metadata ``readout``): (n,) or (n, T) for
    ``step``; also the number of samples whose readout layer spiked (it never should)."""
    pred, result = readout_run(net, check_input(net, X), backend, record=("counts",))
    return pred, int(np.count_nonzero(result.spike_counts[net.n_layers - 1].sum(axis=1)))


def readout_peak(net_fixed: Network, X: np.ndarray) -> tuple[float, bool]:
    """Largest readout voltage on ``X`` and whether the readout spiked."""
    last = net_fixed.n_layers - 1
    result = simulate(net_fixed, X, n_steps=readout_steps(net_fixed, X.shape[1]), record=("v", "spikes"),
                      layers=[last])
    return float(result.v[last].max(initial=0)), bool(result.spikes[last].any())


def _check_float_classifier(net_float) -> Readout:
    if not isinstance(net_float, Network):
        raise NeuroreconError("sg_ptq() needs a neurorecon.Network")
    if net_float.arithmetic != "float":
        raise NeuroreconError("sg_ptq() quantizes a float network; this one is already fixed point")
    if net_float.n_layers < 2:
        raise NeuroreconError("sg_ptq() needs a classifier: hidden layer(s) and a readout layer")
    kind = net_float.metadata.get("readout")
    if kind is None:
        raise NeuroreconError("the network's metadata names no readout ('last', 'count' or 'step')")
    return Readout(kind)


def _keep_readout_silent(net_float: Network, net_fixed: Network, report: QuantizationReport, x: np.ndarray,
                         profile) -> tuple[Network, ReadoutCheck]:
    """Re-quantize the readout layer with a smaller scale until its peak fits the headroom."""
    last = net_fixed.n_layers - 1
    level = float(net_fixed.layers[last].vth.min()) * 2**STATE_SHIFT
    peak, spiked = readout_peak(net_fixed, x)
    rescaled = 0
    if spiked or peak > READOUT_HEADROOM * level:
        peaks = float_state_peaks(net_float, x)
        inflate = 1.0
        while spiked or peak > READOUT_HEADROOM * level:
            if rescaled == MAX_RESCALES:
                raise NeuroreconError(
                    f"cannot keep the readout from spiking on profile {profile.name}: its voltage reaches "
                    f"{peak:.0f} of {level:.0f} even at the smallest scale tried"
                )
            inflate *= max(2.0, peak / (READOUT_HEADROOM * level))
            layer, layer_report = quantize_layer(net_float.layers[last], last, profile.precision, 1.0,
                                                 peaks.u_peak[last], peaks.v_peak[last] * inflate)
            layer_report.notes.append(f"readout re-quantized by sg_ptq: float peak |v| inflated {inflate:g}x "
                                      f"to keep the fixed voltage below {READOUT_HEADROOM:.0%} of the spiking level")
            net_fixed = Network(list(net_fixed.layers[:last]) + [layer], arithmetic="fixed",
                                metadata=dict(net_fixed.metadata))
            report.layers[last] = layer_report
            rescaled += 1
            peak, spiked = readout_peak(net_fixed, x)
        net_fixed.metadata["quantization_scales"] = [r.scale for r in report.layers]
    check = ReadoutCheck(peak, level, 1 - peak / level, rescaled, report.layers[last].scale)
    return net_fixed, check


def _accuracy(net_float: Network, net_fixed: Network, X, y) -> dict:
    float_pred, _ = predict(net_float, X)
    chip_pred, spiked = predict(net_fixed, X)
    return {
        "samples": int(len(X)),
        "float": float(np.mean(float_pred == y)),
        "chip": float(np.mean(chip_pred == y)),
        "agreement": float(np.mean(float_pred == chip_pred)),
        "readout_spiked": spiked,
    }


def sg_ptq(net_float: Network, profile="loihi2", X_calibration=None, y_calibration=None, *,
           evaluate: dict | None = None) -> tuple[Network, PTQReport]:
    """Quantize an SG-trained float classifier for ``profile``; return the fixed Network and a report.

    ``X_calibration`` (n, T, d) sets the per-layer scales (its first ``CALIBRATION_SAMPLES``
    samples) and the readout check; with ``y_calibration`` the report also gives its float
    and chip (emulator) accuracy; ``evaluate`` maps more split names to ``(X, y)``.
    """
    readout = _check_float_classifier(net_float)
    if X_calibration is None:
        raise NeuroreconError("sg_ptq() needs calibration data X_calibration (n, T, d)")
    x = check_input(net_float, check_sequences(X_calibration, "X_calibration"))[:CALIBRATION_SAMPLES]
    splits = {}
    if y_calibration is not None:
        splits["calibration"] = (X_calibration, y_calibration)
    splits.update(evaluate or {})
    checked = {}
    for name, (X, y) in splits.items():
        X = check_input(net_float, check_sequences(X, f"X ({name})"))
        y = check_labels(y, X, f"y ({name})", n_classes=net_float.n_outputs)
        if readout.per_step != (y.ndim == 2):
            raise NeuroreconError(f"y ({name}) must have shape (n, T) for the 'step' readout and (n,) otherwise")
        checked[name] = (X, y)
    profile = load_profile(profile)
    net_fixed, quantization = quantize_network(net_float, profile, data=x, max_samples=len(x))
    check = None
    if profile.is_fixed:
        net_fixed, check = _keep_readout_silent(net_float, net_fixed, quantization, x, profile)
        net_fixed.metadata["ptq"] = {"method": "sg_ptq", "readout_headroom": READOUT_HEADROOM,
                                     "readout_margin": check.margin, "readout_rescaled": check.rescaled}
    report = PTQReport(profile.name, quantization, check)
    for name, (X, y) in checked.items():
        report.accuracy[name] = _accuracy(net_float, net_fixed, X, y)
    return net_fixed, report
