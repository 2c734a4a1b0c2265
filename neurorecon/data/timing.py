"""Timing tasks: the information is in *when* spikes come, not in how many (a suite of four kinds).

Each kind is a family: its options (length ``T``, channels, background noise, timing jitter,
delays, ...) and ``seed`` generate a variant, so methods are tuned on some variants and checked
on held-out ones (other seeds, other option values). Every variant is deterministic per seed:
the seed draws the channel layout (a permutation of the input channels), the class prototypes
where there are any, then the training set, then the test set.

Shared ingredients, all in input steps:
  * an *event* is a volley: every channel of a group spikes once near the event time, each
    with its own jitter (a rounded normal of standard deviation ``jitter``) and each only with
    probability ``reliability`` (a sensor misses some);
  * background noise: every channel (signal and distractor) spikes at each step with probability
    ``noise_rate`` (a Poisson process);
  * distractor channels carry noise only.

Where every sample has the same number of events, spike counts per channel carry almost no
information (only noise does); class information is in the timing. Jitter, noise and dropped
spikes make the classes overlap, so the best possible accuracy is below 100 % (no method should
reach it exactly). Chance level is the largest class frequency: balanced classes, so ``1 / C``.

Kinds:
  ``spike-order``      which of the ``n_markers!`` orders the marker events came in;
  ``delayed-match``    a cue pattern, a delay, a probe pattern: does the probe match the cue;
  ``latency-code``     which subset of channels spikes early (the others spike later);
  ``interval``         which of ``n_classes`` ranges the interval between two events falls in.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from neurorecon.data.dataset import Dataset, make_dataset
from neurorecon.errors import NeuroreconError

MAX_MARKERS = 5  # 5! = 120 classes


# ---------------------------------------------------------------------------- option checks
def _integer(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise NeuroreconError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _number(name: str, value, interval: str) -> float:
    """A float in ``interval``, one of "[0, 1)", "(0, 1]", "[0, inf)"."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise NeuroreconError(f"{name} must be a number; got {value!r}")
    value = float(value)
    ok = {"[0, 1)": 0 <= value < 1, "(0, 1]": 0 < value <= 1, "[0, inf)": 0 <= value < math.inf}[interval]
    if not ok:
        raise NeuroreconError(f"{name} must be in {interval}; got {value:g}")
    return value


def _common(T, n_train, n_test, noise_rate, jitter, reliability, T_min: int, why: str) -> tuple:
    """The options every kind has, checked: T (at least ``T_min``, for ``why``), sizes, noise, jitter."""
    T = _integer("T", T, 1)
    if T < T_min:
        raise NeuroreconError(f"T={T} is too short: {why} needs T >= {T_min}")
    return (T, _integer("n_train", n_train, 1), _integer("n_test", n_test, 1),
            _number("noise_rate", noise_rate, "[0, 1)"), _number("jitter", jitter, "[0, inf)"),
            _number("reliability", reliability, "(0, 1]"))


# ---------------------------------------------------------------------------- generation
class _Generator:
    """Draws the spikes of one task variant: layout, events, noise (one seeded generator)."""

    def __init__(self, seed: int, T: int, n_channels: int, noise_rate: float, jitter: float, reliability: float):
        self.rng = np.random.default_rng(_integer("seed", seed, 0))
        self.T, self.n_channels = T, n_channels
        self.noise_rate, self.jitter, self.reliability = noise_rate, jitter, reliability
        self.layout = self.rng.permutation(n_channels)  # logical channel -> input channel

    def empty(self, n: int) -> np.ndarray:
        return np.zeros((n, self.T, self.n_channels), np.uint8)

    def volley(self, x: np.ndarray, times: np.ndarray, channels: np.ndarray) -> None:
        """Each sample's ``channels`` (n, k) (logical) spike once near ``times`` (n,)."""
        n, k = channels.shape
        t = times[:, None] + np.rint(self.rng.normal(0.0, 1.0, (n, k)) * self.jitter).astype(np.int64)
        keep = (self.rng.random((n, k)) < self.reliability) & (t >= 0) & (t < self.T)
        rows = np.broadcast_to(np.arange(n)[:, None], (n, k))
        x[rows[keep], t[keep], self.layout[channels[keep]]] = 1

    def noise(self, x: np.ndarray) -> np.ndarray:
        x[self.rng.random(x.shape) < self.noise_rate] = 1
        return x

    def subsets(self, count: int, size: int, universe: int, name: str) -> np.ndarray:
        """``count`` distinct random ``size``-subsets of ``range(universe)`` (class prototypes)."""
        if math.comb(universe, size) < count:
            raise NeuroreconError(f"{name}: {universe} channels hold only {math.comb(universe, size)} distinct "
                                  f"patterns of {size}; {count} are needed")
        found: list[tuple[int, ...]] = []
        while len(found) < count:
            candidate = tuple(sorted(self.rng.choice(universe, size, replace=False).tolist()))
            if candidate not in found:
                found.append(candidate)
        return np.array(found, np.int64)


def _dataset(name: str, make, n_train: int, n_test: int, n_classes: int, description: str, options: dict) -> Dataset:
    X_train, y_train = make(n_train)
    X_test, y_test = make(n_test)
    if np.unique(y_train).size < n_classes:
        raise NeuroreconError(f"{name}: n_train={n_train} is too small to hold all {n_classes} classes")
    return make_dataset(name, X_train, y_train, X_test, y_test,
                        description=f"{description}; chance {1 / n_classes:.1%}", options=options)


def chance_level(dataset: Dataset) -> float:
    """Accuracy of always answering the most frequent training class, on the test split."""
    _, y = dataset.split("test")
    counts = np.bincount(dataset.y_train.reshape(-1), minlength=dataset.n_classes)
    return float(np.mean(y == counts.argmax()))


# ---------------------------------------------------------------------------- the four kinds
def spike_order(T: int = 40, n_markers: int = 3, channels: int = 4, n_noise_channels: int = 8,
                noise_rate: float = 0.02, jitter: float = 1.0, min_gap: int = 3, reliability: float = 0.9,
                n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Which of the ``n_markers!`` orders ``n_markers`` marker events came in (chance 1/n_markers!).

    Each marker is a group of ``channels`` channels that fires one volley; the markers' times are
    random, at least ``min_gap`` steps apart; ``n_noise_channels`` distractors carry noise only.
    Every sample has one volley per marker, so counts say nothing about the order.
    """
    n_markers = _integer("n_markers", n_markers, 2)
    if n_markers > MAX_MARKERS:
        raise NeuroreconError(f"n_markers must be at most {MAX_MARKERS} ({MAX_MARKERS}! classes); got {n_markers}")
    channels = _integer("channels", channels, 1)
    n_noise_channels = _integer("n_noise_channels", n_noise_channels, 0)
    min_gap = _integer("min_gap", min_gap, 1)
    T, n_train, n_test, noise_rate, jitter, reliability = _common(
        T, n_train, n_test, noise_rate, jitter, reliability, (n_markers - 1) * min_gap + 1,
        f"{n_markers} markers {min_gap} steps apart")
    orders = np.array(list(itertools.permutations(range(n_markers))), np.int64)
    gen = _Generator(seed, T, n_markers * channels + n_noise_channels, noise_rate, jitter, reliability)
    room = T - (n_markers - 1) * (min_gap - 1)  # sorted distinct slots in [0, room), spread by min_gap - 1

    def make(n: int):
        x = gen.empty(n)
        slots = np.sort(np.argsort(gen.rng.random((n, room)), axis=1)[:, :n_markers], axis=1)
        times = slots + np.arange(n_markers) * (min_gap - 1)
        y = gen.rng.integers(0, len(orders), n)
        for rank in range(n_markers):  # the marker at position ``rank`` of the order fires at times[:, rank]
            marker = orders[y, rank]
            group = marker[:, None] * channels + np.arange(channels)[None, :]
            gen.volley(x, times[:, rank], group)
        return gen.noise(x), y

    options = dict(T=T, n_markers=n_markers, channels=channels, n_noise_channels=n_noise_channels,
                   noise_rate=noise_rate, jitter=jitter, min_gap=min_gap, reliability=reliability,
                   n_train=n_train, n_test=n_test, seed=seed)
    return _dataset("spike-order", make, n_train, n_test, len(orders),
                    f"order of {n_markers} marker volleys among noise, T={T}", options)


def delayed_match(T: int = 40, channels: int = 12, active: int = 4, n_patterns: int = 4, delay: int = 20,
                  onset_range: int = 5, noise_rate: float = 0.02, jitter: float = 1.0, reliability: float = 0.9,
                  n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Delayed match-to-sample: is the probe the cue's pattern (1) or another one (0)? Chance 1/2.

    ``n_patterns`` prototype patterns (``active`` of ``channels`` channels each, drawn per seed);
    the cue (one pattern's volley) comes at a random onset in ``[0, onset_range)``, the probe
    ``delay`` steps later on the same channels; half the probes match. The answer needs the cue
    held over the delay.
    """
    channels = _integer("channels", channels, 2)
    active = _integer("active", active, 1)
    if active >= channels:
        raise NeuroreconError(f"active must be below channels ({channels}); got {active}")
    n_patterns = _integer("n_patterns", n_patterns, 2)
    delay = _integer("delay", delay, 1)
    onset_range = _integer("onset_range", onset_range, 1)
    T, n_train, n_test, noise_rate, jitter, reliability = _common(
        T, n_train, n_test, noise_rate, jitter, reliability, onset_range + delay, f"delay={delay} after onsets up to {onset_range - 1}")
    gen = _Generator(seed, T, channels, noise_rate, jitter, reliability)
    patterns = gen.subsets(n_patterns, active, channels, "delayed-match")

    def make(n: int):
        x = gen.empty(n)
        onset = gen.rng.integers(0, onset_range, n)
        cue = gen.rng.integers(0, n_patterns, n)
        y = (gen.rng.random(n) < 0.5).astype(np.int64)
        probe = np.where(y == 1, cue, (cue + gen.rng.integers(1, n_patterns, n)) % n_patterns)
        gen.volley(x, onset, patterns[cue])
        gen.volley(x, onset + delay, patterns[probe])
        return gen.noise(x), y

    options = dict(T=T, channels=channels, active=active, n_patterns=n_patterns, delay=delay, onset_range=onset_range,
                   noise_rate=noise_rate, jitter=jitter, reliability=reliability, n_train=n_train, n_test=n_test,
                   seed=seed)
    return _dataset("delayed-match", make, n_train, n_test, 2,
                    f"delayed match-to-sample, {n_patterns} patterns, delay {delay}, T={T}", options)


def latency_code(T: int = 30, channels: int = 16, n_classes: int = 4, n_early: int = 4, separation: int = 5,
                 onset_range: int = 5, noise_rate: float = 0.02, jitter: float = 2.0, reliability: float = 0.9,
                 n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Which subset of channels spikes early: class = a prototype set of ``n_early`` channels.

    Every channel spikes once: the class's ``n_early`` channels ``separation`` steps before the
    others (each with its own ``jitter``), after a common random onset in ``[0, onset_range)``, so
    only relative latencies tell the class. Chance 1/n_classes.
    """
    channels = _integer("channels", channels, 2)
    n_classes = _integer("n_classes", n_classes, 2)
    n_early = _integer("n_early", n_early, 1)
    if n_early >= channels:
        raise NeuroreconError(f"n_early must be below channels ({channels}); got {n_early}")
    separation = _integer("separation", separation, 1)
    onset_range = _integer("onset_range", onset_range, 1)
    T, n_train, n_test, noise_rate, jitter, reliability = _common(
        T, n_train, n_test, noise_rate, jitter, reliability, onset_range + separation,
        f"separation={separation} after onsets up to {onset_range - 1}")
    gen = _Generator(seed, T, channels, noise_rate, jitter, reliability)
    early = np.zeros((n_classes, channels), bool)
    early[np.arange(n_classes)[:, None], gen.subsets(n_classes, n_early, channels, "latency-code")] = True
    # Logical channels ordered early first, per class: (n_classes, channels).
    order = np.argsort(~early, axis=1, kind="stable")
    lead = min(int(np.ceil(2 * jitter)), T - onset_range - separation)

    def make(n: int):
        x = gen.empty(n)
        y = gen.rng.integers(0, n_classes, n)
        onset = gen.rng.integers(0, onset_range, n) + lead
        gen.volley(x, onset, order[y, :n_early])
        gen.volley(x, onset + separation, order[y, n_early:])
        return gen.noise(x), y

    options = dict(T=T, channels=channels, n_classes=n_classes, n_early=n_early, separation=separation,
                   onset_range=onset_range, noise_rate=noise_rate, jitter=jitter, reliability=reliability,
                   n_train=n_train, n_test=n_test, seed=seed)
    return _dataset("latency-code", make, n_train, n_test, n_classes,
                    f"latency code, {n_classes} classes of {n_early} early channels of {channels}, T={T}", options)


def interval(T: int = 50, channels: int = 4, n_classes: int = 4, min_interval: int = 6, max_interval: int = 30,
             n_noise_channels: int = 4, noise_rate: float = 0.02, jitter: float = 1.0, reliability: float = 0.9,
             n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Interval discrimination: which of ``n_classes`` equal ranges splitting
    ``[min_interval, max_interval)`` the interval between two volleys falls in. Chance 1/n_classes.

    Both volleys come on the same group of ``channels`` channels, the first at a random onset
    (so that the second fits in ``T``); adjacent ranges touch, so jitter blurs their borders.
    """
    channels = _integer("channels", channels, 1)
    n_classes = _integer("n_classes", n_classes, 2)
    min_interval = _integer("min_interval", min_interval, 1)
    max_interval = _integer("max_interval", max_interval, min_interval + n_classes)
    n_noise_channels = _integer("n_noise_channels", n_noise_channels, 0)
    T, n_train, n_test, noise_rate, jitter, reliability = _common(
        T, n_train, n_test, noise_rate, jitter, reliability, max_interval, f"max_interval={max_interval}")
    gen = _Generator(seed, T, channels + n_noise_channels, noise_rate, jitter, reliability)
    width = (max_interval - min_interval) / n_classes
    group = np.arange(channels)

    def make(n: int):
        x = gen.empty(n)
        y = gen.rng.integers(0, n_classes, n)
        length = np.floor(min_interval + (y + gen.rng.random(n)) * width).astype(np.int64)
        onset = gen.rng.integers(0, T - max_interval + 1, n)
        groups = np.broadcast_to(group, (n, channels))
        gen.volley(x, onset, groups)
        gen.volley(x, onset + length, groups)
        return gen.noise(x), y

    options = dict(T=T, channels=channels, n_classes=n_classes, min_interval=min_interval, max_interval=max_interval,
                   n_noise_channels=n_noise_channels, noise_rate=noise_rate, jitter=jitter, reliability=reliability,
                   n_train=n_train, n_test=n_test, seed=seed)
    return _dataset("interval", make, n_train, n_test, n_classes,
                    f"interval discrimination, {n_classes} ranges in [{min_interval}, {max_interval}), T={T}", options)


TIMING_TASKS = {
    "spike-order": spike_order,
    "delayed-match": delayed_match,
    "latency-code": latency_code,
    "interval": interval,
}
