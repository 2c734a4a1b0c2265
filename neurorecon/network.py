"""The Network: the one IR every stage reads and writes.

A Network is a stack of layers, each a Dense connection (Lava's ``Dense``) feeding a population
of LIF neurons (Lava's ``LIF``), in one arithmetic:

* ``"fixed"``: Loihi's integer arithmetic (Lava's ``fixed_pt`` / ``bit_accurate_loihi`` models);
  every parameter is an integer in the chip's range and the values are validated, never clipped
  silently (the weight clipping/truncation Lava itself applies is part of the semantics).
* ``"float"``: Lava's ``floating_pt`` models.

The exact per-step semantics live in :mod:`neurorecon.simulate.arithmetic`; this module holds the
data, its validation and its file format (HDF5, versioned schema).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from neurorecon._atomic import atomic_path
from neurorecon._hdf5 import open_hdf5
from neurorecon._limits import check_memory
from neurorecon.errors import NeuroreconError

ARITHMETICS = ("fixed", "float")
SIGN_MODES = ("mixed", "excitatory", "inhibitory")
SCHEMA_VERSION = 1
FILE_FORMAT = "neurorecon.Network"
CHECKSUM_ATTR = "sha256"  # of everything else in the file: a flipped bit is an error, not a different network

# Loihi / Lava 0.10 fixed-point ranges (SPEC section 3; lava/proc/lif/models.py, PyLifModelBitAcc).
FIXED_RANGES = {
    "du": (0, 4095),  # 12-bit unsigned
    "dv": (0, 4095),  # 12-bit unsigned
    "vth": (0, 2**17 - 1),  # 17-bit unsigned
    "bias_mant": (-(2**12), 2**12 - 1),  # 13-bit signed
    "bias_exp": (0, 7),  # 3-bit
    "weight_exp": (-8, 7),  # Loihi wgtExp (nengo-loihi block.py)
    "num_weight_bits": (1, 8),
    "num_message_bits": (0, 24),  # Loihi 2 graded spikes carry up to 24 bits
    "delays": (0, 63),  # lava/proc/dense/models.py PyDelayDenseModelBitAcc: 6-bit synaptic delays
}
VTH_MAX = FIXED_RANGES["vth"][1]  # the largest threshold: a readout layer that must never spike
MAX_DELAY = FIXED_RANGES["delays"][1]  # the longest synaptic delay Lava's DelayDense holds
INT32_LIMIT = 2**31


@dataclass(eq=False, frozen=True)
class Dense:
    """A weight matrix as Lava's ``Dense`` process applies it.

    ``weights`` has shape (N_out, N_in). In fixed arithmetic Lava clips the weights to 8 bits
    and truncates them to ``num_weight_bits`` (see :meth:`effective_weights`), then shifts the
    accumulated input by ``weight_exp``. ``sign_mode`` ``None`` means "inferred from the
    weights", as Lava does. ``num_message_bits`` 0 means binary spikes; > 0 graded payloads.
    ``delays`` (N_out, N_in), whole steps >= 0, delays each synapse beyond the Dense's own step,
    as Lava's ``DelayDense`` does (``None``: no synaptic delays; all zeros is stored as ``None``).
    Immutable (its arrays are read-only): derive a changed copy with :meth:`replace`.
    """

    weights: np.ndarray
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str | None = None
    num_message_bits: int = 0
    delays: np.ndarray | None = None

    def __post_init__(self) -> None:
        weights = _as_array(self.weights, "weights")
        if weights.ndim != 2:
            raise NeuroreconError(f"weights must be a 2-D array (N_out, N_in); got shape {weights.shape}")
        object.__setattr__(self, "weights", _frozen(weights))
        for name in ("weight_exp", "num_weight_bits", "num_message_bits"):
            object.__setattr__(self, name, _scalar_int(getattr(self, name), name))
        if self.sign_mode is not None and self.sign_mode not in SIGN_MODES:
            raise NeuroreconError(f"sign_mode must be one of {SIGN_MODES} or None; got {self.sign_mode!r}")
        object.__setattr__(self, "delays", _delays(self.delays, weights))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weights.shape)  # type: ignore[return-value]

    @property
    def max_delay(self) -> int:
        """The longest synaptic delay in steps (0 without delays)."""
        return 0 if self.delays is None else int(self.delays.max())

    def replace(self, **changes: Any) -> "Dense":
        """A copy with ``changes`` applied (validated like a new Dense)."""
        return replace(self, **changes)

    def resolved_sign_mode(self) -> str:
        """The sign mode Lava uses: the given one, or inferred from the weights."""
        if self.sign_mode is not None:
            return self.sign_mode
        if self.weights.size == 0 or np.min(self.weights) >= 0:
            return "excitatory"
        if np.max(self.weights) <= 0:
            return "inhibitory"
        return "mixed"

    def effective_weights(self) -> np.ndarray:
        """Integer weights after Lava's clip to 8 bits and truncation to ``num_weight_bits``.

        Mirrors ``lava.utils.weightutils.clip_weights`` / ``truncate_weights``: mixed-sign
        weights are clipped to [-256, 255] and lose ``8 - num_weight_bits + 1`` LSBs (flooring);
        excitatory to [0, 255], inhibitory to [-255, 0] (truncated on the magnitude).
        """
        mode = self.resolved_sign_mode()
        w = self.weights.astype(np.int64)
        if mode == "inhibitory":
            w = -w
        mixed = mode == "mixed"
        w = np.clip(w, -256 if mixed else 0, 255)
        drop = 8 - self.num_weight_bits + int(mixed)
        w = (w >> drop) << drop
        if mode == "inhibitory":
            w = -w
        return w

    def equals(self, other: "Dense") -> bool:
        """Exact equality of every parameter (the weights compared element-wise)."""
        return np.array_equal(self.weights, other.weights) and all(
            getattr(self, name) == getattr(other, name) for name in DENSE_SETTINGS
        ) and _same_delays(self.delays, other.delays)


DENSE_SETTINGS = ("weight_exp", "num_weight_bits", "sign_mode", "num_message_bits")
NEURON_PARAMETERS = ("du", "dv", "vth", "bias_mant", "bias_exp")


@dataclass(eq=False, frozen=True, init=False)
class LIFLayer:
    """One layer: a :class:`Dense` connection into a population of LIF neurons.

    ``du``, ``dv`` and ``vth`` are a scalar or one value per neuron (Lava shares them per
    process; the Lava construction builds one process per distinct group). ``bias_mant`` and
    ``bias_exp`` are a scalar or per neuron. ``recurrent`` is an optional lateral
    :class:`Dense` (N x N) from the layer's spikes back to its own input, with the same one-step
    delay as every Dense.

    ``weights`` is the layer's Dense, or its weight matrix with the Dense settings
    (``weight_exp``, ``num_weight_bits``, ``sign_mode``, ``num_message_bits``) as keywords;
    ``layer.weights`` and those settings read through to ``layer.dense``. Immutable (arrays
    read-only): derive a changed copy with :meth:`replace`. Which values are legal depends on
    the Network's arithmetic, so the chip ranges are checked by :class:`Network`.
    """

    dense: Dense
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    recurrent: Dense | None

    def __init__(self, weights: Dense | Any, du: Any, dv: Any, vth: Any, bias_mant: Any = 0, bias_exp: Any = 0,
                 weight_exp: int = 0, num_weight_bits: int = 8, sign_mode: str | None = None,
                 num_message_bits: int = 0, recurrent: Dense | None = None) -> None:
        settings = dict(weight_exp=weight_exp, num_weight_bits=num_weight_bits, sign_mode=sign_mode,
                        num_message_bits=num_message_bits)
        if isinstance(weights, Dense):
            dense = weights
            given = [name for name, value in settings.items() if value != DENSE_DEFAULTS[name]]
            if given:
                raise NeuroreconError(f"give {given} on the Dense, not beside it")
        else:
            dense = Dense(weights, **settings)
        if dense.shape[0] == 0:
            raise NeuroreconError("a layer needs at least one neuron (weights has 0 rows)")
        n = dense.shape[0]
        object.__setattr__(self, "dense", dense)
        for name, value in zip(NEURON_PARAMETERS, (du, dv, vth, bias_mant, bias_exp)):
            object.__setattr__(self, name, _frozen(_per_neuron(value, n, name)))
        if recurrent is not None:
            if not isinstance(recurrent, Dense):
                raise NeuroreconError("recurrent must be a neurorecon.Dense or None")
            if recurrent.shape != (n, n):
                raise NeuroreconError(f"recurrent weights must have shape ({n}, {n}); got {recurrent.shape}")
            if recurrent.num_message_bits != 0:
                raise NeuroreconError("recurrent connections carry binary spikes (num_message_bits=0)")
        object.__setattr__(self, "recurrent", recurrent)

    weights = property(lambda self: self.dense.weights, doc="The feed-forward weights (N, N_in).")
    weight_exp = property(lambda self: self.dense.weight_exp)
    num_weight_bits = property(lambda self: self.dense.num_weight_bits)
    sign_mode = property(lambda self: self.dense.sign_mode)
    num_message_bits = property(lambda self: self.dense.num_message_bits)

    @property
    def n_neurons(self) -> int:
        return int(self.dense.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.dense.shape[1])

    def replace(self, **changes: Any) -> "LIFLayer":
        """A copy with ``changes`` applied: neuron parameters, ``recurrent``, ``dense``, or the
        Dense's own fields (``weights``, ``weight_exp``, ...), validated like a new layer."""
        dense_changes = {k: changes.pop(k) for k in ("weights", "delays", *DENSE_SETTINGS) if k in changes}
        dense = changes.pop("dense", self.dense)
        if dense_changes:
            dense = replace(dense, **dense_changes)
        values = {name: getattr(self, name) for name in (*NEURON_PARAMETERS, "recurrent")}
        unknown = set(changes) - set(values)
        if unknown:
            raise NeuroreconError(f"LIFLayer has no field(s) {sorted(unknown)}")
        values.update(changes)
        return LIFLayer(dense, **values)

    def connections(self) -> list[Dense]:
        """The layer's Dense connections: feed-forward first, then the recurrent one if any."""
        return [self.dense] + ([self.recurrent] if self.recurrent is not None else [])

    def groups(self) -> list[np.ndarray]:
        """Neuron indices of each distinct (du, dv, vth) group, in order of first appearance."""
        keys = np.stack([self.du, self.dv, self.vth], axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(first)
        return [np.flatnonzero(inverse == g) for g in order]

    def equals(self, other: "LIFLayer") -> bool:
        """Exact equality of every parameter (arrays compared element-wise)."""
        if (self.recurrent is None) != (other.recurrent is None):
            return False
        same = self.dense.equals(other.dense) and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in NEURON_PARAMETERS
        )
        return bool(same and (self.recurrent is None or self.recurrent.equals(other.recurrent)))


DENSE_DEFAULTS = {f.name: f.default for f in fields(Dense) if f.name in DENSE_SETTINGS}


@dataclass(eq=False, frozen=True)
class Network:
    """A stack of :class:`LIFLayer` in one arithmetic, plus free-form metadata.

    ``metadata`` holds JSON-serialisable facts about the network (profile name, readout kind,
    class count, training provenance); it travels with the file. Every Network, however made
    (constructed, loaded, or derived with :meth:`replace`), passes the one validation in
    :meth:`__post_init__`: layer shapes chain, and every parameter is legal in the arithmetic
    (in fixed point: integers in the chip's ranges). Layers and their arrays are immutable, so
    a validated Network stays valid.
    """

    layers: tuple[LIFLayer, ...]
    arithmetic: str = "fixed"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arithmetic not in ARITHMETICS:
            raise NeuroreconError(
                f"arithmetic must be one of {ARITHMETICS}; got {self.arithmetic!r}"
            )
        if isinstance(self.layers, LIFLayer) or not isinstance(self.layers, (list, tuple)):
            raise NeuroreconError("layers must be a list of neurorecon.LIFLayer")
        layers = list(self.layers)
        if not layers:
            raise NeuroreconError("a Network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, LIFLayer):
                raise NeuroreconError(f"layer {i} is not a neurorecon.LIFLayer")
            if i > 0 and layer.n_inputs != layers[i - 1].n_neurons:
                raise NeuroreconError(
                    f"layer {i} weights expect {layer.n_inputs} inputs but layer {i - 1} "
                    f"has {layers[i - 1].n_neurons} neurons"
                )
            if i > 0 and layer.num_message_bits != 0:
                raise NeuroreconError(
                    f"layer {i}: only the first layer can take graded payloads "
                    "(LIF neurons send binary spikes)"
                )
        convert = _validate_fixed if self.arithmetic == "fixed" else _validate_float
        object.__setattr__(self, "layers", tuple(convert(layer, i) for i, layer in enumerate(layers)))
        if not isinstance(self.metadata, dict):
            raise NeuroreconError(f"network metadata must be a dict; got {type(self.metadata).__name__}")
        _check_metadata(self.metadata)

    def replace(self, **changes: Any) -> "Network":
        """A copy with ``changes`` (``layers``, ``arithmetic``, ``metadata``), validated anew."""
        return replace(self, **changes)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_inputs

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_neurons

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def tail_steps(self) -> int:
        """Extra steps a classifier runs after the last frame before its answer is read (metadata
        ``tail_steps``, 0 if absent): delayed synapses deliver the last frames during them."""
        return int(self.metadata.get("tail_steps", 0))

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer."""
        return [layer.n_neurons for layer in self.layers]

    def equals(self, other: "Network") -> bool:
        """Same arithmetic, same layers, same metadata."""
        return (
            self.arithmetic == other.arithmetic
            and self.n_layers == other.n_layers
            and all(a.equals(b) for a, b in zip(self.layers, other.layers))
            and self.metadata == other.metadata
        )

    # ---------------------------------------------------------------- file format
    def save(self, path: str | Path) -> None:
        """Write the network to an HDF5 file (atomically: temp file, then rename)."""
        _check_metadata(self.metadata)  # metadata is the one mutable part: check it again
        with atomic_path(path, suffix=".h5") as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FILE_FORMAT
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.attrs["arithmetic"] = self.arithmetic
                f.attrs["metadata"] = json.dumps(self.metadata)
                f.attrs["n_layers"] = self.n_layers
                for i, layer in enumerate(self.layers):
                    g = f.create_group(f"layers/{i}")
                    for name in NEURON_PARAMETERS:
                        g.create_dataset(name, data=getattr(layer, name))
                    _write_dense(g, layer.dense)
                    if layer.recurrent is not None:
                        _write_dense(g.create_group("recurrent"), layer.recurrent)
                f.attrs[CHECKSUM_ATTR] = _file_digest(f)

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read a network written by :meth:`save`; a corrupt or foreign file is a clear error."""
        path = Path(path)
        if path.is_dir():
            path = path / "network.h5"
        with open_hdf5(path, f"no Network file at {path}", "neurorecon Network file") as f:
            if f.attrs.get("format") != FILE_FORMAT:
                raise NeuroreconError(f"{path} is not a neurorecon Network file (no '{FILE_FORMAT}' marker)")
            version = _plain(f.attrs.get("schema_version", "none"))
            if version != SCHEMA_VERSION:
                raise NeuroreconError(
                    f"{path} uses Network schema version {version!r}; this neurorecon reads version {SCHEMA_VERSION}"
                )
            try:
                _check_declared_sizes(f, path)
                stored = f.attrs.get(CHECKSUM_ATTR)
                if stored is not None and _plain(stored) != _file_digest(f):
                    raise NeuroreconError(f"{path} is corrupt: its contents do not match their checksum "
                                          "(a changed or damaged file)")
                layers = []
                for i in range(int(f.attrs["n_layers"])):
                    g = f[f"layers/{i}"]
                    dense = _read_dense(g)
                    recurrent = _read_dense(g["recurrent"]) if "recurrent" in g else None
                    layers.append(LIFLayer(dense, recurrent=recurrent, **{n: g[n][()] for n in NEURON_PARAMETERS}))
                arithmetic = str(f.attrs["arithmetic"])
                metadata = json.loads(f.attrs["metadata"])
            except NeuroreconError:
                raise
            except (KeyError, ValueError, TypeError, OSError) as exc:
                raise NeuroreconError(f"{path} is a corrupt Network file: {exc}") from None
        if not isinstance(metadata, dict):
            raise NeuroreconError(f"{path} is a corrupt Network file: its metadata is a JSON "
                                  f"{type(metadata).__name__}, not an object")
        return cls(layers, arithmetic=arithmetic, metadata=metadata)


# ------------------------------------------------------------------------ helpers
def _write_dense(group: h5py.Group, dense: Dense) -> None:
    group.create_dataset("weights", data=dense.weights)
    if dense.delays is not None:
        group.create_dataset("delays", data=dense.delays)
    group.attrs["weight_exp"] = dense.weight_exp
    group.attrs["num_weight_bits"] = dense.num_weight_bits
    group.attrs["sign_mode"] = dense.sign_mode or ""
    group.attrs["num_message_bits"] = dense.num_message_bits


def _plain(value: Any) -> Any:
    """An HDF5 attribute as plain Python (numpy scalars and arrays, bytes), for comparing and hashing."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _file_digest(f: h5py.File) -> str:
    """SHA-256 of every attribute and dataset of ``f`` except the checksum, in path order."""
    digest = hashlib.sha256()
    names = [""]
    f.visit(names.append)
    for name in sorted(names):
        item = f[name] if name else f
        digest.update(f"{name}\0".encode())
        for key in sorted(item.attrs):
            if key != CHECKSUM_ATTR:
                digest.update(f"{key}={json.dumps(_plain(item.attrs[key]), default=str)}\0".encode())
        if isinstance(item, h5py.Dataset):
            data = np.ascontiguousarray(item[()])
            digest.update(f"{data.dtype.str}{data.shape}\0".encode())
            digest.update(data.tobytes())
    return digest.hexdigest()


def _check_declared_sizes(f: h5py.File, path: Path) -> None:
    """Refuse, before reading, datasets too large for memory or weights whose shape contradicts the layer."""
    sizes: list[int] = []
    f.visititems(lambda _, item: sizes.append(item.size * item.dtype.itemsize) if isinstance(item, h5py.Dataset) else None)
    check_memory(2 * sum(sizes), f"reading {path}")
    for i in range(int(f.attrs["n_layers"])):
        g = f[f"layers/{i}"]
        n = g["vth"].shape[0] if g["vth"].ndim == 1 else None
        for where in (g, g.get("recurrent")):
            if where is None:
                continue
            shape = where["weights"].shape
            if len(shape) != 2 or (n is not None and shape[0] != n) or (where is not g and shape != (n, n)):
                raise NeuroreconError(f"{path} is a corrupt Network file: layer {i} declares weights of shape "
                                      f"{shape} for {n} neurons")


def _read_dense(group: h5py.Group) -> Dense:
    return Dense(
        weights=group["weights"][()],
        weight_exp=int(group.attrs["weight_exp"]),
        num_weight_bits=int(group.attrs["num_weight_bits"]),
        sign_mode=str(group.attrs["sign_mode"]) or None,
        num_message_bits=int(group.attrs["num_message_bits"]),
        delays=group["delays"][()] if "delays" in group else None,
    )


def as_sequences(value: Any, name: str = "X") -> np.ndarray:
    """Input sequences (n_samples, T, n_inputs): numeric, non-empty, finite, non-negative.

    The checks every consumer of input spikes shares (simulation, training data); each adds its
    own (integers, payload width, input count).
    """
    x = _as_array(value, name)
    if x.ndim != 3:
        raise NeuroreconError(f"{name} must have shape (n_samples, T, n_inputs); got {x.ndim} dimensions {x.shape}")
    if x.shape[0] == 0:
        raise NeuroreconError(f"{name} is empty (no samples)")
    if x.shape[1] == 0:
        raise NeuroreconError(f"{name} has no time steps (T=0)")
    if x.shape[2] == 0:
        raise NeuroreconError(f"{name} has no input channels")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise NeuroreconError(f"{name} contains NaN or infinite values")
    if x.min() < 0:
        raise NeuroreconError(f"{name} contains negative values (inputs are spikes or non-negative payloads)")
    return x


def _as_array(value: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise NeuroreconError(f"{name} is not an array of numbers: {exc}") from None
    if array.dtype == bool:
        array = array.astype(np.int64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise NeuroreconError(f"{name} must be numeric; got dtype {array.dtype}")
    return array


def _per_neuron(value: Any, n: int, name: str) -> np.ndarray:
    array = _as_array(value, name)
    if array.ndim == 0:
        return np.full(n, array[()], dtype=array.dtype)
    if array.shape != (n,):
        raise NeuroreconError(f"{name} must be a scalar or have shape ({n},); got shape {array.shape}")
    return array


def _scalar_int(value: Any, name: str) -> int:
    array = np.asarray(value)
    if array.ndim != 0 or not np.isfinite(array.astype(float)) or float(array) != int(array):
        raise NeuroreconError(f"{name} must be an integer scalar; got {value!r}")
    return int(array)


def _check_finite(array: np.ndarray, name: str, layer: int) -> None:
    if not np.all(np.isfinite(array)):
        raise NeuroreconError(f"layer {layer}: {name} contains NaN or infinite values")


def _as_integers(array: np.ndarray, name: str, layer: int) -> np.ndarray:
    _check_finite(array, name, layer)
    if np.issubdtype(array.dtype, np.floating) and not np.array_equal(array, np.round(array)):
        raise NeuroreconError(
            f"layer {layer}: {name} must be integers in fixed arithmetic (use arithmetic='float' for real values)"
        )
    return array.astype(np.int64)


def _check_range(values: Any, name: str, layer: int) -> None:
    lo, hi = FIXED_RANGES[name]
    array = np.asarray(values)
    if array.size and (array.min() < lo or array.max() > hi):
        bad = array[(array < lo) | (array > hi)].flat[0]
        raise NeuroreconError(f"layer {layer}: {name}={bad} is outside Loihi's range [{lo}, {hi}]")


def _validate_dense_fixed(dense: Dense, layer: int, what: str) -> Dense:
    weights = _as_integers(dense.weights, f"{what} weights", layer)
    if weights.size and np.abs(weights).max() >= INT32_LIMIT:
        raise NeuroreconError(f"layer {layer}: {what} weights exceed Lava's 32-bit weight storage")
    for name in ("weight_exp", "num_weight_bits", "num_message_bits"):
        _check_range(getattr(dense, name), name, layer)
    if dense.delays is not None:
        _check_range(dense.delays, "delays", layer)
    return dense.replace(weights=weights)


def _validate_fixed(layer: LIFLayer, i: int) -> LIFLayer:
    values = {name: _as_integers(getattr(layer, name), name, i) for name in NEURON_PARAMETERS}
    for name, array in values.items():
        _check_range(array, name, i)
    dense = _validate_dense_fixed(layer.dense, i, "feed-forward")
    recurrent = None if layer.recurrent is None else _validate_dense_fixed(layer.recurrent, i, "recurrent")
    return LIFLayer(dense, recurrent=recurrent, **values)


def _validate_float(layer: LIFLayer, i: int) -> LIFLayer:
    values = {}
    for name in NEURON_PARAMETERS:
        array = getattr(layer, name).astype(np.float64)
        _check_finite(array, name, i)
        values[name] = array
    if not 0 <= layer.num_message_bits <= FIXED_RANGES["num_message_bits"][1]:
        raise NeuroreconError(f"layer {i}: num_message_bits must be in [0, 24]")
    dense, recurrent = (None if d is None else _validate_dense_float(d, i, what)
                        for d, what in ((layer.dense, "weights"), (layer.recurrent, "recurrent weights")))
    return LIFLayer(dense, recurrent=recurrent, **values)


def _validate_dense_float(dense: Dense, layer: int, what: str) -> Dense:
    weights = dense.weights.astype(np.float64)
    _check_finite(weights, what, layer)
    return dense.replace(weights=weights)


def _check_metadata(metadata: dict) -> None:
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise NeuroreconError(f"network metadata must be JSON-serialisable: {exc}") from None
    tail = metadata.get("tail_steps", 0)
    if isinstance(tail, bool) or not isinstance(tail, int) or tail < 0:
        raise NeuroreconError(f"network metadata tail_steps must be a whole number of steps >= 0; got {tail!r}")


def _delays(value: Any, weights: np.ndarray) -> np.ndarray | None:
    """Synaptic delays as read-only int64 steps of the weights' shape, or None when there are none.

    A synapse of weight 0 carries nothing, so its delay is stored as 0 (one form per network).
    """
    if value is None:
        return None
    delays = _as_array(value, "delays")
    if delays.shape != weights.shape:
        raise NeuroreconError(f"delays must have the weights' shape {weights.shape}; got shape {delays.shape}")
    if not np.all(np.isfinite(delays)) or not np.array_equal(delays, np.round(delays)) or delays.min(initial=0) < 0:
        raise NeuroreconError("delays must be whole numbers of steps >= 0")
    delays = np.where(weights != 0, delays, 0).astype(np.int64)
    return _frozen(delays) if np.any(delays) else None


def _same_delays(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy: a layer's values cannot change behind the Network's validation."""
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array
