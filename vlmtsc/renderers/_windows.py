"""TiViT window stacks: overlapping windows of a series as the rows of an image.

Roschmann et al. (2025) turn a series into a picture a frozen vision transformer
reads well: cut it into overlapping windows of about ``sqrt(n_timepoints)``
points and stack them as rows, so time runs down the image in coarse steps and
along each row in fine ones. Everything here is vectorised numpy: cases are
grouped by length, the bilinear resize is two matrix products with PIL's
resampling weights, and the contrast stretch and gamma work on whole batches.
"""

from __future__ import annotations

import math
from functools import lru_cache
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.base import series_lengths
from vlmtsc.renderers._base import (
    BaseRenderer,
    assemble_time_map,
    minmax_per_case,
    panel_boxes,
    place_panel,
)

__all__ = ["WindowStackRenderer", "resize_weights"]

_BATCH = 64  # cases per batch: bounds memory for long series
_AUTO_STRIDE = 0.1  # TiViT's stride, as a fraction of the window length


@lru_cache(maxsize=64)
def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights of PIL's bilinear resampling along one axis.

    PIL's triangle filter, widened by the shrink factor when shrinking (so every
    input row still counts, unlike plain two-point interpolation), rows summing
    to one; ``weights @ x`` resizes ``x`` along its first axis as
    ``Image.resize(..., BILINEAR)`` does. float32, as PIL's ``"F"`` images: an
    8-bit grey level needs no more, and it halves the memory traffic.
    """
    scale = n_in / n_out
    filter_scale = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    offsets = (np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / filter_scale
    weights = np.clip(1.0 - np.abs(offsets), 0.0, None)
    weights = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    weights.setflags(write=False)
    return weights


def _robust_scale(x: np.ndarray) -> np.ndarray:
    """Each row minus its median, over its interquartile range (1 if that is 0)."""
    low, median, high = np.percentile(x, [25, 50, 75], axis=1, keepdims=True)
    iqr = high - low
    return (x - median) / np.where(iqr > 0, iqr, 1.0)


class WindowStackRenderer(BaseRenderer):
    """Overlapping windows of each series stacked as image rows (TiViT).

    The recipe of TiViT (Roschmann et al., 2025), per channel of length ``T``:
    subtract the median and divide by the interquartile range; cut the series into
    windows of ``w`` points, ``s`` points apart; stack the windows as the rows of
    a grey image (``n_windows x w``: time runs down the rows in steps of ``s``
    and along each row within a window); resize it bilinearly to the panel; stretch
    its contrast to [0, 1], apply ``gamma`` and repeat the grey level in all
    three colour channels. With ``w`` near ``sqrt(T)`` and a small stride the
    image holds each point about ``w / s`` times, in neighbouring rows, so
    features a vision transformer sees in 2D patches line up across rows.

    Parameters
    ----------
    image_size : int, default=224
        Width and height of the square image in pixels.
    window_length : "auto" or int, default="auto"
        Points per window; ``"auto"`` is ``round(window_scale * sqrt(T))`` for
        a series of ``T`` points (at least 1), TiViT's ``round(sqrt(T))`` at
        the default scale, so every length gets its own. A series shorter than
        the window is padded (see Notes).
    window_scale : float, default=1
        Multiplies the ``"auto"`` window length: ``2`` draws the same series
        in windows twice as long (half as many rows), a coarser view of its
        time; several scales side by side are Mantis's "self-ensembling". Only
        with ``window_length="auto"``.
    stride : "auto", int or float, default="auto"
        Step between the starts of consecutive windows. An int is a number of
        points (``1`` is every start); a float in (0, 1] is a fraction of the
        window length, ``max(1, round(stride * w))`` points with Python's
        ``round`` (``1.0`` gives windows that do not overlap): scikit-learn's
        convention of ``int`` counts and ``float`` fractions (as ``test_size``).
        ``"auto"`` is TiViT's 0.1. An int above the window length is an error
        (the windows would skip points).
    gamma : float, default=0.8
        Each stretched pixel ``v`` in [0, 1] becomes ``v ** gamma``; below 1
        brightens the mid-tones.
    layout : {"grid", "stacked"}, default="grid"
        Channel panels in a near-square grid or stacked vertically, as in the
        field renderers; each channel is its own window stack.

    See Also
    --------
    GramianAngularFieldRenderer : another 2D image of a series, pairs of times.

    Notes
    -----
    Padding: the series is extended at its end by repeating its last value until
    the windows cover every point (``n_windows = ceil((T - w) / s) + 1``), so
    nothing is dropped and the padding adds no edge; a series shorter than a
    fixed ``window_length`` becomes one window padded the same way. Any length
    works, from a single point on.

    Amplitude: the median/IQR scaling (by 1 where the IQR is 0) is done per
    channel of each series and the contrast stretch per panel, so a channel's
    offset and scale are lost (a series and ``5 * series + 3`` give the same
    image; an estimator's ``normalization`` changes nothing), and so are the
    relative sizes of the channels of a case; only the shape of each channel
    over time survives. After the stretch the scaling matters only for
    floating-point precision (large offsets removed before the resize).

    References
    ----------
    .. [1] Roschmann, S., Bouniot, Q., Raffegeau, V., Szeto, M., Akata, Z.,
       "Time series classification with vision transformers" (TiViT), 2025.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import WindowStackRenderer
    >>> X, y = load_dataset("GunPoint")
    >>> renderer = WindowStackRenderer(image_size=32)
    >>> images = renderer.fit_transform(X[:2])
    >>> images.shape, images.dtype
    ((2, 32, 32, 3), dtype('uint8'))
    >>> bool((renderer.transform(5 * X[:2] + 3) == images).all())
    True
    """

    def __init__(
        self,
        image_size=224,
        window_length="auto",
        window_scale=1,
        stride="auto",
        gamma=0.8,
        layout="grid",
    ):
        self.image_size = image_size
        self.window_length = window_length
        self.window_scale = window_scale
        self.stride = stride
        self.gamma = gamma
        self.layout = layout

    _parameter_constraints: ClassVar[dict] = {
        **BaseRenderer._parameter_constraints,
        "window_length": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "window_scale": [Interval(Real, 0, None, closed="neither")],
        "stride": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="right"),
        ],
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }

    def _check_params(self) -> None:
        super()._check_params()
        if isinstance(self.window_length, Integral):
            if self.window_scale != 1:
                raise ValueError(
                    f"WindowStackRenderer(window_scale={self.window_scale!r}) "
                    "scales the automatic window length, but window_length="
                    f"{self.window_length} fixes it; pass window_length='auto' "
                    "or leave window_scale at 1."
                )
            self._check_stride(int(self.window_length), None)

    def _check_stride(self, w: int, n_timepoints: int | None) -> None:
        """A stride in points longer than the window would skip points."""
        if isinstance(self.stride, Integral) and self.stride > w:
            of = f" (of series of {n_timepoints} timepoints)" if n_timepoints else ""
            raise ValueError(
                f"The 'stride' parameter of WindowStackRenderer, {self.stride} "
                f"points, exceeds the window length {w}{of}, so the windows would "
                "skip points. Use a smaller int, or a float in (0, 1] (a fraction "
                "of the window length)."
            )

    def geometry(self, n_timepoints: int) -> tuple[int, int, int]:
        """``(window_length, stride, n_windows)`` for a series of this length.

        Examples
        --------
        >>> WindowStackRenderer().geometry(150)
        (12, 1, 139)
        >>> WindowStackRenderer().geometry(2000)
        (45, 4, 490)
        >>> WindowStackRenderer(window_scale=2).geometry(2000)
        (89, 9, 214)
        >>> WindowStackRenderer(window_length=10, stride=1.0).geometry(25)
        (10, 10, 3)
        """
        n = int(n_timepoints)
        if self.window_length == "auto":
            w = max(1, round(self.window_scale * math.sqrt(n)))
        else:
            w = int(self.window_length)
        stride = _AUTO_STRIDE if self.stride == "auto" else self.stride
        if isinstance(stride, Integral):
            self._check_stride(w, n)
            s = int(stride)
        else:
            s = max(1, round(float(stride) * w))
        n_windows = -(-max(n - w, 0) // s) + 1
        return w, s, n_windows

    time_axis: ClassVar[bool] = True

    def time_map(
        self, n_timepoints: int, n_channels: int = 1, *, series=None, image=None
    ):
        """How each pixel maps back to time steps (see :meth:`BaseRenderer.time_map`).

        Pixel ``(i, j)`` of a channel's panel is the bilinear resize of the
        window stack, whose entry ``(row, col)`` is step ``row * stride + col``
        (the last step for the edge padding): its weights are the products of
        the row and column resize weights, gathered per step, so each pixel's
        weights sum to one and a step repeated in several windows collects
        them all. The median/IQR scaling, contrast stretch and gamma, which
        act on the values and not on where they are, are left out. ``series``
        and ``image`` are unused.

        Examples
        --------
        >>> M = WindowStackRenderer(image_size=16).time_map(30)
        >>> M.shape, bool(np.allclose(M.sum(axis=1), 1))
        ((256, 30), True)
        """
        from scipy import sparse

        n, n_channels = self._check_time_map(n_timepoints, n_channels)
        size = int(self.image_size)
        w, s, n_windows = self.geometry(n)
        boxes = panel_boxes(n_channels, self.layout, size)
        entries = []
        for c, (top, left, height, width) in enumerate(boxes):
            rows = sparse.csr_matrix(resize_weights(n_windows, height))
            cols = resize_weights(w, width)
            panel = None
            for col in range(w):
                steps = np.minimum(np.arange(n_windows) * s + col, n - 1)
                pick = sparse.csr_matrix(
                    (np.ones(n_windows), (np.arange(n_windows), steps)),
                    shape=(n_windows, n),
                )
                # Row i * width + j: rows[i] @ pick, times cols[j, col].
                term = sparse.kron(
                    rows @ pick, sparse.csr_matrix(cols[:, col : col + 1])
                )
                panel = term if panel is None else panel + term
            entries.append(place_panel(panel, (top, left, height, width), size, c * n))
        return assemble_time_map(entries, size, n_channels * n)

    def _render(self, X, images: np.ndarray) -> None:
        n_channels = X[0].shape[0]
        boxes = panel_boxes(n_channels, self.layout, int(self.image_size))
        lengths = series_lengths(X)
        for length in np.unique(lengths):
            w, s, n_windows = self.geometry(length)
            padded = w + s * (n_windows - 1)
            index = np.flatnonzero(lengths == length)
            for start in range(0, len(index), _BATCH):
                chunk = index[start : start + _BATCH]
                batch = np.stack([X[i] for i in chunk])
                for c, (top, left, height, width) in enumerate(boxes):
                    # TiViT's scaling; the stretch below would undo any affine map,
                    # but centring first keeps large offsets out of the resize.
                    x = _robust_scale(batch[:, c, :])
                    x = np.pad(x, ((0, 0), (0, padded - length)), mode="edge")
                    stacks = np.lib.stride_tricks.sliding_window_view(x, w, axis=1)
                    stacks = stacks[:, ::s].astype(np.float32)  # (n, n_windows, w)
                    # Resize rows then columns: two products with PIL's weights.
                    tiles = (
                        resize_weights(n_windows, height)
                        @ stacks
                        @ resize_weights(w, width).T
                    )
                    # A flat series has no contrast to stretch: drawn black.
                    tiles = minmax_per_case(tiles)
                    grey = np.round(np.clip(tiles, 0.0, 1.0) ** self.gamma * 255)
                    images[chunk, top : top + height, left : left + width] = grey[
                        ..., None
                    ].astype(np.uint8)
