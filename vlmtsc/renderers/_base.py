"""What every renderer shares: validation, panel layout, colour maps, output."""

from __future__ import annotations

import math
from functools import lru_cache
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.base import check_series

LAYOUTS = ("grid", "stacked")
_GAP = 2  # white pixels between channel panels


def panel_boxes(
    n_channels: int, layout: str, size: int
) -> list[tuple[int, int, int, int]]:
    """Pixel boxes ``(top, left, height, width)`` of each channel's panel.

    ``"grid"`` tiles the channels in a near-square grid (row by row),
    ``"stacked"`` puts them one above the other across the full width.
    """
    if layout == "stacked":
        n_rows, n_cols = n_channels, 1
    else:
        n_cols = math.ceil(math.sqrt(n_channels))
        n_rows = math.ceil(n_channels / n_cols)
    gap = _GAP if n_channels > 1 else 0
    height = (size - gap * (n_rows - 1)) // n_rows
    width = (size - gap * (n_cols - 1)) // n_cols
    if height < 1 or width < 1:
        raise ValueError(
            f"image_size={size} is too small to show {n_channels} channels with "
            f"layout={layout!r}; use a larger image_size."
        )
    return [
        ((i // n_cols) * (height + gap), (i % n_cols) * (width + gap), height, width)
        for i in range(n_channels)
    ]


@lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """A 256 x 3 uint8 lookup table for the matplotlib colour map ``name``."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"Unknown colour map {name!r}; use a matplotlib colour map name such as "
            "'viridis', 'gray' or 'rainbow'."
        ) from None
    return (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def minmax_per_case(maps: np.ndarray) -> np.ndarray:
    """Scale each ``maps[i]`` (a 2D field or image) to [0, 1] on its own; a
    constant one, with no contrast to stretch, becomes 0."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)


def place_panel(panel, box, size: int, column_offset: int, scale=1.0):
    """Rows of a panel's pixels moved to the image: ``(rows, columns, weights)``.

    ``panel`` is a sparse ``(height * width, n)`` matrix whose row ``i * width +
    j`` is the panel pixel ``(i, j)``; the result holds its entries at the image
    pixel ``(top + i) * size + left + j`` and column ``column_offset + k``,
    times ``scale`` (a number, or one per image pixel).
    """
    top, left, _, width = box
    panel = panel.tocoo()
    i, j = np.divmod(panel.row, width)
    rows = (top + i) * size + left + j
    factor = scale[rows] if np.ndim(scale) else scale
    return rows, panel.col + column_offset, panel.data * factor


def assemble_time_map(entries, size: int, n_columns: int):
    """The ``(size * size, n_columns)`` CSR matrix of :func:`place_panel` parts."""
    from scipy import sparse

    rows, cols, data = (np.concatenate(part) for part in zip(*entries, strict=True))
    return sparse.csr_matrix(
        (data.astype(np.float64), (rows, cols)), shape=(size * size, n_columns)
    )


class BaseRenderer(TransformerMixin, BaseEstimator):
    """Turn time series into RGB images; subclasses draw one case.

    Renderers are stateless: ``fit`` only validates the input (as pyts' image
    transforms do) and ``transform`` accepts any number of channels and any
    length. Output is ``uint8`` of shape ``(n_cases, image_size, image_size, 3)``,
    the input a processor of a vision model expects.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    _parameter_constraints: ClassVar[dict] = {
        "image_size": [Interval(Integral, 8, None, closed="left")],
        "layout": [StrOptions(set(LAYOUTS))],
    }

    time_axis: ClassVar[bool] = False
    """Whether the images have a time axis, so :meth:`time_map` maps pixels back
    to time steps (line plots, window stacks and heatmaps; not the fields, whose
    pixels pair two times)."""

    def time_map_uses_case(self, n_channels: int) -> bool:
        """Whether :meth:`time_map` depends on the case (its ``series`` or
        ``image``) for this many channels, so one map per length won't do."""
        return False

    def time_map(
        self, n_timepoints: int, n_channels: int = 1, *, series=None, image=None
    ):
        """How each pixel of an image maps back to the series' time steps.

        Renderers with a time axis (:attr:`time_axis`) return a sparse
        ``(image_size * image_size, n_channels * n_timepoints)`` matrix ``M``:
        row ``r * image_size + c`` holds the weights of pixel ``(r, c)`` over
        the steps ``channel * n_timepoints + t`` it shows, summing to one (zero
        for pixels that show no step, such as the gaps between panels).
        ``M.T @ saliency.ravel()`` carries a per-pixel saliency of an image of
        this renderer back to ``(n_channels, n_timepoints)``. The renderers
        without one raise ``NotImplementedError``.

        Parameters
        ----------
        n_timepoints : int
        n_channels : int, default=1
        series : ndarray of shape (n_channels, n_timepoints), optional
            The case itself, where the map depends on it (adaptive downsampling
            of a line plot); otherwise unused.
        image : ndarray of shape (image_size, image_size, 3), optional
            The case's image, where the map depends on it (which overlaid
            line a pixel belongs to, by its colour); otherwise unused.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (image_size ** 2, n_channels * n_timepoints)

        Raises
        ------
        NotImplementedError
            For a renderer without a time axis.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no time axis: each pixel pairs two (or "
            "more) time steps, so its pixels do not map back to single steps and "
            "gradient saliency cannot be carried back to the series. Use "
            "LinePlotRenderer, WindowStackRenderer or HeatmapRenderer, or explain "
            "with method='occlusion'."
        )

    def _check_time_map(self, n_timepoints, n_channels) -> tuple[int, int]:
        """The parameters and the sizes a :meth:`time_map` is asked for."""
        self._check_params()
        n, channels = int(n_timepoints), int(n_channels)
        if n < 1 or channels < 1:
            raise ValueError(
                f"n_timepoints and n_channels must be positive, got {n_timepoints} "
                f"and {n_channels}."
            )
        return n, channels

    def _check_params(self) -> None:
        """Every parameter (``_parameter_constraints``, and rules beyond them)."""
        self._validate_params()

    def fit(self, X, y=None):
        """Validate ``X``; renderers learn nothing.

        Parameters
        ----------
        X : array-like or list of array-like
            Series (2D, 3D, or a list of 2D arrays of unequal length).
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        check_series(X, estimator_name=type(self).__name__)
        return self

    def transform(self, X):
        """Render every case as an RGB image.

        Parameters
        ----------
        X : array-like or list of array-like
            Series (2D, 3D, or a list of 2D arrays of unequal length).

        Returns
        -------
        images : ndarray of shape (n_cases, image_size, image_size, 3), dtype uint8
        """
        self._check_params()
        X = check_series(X, estimator_name=type(self).__name__)
        size = int(self.image_size)
        images = np.full((len(X), size, size, 3), 255, dtype=np.uint8)
        self._render(X, images)
        return images

    def _render(self, X, images: np.ndarray) -> None:  # pragma: no cover - abstract
        """Draw canonical ``X`` into the white ``images`` in place."""
        raise NotImplementedError
