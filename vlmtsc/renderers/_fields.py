"""Image encodings of series as 2D fields: GAF, MTF and recurrence plots.

The fields follow pyts' definitions and agree with pyts to floating-point
precision (``tests/test_renderers.py`` compares them), but are computed here with
vectorised numpy: pyts 0.14 compiles about thirty numba signatures when it is
imported, which took 27 s per process on a 2-core machine (0.13 compiles lazily,
still ~9 s at first use), while these fields take milliseconds. Cases are grouped
by length, each field is coloured with a matplotlib colour map, resized to its
panel and the channels are laid out.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from PIL import Image
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.base import series_lengths
from vlmtsc.renderers._base import (
    BaseRenderer,
    colormap_lut,
    minmax_per_case,
    panel_boxes,
)
from vlmtsc.series import segment_means

_BATCH = 64  # cases per field computation: bounds memory for long series
_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


class _FieldRenderer(BaseRenderer):
    """Shared recipe: field per channel -> colour map -> resize -> panel layout.

    Subclasses implement ``_fields(x, size)``: for ``x`` of shape
    ``(n_cases, n_timepoints)`` return fields ``(n_cases, s, s)`` with ``s <= size``,
    scaled to ``[0, 1]``.
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseRenderer._parameter_constraints,
        "cmap": [str],
        "interpolation": [StrOptions(set(_RESAMPLE))],
    }

    def _check_params(self) -> None:
        super()._check_params()
        colormap_lut(self.cmap)  # an unknown colour map fails here

    def _render(self, X, images: np.ndarray) -> None:
        n_channels = X[0].shape[0]
        boxes = panel_boxes(n_channels, self.layout, int(self.image_size))
        field_size = max(max(h, w) for _, _, h, w in boxes)
        lut = colormap_lut(self.cmap)
        resample = _RESAMPLE[self.interpolation]
        lengths = series_lengths(X)
        for length in np.unique(lengths):
            index = np.flatnonzero(lengths == length)
            for start in range(0, len(index), _BATCH):
                chunk = index[start : start + _BATCH]
                batch = np.stack([X[i] for i in chunk])
                for c, (top, left, height, width) in enumerate(boxes):
                    fields = self._fields(batch[:, c, :], field_size)
                    coloured = lut[
                        (np.clip(fields, 0.0, 1.0) * 255).round().astype(np.uint8)
                    ]
                    for i, image in zip(chunk, coloured, strict=True):
                        if image.shape[:2] != (height, width):
                            image = np.asarray(
                                Image.fromarray(image).resize((width, height), resample)
                            )
                        images[i, top : top + height, left : left + width] = image


def _segment_bounds(n: int, size: int) -> np.ndarray:
    """Edges of ``min(n, size)`` near-equal consecutive segments of ``range(n)``.

    Floored like pyts' ``segmentation``, so the aggregated fields match pyts'.
    """
    return np.linspace(0, n, min(n, size) + 1).astype(int)


def _paa(x: np.ndarray, size: int) -> np.ndarray:
    """Piecewise aggregate approximation: segment means, at most ``size`` of them."""
    return segment_means(x, _segment_bounds(x.shape[1], size))[0]


class GramianAngularFieldRenderer(_FieldRenderer):
    """Gramian angular field images (Wang & Oates, 2015), as in pyts.

    Each series is scaled to [-1, 1] and read as angles; the image holds
    ``cos(phi_i + phi_j)`` (summation) or ``sin(phi_i - phi_j)`` (difference).
    Series longer than the panel are first reduced by piecewise aggregate
    approximation; shorter ones are enlarged.

    Parameters
    ----------
    image_size : int, default=224
        Width and height of the square image in pixels.
    method : {"summation", "difference"}, default="summation"
        GASF or GADF.
    layout : {"grid", "stacked"}, default="grid"
        Channel panels in a near-square grid or stacked vertically.
    cmap : str, default="rainbow"
        Matplotlib colour map for values in [-1, 1].
    interpolation : {"nearest", "bilinear"}, default="nearest"
        How a field smaller than its panel is enlarged.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import GramianAngularFieldRenderer
    >>> X, y = load_dataset("GunPoint")
    >>> GramianAngularFieldRenderer(image_size=32).fit_transform(X[:2]).shape
    (2, 32, 32, 3)
    """

    def __init__(
        self,
        image_size=224,
        method="summation",
        layout="grid",
        cmap="rainbow",
        interpolation="nearest",
    ):
        self.image_size = image_size
        self.method = method
        self.layout = layout
        self.cmap = cmap
        self.interpolation = interpolation

    _parameter_constraints: ClassVar[dict] = {
        **_FieldRenderer._parameter_constraints,
        "method": [StrOptions({"summation", "difference"})],
    }

    def _fields(self, x: np.ndarray, size: int) -> np.ndarray:
        x = _paa(x, size)
        low = x.min(axis=1, keepdims=True)
        span = x.max(axis=1, keepdims=True) - low
        # Each series scaled to [-1, 1] and read as the cosine of an angle; a flat
        # series has no angle and is drawn at the middle of the colour map.
        cos = np.divide(2 * (x - low), span, out=np.ones_like(x), where=span > 0) - 1
        cos = np.clip(cos, -1.0, 1.0)
        sin = np.sqrt(np.clip(1.0 - cos**2, 0.0, 1.0))
        if self.method == "summation":
            field = (
                cos[:, :, None] * cos[:, None, :] - sin[:, :, None] * sin[:, None, :]
            )
        else:
            field = (
                sin[:, :, None] * cos[:, None, :] - cos[:, :, None] * sin[:, None, :]
            )
        field = (field + 1.0) / 2.0
        field[span[:, 0] == 0] = 0.5
        return field


class MarkovTransitionFieldRenderer(_FieldRenderer):
    """Markov transition field images (Wang & Oates, 2015), as in pyts.

    Values are binned into quantile states; pixel (i, j) is the probability of
    moving from the state at time i to the state at time j. Long series are
    aggregated to the panel size (block means of the field, as pyts does); each
    image is scaled to its own range.

    Parameters
    ----------
    image_size : int, default=224
        Width and height of the square image in pixels.
    n_bins : int, default=8
        Number of states.
    strategy : {"quantile", "uniform", "normal"}, default="quantile"
        Bin edges: quantiles or equal widths of each series, or standard normal
        quantiles (for standardised series).
    layout : {"grid", "stacked"}, default="grid"
        Channel panels in a near-square grid or stacked vertically.
    cmap : str, default="viridis"
        Matplotlib colour map.
    interpolation : {"nearest", "bilinear"}, default="nearest"
        How a field smaller than its panel is enlarged.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import MarkovTransitionFieldRenderer
    >>> X, y = load_dataset("GunPoint")
    >>> MarkovTransitionFieldRenderer(image_size=32).fit_transform(X[:2]).shape
    (2, 32, 32, 3)
    """

    def __init__(
        self,
        image_size=224,
        n_bins=8,
        strategy="quantile",
        layout="grid",
        cmap="viridis",
        interpolation="nearest",
    ):
        self.image_size = image_size
        self.n_bins = n_bins
        self.strategy = strategy
        self.layout = layout
        self.cmap = cmap
        self.interpolation = interpolation

    _parameter_constraints: ClassVar[dict] = {
        **_FieldRenderer._parameter_constraints,
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "strategy": [StrOptions({"quantile", "uniform", "normal"})],
    }

    def _fields(self, x: np.ndarray, size: int) -> np.ndarray:
        n_cases, n = x.shape
        n_bins = self.n_bins
        inner = np.linspace(0, 1, n_bins + 1)[1:-1]
        if self.strategy == "quantile":
            edges = np.percentile(x, inner * 100, axis=1).T
        elif self.strategy == "uniform":
            low, high = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
            edges = low + inner * (high - low)
        else:
            from scipy.stats import norm

            edges = np.broadcast_to(norm.ppf(inner), (n_cases, n_bins - 1))
        states = np.stack(
            [np.searchsorted(e, v, side="left") for e, v in zip(edges, x, strict=True)]
        )
        # Transition counts between consecutive states, row-normalised.
        pairs = (np.arange(n_cases)[:, None] * n_bins + states[:, :-1]) * n_bins
        counts = np.bincount(
            (pairs + states[:, 1:]).ravel(), minlength=n_cases * n_bins * n_bins
        ).reshape(n_cases, n_bins, n_bins)
        totals = counts.sum(axis=2, keepdims=True)
        transitions = np.divide(
            counts, totals, out=np.zeros(counts.shape), where=totals > 0
        )
        # field[a, b] = mean over times i in segment a, j in segment b of
        # transitions[state_i, state_j] = (S @ transitions @ S.T)[a, b], with S the
        # share of each segment's timepoints in each state.
        bounds = _segment_bounds(n, size)
        onehot = np.eye(n_bins)[states]
        shares = np.add.reduceat(onehot, bounds[:-1], axis=1) / np.diff(bounds)[:, None]
        fields = shares @ transitions @ shares.transpose(0, 2, 1)
        return minmax_per_case(fields)


class RecurrencePlotRenderer(_FieldRenderer):
    """Recurrence plot images (Eckmann et al., 1987), as in pyts.

    Pixel (i, j) is the distance between the trajectory points at times i and j;
    with a ``threshold`` it becomes binary (1 where the points recur). Series longer
    than the panel are first shortened by averaging consecutive points.

    Parameters
    ----------
    image_size : int, default=224
        Width and height of the square image in pixels.
    dimension : int, default=1
        Embedding dimension of the trajectory.
    time_delay : int, default=1
        Delay between embedded points.
    threshold : {None, "point", "distance"} or float, default=None
        ``None`` draws the unthresholded distances (grey levels); ``"point"``
        marks the ``percentage`` % closest pairs, ``"distance"`` the pairs closer
        than ``percentage`` % of the largest distance, a float those closer than it.
    percentage : float, default=10
        Percentage for the ``"point"`` and ``"distance"`` thresholds.
    layout : {"grid", "stacked"}, default="grid"
        Channel panels in a near-square grid or stacked vertically.
    cmap : str, default="binary"
        Matplotlib colour map (far points, or recurrences when thresholded, dark).
    interpolation : {"nearest", "bilinear"}, default="nearest"
        How a field smaller than its panel is enlarged.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import RecurrencePlotRenderer
    >>> X, y = load_dataset("GunPoint")
    >>> RecurrencePlotRenderer(image_size=32).fit_transform(X[:2]).shape
    (2, 32, 32, 3)
    """

    def __init__(
        self,
        image_size=224,
        dimension=1,
        time_delay=1,
        threshold=None,
        percentage=10,
        layout="grid",
        cmap="binary",
        interpolation="nearest",
    ):
        self.image_size = image_size
        self.dimension = dimension
        self.time_delay = time_delay
        self.threshold = threshold
        self.percentage = percentage
        self.layout = layout
        self.cmap = cmap
        self.interpolation = interpolation

    _parameter_constraints: ClassVar[dict] = {
        **_FieldRenderer._parameter_constraints,
        "dimension": [Interval(Integral, 1, None, closed="left")],
        "time_delay": [Interval(Integral, 1, None, closed="left")],
        "threshold": [
            StrOptions({"point", "distance"}),
            Interval(Real, 0, None, closed="left"),
            None,
        ],
        "percentage": [Interval(Real, 0, 100, closed="both")],
    }

    def _fields(self, x: np.ndarray, size: int) -> np.ndarray:
        n = x.shape[1]
        x = _paa(x, size)
        span = (self.dimension - 1) * self.time_delay
        n_points = x.shape[1] - span
        if n_points < 1:
            raise ValueError(
                f"series of {n} timepoints are too short for dimension="
                f"{self.dimension} and time_delay={self.time_delay}; lower them."
            )
        trajectory = np.stack(
            [
                x[:, d * self.time_delay : d * self.time_delay + n_points]
                for d in range(self.dimension)
            ],
            axis=2,
        )
        diff = trajectory[:, :, None, :] - trajectory[:, None, :, :]
        distances = np.sqrt((diff**2).sum(axis=3))
        if self.threshold is None:
            # Distances grow with the value range; scale each image to its own.
            return minmax_per_case(distances)
        if self.threshold == "point":
            cut = np.percentile(distances.reshape(len(x), -1), self.percentage, axis=1)
        elif self.threshold == "distance":
            cut = self.percentage / 100 * distances.max(axis=(1, 2))
        else:
            cut = np.full(len(x), float(self.threshold))
        return (distances < cut[:, None, None]).astype(float)
