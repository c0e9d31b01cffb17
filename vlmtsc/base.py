"""Input validation and the base class every vlmtsc classifier builds on.

Time series follow aeon's conventions:

- a 2D array ``(n_cases, n_timepoints)`` is a set of univariate series;
- a 3D array ``(n_cases, n_channels, n_timepoints)`` is multivariate;
- a list of 2D arrays ``(n_channels, n_timepoints_i)`` holds series of unequal
  length (a list of 1D arrays is read as univariate series of unequal length).

:func:`check_series` turns any of these into one of two canonical forms, a
float64 3D array (equal length) or a list of float64 2D arrays (unequal length),
and rejects bad input with an error that names the problem and the fix.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

__all__ = [
    "BaseTimeSeriesClassifier",
    "check_datasets",
    "check_labels",
    "check_series",
    "n_channels_of",
    "resolve_label_names",
    "series_lengths",
    "series_shape",
    "take_cases",
]

Series = np.ndarray | list[np.ndarray]

_RESHAPE_HINT = (
    "Pass a 2D array (n_cases, n_timepoints) for univariate series, a 3D array "
    "(n_cases, n_channels, n_timepoints) for multivariate series, or a list of 2D "
    "arrays (n_channels, n_timepoints_i) for series of unequal length"
)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, pointing at the first caller outside vlmtsc (the user's line)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        "vlmtsc."
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (numpy's too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_missing(value: Any) -> bool:
    """``None`` or pandas' missing markers (``pd.NA``, ``pd.NaT``)."""
    return value is None or type(value).__name__ in ("NAType", "NaTType")


def _is_text(value: Any) -> bool:
    return isinstance(value, (str, bytes))


def _complex_error(what: str) -> ValueError:
    return ValueError(
        f"Complex data not supported: {what} holds complex numbers and vlmtsc "
        "classifies real-valued series. Pass the real part, the magnitude, or both "
        "as separate channels."
    )


def _as_float(values: Any, what: str) -> np.ndarray:
    """Convert one array-like to float64, rejecting non-numeric content.

    Numbers (bools as 0/1) convert; text is refused even when it looks like a
    number (``"1.5"``), and so are dates: converting them silently would change
    their meaning, so the user converts them explicitly.
    """
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind == "c":
        raise _complex_error(what)
    if kind in "biuf":
        return array.astype(np.float64, copy=False)
    cells = array.ravel() if kind == "O" else ()
    if kind in "USa" or any(_is_text(v) for v in cells):
        flat = array.ravel()
        example = next((v for v in flat if _is_text(v)), flat[0] if flat.size else "")
        raise TypeError(
            f"{what} holds non-numeric values: text (dtype {array.dtype}, e.g. "
            f"{example!r}); time series must be numbers. Convert text that holds "
            "numbers explicitly (e.g. X.astype(float)), or encode categories first."
        )
    if kind in "mM":
        raise TypeError(
            f"{what} holds non-numeric values: dates or durations (dtype "
            f"{array.dtype}); time series must be numbers. Pass the measured values, "
            "not their timestamps."
        )
    if any(isinstance(v, (complex, np.complexfloating)) for v in cells):
        raise _complex_error(what)
    missing = next((v for v in cells if _is_missing(v)), False)
    if missing is not False:
        raise ValueError(
            f"{what} contains missing values ({missing!r}); vlmtsc needs complete, "
            "finite series. Impute them (e.g. interpolate along time) or drop those "
            "cases first."
        )
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError) as error:
        example = next(
            (v for v in array.ravel() if not isinstance(v, numbers.Real)), None
        )
        raise TypeError(
            f"{what} holds non-numeric values (dtype {array.dtype}, e.g. {example!r}: "
            f"{error}); time series must be numbers. Convert or encode them first."
        ) from None


def _check_finite(array: np.ndarray, what: str) -> None:
    if np.isfinite(array).all():
        return
    kind = "NaN" if np.isnan(array).any() else "infinite"
    raise ValueError(
        f"{what} contains {kind} values; vlmtsc needs complete, finite series. "
        "Impute them (e.g. interpolate along time) or drop those cases first."
    )


def check_series(
    X: Any,
    *,
    allow_unequal: bool = True,
    allow_multivariate: bool = True,
    estimator_name: str | None = None,
) -> Series:
    """Validate time series and return them in canonical form.

    Parameters
    ----------
    X : array-like or list of array-like
        2D ``(n_cases, n_timepoints)``, 3D ``(n_cases, n_channels, n_timepoints)``
        or a list of 2D ``(n_channels, n_timepoints_i)`` (or 1D) arrays.
    allow_unequal : bool, default=True
        Whether series of different lengths are accepted.
    allow_multivariate : bool, default=True
        Whether more than one channel is accepted.
    estimator_name : str, optional
        Named in error messages.

    Returns
    -------
    X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of ndarray
        float64; a list of 2D arrays only when the lengths differ.

    Raises
    ------
    TypeError
        For ``None``, a string, a dict, a sparse matrix, or values that are not
        numbers: text (even ``"1.5"``: convert it explicitly), dates, objects.
    ValueError
        For a wrong rank, empty input, complex numbers, NaN/inf or missing
        values (``None``, ``pd.NA``), channel counts that differ between cases,
        or input the estimator cannot handle.

    Notes
    -----
    Any numeric dtype is accepted (bools as 0/1), and so are pandas objects:
    a DataFrame is a 2D array (one row per case), a Series of arrays is a list
    of cases.

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.base import check_series
    >>> check_series(np.zeros((4, 10))).shape
    (4, 1, 10)
    >>> [x.shape for x in check_series([np.zeros(5), np.zeros(7)])]
    [(1, 5), (1, 7)]
    """
    owner = f"{estimator_name} " if estimator_name else ""
    if issparse(X):
        raise TypeError(
            f"{owner}got a sparse matrix; sparse input is not supported, time series "
            "are dense. Convert it with X.toarray()."
        )
    if X is None or isinstance(X, (str, bytes, Mapping)):
        raise TypeError(
            f"{owner}expected time series, got {type(X).__name__}. {_RESHAPE_HINT}."
        )
    if isinstance(X, np.ndarray) and X.dtype != object:
        cases = None
        array = X
    elif isinstance(X, (list, tuple, np.ndarray)):
        cases = list(X)
        array = None
    elif hasattr(X, "__array__"):
        # pandas DataFrames and other array-likes; an object one (a Series of
        # arrays, a DataFrame of mixed columns) is a list of cases.
        array = np.asarray(X)
        cases, array = (list(array), None) if array.dtype == object else (None, array)
    elif isinstance(X, Iterable):
        cases, array = list(X), None
    else:
        raise TypeError(
            f"{owner}expected time series, got {type(X).__name__}. {_RESHAPE_HINT}."
        )

    if cases is not None:
        if len(cases) == 0:
            raise ValueError(f"{owner}got an empty set of series (0 cases).")
        # Equal-length nested lists are an ordinary 2D/3D array.
        if not any(isinstance(c, np.ndarray) for c in cases):
            try:
                array = np.asarray(cases)
            except ValueError:
                array = None
            if array is not None and array.dtype == object:
                array = None
        if array is None:
            return _check_case_list(cases, allow_unequal, allow_multivariate, owner)

    array = _as_float(array, f"{owner}X")
    if array.ndim == 2:
        if array.shape[1] == 0:
            raise ValueError(
                f"{owner}found array with 0 feature(s) (shape={array.shape}) while a "
                "minimum of 1 is required: the series have no timepoints."
            )
        array = array[:, np.newaxis, :]
    elif array.ndim != 3:
        hint = (
            " Reshape your data with X.reshape(1, -1) if it is a single univariate "
            "series."
            if array.ndim == 1
            else ""
        )
        raise ValueError(
            f"{owner}expected a 2D or 3D array, got {array.ndim}D with shape "
            f"{array.shape}. {_RESHAPE_HINT}.{hint}"
        )
    n_cases, n_channels, n_timepoints = array.shape
    if n_cases == 0 or n_channels == 0 or n_timepoints == 0:
        raise ValueError(
            f"{owner}got empty series: shape {array.shape} (n_cases, n_channels, "
            "n_timepoints); every dimension must be at least 1."
        )
    _check_finite(array, f"{owner}X")
    _check_capabilities(n_channels, allow_multivariate, owner)
    return array


def _check_case_list(
    cases: list, allow_unequal: bool, allow_multivariate: bool, owner: str
) -> Series:
    converted = []
    for i, case in enumerate(cases):
        case = _as_float(case, f"{owner}X[{i}]")
        if case.ndim == 1:
            case = case[np.newaxis, :]
        elif case.ndim != 2:
            raise ValueError(
                f"{owner}X[{i}] has {case.ndim} dimensions (shape {case.shape}); each "
                f"case in a list must be 2D (n_channels, n_timepoints) or 1D. "
                f"{_RESHAPE_HINT}."
            )
        if case.size == 0:
            raise ValueError(
                f"{owner}X[{i}] is empty (shape {case.shape}); every series needs at "
                "least one channel and one timepoint."
            )
        _check_finite(case, f"{owner}X[{i}]")
        converted.append(case)
    channels = {c.shape[0] for c in converted}
    if len(channels) > 1:
        first = converted[0].shape[0]
        bad = next(i for i, c in enumerate(converted) if c.shape[0] != first)
        raise ValueError(
            f"{owner}cases have different numbers of channels: X[0] has {first}, "
            f"X[{bad}] has {converted[bad].shape[0]}. Every case must have the same "
            "channels."
        )
    _check_capabilities(channels.pop(), allow_multivariate, owner)
    lengths = {c.shape[1] for c in converted}
    if len(lengths) == 1:
        return np.stack(converted)
    if not allow_unequal:
        raise ValueError(
            f"{owner}needs series of equal length, got lengths from {min(lengths)} to "
            f"{max(lengths)}. Resample or pad them to one length first."
        )
    return converted


def _check_capabilities(n_channels: int, allow_multivariate: bool, owner: str) -> None:
    if n_channels > 1 and not allow_multivariate:
        raise ValueError(
            f"{owner}handles univariate series only, got {n_channels} channels. "
            "Select one channel, or use an estimator that supports multivariate input."
        )


def n_channels_of(X: Series) -> int:
    """Number of channels of canonical ``X``."""
    return int(X.shape[1]) if isinstance(X, np.ndarray) else int(X[0].shape[0])


def series_lengths(X: Series) -> np.ndarray:
    """Length of every case of canonical ``X``."""
    if isinstance(X, np.ndarray):
        return np.full(X.shape[0], X.shape[2])
    return np.array([x.shape[1] for x in X])


def take_cases(X: Series, index) -> Series:
    """The cases of canonical series ``X`` at ``index`` (array or list alike)."""
    if isinstance(X, np.ndarray):
        return X[np.asarray(index, dtype=int)]
    return [X[i] for i in index]


def series_shape(X: Any) -> tuple[int, int, int, int]:
    """``(n_cases, n_channels, min_length, max_length)`` of any accepted input.

    Examples
    --------
    >>> import numpy as np
    >>> series_shape([np.zeros((2, 5)), np.zeros((2, 9))])
    (2, 2, 5, 9)
    """
    X = check_series(X)
    lengths = series_lengths(X)
    return len(X), n_channels_of(X), int(lengths.min()), int(lengths.max())


def check_labels(y: Any, n_cases: int, *, estimator_name: str | None = None):
    """Validate classification targets.

    Parameters
    ----------
    y : array-like of shape (n_cases,)
        Class labels, any hashable values (ints, strings, ...).
    n_cases : int
        Number of series they label.
    estimator_name : str, optional
        Named in error messages.

    Returns
    -------
    y : ndarray of shape (n_cases,)

    Raises
    ------
    ValueError
        If ``y`` is missing, not 1D, of the wrong length, continuous, holds
        missing labels (``None``, ``pd.NA``, NaN), mixes strings and numbers, or
        holds a single class.
    """
    owner = f"{estimator_name} " if estimator_name else ""
    if y is None:
        raise ValueError(
            f"{owner}requires y to be passed, but the target y is None. Pass the class "
            "label of every series."
        )
    if not (isinstance(y, np.ndarray) and y.dtype != object):
        # Before numpy turns ["a", 1] into ["a", "1"]: mixed or missing labels.
        cells = np.asarray(y, dtype=object).ravel()
        missing = next(
            (v for v in cells if _is_missing(v) or (isinstance(v, float) and v != v)),
            False,
        )
        if missing is not False:
            raise ValueError(
                f"{owner}got y with missing labels ({missing!r}); every series needs "
                "its class label. Drop the unlabelled cases first."
            )
        if len({_is_text(v) for v in cells}) > 1:
            raise ValueError(
                f"{owner}got y with a mix of label types (string and number), e.g. "
                f"{cells[0]!r} and "
                f"{next(v for v in cells if _is_text(v) != _is_text(cells[0]))!r}; "
                "use one type for all labels."
            )
    y = np.asarray(y)
    if y.dtype == object and all(
        isinstance(v, (numbers.Number, np.bool_)) for v in y.ravel()
    ):
        # Numbers in an object array (a pandas object column): scikit-learn
        # calls their type unknown; as a numeric array they are classes.
        y = np.asarray(y.tolist())
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)  # warns, as scikit-learn estimators do
    if y.ndim != 1:
        raise ValueError(
            f"{owner}expected y as a 1D array of labels, got shape {y.shape}."
        )
    if y.shape[0] != n_cases:
        raise ValueError(
            f"{owner}got {n_cases} series but {y.shape[0]} labels; X and y must have "
            "the same number of cases."
        )
    check_classification_targets(y)
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(
            f"{owner}needs at least 2 classes to classify, but y holds 1 class "
            f"({classes.tolist()[0]!r})."
        )
    return y


def _check_dataset_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"Dataset names must be non-empty strings (they name the domains "
            f"of the artifact), got {name!r}."
        )


def check_datasets(
    datasets: Any,
    *,
    check_name: Callable[[Any], None] | None = None,
    labels=True,
    what: str = "datasets",
) -> dict:
    """Validate several named datasets, ``{name: X or (X, y)}``.

    Parameters
    ----------
    datasets : dict
        Series (any of :func:`check_series`'s forms), alone or with labels.
    check_name : callable, optional
        ``check_name(name)`` raises for a name the caller cannot use; by
        default names must be non-empty strings.
    labels : bool, default=True
        Check the labels given with a dataset; ``False`` ignores them.
    what : str, default="datasets"
        The parameter's name in error messages (``datasets[name]``).

    Returns
    -------
    dict
        ``{name: (canonical X, y or None)}`` in the given order.
    """
    if not isinstance(datasets, Mapping) or not datasets:
        raise ValueError(
            f"{what} must be a non-empty dict {{name: X or (X, y)}}, got "
            f"{type(datasets).__name__}."
        )
    checked = {}
    for name, data in datasets.items():
        (check_name or _check_dataset_name)(name)
        X, y = data if isinstance(data, tuple) else (data, None)
        owner = f"{what}[{name!r}]"
        X = check_series(X, estimator_name=owner)
        y = (
            check_labels(y, len(X), estimator_name=owner)
            if labels and y is not None
            else None
        )
        checked[name] = (X, y)
    return checked


def resolve_label_names(
    classes: np.ndarray, label_names: Mapping[Hashable, str] | Sequence[str] | None
) -> list[str]:
    """The text shown to a language model for each class, in ``classes`` order.

    Parameters
    ----------
    classes : ndarray
        Sorted class labels (``classes_``).
    label_names : dict, sequence of str or None
        ``None`` uses ``str(label)``; a dict maps labels to texts (unlisted labels
        fall back to ``str(label)``); a sequence gives one text per class in
        ``classes`` order.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import numpy as np
    >>> resolve_label_names(np.array([1, 2]), {1: "gun", 2: "point"})
    ['gun', 'point']
    """
    if label_names is None:
        names = [str(c) for c in classes]
    elif isinstance(label_names, Mapping):
        unknown = [k for k in label_names if k not in set(classes.tolist())]
        if unknown:
            raise ValueError(
                f"label_names has keys {unknown!r} that are not classes of y "
                f"{classes.tolist()!r}."
            )
        names = [str(label_names.get(c, c)) for c in classes.tolist()]
    elif isinstance(label_names, (str, bytes)):
        raise TypeError("label_names must be a dict or a sequence of str, not a str.")
    else:
        names = [str(n) for n in label_names]
        if len(names) != len(classes):
            raise ValueError(
                f"label_names has {len(names)} entries but y has {len(classes)} "
                f"classes {classes.tolist()!r}; give one name per class in sorted "
                "order, or a dict {label: name}."
            )
    stripped = [n.strip() for n in names]
    if any(not n for n in stripped):
        raise ValueError("label_names must not contain empty names.")
    if len(set(stripped)) != len(stripped):
        raise ValueError(
            f"label_names must be distinct, got {names!r}; the model could not tell "
            "those classes apart."
        )
    return stripped


class BaseTimeSeriesClassifier(ClassifierMixin, BaseEstimator):
    """Base class of vlmtsc classifiers: validation, label encoding, templates.

    Subclasses implement ``_fit(X, y)`` with canonical ``X`` (see
    :func:`check_series`) and integer labels ``y`` in ``range(len(classes_))``, and
    ``_predict_proba(X)`` returning an array ``(n_cases, n_classes)``. The public
    ``fit``, ``predict_proba`` and ``predict`` here do validation and encoding once
    for every estimator.

    Capabilities are class attributes: ``_supports_multivariate`` and
    ``_supports_unequal_length``.
    """

    _supports_multivariate = True
    _supports_unequal_length = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    def _check_X(self, X: Any) -> Series:
        return check_series(
            X,
            allow_unequal=self._supports_unequal_length,
            allow_multivariate=self._supports_multivariate,
            estimator_name=type(self).__name__,
        )

    def fit(self, X, y):
        """Fit the classifier.

        Parameters
        ----------
        X : array-like or list of array-like
            Training series (2D, 3D, or a list of 2D arrays for unequal lengths).
        y : array-like of shape (n_cases,)
            Class labels.

        Returns
        -------
        self
        """
        X = self._check_X(X)
        n_cases = X.shape[0] if isinstance(X, np.ndarray) else len(X)
        y = check_labels(y, n_cases, estimator_name=type(self).__name__)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        self.n_channels_ = n_channels_of(X)
        lengths = series_lengths(X)
        self.n_timepoints_ = int(lengths[0]) if (lengths == lengths[0]).all() else None
        self._fit(X, self._label_encoder.transform(y))
        return self

    def _fitted_input(self, **params) -> tuple[int, int | None, np.ndarray]:
        """``(n_channels, n_timepoints, classes)`` the fitted model predicts for.

        The inference methods pass their extra keyword arguments here; an
        estimator that predicts for several inputs (MTCS's ``task=``) takes them
        and answers for the one asked.
        """
        if params:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments "
                f"{sorted(params)}; it predicts for one kind of input and takes none."
            )
        check_is_fitted(self)
        return self.n_channels_, self.n_timepoints_, self.classes_

    def _check_predict_X(self, X: Any, **params) -> Series:
        n_channels, n_timepoints, _ = self._fitted_input(**params)
        X = self._check_X(X)
        name = type(self).__name__ + "".join(
            f" ({key}={value!r})" for key, value in params.items() if value is not None
        )
        if n_channels_of(X) != n_channels:
            raise ValueError(
                f"X has {n_channels_of(X)} channels, but {name} was fitted on series "
                f"with {n_channels} channels; pass series with the same "
                "channels as in fit."
            )
        if not self._supports_unequal_length:
            length = int(series_lengths(X)[0])
            if length != n_timepoints:
                raise ValueError(
                    f"X has series of length {length}, but {name} was fitted on "
                    f"length {n_timepoints} and needs the same length."
                )
        return X

    def predict_proba(self, X, **params):
        """Class probabilities, one row per case, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit.
        **params
            Estimator-specific choices of what to predict for (MTCS: ``task``).

        Returns
        -------
        proba : ndarray of shape (n_cases, n_classes)
            Rows sum to 1.
        """
        return self._predict_proba(self._check_predict_X(X, **params), **params)

    def predict(self, X, **params):
        """Predicted class of each case (the most probable one).

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit.
        **params
            As for :meth:`predict_proba`.

        Returns
        -------
        y : ndarray of shape (n_cases,)
        """
        proba = self.predict_proba(X, **params)
        return self._fitted_input(**params)[2][np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None, **params):
        """Mean accuracy on ``(X, y)``.

        Parameters
        ----------
        X : array-like or list of array-like
        y : array-like of shape (n_cases,)
        sample_weight : array-like of shape (n_cases,), optional
        **params
            As for :meth:`predict_proba`.

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(X, **params), sample_weight=sample_weight)

    def save(self, path: str | Path) -> Path:
        """Write the fitted classifier to the folder ``path``, without pickle.

        The folder holds ``estimator.skops`` (parameters, ``classes_``, heads,
        history: skops' format, which stores data, not code), the trained
        tensors as ``*.safetensors``, fine-tuned adapters as ``adapter-*/``
        folders in peft's own format, and a ``manifest.json`` with library
        versions and a sha256 of every file. The frozen backbone is not copied:
        :meth:`load` rebuilds it from the ``backbone`` spec, which must resolve
        where the classifier is loaded. The folder is written atomically: an
        interrupted save leaves no partial files. See :mod:`vlmtsc.persistence`.

        Parameters
        ----------
        path : str or Path
            Folder to create, or to replace if vlmtsc wrote it.

        Returns
        -------
        Path
        """
        from vlmtsc.persistence import save

        check_is_fitted(self)
        return save(self, path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        trusted: Sequence[str] | None = None,
        allow_pickle: bool = False,
    ):
        """Read a classifier written by :meth:`save`, without unpickling.

        Parameters
        ----------
        path : str or Path
        trusted : sequence of str, optional
            Type names to accept beyond those vlmtsc knows (e.g. your own
            backbone factory), once you trust the folder's source.
        allow_pickle : bool, default=False
            Also read a folder an older vlmtsc saved as ``estimator.pkl``; a
            pickle can run any code when loaded, so only for folders you trust.

        Returns
        -------
        classifier

        Examples
        --------
        >>> import tempfile
        >>> from vlmtsc import MTCSClassifier
        >>> from vlmtsc.testing import make_example_series
        >>> X, y = make_example_series(8)
        >>> clf = MTCSClassifier(n_blocks=1, hidden_size=8, representation_size=8,
        ...     n_epochs=1, validation_fraction=0, verbose=0).fit(X, y)
        >>> folder = clf.save(tempfile.mkdtemp() + "/mtcs")
        >>> restored = MTCSClassifier.load(folder)
        >>> bool((restored.predict_proba(X) == clf.predict_proba(X)).all())
        True
        """
        from vlmtsc.persistence import load

        estimator = load(path, trusted=trusted, allow_pickle=allow_pickle)
        if not isinstance(estimator, cls):
            raise TypeError(
                f"{path} holds a {type(estimator).__name__}, not a {cls.__name__}; "
                f"load it with {type(estimator).__name__}.load."
            )
        return estimator

    def _fit(self, X: Series, y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_proba(self, X: Series) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
