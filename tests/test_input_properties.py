"""Property-based tests of input validation (hypothesis).

Inputs are drawn from a recipe (number of cases, channels, lengths, dtype,
container, one defect), so the test knows what each input means: an input with
no problem must be accepted with that meaning (shape and values preserved), an
input with problems must be refused with a TypeError/ValueError whose message
names one of them. ``pytest --hypothesis-show-statistics`` counts the cases
tried and how each ended.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vlmtsc.base import check_labels, check_series

# Reproducible in CI (the same examples every run), nothing written to disk.
VALIDATOR = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [
    "bool",
    "int8",
    "int64",
    "uint8",
    "float16",
    "float32",
    "float64",
    "complex128",
    "object",
    "str",
    "datetime64[s]",
]
CONTAINERS = [
    "array",
    "list of arrays",
    "nested lists",
    "tuple",
    "generator",
    "DataFrame",
    "Series of arrays",
]
SERIES_DEFECTS = [None, "nan", "inf", "-inf", "None", "pd.NA", "channels", "empty case"]

# problem -> (exception type, what its message must say)
SERIES_ERRORS = {
    "no cases": (ValueError, r"empty|0 cases"),
    "no timepoints": (ValueError, r"empty|no timepoints"),
    "complex": (ValueError, r"Complex data not supported"),
    "text": (TypeError, r"non-numeric values: text"),
    "dates": (TypeError, r"non-numeric values"),
    "NaN": (ValueError, r"contains NaN values"),
    "infinite": (ValueError, r"contains infinite values"),
    "missing": (ValueError, r"contains missing values"),
    "channels": (ValueError, r"different numbers of channels"),
    "multivariate": (ValueError, r"univariate series only"),
    "unequal": (ValueError, r"series of equal length"),
}


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bool":
        return values > 0
    if dtype in ("int8", "int64"):
        return np.round(values).clip(-128, 127).astype(dtype)
    if dtype == "uint8":
        return np.round(np.abs(values)).clip(0, 255).astype(dtype)
    if dtype == "datetime64[s]":
        return np.round(values).astype("int64").astype(dtype)
    return values.astype(dtype)


@st.composite
def series_recipes(draw, min_cases=0, max_cases=4):
    """``(X, expected canonical X or None, problems, flags)``."""
    n_cases = draw(st.integers(min_cases, max_cases))
    n_channels = draw(st.integers(1, 3))
    equal = draw(st.booleans())
    if equal:
        lengths = [draw(st.integers(1, 6))] * n_cases
    else:
        lengths = draw(st.lists(st.integers(1, 6), min_size=n_cases, max_size=n_cases))
    dtype = draw(st.sampled_from(DTYPES))
    container = draw(st.sampled_from(CONTAINERS))
    defect = draw(st.sampled_from(SERIES_DEFECTS))
    finite = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)
    cases = [
        _cast(
            np.array(
                draw(st.lists(finite, min_size=n_channels * n, max_size=n_channels * n))
            ).reshape(n_channels, n),
            dtype,
        )
        for n in lengths
    ]
    problems = set()
    if n_cases == 0:
        problems.add("no cases")
    if dtype == "complex128":
        problems.add("complex")
    if dtype == "str":
        problems.add("text")
    if dtype.startswith("datetime"):
        problems.add("dates")

    # One defect, where this dtype and these cases can carry it.
    if defect in ("nan", "inf", "-inf") and n_cases and dtype in DTYPES[4:9]:
        i = draw(st.integers(0, n_cases - 1))
        cases[i][draw(st.integers(0, n_channels - 1)), 0] = float(defect)
        problems.add("NaN" if defect == "nan" else "infinite")
    elif defect in ("None", "pd.NA") and n_cases and dtype == "object":
        cases[draw(st.integers(0, n_cases - 1))][0, 0] = (
            None if defect == "None" else pd.NA
        )
        problems.add("missing")
    elif defect == "channels" and n_cases >= 2 and "array" != container != "DataFrame":
        cases[-1] = np.concatenate([cases[-1], cases[-1][:1]])
        problems.add("channels")
    elif defect == "empty case" and n_cases:
        i = draw(st.integers(0, n_cases - 1))
        if container in ("array", "DataFrame"):
            cases = [c[:, :0] for c in cases]
            lengths = [0] * n_cases
        else:
            cases[i] = cases[i][:, :0]
            lengths[i] = 0
        problems.add("no timepoints")

    allow_unequal, allow_multivariate = draw(st.booleans()), draw(st.booleans())
    if n_channels > 1 and not allow_multivariate:
        problems.add("multivariate")
    if len(set(lengths)) > 1 and not allow_unequal:
        problems.add("unequal")

    univariate = n_channels == 1 and "channels" not in problems
    if container in ("array", "DataFrame") and len(set(lengths)) > 1:
        container = "list of arrays"  # an array cannot hold unequal lengths
    if container == "DataFrame" and not (univariate and n_cases):
        container = "array"
    flat = univariate and draw(st.booleans())  # univariate cases as 1D
    if container == "array":
        X = np.stack(cases) if n_cases else np.empty((0, n_channels, 3), dtype)
        if univariate and n_cases and flat:
            X = X[:, 0, :]
    elif container == "DataFrame":
        X = pd.DataFrame(np.stack(cases)[:, 0, :])
    else:
        parts = [c[0] if flat else c for c in cases]
        if container == "nested lists":
            parts = [p.tolist() for p in parts]
        if container == "Series of arrays":
            X = pd.Series(parts, dtype=object)
        elif container == "tuple":
            X = tuple(parts)
        elif container == "generator":
            X = (p for p in parts)
        else:
            X = parts
    expected = None  # the meaning, wherever the content is valid
    if not problems - {"multivariate", "unequal"}:
        expected = [np.asarray(c, dtype=np.float64) for c in cases]
        if len(set(lengths)) == 1:
            expected = np.stack(expected)
    flags = {"allow_unequal": allow_unequal, "allow_multivariate": allow_multivariate}
    event(f"container: {container}")
    event(f"dtype: {dtype}")
    event(f"expected: {', '.join(sorted(problems)) or 'accepted'}")
    return X, expected, problems, flags


def _assert_refused_for(error: Exception, problems: set, table: dict) -> None:
    reasons = [table[p] for p in problems]
    assert any(
        isinstance(error, kind) and re.search(message, str(error))
        for kind, message in reasons
    ), f"{type(error).__name__}: {error} does not name any of {sorted(problems)}"


def _assert_same_series(result, expected) -> None:
    if isinstance(expected, np.ndarray):
        assert isinstance(result, np.ndarray)
        assert result.dtype == np.float64
        np.testing.assert_array_equal(result, expected)
    else:
        assert isinstance(result, list)
        assert len(result) == len(expected)
        for got, want in zip(result, expected, strict=True):
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, want)


@VALIDATOR
@given(series_recipes())
def test_check_series_accepts_with_meaning_or_refuses_clearly(recipe):
    X, expected, problems, flags = recipe
    try:
        result = check_series(X, **flags)
    except (TypeError, ValueError) as error:
        assert problems, f"valid input refused: {type(error).__name__}: {error}"
        _assert_refused_for(error, problems, SERIES_ERRORS)
        return
    assert not problems, f"accepted input with problems {sorted(problems)}"
    _assert_same_series(result, expected)


@pytest.mark.parametrize(
    "X",
    [
        None,
        "GunPoint",
        b"bytes",
        {"a": [1.0, 2.0]},
        5,
        np.float64(1.0),
        np.arange(5.0),
        np.zeros((2, 2, 2, 2)),
        pd.Series([1.0, 2.0, 3.0]),
    ],
    ids=lambda v: type(v).__name__,
)
def test_check_series_refuses_what_is_not_a_set_of_series(X):
    with pytest.raises((TypeError, ValueError), match=r"expected|Reshape|got"):
        check_series(X)


# --- labels ----------------------------------------------------------------------

LABEL_KINDS = ["int", "str", "bool", "integral float", "float", "category"]
LABEL_CONTAINERS = ["list", "array", "tuple", "Series", "column"]
LABEL_DEFECTS = [None, "None", "pd.NA", "NaN", "mixed", "length", "2 columns"]
LABEL_ERRORS = {
    "single class": (ValueError, r"needs at least 2 classes"),
    "missing": (ValueError, r"missing labels|contains NaN"),
    "NaN": (ValueError, r"contains NaN|missing labels \(nan\)"),
    "mixed": (ValueError, r"mix of label types"),
    "length": (ValueError, r"X and y must have the same number of cases"),
    "2 columns": (ValueError, r"expected y as a 1D array"),
    "continuous": (ValueError, r"Unknown label type: continuous"),
}


@st.composite
def label_recipes(draw):
    n = draw(st.integers(1, 8))
    n_classes = draw(st.integers(1, 3))
    codes = np.array(
        draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n))
    )
    kind = draw(st.sampled_from(LABEL_KINDS))
    labels = {
        "int": list(codes * 7 - 3),
        "str": [f"class {c}" for c in codes],
        "bool": list(codes % 2 == 0),
        "integral float": list(codes.astype(float)),
        "float": list(codes + 0.5),
        "category": [f"c{c}" for c in codes],
    }[kind]
    problems = set()
    if kind == "float":
        problems.add("continuous")  # non-integral floats, however many values
    defect = draw(st.sampled_from(LABEL_DEFECTS))
    i = draw(st.integers(0, n - 1))
    n_cases = n
    if defect in ("None", "pd.NA") and kind != "category":
        labels[i] = None if defect == "None" else pd.NA
        problems.add("missing")
    elif defect == "NaN" and kind in ("integral float", "float"):
        labels[i] = np.nan
        problems.add("NaN")
    elif defect == "mixed" and n >= 2 and kind in ("int", "str"):
        labels[i] = "a string" if kind == "int" else 3
        problems.add("mixed")
    elif defect == "length":
        n_cases = n + 1
        problems.add("length")
    distinct = {str(v) for v in labels if v is not None and v is not pd.NA}
    if len(distinct) < 2 and not problems & {"missing", "NaN"}:
        problems.add("single class")
    container = draw(st.sampled_from(LABEL_CONTAINERS))
    if defect == "2 columns":  # the one defect drawn: refused for its shape
        y, problems = (
            np.stack([np.array(labels, dtype=object)] * 2, axis=1),
            {"2 columns"},
        )
    elif kind == "category":
        y, container = pd.Series(labels, dtype="category"), "Series"
    elif container == "array":
        y = np.array(labels, dtype=object if problems & {"missing", "mixed"} else None)
    elif container == "tuple":
        y = tuple(labels)
    elif container == "Series":
        y = pd.Series(labels)
    elif container == "column":
        y = np.array(labels, dtype=object)[:, None]
    else:
        y = labels
    event(f"labels: {kind} in a {container}")
    event(f"expected: {', '.join(sorted(problems)) or 'accepted'}")
    return y, n_cases, labels, problems


@VALIDATOR
@given(label_recipes())
def test_check_labels_accepts_with_meaning_or_refuses_clearly(recipe):
    y, n_cases, labels, problems = recipe
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a column vector warns, as in sklearn
            result = check_labels(y, n_cases)
    except (TypeError, ValueError) as error:
        assert problems, f"valid labels refused: {type(error).__name__}: {error}"
        _assert_refused_for(error, problems, LABEL_ERRORS)
        return
    assert not problems, f"accepted labels with problems {sorted(problems)}"
    assert result.ndim == 1
    assert result.tolist() == labels  # the same labels, in order, same types


# --- an estimator end to end -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_mtcs():
    import torch

    from vlmtsc import MTCSClassifier
    from vlmtsc.testing import TEST_PARAMS

    torch.set_num_threads(1)
    return MTCSClassifier(**TEST_PARAMS["MTCSClassifier"])


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(recipe=series_recipes(min_cases=2, max_cases=5), order=st.randoms())
def test_estimator_fits_and_predicts_or_refuses_clearly(tiny_mtcs, recipe, order):
    from sklearn.base import clone

    X, expected, problems, _ = recipe  # MTCS takes multivariate, unequal input
    problems = problems - {"multivariate", "unequal"}
    if isinstance(X, type(x for x in ())):
        X = list(X)  # fit and predict both read it
    n_cases = len(X)
    y = np.arange(n_cases) % 2
    order.shuffle(y)
    clf = clone(tiny_mtcs)
    try:
        clf.fit(X, y)
    except (TypeError, ValueError) as error:
        assert problems, f"valid input refused: {type(error).__name__}: {error}"
        _assert_refused_for(error, problems, SERIES_ERRORS)
        return
    assert not problems, f"fit accepted input with problems {sorted(problems)}"
    proba = clf.predict_proba(X)
    assert proba.shape == (n_cases, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {0, 1}
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.n_channels_ == expected[0].shape[0]
    # Series with other channels than in fit are refused, naming the channels.
    other = [np.concatenate([c, c[:1]]) for c in expected]
    with pytest.raises(ValueError, match="channels"):
        clf.predict(other)
