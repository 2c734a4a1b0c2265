"""ReconstructionClassifier as a scikit-learn estimator.

scikit-learn's estimator checks feed 2-D float arrays (n_samples, n_features); this estimator
takes 3-D sequences (n, T, channels) of non-negative integers and says so in its tags, for
which scikit-learn yields no check at all. So the checks are generated for a view that claims
2-D input (:class:`_AsIf2D`), and each one either runs and passes here, or is listed in
``NOT_APPLICABLE`` with the reason; where the property still matters for sequences, a 3-D test
below checks it (named in the reason). The list is verified, not trusted: a listed check must
actually feed a 2-D ``X`` to ``fit``/``predict``/``score``, and the list names only checks that
scikit-learn yields.
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.utils.estimator_checks import estimator_checks_generator

import neurorecon as nr
from neurorecon.train.convex.classifier import ReconstructionClassifier

FAST = dict(n_witnesses=40, column_generation_rounds=0, n_betas=2, seed=0)


def _ndim(X) -> int:
    """Dimensions of an array, a sparse matrix, a list or scikit-learn's ``_NotAnArray``."""
    return X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim


class _AsIf2D(ReconstructionClassifier):
    """The estimator with tags claiming 2-D input, so that scikit-learn yields its checks; it
    records the dimensions of every ``X`` given to fit, predict and score."""

    seen_ndim: list[int] = []

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags

    def fit(self, X, y=None):
        _AsIf2D.seen_ndim.append(_ndim(X))
        return super().fit(X, y)

    def predict(self, X):
        _AsIf2D.seen_ndim.append(_ndim(X))
        return super().predict(X)

    def score(self, X, y, sample_weight=None):
        _AsIf2D.seen_ndim.append(_ndim(X))
        return super().score(X, y, sample_weight)


TWO_D = "fits or predicts on 2-D X (n_samples, n_features), which a sequence estimator refuses"

NOT_APPLICABLE = {
    # Data checks: they build 2-D X; where the property matters for sequences, the 3-D test is named.
    "check_fit_score_takes_y": TWO_D,
    "check_estimators_overwrite_params": TWO_D + "; 3-D: test_fit_keeps_params_and_adds_only_learned_attributes",
    "check_dont_overwrite_parameters": TWO_D + "; 3-D: test_fit_keeps_params_and_adds_only_learned_attributes",
    "check_estimators_fit_returns_self": TWO_D + "; 3-D: test_any_labels_are_returned_by_predict (fit returns self)",
    "check_readonly_memmap_input": TWO_D + "; 3-D: test_integer_dtypes_and_read_only_input",
    "check_n_features_in_after_fitting": TWO_D + "; 3-D: test_channel_count_is_n_features_in",
    "check_n_features_in": TWO_D + "; 3-D: test_channel_count_is_n_features_in",
    "check_positive_only_tag_during_fit": TWO_D + "; 3-D: negative X refused in test_train.py::test_bad_training_data",
    "check_fit_non_negative": TWO_D + " (it passes, but only because of the 2-D refusal); 3-D: test_train.py::test_bad_training_data",
    "check_estimators_dtypes": TWO_D + " of float32/int32/int64; 3-D: test_integer_dtypes_and_read_only_input",
    "check_complex_data": TWO_D + " (complex X is refused: 'X must be numeric', not scikit-learn's wording)",
    "check_dtype_object": TWO_D + " of dtype object (refused: 'X must be numeric')",
    "check_estimators_empty_data_messages": TWO_D + "; 3-D: empty X and T=0 refused in test_train.py::test_bad_training_data",
    "check_pipeline_consistency": TWO_D,
    "check_estimators_nan_inf": TWO_D + "; 3-D: NaN refused in test_train.py::test_bad_training_data",
    "check_estimator_sparse_tag": TWO_D + " as a sparse matrix (sparse input is 2-D by construction)",
    "check_estimator_sparse_array": TWO_D + " as a sparse array (sparse input is 2-D by construction)",
    "check_estimator_sparse_matrix": TWO_D + " as a sparse matrix (sparse input is 2-D by construction)",
    "check_estimators_pickle": TWO_D + "; 3-D: test_pickle_round_trip",
    "check_array_api_input": "array-API inputs (runs only with SCIPY_ARRAY_API=1); X becomes numpy, the emulator is numpy",
    "check_f_contiguous_array_estimator": TWO_D + "; 3-D: test_integer_dtypes_and_read_only_input",
    "check_classifier_data_not_an_array": TWO_D + "; 3-D: test_integer_dtypes_and_read_only_input",
    "check_classifiers_one_label": TWO_D + "; 3-D: single class refused in test_train.py::test_bad_training_data",
    "check_classifiers_classes": TWO_D + "; 3-D: test_any_labels_are_returned_by_predict",
    "check_classifier_multioutput": TWO_D + "; per-step labels (n, T) are this estimator's multi-output: test_per_step_labels",
    "check_classifiers_train": TWO_D + " (make_blobs); accuracy on sequence tasks: test_train.py",
    "check_classifiers_regression_target": TWO_D + "; 3-D: continuous y refused in test_train.py::test_bad_training_data",
    "check_supervised_y_no_nan": TWO_D + " (it passes, but only because of the 2-D refusal); 3-D: test_train.py::test_bad_training_data",
    "check_supervised_y_2d": TWO_D + "; a 2-D y here means per-step labels: test_per_step_labels",
    "check_methods_sample_order_invariance": TWO_D + "; 3-D: test_predictions_do_not_depend_on_the_batch",
    "check_methods_subset_invariance": TWO_D + "; 3-D: test_predictions_do_not_depend_on_the_batch",
    "check_fit2d_1sample": TWO_D + "; 3-D: too few samples for a validation split refused in test_train.py",
    "check_fit2d_1feature": TWO_D + "; one channel is fine in 3-D: test_channel_count_is_n_features_in",
    "check_dict_unchanged": TWO_D + "; 3-D: test_predict_changes_no_state",
    "check_fit_idempotent": TWO_D + "; 3-D: test_train.py::test_same_seed_same_bits",
    "check_fit_check_is_fitted": TWO_D + "; 3-D: test_not_fitted_before_fit",
    "check_fit2d_predict1d": TWO_D,
    "check_requires_y_none": TWO_D + "; 3-D: test_y_is_required",
}


def _name(check) -> str:
    return getattr(check, "func", check).__name__


with warnings.catch_warnings():
    warnings.simplefilter("ignore", SkipTestWarning)
    CHECKS = [check for _, check in estimator_checks_generator(_AsIf2D(**FAST), legacy=True, mark=None)]


def test_tags_say_sequences_so_scikit_learn_yields_no_data_check():
    with pytest.warns(SkipTestWarning, match="requires input"):
        generated = [_name(c) for _, c in estimator_checks_generator(ReconstructionClassifier(), mark=None)]
    assert set(generated) <= {"check_estimator_cloneable"}  # nothing past the clone check
    assert is_classifier(ReconstructionClassifier())


def test_the_not_applicable_list_names_only_checks_scikit_learn_runs():
    assert set(NOT_APPLICABLE) <= {_name(c) for c in CHECKS}
    assert len(CHECKS) - sum(_name(c) in NOT_APPLICABLE for c in CHECKS) >= 15  # the API checks do run


@pytest.mark.parametrize("check", CHECKS, ids=_name)
def test_scikit_learn_check(check):
    estimator = _AsIf2D(**FAST)
    _AsIf2D.seen_ndim.clear()
    if _name(check) not in NOT_APPLICABLE:
        check(estimator)  # applies: must pass
        return
    try:  # listed: verify the reason, i.e. that the check really feeds 2-D X
        check(estimator)
    except Exception as exc:  # noqa: BLE001 - whatever the check raises, the reason is checked below
        if type(exc).__name__ == "SkipTest":
            assert "SCIPY_ARRAY_API" in NOT_APPLICABLE[_name(check)]
            return
    assert 2 in _AsIf2D.seen_ndim, f"{_name(check)} never gave the estimator a 2-D X: it may apply after all"


# ---------------------------------------------------------------- the same properties on sequences
@pytest.fixture(scope="module")
def xor():
    return nr.load_data("first-last-xor", T=6, n_train=200, n_test=100, seed=1)


@pytest.fixture(scope="module")
def fitted(xor):
    """The same task fitted with string labels and with non-contiguous integer labels."""
    estimator = ReconstructionClassifier(**FAST)
    params = joblib.hash(estimator.get_params())
    strings = estimator.fit(xor.X_train, np.array(["no", "yes"])[xor.y_train])
    sparse_ints = ReconstructionClassifier(**FAST).fit(xor.X_train, np.array([3, 10])[xor.y_train])
    return strings, sparse_ints, params


def test_any_labels_are_returned_by_predict(xor, fitted):
    strings, sparse_ints, _ = fitted
    assert strings.classes_.tolist() == ["no", "yes"] and sparse_ints.classes_.tolist() == [3, 10]
    assert strings.network_.equals(sparse_ints.network_)  # labels are encoded the same: 0..C-1 in sorted order
    assert strings.network_.sizes[-1] == 2
    words, numbers = strings.predict(xor.X_test), sparse_ints.predict(xor.X_test)
    np.testing.assert_array_equal(words, np.where(numbers == 3, "no", "yes"))
    expected = np.array(["no", "yes"])[xor.y_test]
    assert strings.score(xor.X_test, expected) == np.mean(words == expected) > 0.6  # chance is 0.5
    assert sparse_ints.score(xor.X_test, np.array([3, 10])[xor.y_test]) == strings.score(xor.X_test, expected)


def test_per_step_labels():
    rng = np.random.default_rng(0)
    X = (rng.random((120, 5, 2)) < 0.5).astype(np.uint8)
    y = np.array(["lo", "hi"])[X[:, :, 0]]  # each step's label is its first channel
    model = ReconstructionClassifier(**{**FAST, "n_witnesses": 30}).fit(X, y)
    assert model.readout_ == "step" and model.classes_.tolist() == ["hi", "lo"]
    pred = model.predict(X[:50])
    assert pred.shape == (50, 5) and set(np.unique(pred)) <= {"hi", "lo"}
    assert model.score(X[:50], y[:50]) == np.mean(pred == y[:50]) > 0.9  # token-wise
    weights = np.r_[np.ones(25), np.zeros(25)]
    assert model.score(X[:50], y[:50], sample_weight=weights) == np.mean(pred[:25] == y[:25])
    with pytest.raises(nr.NeuroreconError, match=r"shape \(50,\)"):
        model.score(X[:50], y[:50, 0])


def test_clone_get_params_set_params(fitted):
    strings, _, _ = fitted
    fresh = clone(strings)
    assert fresh.get_params() == strings.get_params()
    assert not hasattr(fresh, "network_") and not hasattr(fresh, "classes_")
    assert fresh.set_params(n_witnesses=7, readout="count") is fresh
    assert fresh.get_params()["n_witnesses"] == 7 and strings.get_params()["n_witnesses"] == FAST["n_witnesses"]
    bad = ReconstructionClassifier(readout="middle", beta=-1)  # stored as given; fit validates
    assert bad.get_params()["readout"] == "middle"
    with pytest.raises(nr.NeuroreconError, match="readout"):
        bad.fit(np.ones((10, 4, 2)), np.arange(10) % 2)


def test_fit_keeps_params_and_adds_only_learned_attributes(fitted):
    strings, _, params_before = fitted
    assert joblib.hash(strings.get_params()) == params_before
    added = set(vars(strings)) - set(ReconstructionClassifier(**FAST).get_params())
    assert added and all(name.endswith("_") or name.startswith("_") for name in added), added
    assert {"network_", "classes_", "n_features_in_", "report_"} <= added


def test_not_fitted_before_fit(xor):
    model = ReconstructionClassifier()
    for call in (lambda: model.predict(xor.X_test), lambda: model.score(xor.X_test, xor.y_test)):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
        with pytest.raises(nr.NeuroreconError):  # and the error the command line reports in one line
            call()


def test_channel_count_is_n_features_in(xor, fitted):
    strings, _, _ = fitted
    assert strings.n_features_in_ == xor.X_train.shape[2] == 4
    with pytest.raises(nr.NeuroreconError, match="3 input channels per step, but this classifier was fitted on 4"):
        strings.predict(xor.X_test[:, :, :3])
    longer = np.concatenate([xor.X_test[:5], xor.X_test[:5]], axis=1)  # other lengths are fine (T is not a feature)
    assert strings.predict(longer).shape == (5,)


def test_y_is_required(xor):
    with pytest.raises(nr.NeuroreconError, match="requires y to be passed"):
        ReconstructionClassifier(**FAST).fit(xor.X_train, None)


def test_pickle_round_trip(xor, fitted):
    strings, _, _ = fitted
    again = pickle.loads(pickle.dumps(strings))
    np.testing.assert_array_equal(again.predict(xor.X_test), strings.predict(xor.X_test))
    assert again.network_.equals(strings.network_)


def test_predictions_do_not_depend_on_the_batch(xor, fitted):
    strings, _, _ = fitted
    whole = strings.predict(xor.X_test)
    order = np.random.default_rng(0).permutation(len(whole))
    np.testing.assert_array_equal(strings.predict(xor.X_test[order]), whole[order])
    np.testing.assert_array_equal(strings.predict(xor.X_test[7:19]), whole[7:19])


def test_predict_changes_no_state(xor, fitted):
    strings, _, _ = fitted
    before = joblib.hash(vars(strings))
    strings.predict(xor.X_test)
    strings.score(xor.X_test, np.array(["no", "yes"])[xor.y_test])
    assert joblib.hash(vars(strings)) == before


def test_integer_dtypes_and_read_only_input(xor, fitted):
    strings, _, _ = fitted
    expected = strings.predict(xor.X_test)
    frozen = xor.X_test.astype(np.int64)
    frozen.flags.writeable = False
    for X in (xor.X_test.astype(np.int32), xor.X_test.astype(np.float32), frozen, np.asfortranarray(xor.X_test)):
        np.testing.assert_array_equal(strings.predict(X), expected)
    np.testing.assert_array_equal(strings.predict(xor.X_test[:10].tolist()), expected[:10])  # nested lists

