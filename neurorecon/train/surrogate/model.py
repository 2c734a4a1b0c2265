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

import numpy as np
import torch
from norse.torch.functional.threshold import threshold as norse_threshold

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
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


class SurrogateLayer(torch.nn.Module):
    """One Dense(+recurrent) -> LIF layer with trainable weights and biases.

    Decays and thresholds are fixed buffers: they define the layer's (du, dv, vth) groups, which
    Lava and the chip share per process, so training never creates new groups.
    """

    def __init__(self, layer: LIFLayer, spiking: bool, surrogate: str, alpha: float,
                 dtype: torch.dtype):
        super().__init__()
        self.spiking = spiking
        self.surrogate = surrogate
        self.alpha = float(alpha)

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
        self._source = layer

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

        recurrent = None if self.recurrent is None else Dense(numpy(self.recurrent))
        vth = self._source.vth if self.spiking else NON_SPIKING_VTH
        return self._source.replace(weights=numpy(self.weight), bias_mant=numpy(self.bias),
                                    bias_exp=0, vth=vth, recurrent=recurrent)


class SurrogateNetwork(torch.nn.Module):
    """A float :class:`Network` (hidden LIF layers + non-spiking readout) as a torch module."""

    def __init__(self, net: Network, t_frames: int, surrogate: str = DEFAULT_SURROGATE[0],
                 alpha: float = DEFAULT_SURROGATE[1], dtype: torch.dtype = torch.float32):
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
            SurrogateLayer(layer, i < last, surrogate, alpha, dtype) for i, layer in enumerate(net.layers)
        )
        self.metadata = dict(net.metadata)

    def forward(self, x: torch.Tensor, n_steps: int | None = None, record_spikes: bool = False) -> ForwardResult:
        """Run ``x`` (B, T, N_in) for ``n_steps`` steps (default: the readout steps of the
        training length), as the emulator does (inputs past T are zero)."""
        n_steps = self.n_steps if n_steps is None else n_steps
        batch, t_in, _ = x.shape
        n_hidden = len(self.layers) - 1
        input_current = torch.matmul(x, self.layers[0].weight.T)  # all frames at once, like the emulator
        constants = [layer.constants() for layer in self.layers]
        recurrent = [layer.recurrent for layer in self.layers]
        forward_weights = [None] + [layer.weight.T for layer in self.layers[1:]]
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
                    a = input_current[:, t - 1] if 1 <= t <= t_in else 0.0
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
