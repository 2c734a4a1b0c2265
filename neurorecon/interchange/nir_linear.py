"""Runs of NIR linear nodes composed into one matrix: Affine, Linear, Scale, Flatten, and the
convolutional nodes Conv2d, SumPool2d, AvgPool2d lowered to the matrix they apply; Delay nodes
become the synaptic delays of that matrix.

A value flows through the run with a shape (``(C, H, W)`` for images, ``(N,)`` for vectors),
stored flat in C order, as torch flattens it. A convolution is linear, so it is exactly the
sparse matrix whose row ``(c_out, y, x)`` holds the kernel taps at the input positions they
read (zero padding contributes nothing); pooling is a convolution with a ones kernel per
channel (``1/(kh kw)`` for AvgPool2d, torch's ``count_include_pad``). Matrices stay sparse while
they compose; the layer receives the dense result (the Network holds Dense connections).

A ``Delay`` (``y(t) = x(t - tau)``, one tau per value) delays every synapse of the values it
delays: at the start of a run (before any matrix) it delays the synapses *from* each input, at
the end (after the matrices) the synapses *into* each value; a synapse's delay is the sum, in
whole steps of ``dt`` (Lava's ``DelayDense``). Inside a run a Delay is followed only by
element-wise nodes (Scale, Flatten) unless all its taus are equal: a matrix mixing values
delayed differently would give one synapse several delays. A Delay after a bias is refused: the
delayed bias would be missing for the first steps, which a neuron's constant bias cannot say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
from scipy import sparse

from neurorecon._limits import check_memory
from neurorecon.convolution import conv_matrix
from neurorecon.errors import NeuroreconError

CONV_TYPES = (nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
LINEAR_TYPES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Delay) + CONV_TYPES
WHOLE_STEP_TOLERANCE = 1e-6  # relative: a tau / dt this close to an integer is that many steps


def _finite(name: str, node: nir.NIRNode, key: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise NeuroreconError(f"node '{name}' ({type(node).__name__}): {key} contains NaN or infinite values")
    return array


def _pair(name: str, node: nir.NIRNode, key: str, value, minimum: int) -> tuple[int, int]:
    """A 2-D hyper-parameter (stride, padding, ...) as two integers >= ``minimum``."""
    if isinstance(value, str):
        if key == "padding" and value == "valid":
            return (0, 0)
        raise NeuroreconError(f"node '{name}' ({type(node).__name__}): {key}={value!r} is not supported (give integers)")
    array = np.asarray(value).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, 2)
    if array.size != 2 or not np.all(np.isfinite(array.astype(np.float64))) or np.any(array != np.round(array)):
        raise NeuroreconError(f"node '{name}' ({type(node).__name__}): {key} must be two integers; got {value!r}")
    pair = (int(array[0]), int(array[1]))
    if min(pair) < minimum:
        raise NeuroreconError(f"node '{name}' ({type(node).__name__}): {key} must be >= {minimum}; got {list(pair)}")
    return pair


def pool_matrix(shape: tuple[int, ...], op: dict, where: str) -> tuple[sparse.csr_matrix, tuple[int, int, int]]:
    """SumPool2d / AvgPool2d (``op``: kernel_size, stride, padding) as a per-channel convolution."""
    if len(shape) != 3:
        raise NeuroreconError(f"{where} needs a (C, H, W) input; it receives shape {list(shape)}")
    kernel, channels = op["kernel_size"], shape[0]
    value = 1.0 / (kernel[0] * kernel[1]) if op["type"] == "AvgPool2d" else 1.0
    weight = np.full((channels, 1, *kernel), value)
    return conv_matrix(shape, weight, op["stride"], op["padding"], (1, 1), channels, where)


@dataclass(eq=False)
class LinearMap:
    """A composed run of linear nodes: ``y = weight @ x + bias``, ``y`` of shape ``shape``."""

    weight: sparse.csr_matrix
    bias: np.ndarray
    shape: tuple[int, ...]
    names: list[str] = field(default_factory=list)
    ops: list[dict] = field(default_factory=list)  # each node's kind and hyper-parameters (for re-export)
    in_delay: np.ndarray | None = None  # seconds, per input value: Delays before any matrix
    out_delay: np.ndarray | None = None  # seconds, per output value: Delays after the matrices

    @classmethod
    def identity(cls, shape: tuple[int, ...]) -> "LinearMap":
        n = int(np.prod(shape))
        return cls(sparse.identity(n, format="csr"), np.zeros(n), tuple(shape))

    @property
    def size(self) -> int:
        return int(self.weight.shape[0])

    def dense(self) -> np.ndarray:
        """The matrix a layer holds (after a memory estimate: a neuron node fed directly by a
        30,000-channel Input would need a 30,000 x 30,000 identity)."""
        rows, cols = self.weight.shape
        kind = "identity weight matrix (a neuron node fed directly by a vector of that size)" if self.is_identity() \
            else "weight matrix (the Dense layer of a neuron node)"
        check_memory(8.0 * rows * cols, f"a {rows} x {cols} {kind}")
        return self.weight.toarray()

    def _compose(self, name: str, matrix, bias: np.ndarray, shape: tuple[int, ...], op: dict) -> "LinearMap":
        matrix = sparse.csr_matrix(matrix)
        out_delay = self.out_delay
        if out_delay is not None and op["type"] != "Scale":
            if np.ptp(out_delay) > 0:
                raise NeuroreconError(
                    f"node '{name}' ({op['type']}) mixes values that the Delay before it delays by different "
                    "amounts: one synapse would need several delays (put the Delay after it, or before the first matrix)"
                )
            out_delay = np.full(matrix.shape[0], out_delay[0])
        op = dict(op, in_shape=list(self.shape))
        return LinearMap(sparse.csr_matrix(matrix @ self.weight), matrix @ self.bias + bias, shape, self.names + [name],
                         self.ops + [op], self.in_delay, out_delay)

    def _delay(self, name: str, node: nir.Delay) -> "LinearMap":
        """A Delay: on the run's inputs while no matrix came before it, else on its outputs."""
        where = f"node '{name}' (Delay)"
        tau = _finite(name, node, "delay", node.delay).reshape(-1)
        if tau.size not in (1, self.size):
            raise NeuroreconError(f"shape mismatch: {where} delays {tau.size} values but receives {self.size}")
        if tau.min() < 0:
            raise NeuroreconError(f"{where}: delays must be >= 0; got {tau.min():g}")
        tau = np.broadcast_to(tau, (self.size,)).astype(np.float64)
        op = {"type": "Delay", "in_shape": list(self.shape)}
        if all(o["type"] in ("Delay", "Flatten") for o in self.ops):  # still the identity: delay the inputs
            in_delay = tau if self.in_delay is None else self.in_delay + tau
            return LinearMap(self.weight, self.bias, self.shape, self.names + [name], self.ops + [op], in_delay, None)
        if np.any(self.bias != 0):
            raise NeuroreconError(
                f"{where} follows a bias ({', '.join(self.names)}): the delayed bias would be missing for the first "
                "steps, which a neuron's constant bias cannot express"
            )
        out_delay = tau if self.out_delay is None else self.out_delay + tau
        return LinearMap(self.weight, self.bias, self.shape, self.names + [name], self.ops + [op], self.in_delay, out_delay)

    def delay_steps(self, dt: float, where: str) -> np.ndarray | None:
        """Each synapse's delay in whole steps of ``dt`` (None without Delay nodes)."""
        if self.in_delay is None and self.out_delay is None:
            return None
        rows, cols = self.weight.shape
        tau = (np.zeros(cols) if self.in_delay is None else self.in_delay)[None, :] + \
            (np.zeros(rows) if self.out_delay is None else self.out_delay)[:, None]
        steps = tau / dt
        whole = np.round(steps)
        off = np.abs(steps - whole) > WHOLE_STEP_TOLERANCE * np.maximum(whole, 1.0)
        if np.any(off):
            raise NeuroreconError(
                f"{where}: a delay of {tau[off].flat[0]:g} s is not a whole number of steps of dt={dt:g} s "
                "(Lava delays synapses by whole steps; pass a dt that divides it)"
            )
        return whole.astype(np.int64)

    def then(self, name: str, node: nir.NIRNode) -> "LinearMap":
        """This map followed by one linear node (shape-checked)."""
        n, kind = self.size, type(node).__name__
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = _finite(name, node, "weight", node.weight)
            if w.ndim != 2:
                raise NeuroreconError(f"node '{name}' ({kind}) has a {w.ndim}-D weight; only matrices import")
            if w.shape[1] != n:
                raise NeuroreconError(f"shape mismatch: node '{name}' expects {w.shape[1]} inputs but receives {n}")
            b = np.zeros(w.shape[0])
            if isinstance(node, nir.Affine) and node.bias is not None:
                b = np.broadcast_to(_finite(name, node, "bias", node.bias).reshape(-1), (w.shape[0],)).copy()
            return self._compose(name, w, b, (w.shape[0],), {"type": "Affine"})
        if isinstance(node, nir.Scale):
            s = _finite(name, node, "scale", node.scale).reshape(-1)
            if s.size not in (1, n):
                raise NeuroreconError(f"shape mismatch: node '{name}' scales {s.size} values but receives {n}")
            return self._compose(name, sparse.diags(np.broadcast_to(s, (n,))), np.zeros(n), self.shape, {"type": "Scale"})
        if isinstance(node, nir.Flatten):
            return self._flatten(name, node)
        if isinstance(node, nir.Delay):
            return self._delay(name, node)
        where = f"node '{name}' ({kind})"
        if isinstance(node, nir.Conv2d):
            weight = _finite(name, node, "weight", node.weight)
            if weight.ndim != 4:
                raise NeuroreconError(f"{where} has a {weight.ndim}-D weight; Conv2d needs (C_out, C_in/groups, kh, kw)")
            groups = int(node.groups)
            op = {"type": "Conv2d", "weight_shape": list(weight.shape), "groups": groups,
                  **{key: list(_pair(name, node, key, getattr(node, key), low))
                     for key, low in (("stride", 1), ("padding", 0), ("dilation", 1))}}
            matrix, shape = conv_matrix(self.shape, weight, op["stride"], op["padding"], op["dilation"], groups, where)
            declared = np.asarray(node.input_shape if node.input_shape is not None else []).reshape(-1)
            if declared.size == 2 and tuple(int(d) for d in declared) != tuple(self.shape[1:]):
                raise NeuroreconError(f"shape mismatch: {where} declares input {declared.tolist()} "
                                      f"but receives {list(self.shape[1:])}")
            bias = np.zeros(weight.shape[0]) if node.bias is None else _finite(name, node, "bias", node.bias).reshape(-1)
            if bias.size not in (1, weight.shape[0]):
                raise NeuroreconError(f"{where} has {bias.size} biases for {weight.shape[0]} output channels")
            per_value = np.repeat(np.broadcast_to(bias, (weight.shape[0],)), shape[1] * shape[2])
            return self._compose(name, matrix, per_value, shape, op)
        # SumPool2d / AvgPool2d: a per-channel ones kernel
        if len(self.shape) != 3:
            raise NeuroreconError(f"{where} needs a (C, H, W) input; it receives shape {list(self.shape)}")
        op = {"type": type(node).__name__, **{key: list(_pair(name, node, key, getattr(node, key), low))
                                              for key, low in (("kernel_size", 1), ("stride", 1), ("padding", 0))}}
        matrix, shape = pool_matrix(self.shape, op, where)
        return self._compose(name, matrix, np.zeros(matrix.shape[0]), shape, op)

    def _flatten(self, name: str, node: nir.Flatten) -> "LinearMap":
        """Flatten changes the shape only: the values are already flat in C order."""
        ndim = len(self.shape)
        start, end = int(node.start_dim), int(node.end_dim)
        start, end = start + ndim if start < 0 else start, end + ndim if end < 0 else end
        if not 0 <= start <= end < ndim:
            raise NeuroreconError(
                f"node '{name}' (Flatten): start_dim={node.start_dim}, end_dim={node.end_dim} do not fit shape {list(self.shape)}"
            )
        shape = self.shape[:start] + (int(np.prod(self.shape[start:end + 1])),) + self.shape[end + 1:]
        try:
            declared = int(np.prod(np.asarray(node.output_type["output"], dtype=np.int64)))
        except (KeyError, TypeError, ValueError):
            declared = self.size  # an untyped Flatten: nothing to check
        if declared != self.size:
            raise NeuroreconError(f"shape mismatch: node '{name}' (Flatten) outputs {declared} values but receives {self.size}")
        op = {"type": "Flatten", "start_dim": start, "end_dim": end, "in_shape": list(self.shape)}
        return LinearMap(self.weight, self.bias, shape, self.names + [name], self.ops + [op], self.in_delay,
                         self.out_delay)

    def is_identity(self) -> bool:
        return not self.names
