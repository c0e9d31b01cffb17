"""Input validation shared by every estimator: forms accepted, bad input refused."""

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from vlmtsc.base import (
    BaseTimeSeriesClassifier,
    check_datasets,
    check_labels,
    check_series,
    n_channels_of,
    resolve_label_names,
    series_lengths,
)
from vlmtsc.testing import make_example_series


class NearestMeanClassifier(BaseTimeSeriesClassifier):
    """A minimal concrete classifier to exercise the base-class templates."""

    _supports_unequal_length = False

    def __init__(self, shift=0.0):
        self.shift = shift

    def _fit(self, X, y):
        self.means_ = np.stack(
            [X[y == k].mean(axis=0) for k in range(len(self.classes_))]
        )

    def _predict_proba(self, X):
        distances = ((X[:, None] - self.means_[None]) ** 2).sum(axis=(2, 3))
        scores = np.exp(-(distances - distances.min(axis=1, keepdims=True)))
        return scores / scores.sum(axis=1, keepdims=True)


# --- the three input forms ------------------------------------------------------


def test_2d_array_is_univariate():
    X = check_series(np.arange(12).reshape(3, 4))
    assert X.shape == (3, 1, 4)
    assert X.dtype == np.float64


def test_3d_array_is_multivariate():
    X = check_series(np.zeros((3, 2, 5), dtype=np.float32))
    assert X.shape == (3, 2, 5)
    assert X.dtype == np.float64
    assert n_channels_of(X) == 2


def test_list_of_unequal_2d_arrays_stays_a_list():
    X = check_series([np.zeros((2, 5)), np.ones((2, 7))])
    assert isinstance(X, list)
    assert [x.shape for x in X] == [(2, 5), (2, 7)]
    assert series_lengths(X).tolist() == [5, 7]


def test_list_of_1d_arrays_is_univariate_unequal():
    X = check_series([np.zeros(5), np.ones(7)])
    assert [x.shape for x in X] == [(1, 5), (1, 7)]


def test_equal_length_list_is_stacked():
    X = check_series([np.zeros((2, 5)), np.ones((2, 5))])
    assert isinstance(X, np.ndarray)
    assert X.shape == (2, 2, 5)


def test_nested_python_lists_and_ragged_lists():
    assert check_series([[1, 2, 3], [4, 5, 6]]).shape == (2, 1, 3)
    ragged = check_series([[1, 2, 3], [4, 5]])
    assert [x.shape for x in ragged] == [(1, 3), (1, 2)]


def test_generator_of_series():
    X = check_series(np.full(4, i, dtype=float) for i in range(3))
    assert X.shape == (3, 1, 4)


def test_pandas_objects():
    frame = pd.DataFrame(np.arange(6.0).reshape(2, 3))  # one row per case
    np.testing.assert_array_equal(check_series(frame)[:, 0], frame.to_numpy())
    # A Series of arrays (aeon's and sktime's nested form) is a list of cases.
    series = pd.Series([np.zeros(4), np.ones(6)], dtype=object)
    assert [x.shape for x in check_series(series)] == [(1, 4), (1, 6)]
    multivariate = pd.Series([np.zeros((2, 4)), np.ones((2, 4))], dtype=object)
    assert check_series(multivariate).shape == (2, 2, 4)


def test_object_array_of_series():
    cases = np.empty(2, dtype=object)
    cases[0], cases[1] = np.zeros((1, 4)), np.zeros((1, 6))
    assert [x.shape for x in check_series(cases)] == [(1, 4), (1, 6)]


# --- bad input: each names the problem ------------------------------------------


@pytest.mark.parametrize(
    ("X", "error", "pattern"),
    [
        (np.array([[0.0, np.nan, 1.0]]), ValueError, "contains NaN"),
        (np.array([[0.0, np.inf, 1.0]]), ValueError, "contains infinite"),
        ([np.zeros(3), np.array([1.0, np.nan])], ValueError, r"X\[1\] contains NaN"),
        (np.zeros((0, 5)), ValueError, "every dimension must be at least 1"),
        (np.zeros((4, 0)), ValueError, "0 feature"),
        (np.zeros((2, 0, 5)), ValueError, "every dimension must be at least 1"),
        ([], ValueError, "empty set of series"),
        ([np.zeros(3), np.zeros(0)], ValueError, r"X\[1\] is empty"),
        (np.zeros(5), ValueError, r"got 1D .* X.reshape\(1, -1\)"),
        (np.zeros((2, 2, 2, 2)), ValueError, "got 4D"),
        ([np.zeros((2, 2, 2))], ValueError, r"X\[0\] has 3 dimensions"),
        (
            [np.zeros((2, 5)), np.zeros((3, 5))],
            ValueError,
            "different numbers of channels: X\\[0\\] has 2, X\\[1\\] has 3",
        ),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "non-numeric values"),
        (np.array([[1 + 2j, 3]]), ValueError, "Complex data not supported"),
        # Text is refused even when it reads as numbers: no silent parsing.
        (np.array([["1.5", "2"]]), TypeError, r"non-numeric values: text.*'1\.5'"),
        ([["1.5", 2.0]], TypeError, "non-numeric values: text"),
        (np.array([[0, 1]], dtype="datetime64[s]"), TypeError, "dates or durations"),
        (np.array([[1.0, None]], dtype=object), ValueError, "missing values"),
        (
            pd.DataFrame({"t0": [1.0], "t1": pd.array([pd.NA], "Float64")}),
            ValueError,
            r"missing values \(<NA>\)",
        ),
        (None, TypeError, "expected time series, got NoneType"),
        ("GunPoint", TypeError, "expected time series, got str"),
        ({"a": [1, 2]}, TypeError, "expected time series, got dict"),
        (csr_matrix(np.eye(3)), TypeError, "sparse input is not supported"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, (type, str)) else None,
)
def test_bad_input_is_refused_with_a_named_problem(X, error, pattern):
    with pytest.raises(error, match=pattern):
        check_series(X)


def test_unequal_length_refused_when_unsupported():
    with pytest.raises(ValueError, match="equal length, got lengths from 3 to 5"):
        check_series([np.zeros(3), np.zeros(5)], allow_unequal=False)


def test_multivariate_refused_when_unsupported():
    with pytest.raises(ValueError, match="univariate series only, got 3 channels"):
        check_series(np.zeros((2, 3, 4)), allow_multivariate=False)


def test_estimator_name_is_in_the_message():
    with pytest.raises(ValueError, match=r"^NearestMeanClassifier "):
        NearestMeanClassifier().fit(np.full((4, 3), np.nan), [0, 1, 0, 1])


@pytest.mark.parametrize(
    ("y", "pattern"),
    [
        (None, "requires y to be passed"),
        ([0, 0, 0, 0], "holds 1 class"),
        ([0, 1, 0], "4 series but 3 labels"),
        ([0.5, 1.5, 2.5, 3.5], "Unknown label type"),
        (["a", "b", None, "a"], r"missing labels \(None\)"),
        (pd.Series(["a", "b", None, "a"]), r"missing labels"),
        ([0.0, 1.0, np.nan, 0.0], r"missing labels \(nan\)"),
        # numpy would turn 1 into "1": a class the user never named.
        (["a", 1, "a", 1], r"mix of label types .*'a' and 1"),
    ],
)
def test_bad_labels(y, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_labels(y, 4)


def test_numbers_in_an_object_array_are_labels():
    # e.g. a pandas column of object dtype; scikit-learn calls its type unknown.
    y = check_labels(pd.Series([3, 7, 3, 7], dtype=object), 4)
    assert y.tolist() == [3, 7, 3, 7] and y.dtype.kind == "i"


def test_column_vector_labels_are_raveled_with_a_warning():
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning, match="column-vector y"):
        y = check_labels(np.array([[0], [1], [0], [1]]), 4)
    assert y.shape == (4,)


# --- label names -----------------------------------------------------------------


def test_label_names_default_dict_and_sequence():
    classes = np.array([1, 2, 3])
    assert resolve_label_names(classes, None) == ["1", "2", "3"]
    assert resolve_label_names(classes, {2: "two"}) == ["1", "two", "3"]
    assert resolve_label_names(classes, ["a", "b", "c"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("names", "error", "pattern"),
    [
        ({4: "four"}, ValueError, "not classes of y"),
        (["a", "b"], ValueError, "2 entries but y has 3 classes"),
        (["a", "a", "b"], ValueError, "must be distinct"),
        (["a", " ", "b"], ValueError, "empty names"),
        ("abc", TypeError, "not a str"),
    ],
)
def test_bad_label_names(names, error, pattern):
    with pytest.raises(error, match=pattern):
        resolve_label_names(np.array([1, 2, 3]), names)


# --- the base-class templates ------------------------------------------------------


def test_fit_records_input_shape_and_encodes_any_labels():
    X, y = make_example_series(n_cases=8, n_channels=2, n_timepoints=20)
    labels = np.array(["sine", "fast"])[y]
    clf = NearestMeanClassifier().fit(X, labels)
    assert clf.classes_.tolist() == ["fast", "sine"]
    assert (clf.n_channels_, clf.n_timepoints_) == (2, 20)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (clf.predict(X) == labels).all()


def test_predict_with_other_channel_count_is_refused():
    X, y = make_example_series(n_cases=6, n_channels=2)
    clf = NearestMeanClassifier().fit(X, y)
    with pytest.raises(
        ValueError, match=r"X has 1 channels, but .* fitted on series with 2"
    ):
        clf.predict(X[:, :1])


def test_predict_with_other_length_is_refused_when_unsupported():
    X, y = make_example_series(n_cases=6, n_timepoints=20)
    clf = NearestMeanClassifier().fit(X, y)
    with pytest.raises(ValueError, match=r"length 10, but .* fitted on length 20"):
        clf.predict(X[:, :, :10])


def test_predict_with_non_numeric_values_is_refused():
    X, y = make_example_series(n_cases=6, n_timepoints=4)
    clf = NearestMeanClassifier().fit(X, y)
    with pytest.raises(TypeError, match="non-numeric"):
        clf.predict(np.array([["a", "b", "c", "d"]]))


def test_predict_before_fit_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NearestMeanClassifier().predict(np.zeros((1, 5)))


def test_templates_compose_with_sklearn_model_selection():
    X, y = make_example_series(n_cases=20, n_timepoints=25)
    scores = cross_val_score(clone(NearestMeanClassifier()), X, y, cv=2)
    assert scores.shape == (2,)
    assert scores.mean() > 0.9  # the classes are distinct sinusoids


def test_check_datasets_validates_every_named_dataset():
    X, y = make_example_series(n_cases=6, n_timepoints=12)
    checked = check_datasets({"a": (X, y), "b": X[:, 0]})
    assert list(checked) == ["a", "b"]
    assert checked["a"][0].shape == (6, 1, 12) and checked["b"][1] is None
    np.testing.assert_array_equal(checked["a"][1], y)
    one_class = np.zeros(6)
    with pytest.raises(ValueError, match="at least 2 classes"):
        check_datasets({"a": (X, one_class)})
    assert check_datasets({"a": (X, one_class)}, labels=False)["a"][1] is None
    with pytest.raises(ValueError, match="non-empty dict"):
        check_datasets([X])
    with pytest.raises(ValueError, match="non-empty strings"):
        check_datasets({"": X})
    with pytest.raises(ValueError, match=r"datasets\['a'\]"):
        check_datasets({"a": X[:, 0, :0]})

    def no_digits(name):
        if any(c.isdigit() for c in name):
            raise ValueError("no digits")

    with pytest.raises(ValueError, match="no digits"):
        check_datasets({"a1": X}, check_name=no_digits)


def test_your_own_classifier_saves_and_loads_once_you_trust_its_type(tmp_path):
    X, y = make_example_series(n_cases=6, n_timepoints=10)
    clf = NearestMeanClassifier(shift=0.5).fit(X, y)
    folder = clf.save(tmp_path / "clf")
    name = f"{NearestMeanClassifier.__module__}.NearestMeanClassifier"
    with pytest.raises(TypeError, match=rf"pass trusted=\['{name}'\]"):
        NearestMeanClassifier.load(folder)
    loaded = NearestMeanClassifier.load(folder, trusted=[name])
    assert loaded.shift == 0.5
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.means_, clf.means_)
