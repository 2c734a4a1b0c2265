"""Convex readout repair of an imported, quantized network (``import-nir --refit-readout``).

Post-training quantization moves a network from another framework onto the chip's integers,
and the hidden spikes change with it (the accuracy users lose moving networks between
frameworks and onto Loihi). The repair keeps the quantized hidden layers exactly as the chip
runs them and re-fits only the last layer, convexly, on the chip's exact hidden spikes:

1. the hidden raster of the fixed network on the data (the emulator is bit-exact);
2. spike counts as features, the group-Lasso readout solved with its primal-dual certificate
   (:func:`neurorecon.solve.solve`), beta chosen on a validation split from a short path; if
   no re-fit on the rest of the data beats the quantized readout on that validation split, the
   quantized network is kept as it is (reported: ``refitted`` is False);
3. the readout put on the chip's grid and verified there
   (:func:`~neurorecon.train.convex.integer_readout.fit_integer_readout`): a ``count`` readout
   (du = 4095, dv = 0, never spikes); the class is the argmax of its final voltage.

Predictions of an imported network (:func:`imported_predictions`): the argmax of the last
layer's final voltage when it never spikes (an imported LI/CubaLI readout), else of its spike
counts (first class on ties).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurorecon.data.dataset import check_labels, check_sequences
from neurorecon.errors import NeuroreconError
from neurorecon.network import VTH_MAX, Network
from neurorecon.profiles import Profile, load_profile
from neurorecon.readout import NON_SPIKING_VTH, Readout
from neurorecon.simulate import check_input, readout_steps, simulate
from neurorecon.solve import beta_max, solve, solve_path
from neurorecon.train.convex.integer_readout import fit_integer_readout
from neurorecon.train.convex.reconstruct import hidden_raster

PATH_FRACTIONS = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4)  # beta / beta_max tried on the validation split
VALIDATION_SHARE = 0.2
PENALTY = "group"
TOL = 1e-6


@dataclass(eq=False)
class RepairReport:
    """What the repair did: the certified solve, the integer readout, the accuracies."""

    readout: str
    refitted: bool  # False: the quantized readout was better on the validation split and is kept
    beta: float
    validation_accuracy: float  # the best re-fit on the validation split (fitted on the rest)
    kept_validation_accuracy: float  # the quantized network on the validation split
    n_hidden: int
    n_selected: int
    duality_gap: float
    converged: bool
    accuracy: dict = field(default_factory=dict)  # split -> float / ptq / repaired accuracy
    integer_readout: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def never_spikes(net: Network) -> bool:
    """True when the last layer is a readout that cannot spike (an imported LI/CubaLI)."""
    vth = net.layers[-1].vth
    return bool(np.all(vth >= (VTH_MAX if net.arithmetic == "fixed" else NON_SPIKING_VTH)))


def imported_predictions(net: Network, X: np.ndarray) -> np.ndarray:
    """Class per sample: final voltage argmax of a non-spiking last layer, else spike-count argmax."""
    last = net.n_layers - 1
    record = () if never_spikes(net) else ("counts",)
    result = simulate(net, X, n_steps=readout_steps(net, X.shape[1]), record=record, layers=[last])
    return result.final_v[last].argmax(axis=1) if never_spikes(net) else result.spike_counts[last].argmax(axis=1)


def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(round(VALIDATION_SHARE * len(y))))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def accuracies(net_float: Network, net_fixed: Network, repaired: Network, X: np.ndarray, y: np.ndarray) -> dict:
    """Float, plain-PTQ and repaired chip (emulator) accuracy on ``(X, y)``."""
    return {
        "samples": int(len(y)),
        "float": float((imported_predictions(net_float, X) == y).mean()),
        "ptq": float((imported_predictions(net_fixed, X) == y).mean()),
        "repaired": float((imported_predictions(repaired, X) == y).mean()),
    }


def repair_readout(net_float: Network, net_fixed: Network, X, y, profile: str | Profile, *,
                   evaluate: dict | None = None, seed: int = 0) -> tuple[Network, RepairReport]:
    """Re-fit ``net_fixed``'s last layer convexly on its exact hidden spikes for labels ``y``.

    ``net_float`` is the imported float network ``net_fixed`` was quantized from (for the float
    accuracy). ``evaluate`` maps more split names to ``(X, y)``. Returns the repaired fixed
    Network (metadata ``readout="count"``) and the report (accuracies per split, ``"data"`` first).
    """
    profile = load_profile(profile)
    if not profile.is_fixed or net_fixed.arithmetic != "fixed":
        raise NeuroreconError("the readout repair re-fits a quantized network: use a fixed-point profile")
    if net_fixed.n_layers < 2:
        raise NeuroreconError(
            "the graph has a single layer: the readout repair re-fits the last layer on the spikes of the "
            "layers before it, and there are none"
        )
    X = check_input(net_fixed, check_sequences(X, "X"))
    n_classes = net_fixed.n_outputs
    y = check_labels(y, X, "y", n_classes=n_classes)
    if y.ndim != 1:
        raise NeuroreconError("the readout repair needs one label per sample: y must have shape (n,)")
    if len(np.unique(y)) < 2:
        raise NeuroreconError("the readout repair needs labels of at least two classes in y")
    readout = Readout("count")
    hidden = list(net_fixed.layers[:-1])
    depth, t_frames = len(hidden) - 1, X.shape[1]
    raster = hidden_raster(hidden, X, "fixed")
    features = raster.sum(axis=1, dtype=np.float64)  # what the count readout integrates
    Y = readout.targets(y, n_classes)
    fit, val = _split(y, seed)
    top = beta_max(features[fit], Y[fit], PENALTY)
    if top <= 0:
        raise NeuroreconError("the hidden layers do not spike on the data: there is nothing to re-fit on")
    path = solve_path(features[fit], Y[fit], [f * top for f in PATH_FRACTIONS], penalty=PENALTY, tol=1e-4)
    scores = [float((r.predict(features[val]).argmax(axis=1) == y[val]).mean()) for r in path]
    best = int(np.argmax(scores))
    kept_accuracy = float((imported_predictions(net_fixed, X[val]) == y[val]).mean())
    beta = PATH_FRACTIONS[best] * beta_max(features, Y, PENALTY)
    result = solve(features, Y, beta, penalty=PENALTY, tol=TOL, W0=path[best].W)
    if result.support.size == 0:
        raise NeuroreconError("the convex readout selected no hidden neuron on this data")
    layer, quant, _ = fit_integer_readout(result.W, result.intercept, raster, Y, beta, PENALTY, readout, profile,
                                          t_frames, depth, weight_bits=profile.precision.weight_bits)
    refitted = scores[best] > kept_accuracy
    if refitted:
        metadata = dict(net_fixed.metadata, readout="count", n_classes=n_classes, t_frames=int(t_frames),
                        repair={"method": "convex readout repair", "beta": beta, "penalty": PENALTY})
        repaired = Network(hidden + [layer], arithmetic="fixed", metadata=metadata)
    else:
        repaired = net_fixed
    report = RepairReport(
        readout=readout.kind if refitted else "the quantized network's own", refitted=refitted, beta=beta, validation_accuracy=scores[best], kept_validation_accuracy=kept_accuracy, n_hidden=int(features.shape[1]),
        n_selected=int(result.support.size), duality_gap=float(result.gap), converged=bool(result.converged),
        accuracy={"data": accuracies(net_float, net_fixed, repaired, X, y)},
        integer_readout=quant.__dict__,
    )
    for name, (X_split, y_split) in (evaluate or {}).items():
        X_split = check_input(net_fixed, check_sequences(X_split, f"X ({name})"))
        y_split = check_labels(y_split, X_split, f"y ({name})", n_classes=n_classes)
        report.accuracy[name] = accuracies(net_float, net_fixed, repaired, X_split, y_split)
    return repaired, report
