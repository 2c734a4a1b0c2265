"""numpy's huge-page advice is off while a classifier trains, restored after, and the user's
``NUMPY_MADVISE_HUGEPAGE`` is left alone."""

import numpy as np
import pytest

from neurorecon._pages import NUMPY_VARIABLE, _setter, without_huge_pages
from neurorecon.data import load_data
from neurorecon.train.convex.classifier import ReconstructionClassifier

setter = _setter()


def advice() -> bool:
    current = setter(True)
    setter(current)
    return bool(current)


@pytest.fixture
def advice_on(monkeypatch):
    monkeypatch.delenv(NUMPY_VARIABLE, raising=False)
    before = setter(True)
    yield
    setter(before)


def test_numpy_has_the_switch():
    assert setter is not None  # numpy < 2 (pyproject) keeps it in numpy.core.multiarray


def test_the_advice_is_off_inside_and_restored_after(advice_on):
    with without_huge_pages():
        assert advice() is False
        assert np.ones(2**22).sum() == 2**22  # large arrays still work
    assert advice() is True


def test_the_advice_is_restored_when_the_block_fails(advice_on):
    with pytest.raises(RuntimeError):
        with without_huge_pages():
            raise RuntimeError("boom")
    assert advice() is True


def test_a_set_environment_variable_is_the_users_choice(advice_on, monkeypatch):
    monkeypatch.setenv(NUMPY_VARIABLE, "1")
    with without_huge_pages():
        assert advice() is True


def test_training_runs_without_the_advice_and_restores_it(advice_on, monkeypatch):
    seen = []
    original = ReconstructionClassifier._fit

    def spy(self, *args, **kwargs):
        seen.append(advice())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ReconstructionClassifier, "_fit", spy)
    data = load_data("first-last-xor", T=6, n_train=120, n_test=20)
    ReconstructionClassifier(profile="loihi2", n_witnesses=40, column_generation_rounds=1, candidates_per_round=8,
                             seed=0).fit(data.X_train, data.y_train)
    assert seen == [False]
    assert advice() is True
