"""A plain scikit-learn floor for grids: nearest neighbours on the raw values."""

from __future__ import annotations

__all__ = ["nearest_neighbors"]


def _flatten(X):
    import numpy as np

    X = np.asarray(X, dtype=float)
    return X.reshape(len(X), -1)


def nearest_neighbors(n_neighbors: int = 1):
    """k-nearest neighbours (Euclidean) on the flattened raw values.

    A floor every method of a grid should beat, fitted in milliseconds; refer to
    it in a grid as ``"vlmtsc.experiments:nearest_neighbors"``. Equal-length
    series only (2D or 3D input).

    Parameters
    ----------
    n_neighbors : int, default=1

    Returns
    -------
    estimator : sklearn.pipeline.Pipeline
        Flatten, then :class:`~sklearn.neighbors.KNeighborsClassifier`.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.experiments import nearest_neighbors
    >>> X, y = load_dataset("GunPoint")
    >>> X_test, y_test = load_dataset("GunPoint", split="test")
    >>> round(nearest_neighbors().fit(X, y).score(X_test, y_test), 3)
    0.913
    """
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(
        FunctionTransformer(_flatten), KNeighborsClassifier(n_neighbors=n_neighbors)
    )
