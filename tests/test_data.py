"""Built-in tasks, data files and their validation."""

import gzip

import numpy as np
import pytest

import neurorecon as nr
from neurorecon.data import TASKS, load_data, make_dataset


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
    assert set(TASKS) == {"first-last-xor", "addition-base2", "addition-base3", "addition-base5", "seq-mnist", "seq-digits"}
