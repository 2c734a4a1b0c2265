"""A float Network as a differentiable torch module, for surrogate-gradient (SG) training.

The forward pass steps every layer with :func:`neurorecon.simulate.arithmetic.float_lif_update`,
the function the emulator steps float networks with, on torch tensors, under the project's time
convention (:mod:`neurorecon.simulate`: input frame k arrives at step k + 1, every Dense delays
one step, ``readout_steps`` steps in all). Spikes come from a Norse surrogate
(``norse.torch.functional.threshold.threshold``): the forward value is Norse's Heaviside,
``x > 0``, which on ``x = (v - vth) / vth`` is exactly Lava's strict ``v > vth``; only the
backward pass differs. So, without gradients, the module computes what the emulator computes on
the same float Network (measured: identical in float64; in float32, the same spikes and
voltages within ~3e-7 relative).

The trainable parameters are the Network's own weights and biases (float32 by default; float64
on request), so converting back (:meth:`SurrogateNetwork.to_network`) is exact. Decays and
thresholds are fixed. The surrogate is applied to ``(v - vth) / vth``, so its width is relative
to each neuron's threshold whatever the network's units, and the reset uses the spike with its
gradient detached, as Norse's LIF does.

The last layer is the readout: Dense + LIF that never spikes (threshold ``NON_SPIKING_VTH``).
"""

from __future__ import annotations

from typing import NamedTuple

import math

import numpy as np
import torch
from norse.torch.functional.threshold import threshold as norse_threshold

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.quantize.scale import WeightGrid, weight_grid
from neurorecon.readout import NON_SPIKING_VTH
from neurorecon.simulate import readout_steps
from neurorecon.simulate.arithmetic import LIFConstants, float_lif_update, lif_constants

SURROGATES = ("tanh", "super", "triangle", "circ", "heavi_erfc")  # Norse's deterministic surrogates
# Norse's HeaviTanh: backward 1 - tanh(alpha x)^2 on x = (v - vth) / vth, so a width of vth / alpha
# and a peak of 1. Norse 1.1.0's SuperSpike ignores alpha (1 / (|x| + 1)^2: width vth), which
# trained markedly worse here (seq-MNIST, 5 epochs, same setup: 64 % against 88 %).
DEFAULT_SURROGATE = ("tanh", 5.0)


class ForwardResult(NamedTuple):
    """What :meth:`SurrogateNetwork.forward` returns."""

    readout_v: torch.Tensor  # (B, n_steps, C): the readout layer's voltage at every step
    rates: list[torch.Tensor]  # per hidden layer: mean firing rate per neuron and step (detached)
    spikes: list[torch.Tensor] | None  # per hidden layer (B, n_steps, N), when asked for


def _grid(w: torch.Tensor, bits: int) -> WeightGrid:
    """The b-bit grid :func:`weight_grid` gives ``w``'s signs (what PTQ will use)."""
    w = w.detach()
    return weight_grid(np.array([float(w.min()), float(w.max())]), bits)


def fake_quantize(w: torch.Tensor, bits: int, unit: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``w`` on the b-bit integer grid post-training quantization will put it on, times its unit,
    with the straight-through estimator's identity gradient; returns (weights, unit).

    ``unit`` (float weight per integer step) defaults to ``max|w| / grid magnitude``: the weights
    fill the grid, which is what :func:`neurorecon.quantize.scale.choose_scale` does whenever the
    layer's scale is set by its weights (the usual case; the PTQ report says when it is not). A
    recurrent Dense shares the layer's scale but has its own exponent: pass the feed-forward unit
    and it is multiplied by the smallest power of two at which ``w`` fits its grid, as PTQ does.
    """
    grid = _grid(w, bits)
    if grid.magnitude == 0:
        raise NeuroreconError(f"{bits}-bit weights of mixed signs hold no positive value: use at least 2 bits")
    top = w.detach().abs().max()
    if float(top) == 0:
        return w, w.new_ones(())
    if unit is None:
        unit = top / grid.magnitude
    else:
        unit = unit * 2.0 ** math.ceil(math.log2(float(top / (unit * grid.magnitude))) - 1e-12)
    step = grid.step
    snapped = torch.clamp(step * torch.round(w.detach() / (unit * step)), grid.lo, grid.hi) * unit
    return w + (snapped - w.detach()), unit


class SurrogateLayer(torch.nn.Module):
    """One Dense(+recurrent) -> LIF layer with trainable weights and biases.

    Decays and thresholds are fixed buffers: they define the layer's (du, dv, vth) groups, which
    Lava and the chip share per process, so training never creates new groups. With
    ``weight_bits`` (quantization-aware training) the forward pass uses the weights fake-quantized
    to that grid (:func:`fake_quantize`), each group scaled by :meth:`group_gains` first; the
    parameters stay real-valued (the STE's latent weights). The exported layer holds the scaled
    grid weights with its groups' thresholds and biases scaled alike (the same spikes).
    """

    def __init__(self, layer: LIFLayer, spiking: bool, surrogate: str, alpha: float,
                 dtype: torch.dtype, weight_bits: int | None = None):
        super().__init__()
        self.spiking = spiking
        self.surrogate = surrogate
        self.alpha = float(alpha)
        self.weight_bits = weight_bits

        def tensor(x) -> torch.Tensor:
            return torch.tensor(np.asarray(x, dtype=np.float64), dtype=dtype)

        self.weight = torch.nn.Parameter(tensor(layer.weights))
        self.bias = torch.nn.Parameter(tensor(layer.bias_mant))
        self.recurrent = None
        if layer.recurrent is not None:
            self.recurrent = torch.nn.Parameter(tensor(layer.recurrent.weights))
        vth = layer.vth if spiking else np.full(layer.n_neurons, NON_SPIKING_VTH)
        decays = lif_constants(layer, "float")
        self.register_buffer("current_keep", tensor(decays.current_keep))
        self.register_buffer("voltage_keep", tensor(decays.voltage_keep))
        self.register_buffer("threshold", tensor(vth))
        self.register_buffer("inverse_unit", tensor(1.0 / np.where(vth > 0, vth, 1.0)))
        group = np.zeros(layer.n_neurons, np.int64)
        if spiking:
            for g, members in enumerate(layer.groups()):
                group[members] = g
        self.register_buffer("group", torch.as_tensor(group))
        self._source = layer

    def group_gains(self) -> torch.Tensor:
        """Per neuron, the power of two (>= 1) its (du, dv, vth) group's weights are scaled by
        under QAT so that every group's largest weight uses the top half of the layer's grid.

        Groups with slow time constants need much smaller weights than fast ones; on one grid per
        layer they would keep only a few levels. Scaling a group's weights, bias and threshold by
        the same power of two changes no spike (exactly, in float) and costs no chip resource (a
        group is one neuron configuration with its own threshold anyway).
        """
        top = self.weight.detach().abs().amax(dim=1)
        group_top = torch.zeros(int(self.group.max()) + 1, dtype=top.dtype, device=top.device)
        group_top = group_top.scatter_reduce(0, self.group, top, reduce="amax", include_self=True)[self.group]
        ratio = torch.where(group_top > 0, top.max() / torch.where(group_top > 0, group_top, 1.0), 1.0)
        return torch.exp2(torch.floor(torch.log2(ratio)))

    def dense_weights(self, scaled: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Feed-forward and recurrent weights as the forward pass uses them; under QAT, with
        ``scaled``, as the exported layer holds them (multiplied by :meth:`group_gains`)."""
        if self.weight_bits is None:
            return self.weight, self.recurrent
        gain = self.group_gains()[:, None]
        weight, unit = fake_quantize(self.weight * gain, self.weight_bits)
        recurrent = None
        if self.recurrent is not None:
            recurrent = fake_quantize(self.recurrent * gain, self.weight_bits, unit)[0]
        if scaled:
            return weight, recurrent
        return weight / gain, None if recurrent is None else recurrent / gain

    def constants(self) -> LIFConstants:
        """The layer's LIF constants as tensors (the bias carries the gradient)."""
        return LIFConstants(self.current_keep, self.voltage_keep, self.bias, self.threshold)

    def spike(self, x: torch.Tensor) -> torch.Tensor:
        """Norse's surrogate spike of ``x = v - vth``, taken in threshold units."""
        return norse_threshold(x * self.inverse_unit, self.surrogate, self.alpha)

    def step(self, u, v, a, constants: LIFConstants):
        """One step of the shared float arithmetic; returns (u, v, s)."""
        if not self.spiking:
            return float_lif_update(u, v, a, constants)
        return float_lif_update(u, v, a, constants, self.spike, reset_fn=torch.Tensor.detach)

    def to_layer(self) -> LIFLayer:
        """The layer with the trained weights and biases (float64, exactly what the module uses)."""

        def numpy(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().to(torch.float64).numpy().copy()

        weight, recurrent = self.dense_weights(scaled=True)
        recurrent = None if recurrent is None else Dense(numpy(recurrent))
        gain = numpy(self.group_gains()) if self.weight_bits is not None else 1.0
        vth = self._source.vth * gain if self.spiking else NON_SPIKING_VTH
        return self._source.replace(weights=numpy(weight), bias_mant=numpy(self.bias) * gain,
                                    bias_exp=0, vth=vth, recurrent=recurrent)


class SurrogateNetwork(torch.nn.Module):
    """A float :class:`Network` (hidden LIF layers + non-spiking readout) as a torch module."""

    def __init__(self, net: Network, t_frames: int, surrogate: str = DEFAULT_SURROGATE[0],
                 alpha: float = DEFAULT_SURROGATE[1], dtype: torch.dtype = torch.float32,
                 weight_bits: int | None = None):
        super().__init__()
        if net.arithmetic != "float":
            raise NeuroreconError("SurrogateNetwork needs a float Network (dequantize a fixed one first)")
        if net.n_layers < 2:
            raise NeuroreconError("a surrogate-gradient network needs at least one hidden layer and a readout")
        if surrogate not in SURROGATES:
            raise NeuroreconError(f"surrogate must be one of {SURROGATES}; got {surrogate!r}")
        self.t_frames = int(t_frames)
        self.n_steps = readout_steps(net, self.t_frames)
        last = net.n_layers - 1
        self.layers = torch.nn.ModuleList(
            SurrogateLayer(layer, i < last, surrogate, alpha, dtype, weight_bits) for i, layer in enumerate(net.layers)
        )
        self.metadata = dict(net.metadata)

    def forward(self, x: torch.Tensor, n_steps: int | None = None, record_spikes: bool = False) -> ForwardResult:
        """Run ``x`` (B, T, N_in) for ``n_steps`` steps (default: the readout steps of the
        training length), as the emulator does (inputs past T are zero)."""
        n_steps = self.n_steps if n_steps is None else n_steps
        batch, t_in, _ = x.shape
        n_hidden = len(self.layers) - 1
        dense = [layer.dense_weights() for layer in self.layers]
        # all frames at once, like the emulator; unbound once, so that the backward pass does not
        # build a zero-padded full-size gradient for every step (as indexing [:, t] would)
        input_frames = torch.matmul(x, dense[0][0].T).unbind(dim=1)
        constants = [layer.constants() for layer in self.layers]
        recurrent = [rec for _, rec in dense]
        forward_weights = [None] + [weight.T for weight, _ in dense[1:]]
        u = [x.new_zeros(batch, c.threshold.shape[0]) for c in constants]
        v = [torch.zeros_like(state) for state in u]
        previous: list[torch.Tensor | None] = [None] * len(self.layers)
        counts = [x.new_zeros(()) for _ in range(n_hidden)]
        spikes: list[list[torch.Tensor]] = [[] for _ in range(n_hidden)]
        readout = []
        for t in range(n_steps):
            current = []
            for i, layer in enumerate(self.layers):
                # Dense delivers the previous step's accumulation (one-step delay).
                if i == 0:
                    a = input_frames[t - 1] if 1 <= t <= t_in else 0.0
                else:
                    a = previous[i - 1] @ forward_weights[i] if previous[i - 1] is not None else 0.0
                if recurrent[i] is not None and previous[i] is not None:
                    a = a + previous[i] @ recurrent[i].T
                u[i], v[i], s = layer.step(u[i], v[i], a, constants[i])
                current.append(s)
                if i < n_hidden:
                    counts[i] = counts[i] + s.detach().mean()
                    if record_spikes:
                        spikes[i].append(s.detach())
            readout.append(v[-1])
            previous = current
        recorded = [torch.stack(s, dim=1) for s in spikes] if record_spikes else None
        return ForwardResult(torch.stack(readout, dim=1), [c / n_steps for c in counts], recorded)

    def to_network(self, metadata: dict | None = None) -> Network:
        """The trained float Network (readout never spikes), with ``metadata``."""
        layers = [layer.to_layer() for layer in self.layers]
        return Network(layers, arithmetic="float", metadata=dict(self.metadata if metadata is None else metadata))
