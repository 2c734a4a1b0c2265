"""The starting float Network of surrogate-gradient training: architecture and initial weights.

Hidden layers: neurons split evenly into contiguous groups, one per (tau_u, tau_v) pair of the
time-constant palette (default: the witnesses' palette, :func:`default_palette`, so SG hidden
layers and convex witnesses share the chip's neuron configurations), all with ``vth = 1``.
Lava and the chip share (du, dv, vth) per process/neuron configuration, so a layer has as many
groups as the palette has pairs, and training (which never touches du, dv, vth) keeps them.

Readout: Dense + LIF that never spikes, with the readout kind's decays
(:meth:`Readout.output_decays`: ``last``/``step`` du = dv = 1, ``count`` du = 1, dv = 0).

Initial weights are Gaussian (scaled by the input's second moment), then calibrated on data
layer by layer, as the witnesses are: a probe run with the threshold out of reach measures each
group's membrane voltage, and the group's weights are scaled so that the voltage exceeds the
threshold at a fraction ``INIT_ABOVE_THRESHOLD`` of (sample, step) points. Without this, slow
groups start silent (a random drive random-walks, it does not accumulate). The readout starts
with scores of spread ``READOUT_GAIN`` whatever its kind; biases start at 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.readout import NON_SPIKING_VTH
from neurorecon.simulate.emulator import emulate
from neurorecon.readout import Readout
from neurorecon.train.convex.witnesses import decays

INIT_ABOVE_THRESHOLD = 0.1  # fraction of probe (sample, step) points above threshold per group
CALIBRATION_SAMPLES = 512
HIDDEN_RATE_GUESS = 0.1  # second moment assumed for a hidden layer's spikes at initialisation
RECURRENT_GAIN = 0.5  # recurrent drive relative to the feed-forward drive at initialisation
READOUT_GAIN = 1.0  # initial class scores' standard deviation (about)
MAX_SCORE_SPREAD = 16.0  # largest score standard deviation a fine-tuning start is rescaled to
VTH = 1.0


def group_of_neurons(n: int, n_groups: int) -> np.ndarray:
    """Contiguous, balanced group index of each of ``n`` neurons."""
    return (np.arange(n) * n_groups) // n


def hidden_layer(n_in: int, n: int, palette: Sequence[tuple[float, float]], second_moment: float,
                 recurrent: bool, rng: np.random.Generator, num_message_bits: int = 0) -> LIFLayer:
    """One hidden LIF layer with palette groups, ``vth = 1`` and Gaussian weights (uncalibrated)."""
    pairs = [decays(tau_u, tau_v, "float") for tau_u, tau_v in palette]
    groups = group_of_neurons(n, len(pairs))
    du = np.array([pairs[g][0] for g in groups])
    dv = np.array([pairs[g][1] for g in groups])
    weights = rng.standard_normal((n, n_in)) / np.sqrt(max(n_in * second_moment, 1.0))
    rec = None
    if recurrent:
        rec = Dense(RECURRENT_GAIN * rng.standard_normal((n, n)) / np.sqrt(max(n * HIDDEN_RATE_GUESS, 1.0)))
    return LIFLayer(weights, du=du, dv=dv, vth=VTH, bias_mant=0.0, num_message_bits=num_message_bits, recurrent=rec)


def readout_layer(n_in: int, n_classes: int, readout: Readout, spikes: np.ndarray, t_frames: int,
                  rng: np.random.Generator) -> LIFLayer:
    """The non-spiking readout layer for ``readout``, its weights scaled by the second moment of
    the features it reads (``spikes``: the last hidden layer's calibration raster), so the
    initial scores have a standard deviation of about ``READOUT_GAIN`` for every readout kind."""
    du, dv = readout.output_decays("float")
    if readout.kind == "count":
        features = spikes.sum(axis=1, dtype=np.float64)
    elif readout.kind == "last":
        features = spikes[:, -1].astype(np.float64)
    else:
        features = spikes[:, -t_frames:].astype(np.float64)
    second_moment = float(np.mean(features**2))
    weights = READOUT_GAIN * rng.standard_normal((n_classes, n_in)) / np.sqrt(max(n_in * second_moment, 1e-3))
    return LIFLayer(weights, du=du, dv=dv, vth=NON_SPIKING_VTH, bias_mant=0.0)


def calibrate(layer: LIFLayer, inputs: np.ndarray) -> LIFLayer:
    """Scale each group's weights (feed-forward and recurrent) so that a probe run's voltage is
    above the threshold at ``INIT_ABOVE_THRESHOLD`` of its (sample, step, neuron) points."""
    probe = layer.replace(vth=NON_SPIKING_VTH, recurrent=None)
    v = emulate(Network([probe], arithmetic="float"), inputs, inputs.shape[1] + 1, ("v",), [0]).v[0]
    factor = np.ones(layer.n_neurons)
    for members in layer.groups():
        level = float(np.quantile(v[:, :, members], 1 - INIT_ABOVE_THRESHOLD))
        if level > 0:
            factor[members] = layer.vth[members] / level
    recurrent = None if layer.recurrent is None else Dense(layer.recurrent.weights * factor[:, None])
    return layer.replace(weights=layer.weights * factor[:, None], recurrent=recurrent)


def layer_spikes(layer: LIFLayer, inputs: np.ndarray) -> np.ndarray:
    """The layer's spikes on ``inputs`` (what the next layer sees, one step later)."""
    result = emulate(Network([layer], arithmetic="float"), inputs, inputs.shape[1] + 1, ("spikes",), [0])
    return result.spikes[0].astype(np.uint8)


def initial_network(X: np.ndarray, n_classes: int, hidden: Sequence[int], readout: Readout,
                    palette: Sequence[tuple[float, float]], recurrent: bool, num_message_bits: int,
                    rng: np.random.Generator) -> Network:
    """The untrained float Network for inputs like ``X`` (n, T, d), calibrated on ``X``."""
    t_frames, n_in = X.shape[1], X.shape[2]
    inputs = X[np.sort(rng.permutation(X.shape[0])[:CALIBRATION_SAMPLES])]
    layers = []
    second_moment = float(np.mean(X.astype(np.float64) ** 2))
    for i, size in enumerate(hidden):
        layer = hidden_layer(n_in, size, palette, second_moment, recurrent, rng,
                             num_message_bits if i == 0 else 0)
        layers.append(calibrate(layer, inputs))
        inputs = layer_spikes(layers[-1], inputs)
        n_in, second_moment = size, float(inputs.mean())
    layers.append(readout_layer(n_in, n_classes, readout, inputs, t_frames, rng))
    return Network(layers, arithmetic="float")


def best_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The power of two ``c`` minimising the cross-entropy of ``scores / c`` (rows x classes)
    against ``labels``, with the spread of ``scores / c`` at most ``MAX_SCORE_SPREAD``: the
    readout scale at which fine-tuning starts without a loss shock. (Without the cap, a network
    that separates its data perfectly would take ever larger scores, and one misclassified
    sample a huge loss.)"""
    def loss(c: float) -> float:
        z = scores / c
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(labels)), labels].mean())

    spread = float(np.std(scores))
    candidates = [c for c in 2.0 ** np.arange(-30, 31) if spread / c <= MAX_SCORE_SPREAD]
    return float(min(candidates, key=loss))


def threshold_units(net: Network, X: np.ndarray, y: np.ndarray, readout: Readout,
                    rng: np.random.Generator) -> Network:
    """``net`` rescaled for training from where it is: hidden layers in threshold units, readout
    at its best temperature.

    A network already in threshold units (every hidden ``vth = 1``, e.g. one SG trained) is
    returned unchanged. Otherwise (a dequantized fixed network has thresholds in the hundreds)
    each hidden neuron's weights, bias and threshold are divided by its threshold (the same
    spikes, up to float rounding), and the readout by the power of two (exact) that minimises
    the cross-entropy on (``X``, ``y``) (:func:`best_temperature`); the argmax, hence every
    prediction, is unchanged.
    """
    hidden = net.layers[:-1]
    if all(np.all(layer.vth == VTH) for layer in hidden):
        return net
    layers = []
    for layer in hidden:
        unit = np.where(layer.vth > 0, layer.vth, 1.0)
        recurrent = None if layer.recurrent is None else Dense(layer.recurrent.weights / unit[:, None])
        layers.append(layer.replace(weights=layer.weights / unit[:, None], bias_mant=layer.bias_mant / unit,
                                    vth=layer.vth / unit, recurrent=recurrent))
    out = net.layers[-1].replace(vth=NON_SPIKING_VTH)
    probe = Network(layers + [out], arithmetic="float", metadata=net.metadata)
    rows = np.sort(rng.permutation(X.shape[0])[:CALIBRATION_SAMPLES])
    x = X[rows]
    steps = x.shape[1] + probe.n_layers
    v = emulate(probe, x, steps, ("v",), [probe.n_layers - 1]).v[-1]
    scores = v[:, probe.n_layers: probe.n_layers + x.shape[1]] if readout.per_step else v[:, -1]
    scale = best_temperature(scores.reshape(-1, scores.shape[-1]), y[rows].reshape(-1))
    out = out.replace(weights=out.weights / scale, bias_mant=out.bias_mant / scale)
    return Network(layers + [out], arithmetic="float", metadata=net.metadata)
