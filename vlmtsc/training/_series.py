"""Small-data levers on the series themselves: normalisation and augmentation.

UCR training sets hold 20-300 series, so a fine-tuned backbone sees each one a
handful of times and overfits. Fresh, label-preserving variations of the series
each epoch (jitter, scaling, window slicing; Le Guennec et al. 2016; Um et al.
2017) and a consistent scale across channels are the cheap remedies. Both work
on canonical series (a 3D array or a list of 2D arrays, see
:func:`vlmtsc.base.check_series`) before rendering, tokenizing or embedding, so
every estimator gets them the same way: each estimator owns one fitted
:class:`SeriesNormalizer` (``normalizer_``) built from its ``normalization``
parameter.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from vlmtsc.base import Series, check_series

__all__ = [
    "NORMALIZATIONS",
    "SeriesAugmenter",
    "SeriesNormalizer",
    "channel_stats",
    "normalize_series",
    "series_stats",
]

# The one vocabulary of normalisations. "global" scales every series by
# statistics fitted on a training set (channel_stats), so the series'
# amplitudes stay comparable; the others work on each series alone.
GLOBAL = "global"
NORMALIZATIONS = (None, "per_channel", "across_channels", GLOBAL)
_MIN_SCALE = 1e-8  # below this a series (or channel) counts as flat


def series_stats(
    X: Series, method: str | None, fitted: tuple | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per case and channel, the shift and scale that :func:`normalize_series` removes.

    Parameters
    ----------
    X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of 2D arrays
    method : {None, "per_channel", "across_channels", "global"}
        See :func:`normalize_series`.
    fitted : (loc, scale), optional
        Per-channel statistics of a training set (:func:`channel_stats`), which
        ``"global"`` uses for every case.

    Returns
    -------
    loc, scale : ndarray of shape (n_cases, n_channels)
        ``scale`` is 1 where a series (or channel) is flat, so it only shifts.
    """
    if method not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NORMALIZATIONS}, got {method!r}."
        )
    n_channels = X[0].shape[0] if len(X) else 0
    if method == GLOBAL:
        if fitted is None:
            raise ValueError(
                "normalization='global' scales by training-set statistics: pass "
                "fitted=channel_stats(X_train)."
            )
        shape = (len(X), n_channels)
        return tuple(np.broadcast_to(stat, shape).copy() for stat in fitted)
    if method is None:
        return np.zeros((len(X), n_channels)), np.ones((len(X), n_channels))
    loc = np.empty((len(X), n_channels))
    scale = np.empty((len(X), n_channels))
    for i, x in enumerate(X):
        if method == "per_channel":
            loc[i], scale[i] = x.mean(axis=1), x.std(axis=1)
        else:
            loc[i], scale[i] = x.mean(), x.std()
    # A flat series stays flat (at 0) instead of dividing by zero.
    scale[scale < _MIN_SCALE] = 1.0
    return loc, scale


def channel_stats(X: Series) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over all cases and timepoints of a training set.

    For normalising with one set's statistics ("global" scaling); ``scale`` is 1
    for a flat channel, which is then only centred.

    Returns
    -------
    loc, scale : ndarray of shape (n_channels,)
    """
    values = np.concatenate(list(X), axis=1)  # (n_channels, all timepoints)
    loc, scale = values.mean(axis=1), values.std(axis=1)
    scale[scale < _MIN_SCALE] = 1.0
    return loc, scale


def normalize_series(
    X: Series, method: str | None, fitted: tuple | None = None
) -> Series:
    """Z-normalise every series.

    Parameters
    ----------
    X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of 2D arrays
    method : {None, "per_channel", "across_channels", "global"}
        ``"per_channel"``: each channel of each series to mean 0, std 1 (shapes
        only; the channels' relative scales are lost). ``"across_channels"``: one
        mean and std per series over all its channels, so a channel that moves
        ten times more than another still does after normalisation.
        ``"global"``: every channel by the ``fitted`` statistics of a training
        set, so amplitudes stay comparable across series. ``None`` returns ``X``
        unchanged (renderers then scale as they do by default).
    fitted : (loc, scale), optional
        :func:`channel_stats` of the training series; needed by ``"global"``.

    Returns
    -------
    Series of the same structure as ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[[0.0, 2.0], [0.0, 20.0]]])
    >>> normalize_series(X, "across_channels").round(2).tolist()
    [[[-0.65, -0.42], [-0.65, 1.72]]]
    """
    loc, scale = series_stats(X, method, fitted)
    if method is None:
        return X
    if isinstance(X, np.ndarray):
        return (X - loc[..., None]) / scale[..., None]
    return [
        (x - m[:, None]) / s[:, None] for x, m, s in zip(X, loc, scale, strict=True)
    ]


class SeriesNormalizer(TransformerMixin, BaseEstimator):
    """Z-normalisation of time series, the one normaliser of every estimator.

    Parameters
    ----------
    method : {"per_channel", "across_channels", "global", None}, \
default="per_channel"
        ``"per_channel"``: each channel of each series to mean 0, std 1 (shapes
        only). ``"across_channels"``: one mean and std per series over all its
        channels (channels keep their relative scale). ``"global"``: every
        channel by its mean and std over the series seen in :meth:`fit`
        (``loc_``, ``scale_``), so amplitudes stay comparable across series.
        ``None``: the values as they are.

    Attributes
    ----------
    loc_, scale_ : ndarray of shape (n_channels,) or None
        The training statistics for ``"global"``; ``None`` otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.training import SeriesNormalizer
    >>> X = np.array([[[0.0, 2.0]], [[0.0, 6.0]]])
    >>> SeriesNormalizer("global").fit(X).transform(X).round(2).tolist()
    [[[-0.82, 0.0]], [[-0.82, 1.63]]]
    >>> SeriesNormalizer("per_channel").fit(X).transform(X).tolist()
    [[[-1.0, 1.0]], [[-1.0, 1.0]]]
    """

    def __init__(self, method="per_channel"):
        self.method = method

    def fit(self, X, y=None):
        """Keep the training statistics (``"global"``); validates ``method``.

        Parameters
        ----------
        X : array-like or list of array-like
            Training series (any of :func:`vlmtsc.base.check_series`'s forms).
        y : ignored

        Returns
        -------
        self
        """
        if self.method not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.method!r}."
            )
        X = check_series(X)
        self.loc_, self.scale_ = (
            channel_stats(X) if self.method == GLOBAL else (None, None)
        )
        return self

    def stats(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The shift and scale :meth:`transform` removes, ``(n_cases, n_channels)``."""
        check_is_fitted(self, "loc_")
        return series_stats(check_series(X), self.method, (self.loc_, self.scale_))

    def transform(self, X):
        """Normalised series, in the canonical form of :func:`check_series`."""
        check_is_fitted(self, "loc_")
        return normalize_series(check_series(X), self.method, (self.loc_, self.scale_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class SeriesAugmenter(BaseEstimator):
    """Random, label-preserving variations of time series for training.

    With ``augmentation=SeriesAugmenter()`` an estimator shows, in every epoch,
    each training series once as it is and ``n_copies`` times freshly varied
    (a linear-probe head, which trains once, gets ``n_copies`` varied copies).
    Validation and prediction never see augmented series.

    Parameters
    ----------
    jitter : float, default=0.03
        Gaussian noise with this standard deviation relative to each channel's
        standard deviation; ``0`` disables it.
    scaling : float, default=0.1
        Each channel multiplied by a factor drawn from N(1, scaling); ``0``
        disables it.
    window_slice : float, default=0.9
        A random window covering this fraction of the series, stretched back to
        the full length by linear interpolation; ``1`` disables it.
    n_copies : int, default=1
        Varied copies of each series per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.training import SeriesAugmenter
    >>> X = np.sin(np.linspace(0, 6, 50))[None, None, :]
    >>> varied = SeriesAugmenter().augment(X, np.random.default_rng(0))
    >>> varied.shape, bool(np.allclose(varied, X))
    ((1, 1, 50), False)
    """

    def __init__(self, jitter=0.03, scaling=0.1, window_slice=0.9, n_copies=1):
        self.jitter = jitter
        self.scaling = scaling
        self.window_slice = window_slice
        self.n_copies = n_copies

    _parameter_constraints: ClassVar[dict] = {
        "jitter": [Interval(Real, 0, None, closed="left")],
        "scaling": [Interval(Real, 0, None, closed="left")],
        "window_slice": [Interval(Real, 0, 1, closed="right")],
        "n_copies": [Interval(Integral, 1, None, closed="left")],
    }

    def _augment_one(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n_channels, length = x.shape
        if self.window_slice < 1 and length > 2:
            width = max(2, round(self.window_slice * length))
            start = rng.integers(0, length - width + 1)
            source = np.linspace(start, start + width - 1, length)
            positions = np.arange(length)
            x = np.stack([np.interp(source, positions, channel) for channel in x])
        if self.scaling:
            x = x * rng.normal(1.0, self.scaling, size=(n_channels, 1))
        if self.jitter:
            std = x.std(axis=1, keepdims=True)
            x = x + rng.normal(size=x.shape) * self.jitter * std
        return x

    def augment(self, X: Series, rng: np.random.Generator) -> Series:
        """One varied copy of every series in ``X`` (same structure as ``X``).

        Parameters
        ----------
        X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of 2D arrays
        rng : numpy.random.Generator

        Returns
        -------
        Series
        """
        self._validate_params()
        varied = [self._augment_one(np.asarray(x, dtype=float), rng) for x in X]
        return np.stack(varied) if isinstance(X, np.ndarray) else varied

    def expand(self, X: Series, rng: np.random.Generator) -> tuple[Series, np.ndarray]:
        """``X`` followed by ``n_copies`` varied copies; and each row's source index.

        Returns
        -------
        X_expanded : Series
            ``(1 + n_copies) * n_cases`` series, the originals first.
        source : ndarray of int
            Index into ``X`` of every returned series (to repeat labels).
        """
        self._validate_params()
        n_cases = len(X)
        parts = [X] + [self.augment(X, rng) for _ in range(self.n_copies)]
        source = np.tile(np.arange(n_cases), 1 + self.n_copies)
        if isinstance(X, np.ndarray):
            return np.concatenate(parts), source
        return [x for part in parts for x in part], source
