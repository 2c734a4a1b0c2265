"""Built-in tasks, data files and their validation."""

import gzip

import numpy as np
import pytest

import neurorecon as nr
from neurorecon.data import TASKS, load_data, make_dataset
from neurorecon.data.timing import chance_level


def test_first_last_xor_labels_and_encoding():
    d = load_data("first-last-xor", T=7, n_train=50, n_test=20, seed=3)
    X, y = d.X_train, d.y_train
    assert X.shape == (50, 7, 4) and set(np.unique(X)) <= {0, 1}
    bits = X[:, :, 0]
    np.testing.assert_array_equal(y, bits[:, 0] ^ bits[:, -1])
    np.testing.assert_array_equal(X[:, :, 0] + X[:, :, 1], np.ones((50, 7)))
    np.testing.assert_array_equal(X[:, 0, 2], bits[:, 0])
    assert X[:, 1:, 2].sum() == 0 and X[:, :-1, 3].sum() == 0
    again = load_data("first-last-xor", T=7, n_train=50, n_test=20, seed=3)
    np.testing.assert_array_equal(again.X_train, X)


@pytest.mark.parametrize("base", [2, 3, 5])
def test_addition_labels_are_the_sum_digits(base):
    d = load_data(f"addition-base{base}", n_digits=4, n_train=200, n_test=30, ood_digits=(9,))
    X, y = d.X_train, d.y_train
    assert X.shape == (200, 5, 2 * base) and y.shape == (200, 5)
    a = (X[:, :4, :base].argmax(-1) * base ** np.arange(4)).sum(1)
    b = (X[:, :4, base:].argmax(-1) * base ** np.arange(4)).sum(1)
    total = (y * base ** np.arange(5)).sum(1)
    np.testing.assert_array_equal(total, a + b)
    assert X[:, 4].sum() == 0
    assert d.per_step and d.extra["ood-9"][0].shape == (30, 10, 2 * base)


def test_seq_mnist_split_and_encodings(shared_dir):
    d = load_data("seq-mnist", mnist_dir=str(shared_dir / "data/mnist"), n_train=100, n_test=50)
    assert d.X_train.shape == (100, 28, 28) and d.X_test.shape == (50, 28, 28)
    graded = load_data("seq-mnist", mnist_dir=str(shared_dir / "data/mnist"), n_train=100, n_test=50, encoding="graded")
    assert graded.X_train.max() == 15
    np.testing.assert_array_equal(d.y_test, graded.y_test)


def test_seq_mnist_missing_files_are_a_clear_error(tmp_path):
    with pytest.raises(nr.NeuroreconError, match="not found"):
        load_data("seq-mnist", mnist_dir=str(tmp_path))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00\x00\x02"))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02"))
    with pytest.raises(nr.NeuroreconError, match="truncated"):
        load_data("seq-mnist", mnist_dir=str(tmp_path))


def test_seq_digits_offline():
    d = load_data("seq-digits")
    assert d.X_train.shape[1:] == (8, 8) and d.n_classes == 10 and d.X_test.shape[0] == 360


def test_npz_data_file(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X_train=rng.integers(0, 2, (20, 5, 3)), y_train=np.arange(20) % 3,
             X_test=rng.integers(0, 2, (6, 5, 3)), y_test=np.arange(6) % 3)
    d = load_data(str(tmp_path / "d.npz"))
    assert d.n_classes == 3 and d.X_test.shape == (6, 5, 3)


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.full((4, 3, 2), np.nan), [0, 1, 0, 1], "NaN"),
        (-np.ones((4, 3, 2)), [0, 1, 0, 1], "negative"),
        (np.ones((4, 3)), [0, 1, 0, 1], "shape"),
        (np.ones((4, 3, 2)), [0, 1, 0], "3 labels but X has 4"),
        (np.ones((4, 3, 2)), [0, 0, 0, 0], "single class"),
        (np.ones((4, 3, 2)), [1, 2, 1, 2], "0..C-1"),
        (np.ones((4, 3, 2)), [0, -1, 0, 1], "negative labels"),
        (np.ones((0, 3, 2)), np.zeros(0), "empty"),
        (np.ones((4, 0, 2)), [0, 1, 0, 1], "T=0"),
        (np.full((4, 3, 2), 0.5), [0, 1, 0, 1], "integers"),
    ],
)
def test_bad_data(X, y, message):
    with pytest.raises(nr.NeuroreconError, match=message):
        make_dataset("bad", X, y)


def test_bad_files_and_names(tmp_path):
    with pytest.raises(nr.NeuroreconError, match="unknown task"):
        load_data("mnist-please")
    with pytest.raises(nr.NeuroreconError, match="does not exist"):
        load_data(str(tmp_path / "none.npz"))
    np.savez(tmp_path / "x.npz", X=np.ones((2, 2, 2)))
    with pytest.raises(nr.NeuroreconError, match="no array named X_train"):
        load_data(str(tmp_path / "x.npz"))
    with pytest.raises(nr.NeuroreconError, match="bad option"):
        load_data("first-last-xor", colour=3)
    np.savez(tmp_path / "t.npz", X_train=np.ones((4, 3, 2)), y_train=[0, 1, 0, 1], X_test=np.ones((2, 3, 5)), y_test=[0, 1])
    with pytest.raises(nr.NeuroreconError, match="inputs per step"):
        load_data(str(tmp_path / "t.npz"))
    np.savez(tmp_path / "u.npz", X_train=np.ones((4, 3, 2)), y_train=[0, 1, 0, 1], X_test=np.ones((2, 3, 2)), y_test=[0, 4])
    with pytest.raises(nr.NeuroreconError, match="only 2 classes"):
        load_data(str(tmp_path / "u.npz"))


def test_every_task_is_registered():
    assert set(TASKS) == {"first-last-xor", "addition-base2", "addition-base3", "addition-base5", "seq-mnist", "seq-digits",
                          "spike-order", "delayed-match", "latency-code", "interval"}


# ---------------------------------------------------------------------------- timing suite
TIMING = ("spike-order", "delayed-match", "latency-code", "interval")
CLEAN = dict(noise_rate=0.0, jitter=0.0, reliability=1.0, n_train=300, n_test=50)  # every event exact


@pytest.mark.parametrize("name", TIMING)
def test_timing_tasks_are_deterministic_per_seed_and_vary_with_it(name):
    a = load_data(name, n_train=200, n_test=50, seed=4)
    b = load_data(name, n_train=200, n_test=50, seed=4)
    c = load_data(name, n_train=200, n_test=50, seed=5)
    for x, y in ((a.X_train, b.X_train), (a.y_train, b.y_train), (a.X_test, b.X_test), (a.y_test, b.y_test)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.X_train, c.X_train)
    assert set(np.unique(a.X_train)) == {0, 1} and a.X_test.shape[1:] == a.X_train.shape[1:]
    assert a.options["seed"] == 4 and f"chance {1 / a.n_classes:.1%}" in a.description
    # balanced classes: chance (always the most frequent class) is near 1/C
    assert abs(chance_level(a) - 1 / a.n_classes) < 0.2
    again = load_data(name, **a.options)  # the options rebuild the task (what a run directory stores)
    np.testing.assert_array_equal(again.X_test, a.X_test)


@pytest.mark.parametrize("name", ("spike-order", "latency-code", "interval"))
def test_timing_counts_carry_no_class_information(name):
    """Without noise and dropped spikes every sample has the same spike count on every channel."""
    d = load_data(name, **CLEAN)
    counts = d.X_train.sum(axis=1)
    assert (counts == counts[0]).all() and counts.sum() > 0


def _first_spike(X):
    return np.where(X.any(axis=1), X.argmax(axis=1), -1)  # (n, channels), -1: silent


def test_spike_order_label_is_the_order_of_the_marker_volleys():
    import itertools

    d = load_data("spike-order", n_markers=3, channels=2, n_noise_channels=3, min_gap=2, **CLEAN)
    X, y = d.X_train, d.y_train
    first = _first_spike(X)
    active = np.flatnonzero(first[0] >= 0)
    assert len(active) == 6 and (X.sum(axis=1)[:, active] == 1).all()  # 3 markers x 2 channels, once each
    # markers: the channels that fire together in class-0 samples (order 0, 1, 2), by rank
    sample = np.flatnonzero(y == 0)[0]
    times = first[sample, active]
    groups = [active[times == t] for t in np.unique(times)]
    orders = list(itertools.permutations(range(3)))
    for i in range(len(y)):
        group_times = [first[i, g] for g in groups]
        assert all(len(set(t)) == 1 for t in group_times)  # a volley: the group's channels together
        when = np.array([t[0] for t in group_times])
        assert np.all(np.diff(np.sort(when)) >= 2)  # min_gap
        assert tuple(np.argsort(when)) == orders[y[i]]


def test_delayed_match_label_says_whether_probe_repeats_cue():
    d = load_data("delayed-match", delay=10, T=20, onset_range=3, channels=8, active=3, n_patterns=3, **CLEAN)
    X, y = d.X_train, d.y_train
    patterns = set()
    for i in range(len(y)):
        times = np.flatnonzero(X[i].any(axis=1))
        assert len(times) == 2 and times[1] - times[0] == 10 and times[0] < 3
        cue, probe = np.flatnonzero(X[i, times[0]]), np.flatnonzero(X[i, times[1]])
        assert len(cue) == 3 and (y[i] == 1) == np.array_equal(cue, probe)
        patterns |= {tuple(cue), tuple(probe)}
    assert len(patterns) == 3


def test_latency_code_class_is_the_set_of_early_channels():
    d = load_data("latency-code", channels=10, n_classes=3, n_early=3, separation=4, **CLEAN)
    X, y = d.X_train, d.y_train
    first = _first_spike(X)
    assert (first >= 0).all()
    early = first == first.min(axis=1, keepdims=True)
    assert (early.sum(axis=1) == 3).all() and ((first - first.min(axis=1, keepdims=True))[~early] == 4).all()
    prototypes = {c: {tuple(np.flatnonzero(row)) for row in early[y == c]} for c in range(3)}
    assert all(len(p) == 1 for p in prototypes.values()) and len(set().union(*prototypes.values())) == 3


def test_interval_class_is_the_range_of_the_interval():
    d = load_data("interval", T=40, channels=3, n_classes=4, min_interval=4, max_interval=28, n_noise_channels=2, **CLEAN)
    X, y = d.X_train, d.y_train
    for i in range(len(y)):
        times = np.flatnonzero(X[i].any(axis=1))
        assert len(times) == 2 and X[i, times].sum() == 6
        assert 4 + 6 * y[i] <= times[1] - times[0] < 4 + 6 * (y[i] + 1)


def test_timing_noise_and_jitter():
    quiet = load_data("interval", n_noise_channels=3, **CLEAN)
    noisy = load_data("interval", n_noise_channels=3, noise_rate=0.1, n_train=300, n_test=50)
    signal = quiet.X_train.sum(axis=(0, 1)) > 0
    assert quiet.X_train[:, :, ~signal].sum() == 0  # distractors are silent without noise
    assert abs(noisy.X_train[:, :, ~signal].mean() - 0.1) < 0.01
    jittered = load_data("latency-code", **dict(CLEAN, jitter=2.0))
    first = _first_spike(jittered.X_train)
    spread = first.max(axis=1) - first.min(axis=1)
    assert spread.max() > load_data("latency-code", **CLEAN).options["separation"]


@pytest.mark.parametrize("name, options, message", [
    ("spike-order", {"n_markers": 6}, "at most 5"),
    ("spike-order", {"T": 5, "min_gap": 3}, "too short"),
    ("spike-order", {"channels": 0}, "channels must be an integer >= 1"),
    ("spike-order", {"T": 40.5}, "T must be an integer"),
    ("delayed-match", {"delay": 40}, "too short"),
    ("delayed-match", {"active": 12}, "active must be below"),
    ("delayed-match", {"channels": 4, "active": 2, "n_patterns": 7}, "distinct patterns"),
    ("latency-code", {"noise_rate": 1.0}, r"noise_rate must be in \[0, 1\)"),
    ("latency-code", {"jitter": -1}, "jitter must be in"),
    ("latency-code", {"reliability": 0}, r"reliability must be in \(0, 1\]"),
    ("latency-code", {"n_early": 16}, "n_early must be below"),
    ("interval", {"max_interval": 8}, "max_interval must be an integer >= 10"),
    ("interval", {"T": 20}, "too short"),
    ("interval", {"seed": -1}, "seed must be"),
    ("interval", {"n_train": 2}, "too small to hold all 4 classes"),
    ("interval", {"noise_rate": "lots"}, "must be a number"),
])
def test_timing_bad_options(name, options, message):
    with pytest.raises(nr.NeuroreconError, match=message):
        load_data(name, **options)
