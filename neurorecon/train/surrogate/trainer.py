"""Surrogate-gradient (SG) training with Norse: the baseline users know (``--method sg``).

BPTT over the whole sequence (``readout_steps`` steps: the frames plus one step per Dense) of a
:class:`~neurorecon.train.surrogate.model.SurrogateNetwork`, whose forward pass is the project's float
arithmetic (:func:`~neurorecon.simulate.arithmetic.float_lif_update`) with a Norse surrogate
spike. Cross-entropy on the readout's scores, as the chip reads them:

* ``last``: readout voltage at the final step (du = dv = 1: this step's input only);
* ``count``: readout voltage at the final step of an integrator (du = 1, dv = 0);
* ``step``: readout voltage when each frame's response reaches it (step k + L for frame k).

Adam with a cosine learning-rate schedule (per batch, down to 1 % of ``lr``) and gradient-norm
clipping. The result is a
float Network: quantize it with :func:`neurorecon.quantize.ptq.sg_ptq` for a chip, feed its hidden
layers to the convex trainer, or pass it back as ``init`` to fine-tune.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from neurorecon._progress import Progress, ProgressOption, as_progress
from neurorecon.data.dataset import check_labels, check_sequences, describe_shape, payload_bits
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.quantize import dequantize_network
from neurorecon.readout import READOUTS, Readout
from neurorecon.train.surrogate.architecture import initial_network, threshold_units
from neurorecon.train.surrogate.model import DEFAULT_SURROGATE, SURROGATES, SurrogateNetwork
from neurorecon.train.convex.witnesses import default_palette

DEFAULT_HIDDEN = (256,)
FINAL_LR_FRACTION = 0.01
BLOW_UP = 1e4  # a batch loss this many times the first batch's (or log C) means training diverged
QAT_MIN_BITS = 2  # 1-bit mixed-sign weights hold only {-256, 0} (weight_grid)
GRAD_CLIP = 1.0  # global gradient-norm clipping, the usual guard for BPTT through long sequences


@dataclass
class TrainingHistory:
    """Per-epoch record of SG training. ``train_accuracy`` is the running accuracy over the
    epoch's batches (parameters change during the epoch), ``hidden_rate`` the hidden layers'
    mean firing rate per step, ``lr`` the learning rate at the epoch's last batch."""

    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    hidden_rate: list[list[float]] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- validation
def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NeuroreconError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _check_hidden(hidden) -> tuple[int, ...]:
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if isinstance(hidden, str) or not isinstance(hidden, Sequence) or len(hidden) == 0:
        raise NeuroreconError(f"hidden must be a non-empty sequence of layer sizes, e.g. (256,); got {hidden!r}")
    return tuple(_check_positive_int(h, "every hidden layer size") for h in hidden)


def _check_palette(time_constants, t_frames: int) -> list[tuple[float, float]]:
    if time_constants is None:
        return list(dict.fromkeys(default_palette(t_frames)))  # short sequences repeat pairs
    try:
        pairs = [(float(a), float(b)) for a, b in time_constants]
    except (TypeError, ValueError):
        raise NeuroreconError(
            "time_constants must be a list of (tau_u, tau_v) pairs in steps, e.g. [(1, 1), (4, inf)]"
        ) from None
    if not pairs:
        raise NeuroreconError("time_constants must hold at least one (tau_u, tau_v) pair")
    for tau_u, tau_v in pairs:
        if not (math.isfinite(tau_u) and tau_u >= 1) or not (tau_v >= 1):  # tau_v = inf: no leak
            raise NeuroreconError(
                f"time constants are in steps and at least 1 (tau_u finite, tau_v may be inf); got ({tau_u}, {tau_v})"
            )
    return list(dict.fromkeys(pairs))


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not (0 < lr < math.inf):
        raise NeuroreconError(f"lr must be a positive finite number; got {lr!r}")
    return float(lr)


def _resolve_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise NeuroreconError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise NeuroreconError("device 'cuda' was asked for but torch sees no CUDA GPU")
    if resolved.type not in ("cpu", "cuda"):
        raise NeuroreconError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    return resolved


def _check_labels(y, X: np.ndarray, readout: Readout, n_classes: int | None = None) -> np.ndarray:
    y = check_labels(y, X, "y", n_classes=n_classes)
    if readout.per_step != (y.ndim == 2):
        raise NeuroreconError(
            "the 'step' readout needs one label per step (y of shape (n, T)); "
            "'last' and 'count' need one label per sequence (y of shape (n,))"
        )
    return y


def _check_surrogate(surrogate) -> tuple[str, float]:
    try:
        method, alpha = surrogate
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise NeuroreconError(
            f"surrogate must be a (method, alpha) pair, e.g. {DEFAULT_SURROGATE}; got {surrogate!r}"
        ) from None
    if method not in SURROGATES or not (0 < alpha < math.inf):
        raise NeuroreconError(
            f"surrogate method must be one of {SURROGATES} with a positive alpha; got {surrogate!r}"
        )
    return str(method), alpha


def _check_init(init, X: np.ndarray, readout: Readout, hidden, time_constants, recurrent: bool) -> Network:
    if not isinstance(init, Network):
        raise NeuroreconError("init must be a neurorecon.Network")
    if hidden is not None or time_constants is not None or recurrent:
        raise NeuroreconError("init fixes the architecture: leave hidden, time_constants and recurrent unset")
    net = dequantize_network(init) if init.arithmetic == "fixed" else init
    if net.n_layers < 2:
        raise NeuroreconError("init needs at least one hidden layer and a readout layer")
    if net.n_inputs != X.shape[2]:
        raise NeuroreconError(f"init takes {net.n_inputs} inputs per step but X has {X.shape[2]}")
    kind = net.metadata.get("readout", readout.kind)
    if kind != readout.kind:
        raise NeuroreconError(f"init was built for the {kind!r} readout, not {readout.kind!r}")
    return net


# ---------------------------------------------------------------------------- training pieces
@contextlib.contextmanager
def _torch_settings(device: torch.device) -> Iterator[None]:
    """Deterministic kernels, denormals flushed, and on CPU one intra-op thread, for the duration
    of training (restored afterwards). One thread: these per-step GEMMs are small, and several
    threads are slower, catastrophically so (10-100x) on a loaded machine, as the emulator found."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_flush_denormal(True)
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def readout_scores(v_out: torch.Tensor, readout: Readout, t_frames: int, n_layers: int) -> torch.Tensor:
    """Class scores the chip reads from the readout voltage (B, steps, C): (B, C), or (B, T, C)
    for ``step`` (frame k is read at step index k + L, L = number of Dense stages)."""
    if readout.per_step:
        return v_out[:, n_layers: n_layers + t_frames]
    return v_out[:, -1]


def _cosine(step: int, total: int) -> float:
    """Learning-rate factor: cosine from 1 down to FINAL_LR_FRACTION over ``total`` steps."""
    progress = min(step / max(total - 1, 1), 1.0)
    return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))


def _parameters_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class _Trainer:
    """One training run: the model, its optimiser and schedule, and the epoch loop."""

    def __init__(self, model: SurrogateNetwork, readout: Readout, lr: float, batch_size: int, epochs: int,
                 n_samples: int, device: torch.device, rng: np.random.Generator,
                 progress: Progress):
        self.model = model
        self.readout = readout
        self.batch_size = batch_size
        self.epochs = epochs
        self.device = device
        self.rng = rng
        self.progress = progress
        self.lr = lr
        self.batches_per_epoch = math.ceil(n_samples / batch_size)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        total = self.batches_per_epoch * epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda k: _cosine(k, total))
        self.history = TrainingHistory(device=str(device))
        self.loss_limit: float | None = None

    def _diverged(self, epoch: int, what: str) -> NeuroreconError:
        return NeuroreconError(
            f"surrogate-gradient training diverged at epoch {epoch} ({what}); "
            f"lower the learning rate (lr={self.lr:g})"
        )

    def _check_loss(self, k: int, loss: float, n_classes: int) -> None:
        """Non-finite, or blown up to ``BLOW_UP`` times the first batch's loss: diverged."""
        if not math.isfinite(loss):
            raise self._diverged(k, f"loss {loss}")
        if self.loss_limit is None:
            self.loss_limit = BLOW_UP * max(loss, math.log(n_classes))
        elif loss > self.loss_limit:
            raise self._diverged(k, f"loss {loss:.3g}, over {BLOW_UP:g} times the first batch's")

    def _batch(self, k: int, x: torch.Tensor, labels: torch.Tensor) -> tuple[float, int, np.ndarray]:
        """One optimiser step on a batch; returns (summed loss, correct rows, summed hidden rates)."""
        v_out, batch_rates, _ = self.model(x)
        scores = readout_scores(v_out, self.readout, self.model.t_frames, len(self.model.layers))
        loss = torch.nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), labels.reshape(-1))
        self._check_loss(k, loss.item(), scores.shape[-1])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if GRAD_CLIP:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP)
        try:
            self.optimizer.step()
        except RuntimeError as exc:  # Adam's step overflows float32 at absurd learning rates
            if "overflow" not in str(exc):
                raise
            raise self._diverged(k, f"the optimiser step overflows: {exc}") from None
        self.scheduler.step()
        correct = int((scores.argmax(dim=-1) == labels).sum())
        return loss.item() * labels.numel(), correct, np.array([float(r) for r in batch_rates]) * len(x)

    def epoch(self, k: int, X: torch.Tensor, y: torch.Tensor) -> None:
        """One pass over the data in a fresh random order; appends to the history."""
        started = time.perf_counter()
        order = torch.as_tensor(self.rng.permutation(X.shape[0]), device=self.device)
        total_loss, correct, rates = 0.0, 0, np.zeros(len(self.model.layers) - 1)
        for start in range(0, X.shape[0], self.batch_size):
            idx = order[start:start + self.batch_size]
            batch_loss, batch_correct, batch_rates = self._batch(k, X[idx], y[idx])
            total_loss, correct, rates = total_loss + batch_loss, correct + batch_correct, rates + batch_rates
        rows = y.numel()
        if not _parameters_finite(self.model):
            raise self._diverged(k, "non-finite parameters")
        h = self.history
        h.loss.append(total_loss / rows)
        h.train_accuracy.append(correct / rows)
        h.hidden_rate.append((rates / X.shape[0]).tolist())
        h.lr.append(self.optimizer.param_groups[0]["lr"])
        h.seconds.append(time.perf_counter() - started)
        if self.progress.enabled:
            self.progress.say(f"epoch {k}/{self.epochs}: loss {h.loss[-1]:.4f}, train accuracy "
                          f"{h.train_accuracy[-1]:.4f}, hidden rate {np.round(h.hidden_rate[-1], 3).tolist()}, "
                          f"{h.seconds[-1]:.1f} s")


# ---------------------------------------------------------------------------- public API
def train_surrogate(
    X,
    y,
    *,
    hidden: Sequence[int] | None = None,
    readout: str = "count",
    time_constants: Sequence[tuple[float, float]] | None = None,
    recurrent: bool = False,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 128,
    surrogate: tuple[str, float] = DEFAULT_SURROGATE,
    seed: int = 0,
    device: str | None = None,
    init: Network | None = None,
    weight_bits: int | None = None,
    progress: ProgressOption = None,
) -> tuple[Network, TrainingHistory]:
    """Train a float LIF network by surrogate gradients (BPTT, Adam); return it and its history.

    ``X`` (n, T, d) spikes or graded payloads, ``y`` (n,) labels (``last``/``count``) or (n, T)
    (``step``). ``hidden``: hidden layer sizes (default (256,)); ``time_constants``: the palette
    of (tau_u, tau_v) in steps (default :func:`default_palette`), one (du, dv, vth=1) group per
    pair; ``recurrent`` adds a recurrent Dense to every hidden layer. ``surrogate``: a Norse
    threshold method and its alpha (default Norse's ``tanh``, width vth / 5). ``init``
    fine-tunes an existing Network (float, or fixed: it is dequantized first) with its own
    architecture; a network not in threshold units is rescaled first (:func:`threshold_units`).
    ``weight_bits`` (2-8) trains quantization-aware, as lava-dl users train for Loihi: the forward
    pass uses every Dense's weights fake-quantized to the b-bit grid post-training quantization
    (:func:`neurorecon.quantize.ptq.sg_ptq` at that many bits) will map them onto, the backward
    pass the straight-through estimator (identity gradient); the returned Network holds the
    fake-quantized weights, so PTQ maps them onto the chip without further weight rounding.
    ``device``: ``"cuda"`` when available, else ``"cpu"``. The same ``seed`` gives the same
    bits on the same machine and thread count. Divergence (non-finite loss or parameters)
    raises :class:`NeuroreconError`.
    """
    X = check_sequences(X, "X")
    if readout not in READOUTS:
        raise NeuroreconError(f"readout must be one of {READOUTS}; got {readout!r}")
    readout_kind = Readout(readout)
    epochs = _check_positive_int(epochs, "epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    lr = _check_lr(lr)
    method, alpha = _check_surrogate(surrogate)
    if weight_bits is not None and (isinstance(weight_bits, bool) or not isinstance(weight_bits, (int, np.integer))
                                    or not QAT_MIN_BITS <= weight_bits <= 8):
        raise NeuroreconError(f"quantization-aware training takes weight_bits in {QAT_MIN_BITS}..8 (mixed-sign "
                              f"weights need a sign bit); got {weight_bits!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NeuroreconError(f"seed must be a non-negative integer; got {seed!r}")
    device = _resolve_device(device)
    n, t_frames, _ = X.shape
    rng = np.random.default_rng(seed)
    if init is not None:
        start = _check_init(init, X, readout_kind, hidden, time_constants, recurrent)
        y = _check_labels(y, X, readout_kind, start.n_outputs)
        n_classes = start.n_outputs
        origin = start.metadata.get("provenance")
        start = threshold_units(start, X, y, readout_kind, rng)
    else:
        y = _check_labels(y, X, readout_kind)
        n_classes = int(y.max()) + 1
        palette = _check_palette(time_constants, t_frames)
        sizes = _check_hidden(DEFAULT_HIDDEN if hidden is None else hidden)
        start = initial_network(X, n_classes, sizes, readout_kind, palette, bool(recurrent),
                                payload_bits(int(X.max())), rng)
        origin = None
    as_progress(progress).say(f"surrogate-gradient training on {describe_shape(X)}, {n_classes} classes")
    torch_rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)  # Norse's stochastic surrogates draw from torch's generator
        with _torch_settings(device):
            model = SurrogateNetwork(start, t_frames, method, alpha, weight_bits=weight_bits).to(device)
            trainer = _Trainer(model, readout_kind, lr, batch_size, epochs, n, device, rng, as_progress(progress))
            X_t = torch.as_tensor(X, dtype=torch.float32, device=device)
            y_t = torch.as_tensor(y, dtype=torch.long, device=device)
            for k in range(1, epochs + 1):
                trainer.epoch(k, X_t, y_t)
    finally:
        torch.random.set_rng_state(torch_rng_state)
    history = trainer.history
    provenance = {
        "method": "sg", "epochs": epochs, "seed": seed, "lr": lr, "batch_size": batch_size,
        "surrogate": [method, alpha], "optimizer": "adam, cosine schedule", "device": str(device),
        "hidden": start.sizes[:-1], "recurrent": any(l.recurrent is not None for l in start.layers),
        "final_loss": history.loss[-1], "train_accuracy": history.train_accuracy[-1],
        "qat_weight_bits": weight_bits,
    }
    if origin is not None or init is not None:
        provenance["fine_tuned_from"] = origin if origin is not None else "a network without provenance"
    metadata = dict(start.metadata, profile="float", readout=readout_kind.kind, n_classes=n_classes,
                    t_frames=int(t_frames), provenance=provenance)
    return model.to_network(metadata), history
