"""Heatmaps: the channels x time matrix of a series as one coloured image.

A multivariate series is a matrix, channels by time steps. Drawn as one image,
channels down the rows and time along the columns, coloured by one colour map
over the whole case, it shows what the per-channel panels of the other
renderers cannot: the channels' levels relative to each other at every moment
(the cepstral coefficients of JapaneseVowels read as a spectrogram).
"""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from vlmtsc.base import series_lengths
from vlmtsc.renderers._base import BaseRenderer, colormap_lut, minmax_per_case
from vlmtsc.renderers._windows import resize_weights

__all__ = ["HeatmapRenderer"]

_BATCH = 64  # cases per batch: bounds memory for long series


class HeatmapRenderer(BaseRenderer):
    """Each series as a heatmap: channels down the rows, time along the columns.

    The ``(n_channels, T)`` matrix of a case is resized bilinearly (PIL's
    weights, :func:`~vlmtsc.renderers.resize_weights`) to the image, so each
    channel becomes a band of rows and each column a moment; the whole image is
    stretched to [0, 1] (one range for all channels of the case), raised to
    ``gamma`` and coloured with ``cmap``. A univariate series is one band: a
    colour bar of its values over time.

    Parameters
    ----------
    image_size : int, default=224
        Width and height of the square image in pixels.
    cmap : str, default="viridis"
        A matplotlib colour map name.
    gamma : float, default=0.8
        Each stretched value ``v`` in [0, 1] becomes ``v ** gamma``; below 1
        brightens the mid-tones.

    See Also
    --------
    WindowStackRenderer : each channel's windows as rows; shape only, per channel.
    LinePlotRenderer : the channels as lines.

    Notes
    -----
    Amplitude: one contrast stretch per case, over all its channels, so the
    channels' relative levels are kept, while a case's offset and scale are
    lost (a series and ``5 * series + 3`` give the same image). Channels in
    different units (accelerometer and gyroscope) can hide each other: the
    estimators' ``normalization="per_channel"`` gives every channel its own
    scale before it is drawn. Any length works, from one point on; each case
    spans the full width whatever its length.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import HeatmapRenderer
    >>> X, y = load_dataset("BasicMotions")
    >>> images = HeatmapRenderer(image_size=32).fit_transform(X[:2])
    >>> images.shape, images.dtype
    ((2, 32, 32, 3), dtype('uint8'))
    >>> bool((HeatmapRenderer(image_size=32).transform(5 * X[:2] + 3) == images).all())
    True
    """

    def __init__(self, image_size=224, cmap="viridis", gamma=0.8):
        self.image_size = image_size
        self.cmap = cmap
        self.gamma = gamma

    _parameter_constraints: ClassVar[dict] = {
        "image_size": BaseRenderer._parameter_constraints["image_size"],
        "cmap": [str],
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }

    def _check_params(self) -> None:
        super()._check_params()
        colormap_lut(self.cmap)  # an unknown colour map fails here

    time_axis: ClassVar[bool] = True

    def time_map(
        self, n_timepoints: int, n_channels: int = 1, *, series=None, image=None
    ):
        """How each pixel maps back to time steps (see :meth:`BaseRenderer.time_map`).

        Pixel ``(i, j)`` is the bilinear resize of the matrix: its weight on
        step ``t`` of channel ``c`` is the row weight of ``c`` at ``i`` times
        the column weight of ``t`` at ``j``, the Kronecker product of the two
        resize matrices. ``series`` and ``image`` are unused.

        Examples
        --------
        >>> M = HeatmapRenderer(image_size=16).time_map(30, n_channels=3)
        >>> M.shape, bool(np.allclose(M.sum(axis=1), 1))
        ((256, 90), True)
        """
        from scipy import sparse

        n, n_channels = self._check_time_map(n_timepoints, n_channels)
        size = int(self.image_size)
        return sparse.kron(
            resize_weights(n_channels, size), resize_weights(n, size), format="csr"
        ).astype(np.float64)

    def _render(self, X, images: np.ndarray) -> None:
        size = int(self.image_size)
        rows = resize_weights(X[0].shape[0], size)
        lut = colormap_lut(self.cmap)
        lengths = series_lengths(X)
        for length in np.unique(lengths):
            columns = resize_weights(int(length), size).T
            index = np.flatnonzero(lengths == length)
            for start in range(0, len(index), _BATCH):
                chunk = index[start : start + _BATCH]
                batch = np.stack([X[i] for i in chunk])
                # Centred first, so large offsets stay out of the resize.
                batch = batch - np.median(batch, axis=(1, 2), keepdims=True)
                maps = rows @ batch.astype(np.float32) @ columns
                # A constant series has no contrast: the colour map's first colour.
                maps = minmax_per_case(maps)
                levels = np.round(np.clip(maps, 0.0, 1.0) ** self.gamma * 255)
                images[chunk] = lut[levels.astype(np.uint8)]
