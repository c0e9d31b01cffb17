"""Line plots of time series, drawn with matplotlib in the seed-001 style."""

from __future__ import annotations

import threading
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.renderers._base import (
    BaseRenderer,
    assemble_time_map,
    panel_boxes,
    place_panel,
)
from vlmtsc.series import DownsamplingWarning, downsample

LINE_LAYOUTS = ("overlay", "grid", "stacked")

# One matplotlib canvas per thread and configuration, reused for every image:
# building a figure costs ~10 ms, drawing a line into a kept canvas ~0.5 ms.
_canvases = threading.local()


class _Canvas:
    """A figure of empty axes (no ticks, no spines) whose lines are redrawn."""

    def __init__(
        self, size, boxes, n_lines_per_axes, colors, linewidth_px, antialiased
    ):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        dpi = 100.0
        self.figure = Figure(
            figsize=(size / dpi, size / dpi), dpi=dpi, facecolor="white"
        )
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes, self.lines = [], []
        linewidth_pt = linewidth_px * 72.0 / dpi
        line_index = 0
        for top, left, height, width in boxes:
            ax = self.figure.add_axes(
                (left / size, 1 - (top + height) / size, width / size, height / size)
            )
            ax.set_axis_off()
            lines = []
            for _ in range(n_lines_per_axes):
                (line,) = ax.plot(
                    [],
                    [],
                    color=colors[line_index % len(colors)],
                    linewidth=linewidth_pt,
                    antialiased=antialiased,
                    solid_joinstyle="round",
                )
                line.set_animated(True)
                lines.append(line)
                line_index += 1
            self.axes.append(ax)
            self.lines.append(lines)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def draw(self, panels, out: np.ndarray) -> None:
        """Draw ``panels`` (per axes: positions, values 2D, y-limits) into ``out``."""
        self.canvas.restore_region(self.background)
        for ax, lines, (t, values, (low, high)) in zip(
            self.axes, self.lines, panels, strict=True
        ):
            ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
            ax.set_ylim(low, high)
            for line, v in zip(lines, values, strict=True):
                line.set_data(t, v)
                ax.draw_artist(line)
        out[...] = np.asarray(self.canvas.buffer_rgba())[..., :3]


def _limits(values: np.ndarray, margin: float) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12 * max(1.0, abs(high)):
        return low - 1.0, high + 1.0
    pad = (high - low) * margin
    return low - pad, high + pad


class LinePlotRenderer(BaseRenderer):
    """Draw each series as a line plot, as a person would look at it.

    The seed-001 style: one line per channel on white, no ticks, no labels, no
    spines. Channels are drawn in one plot (``"overlay"``), or in a grid or stack of
    panels. With ``sharey=True`` all channels of a case share one y-range, so their
    relative amplitudes stay visible (normalising across channels rather than per
    channel helped multivariate sets in the feasibility prototype).

    Parameters
    ----------
    image_size : int, default=224
        Width and height of the square image in pixels.
    layout : {"overlay", "grid", "stacked"}, default="overlay"
        ``"overlay"``: all channels in one plot, one colour each. ``"grid"``: one
        panel per channel in a near-square grid. ``"stacked"``: panels one above
        the other.
    linewidth : float, default=2.0
        Line width in pixels.
    colors : list of str, optional
        Matplotlib colours cycled over channels; default the ``tab10`` palette.
    sharey : bool, default=True
        One y-range for all channels of a case (otherwise one per panel; ignored
        for ``"overlay"``, which has a single y-axis).
    max_points : int, optional
        Draw from a series shortened to at most this many points (seed 001's "plot
        drawn from the downsampled series"); a :class:`DownsamplingWarning` says so.
    downsampling : {"uniform", "adaptive"}, default="uniform"
        How ``max_points`` shortens the series.
    antialiased : bool, default=True
        Smooth lines.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import LinePlotRenderer
    >>> X, y = load_dataset("GunPoint")
    >>> images = LinePlotRenderer(image_size=64).fit_transform(X[:3])
    >>> images.shape, images.dtype
    ((3, 64, 64, 3), dtype('uint8'))
    """

    def __init__(
        self,
        image_size=224,
        layout="overlay",
        linewidth=2.0,
        colors=None,
        sharey=True,
        max_points=None,
        downsampling="uniform",
        antialiased=True,
    ):
        self.image_size = image_size
        self.layout = layout
        self.linewidth = linewidth
        self.colors = colors
        self.sharey = sharey
        self.max_points = max_points
        self.downsampling = downsampling
        self.antialiased = antialiased

    _parameter_constraints: ClassVar[dict] = {
        **BaseRenderer._parameter_constraints,
        "layout": [StrOptions(set(LINE_LAYOUTS))],
        "linewidth": [Interval(Real, 0, None, closed="neither")],
        "colors": [list, tuple, None],
        "sharey": ["boolean"],
        "max_points": [Interval(Integral, 2, None, closed="left"), None],
        "downsampling": "no_validation",  # checked by vlmtsc.series.downsample
        "antialiased": ["boolean"],
    }

    time_axis: ClassVar[bool] = True

    def _x_range(self, n_timepoints: int, series) -> tuple[float, float, int]:
        """First and last x position drawn, and the downsampling factor."""
        n = int(n_timepoints)
        factor = 1
        if self.max_points is not None and n > self.max_points:
            factor = -(-n // self.max_points)
            if series is not None and self.downsampling == "adaptive":
                positions = downsample(np.asarray(series), factor, "adaptive")[1]
            else:  # uniform block centres (adaptive's when the series is not given)
                positions = downsample(np.zeros((1, n)), factor, "uniform")[1]
            return float(positions[0]), float(positions[-1]), factor
        return 0.0, float(n - 1), factor

    def time_map_uses_case(self, n_channels: int) -> bool:
        """Adaptive downsampling and overlaid channels depend on the case."""
        adaptive = self.max_points is not None and self.downsampling == "adaptive"
        return adaptive or (self.layout == "overlay" and int(n_channels) > 1)

    def _line_shares(self, image: np.ndarray, n_channels: int) -> np.ndarray:
        """``(image_size ** 2, n_channels)``: which overlaid line each pixel
        shows, by how closely its ink (white minus the pixel) points the way of
        each line's colour; blank pixels are split evenly."""
        import matplotlib.colors

        colors = self.colors or [f"C{i}" for i in range(10)]
        lines = np.array(
            [
                matplotlib.colors.to_rgb(colors[c % len(colors)])
                for c in range(n_channels)
            ]
        )
        ink = 255.0 - np.asarray(image, dtype=np.float64).reshape(-1, 3)
        line_ink = 255.0 * (1.0 - lines)
        norm = np.linalg.norm(ink, axis=1, keepdims=True)
        cosine = (
            ink
            @ line_ink.T
            / np.maximum(norm * np.linalg.norm(line_ink, axis=1), 1e-12)
        )
        shares = np.clip(cosine, 0.0, None) ** 64
        total = shares.sum(axis=1, keepdims=True)
        even = (norm[:, 0] < 8.0) | (total[:, 0] < 1e-6)
        shares = np.divide(shares, total, out=np.zeros_like(shares), where=total > 0)
        shares[even] = 1.0 / n_channels
        return shares

    def time_map(
        self, n_timepoints: int, n_channels: int = 1, *, series=None, image=None
    ):
        """How each pixel maps back to time steps (see :meth:`BaseRenderer.time_map`).

        A pixel column of a channel's panel shows the line at one x position
        ``p`` (matplotlib puts the first drawn step on the panel's left edge
        and the last on its right edge); its weights are a triangle around
        ``p`` over the steps, half as wide as the larger of one step, the steps
        one pixel spans and the downsampling factor, normalised to sum to one.
        Every pixel of the column gets the same weights: the map says which
        steps a pixel can show, whether or not the line passes through it.
        ``"overlay"`` splits each pixel among the channels sharing the panel:
        by its colour when ``image`` (the case's image) is given, a pixel
        going to the line(s) whose colour it has (blank pixels, and every
        pixel without ``image``, split evenly). With adaptive downsampling,
        pass ``series`` to place the drawn range exactly (otherwise uniform
        downsampling's is assumed).

        Examples
        --------
        >>> M = LinePlotRenderer(image_size=16).time_map(8)
        >>> M.shape, bool(np.allclose(M.sum(axis=1), 1))
        ((256, 8), True)
        """
        from scipy import sparse

        n, n_channels = self._check_time_map(n_timepoints, n_channels)
        size = int(self.image_size)
        overlay = self.layout == "overlay"
        boxes = panel_boxes(1 if overlay else n_channels, self.layout, size)
        first, last, factor = self._x_range(n, series)
        span = last - first if last > first else 1.0
        steps = np.arange(n, dtype=float)
        shares = None
        if overlay and n_channels > 1 and image is not None:
            shares = self._line_shares(image, n_channels)
        entries = []
        for b, (top, left, height, width) in enumerate(boxes):
            centres = first + (np.arange(width) + 0.5) / width * span
            centres = np.clip(centres, 0.0, n - 1.0)
            half = max(1.0, span / width, float(factor))
            weights = np.clip(1.0 - np.abs(steps - centres[:, None]) / half, 0, None)
            weights /= weights.sum(axis=1, keepdims=True)
            # Every row of the panel repeats the column weights.
            panel = sparse.kron(np.ones((height, 1)), sparse.csr_matrix(weights))
            box = (top, left, height, width)
            channels = range(n_channels) if overlay else [b]
            for c in channels:
                if not overlay:
                    scale = 1.0
                else:
                    scale = 1.0 / n_channels if shares is None else shares[:, c]
                entries.append(place_panel(panel, box, size, c * n, scale))
        return assemble_time_map(entries, size, n_channels * n)

    def _canvas(self, n_channels: int) -> _Canvas:
        size = int(self.image_size)
        overlay = self.layout == "overlay"
        colors = (
            tuple(self.colors) if self.colors else tuple(f"C{i}" for i in range(10))
        )
        key = (
            size,
            n_channels,
            self.layout,
            float(self.linewidth),
            colors,
            bool(self.antialiased),
        )
        cache = getattr(_canvases, "cache", None)
        if cache is None:
            cache = _canvases.cache = {}
        if key not in cache:
            boxes = panel_boxes(1 if overlay else n_channels, self.layout, size)
            per_axes = n_channels if overlay else 1
            cache[key] = _Canvas(
                size, boxes, per_axes, colors, self.linewidth, self.antialiased
            )
        return cache[key]

    def _render(self, X, images: np.ndarray) -> None:
        margin = 0.05
        n_shortened = 0
        for i, x in enumerate(X):
            positions = np.arange(x.shape[1], dtype=float)
            if self.max_points is not None and x.shape[1] > self.max_points:
                factor = -(-x.shape[1] // self.max_points)
                x, positions = downsample(x, factor, self.downsampling)
                n_shortened += 1
            if self.layout == "overlay":
                panels = [(positions, x, _limits(x, margin))]
            else:
                shared = _limits(x, margin) if self.sharey else None
                panels = [
                    (positions, channel[None], shared or _limits(channel, margin))
                    for channel in x
                ]
            self._canvas(x.shape[0]).draw(panels, images[i])
        if n_shortened:
            warnings.warn(
                f"{n_shortened} of {len(X)} series were longer than "
                f"max_points={self.max_points} and were drawn from a "
                f"{self.downsampling} downsampled copy.",
                DownsamplingWarning,
                stacklevel=3,
            )
