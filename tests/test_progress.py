"""progress=: one mechanism (tqdm time estimates) for training, the beta path, rounds and Lava batches."""

import io
import sys

import numpy as np
import pytest

import neurorecon as nr
from neurorecon._progress import Progress
from neurorecon.data import load_data
from neurorecon.simulate.predict import predict_network


def test_plain_lines_with_a_time_estimate_to_a_callable():
    lines = []
    progress = Progress(lines.append)
    assert list(progress.steps(iter("abc"), 3, "things")) == ["a", "b", "c"]
    progress.say("hello")
    assert lines[0].startswith("things: 0/3") and lines[-2].startswith("things: 3/3 [")
    assert "<00:00" in lines[-2] and lines[-1] == "hello" and len(lines) == 5


def test_true_writes_plain_lines_to_stderr_when_not_a_terminal(capsys):
    assert list(Progress(True).steps(range(2), 2, "blocks")) == [0, 1]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1].startswith("[neurorecon] blocks: 2/2 [") and "\r" not in captured.err


def test_true_draws_a_bar_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(Progress(True).steps(range(3), 3, "rounds")) == [0, 1, 2]
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()


@pytest.mark.parametrize("option", [None, False])
def test_off_is_silent(capsys, option):
    assert list(Progress(option).steps(range(2), 2, "x")) == [0, 1]
    Progress(option).say("nothing")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("option", ["yes", 3, [print]])
def test_bad_option_is_a_clear_error(option):
    with pytest.raises(nr.NeuroreconError, match="progress must be"):
        Progress(option)
    data = load_data("first-last-xor", T=4, n_train=60, n_test=20, seed=0)
    with pytest.raises(nr.NeuroreconError, match="progress must be"):
        nr.ReconstructionClassifier(n_witnesses=20, progress=option).fit(data.X_train, data.y_train)


def test_classifier_reports_blocks_the_beta_path_and_rounds():
    data = load_data("first-last-xor", T=6, n_train=300, n_test=50, seed=1)
    lines = []
    clf = nr.ReconstructionClassifier(n_witnesses=1500, column_generation_rounds=1, candidates_per_round=100,
                                      seed=0, progress=lines.append)
    clf.fit(data.X_train, data.y_train)
    text = "\n".join(lines)
    assert "dictionary blocks: 2/2 [" in text  # 1500 witnesses in blocks of 1024
    assert "beta path (last): 1/8 [" in text and "column-generation rounds: 1/1 [" in text
    assert "beta path (count): 3/8 [" in text and "done early" in text  # the path stops once validation stalls
    assert "reconstruction on 300 sequences x 6 time steps x 4 channels" in text  # the data's shape first
    silent = nr.ReconstructionClassifier(n_witnesses=1500, column_generation_rounds=1, candidates_per_round=100, seed=0)
    silent.fit(data.X_train, data.y_train)  # progress changes nothing else
    assert np.array_equal(silent.network_.layers[-1].weights, clf.network_.layers[-1].weights)


def test_lava_batches_report_progress(rng):
    # Runs after the terminal-bar test on purpose: a tqdm bar must not keep Lava from importing.
    net = nr.Network([nr.LIFLayer(rng.integers(-50, 50, (3, 2)), du=100, dv=200, vth=40),
                      nr.LIFLayer(rng.integers(-50, 50, (2, 3)), du=4095, dv=0, vth=2**17 - 1)],
                     metadata={"readout": "count"})
    x = (rng.random((5, 4, 2)) < 0.5).astype(np.uint8)
    lines = []
    lava = predict_network(net, x, backend="lava", progress=lines.append)
    assert np.array_equal(lava, predict_network(net, x))
    assert lines[0].startswith("Lava run batches (5 samples each): 0/1") and lines[-1].startswith(
        "Lava run batches (5 samples each): 1/1 [")


def test_surrogate_training_reports_the_data_shape_and_epochs():
    from neurorecon.train.surrogate.trainer import train_surrogate

    data = load_data("first-last-xor", T=5, n_train=64, n_test=8, seed=0)
    lines = []
    train_surrogate(data.X_train, data.y_train, hidden=(8,), readout="last", epochs=2, seed=0, device="cpu",
                    progress=lines.append)
    assert lines[0] == "surrogate-gradient training on 64 sequences x 5 time steps x 4 channels, 2 classes"
    assert [line.split(":")[0] for line in lines[1:]] == ["epoch 1/2", "epoch 2/2"]
