"""Baselines for grids: MiniRocket (the reference), a k-NN floor, image probes."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["flatten_images", "minirocket", "nearest_neighbors", "renderer_probe"]


def minirocket(**params):
    """aeon's MiniRocketClassifier, the reference of every grid, on any lengths.

    MiniRocket needs one length. Unequal-length data (JapaneseVowels,
    PickupGestureWiimoteZ) is resampled by linear interpolation (aeon's
    ``Resizer``) to the length of the longest training series, in ``fit`` and
    in every prediction; data of that one length passes unchanged. Nothing
    is cut: a test series longer than every training series is resampled like
    the others.

    Parameters
    ----------
    **params
        Parameters of aeon's ``MiniRocketClassifier``.

    Returns
    -------
    estimator : MiniRocketAnyLength
        aeon's ``MiniRocketClassifier`` whose ``fit``, ``predict``,
        ``predict_proba`` and ``score`` resample unequal lengths first;
        ``length_`` is the length it resamples to.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.experiments import minirocket
    >>> X, y = load_dataset("JapaneseVowels")
    >>> min(len(x[0]) for x in X), max(len(x[0]) for x in X)
    (7, 26)
    >>> minirocket(random_state=0).fit(X, y).length_
    26
    """
    return _minirocket_class()(**params)


@functools.cache
def _minirocket_class():
    try:
        from aeon.classification.convolution_based import MiniRocketClassifier
        from aeon.transformations.collection.unequal_length import Resizer
    except ImportError as error:
        raise ImportError(
            "The 'minirocket' estimator is aeon's MiniRocketClassifier; install "
            'aeon with: pip install "vlmtsc[bench]"'
        ) from error

    class MiniRocketAnyLength(MiniRocketClassifier):
        def _one_length(self, X, length=None):
            length = length or self.length_
            if {np.shape(x)[-1] for x in X} != {length}:
                return Resizer(resized_length=length).fit_transform(X)
            return X

        def fit(self, X, y):
            length = max(np.shape(x)[-1] for x in X)
            super().fit(self._one_length(X, length), y)
            self.length_ = length  # after fit: aeon's fit resets attributes
            return self

        def predict(self, X):
            return super().predict(self._one_length(X))

        def predict_proba(self, X):
            return super().predict_proba(self._one_length(X))

        def score(self, X, y):
            return super().score(self._one_length(X), y)

    # Pickles find it as this module's attribute (see __getattr__).
    MiniRocketAnyLength.__module__ = __name__
    MiniRocketAnyLength.__qualname__ = "MiniRocketAnyLength"
    return MiniRocketAnyLength


def __getattr__(name):
    # aeon is imported on first use only (it is slow to import).
    if name == "MiniRocketAnyLength":
        return _minirocket_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def flatten_images(images):
    """``(n, h, w, 3)`` uint8 images as ``(n, h * w * 3)`` float32 in [0, 1].

    Parameters
    ----------
    images : ndarray of shape (n_cases, height, width, 3)

    Returns
    -------
    features : ndarray of shape (n_cases, height * width * 3)

    Examples
    --------
    >>> import numpy as np
    >>> flatten_images(np.full((2, 4, 4, 3), 51, dtype=np.uint8))[0, :2]
    array([0.2, 0.2], dtype=float32)
    """
    import numpy as np

    images = np.asarray(images)
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)


def renderer_probe(renderer="gaf", image_size=64, random_state=None):
    """Render, flatten the pixels, scale, logistic regression.

    A sanity check of how much class information an image type carries, not a
    competitive classifier; the named configurations ``gaf-logreg``,
    ``mtf-logreg``, ``rp-logreg``, ``windows-logreg``, ``heatmap-logreg`` and
    ``lineplot-logreg`` are this probe at 64 px.

    Parameters
    ----------
    renderer : str or renderer, default="gaf"
        ``lineplot``, ``gaf``, ``mtf``, ``rp``, ``windows``, ``heatmap`` (or a
        renderer class name), drawn at ``image_size``; or a renderer, used as
        it is.
    image_size : int, default=64
        Pixels per side of a renderer given by name.
    random_state : int, optional
        Seed of the logistic regression.

    Returns
    -------
    estimator : sklearn.pipeline.Pipeline

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> X, y = load_dataset("UnitTest")
    >>> X_test, y_test = load_dataset("UnitTest", split="test")
    >>> probe = renderer_probe("gaf", image_size=16).fit(X, y)
    >>> [name for name, _ in probe.steps]
    ['render', 'flatten', 'scale', 'logreg']
    >>> probe.score(X_test, y_test) > 0.5
    True
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from vlmtsc.renderers import make_renderer

    if isinstance(renderer, str):
        renderer = make_renderer(renderer, image_size=image_size)
    return Pipeline(
        [
            ("render", clone(renderer)),
            ("flatten", FunctionTransformer(flatten_images)),
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(max_iter=1000, random_state=random_state)),
        ]
    )
