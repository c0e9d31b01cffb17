"""Operations on series that prompts and renderers share: downsampling.

A prompt shortens a series to fit a token budget (:mod:`vlmtsc.prompts`), a line
plot to fit a number of plotted points (:mod:`vlmtsc.renderers`); both shorten it
the same way, here. Torch-free (numpy only).

Both methods average consecutive segments of the series (a moving average
followed by a stride), so no sample is simply thrown away. The uniform method
uses segments of one size; the adaptive one gives more, shorter segments to the
windows where the series varies most (seed 001's adaptive strategy). All
channels of a case share the same segments, so they stay aligned in time.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = [
    "DOWNSAMPLING_METHODS",
    "DownsamplingWarning",
    "downsample",
    "downsample_adaptive",
    "downsample_uniform",
    "segment_means",
]

DOWNSAMPLING_METHODS = ("uniform", "adaptive")


class DownsamplingWarning(UserWarning):
    """Series were shortened to fit a budget (tokens or plotted points)."""


def segment_means(x: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x[:, a:b]`` for consecutive ``bounds`` and the segment centres.

    Parameters
    ----------
    x : ndarray of shape (n_channels, n_timepoints)
    bounds : ndarray of int
        Increasing segment boundaries, from 0 to ``n_timepoints``.

    Returns
    -------
    values : ndarray of shape (n_channels, len(bounds) - 1)
    centres : ndarray of shape (len(bounds) - 1,)

    Examples
    --------
    >>> import numpy as np
    >>> values, centres = segment_means(np.arange(6.0)[None], np.array([0, 2, 6]))
    >>> values.tolist(), centres.tolist()
    ([[0.5, 3.5]], [0.5, 3.5])
    """
    starts, stops = bounds[:-1], bounds[1:]
    sums = np.add.reduceat(x, starts, axis=1)
    values = sums / (stops - starts)
    centres = (starts + stops - 1) / 2.0
    return values, centres


def downsample_uniform(x: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Average non-overlapping blocks of ``factor`` timepoints.

    Parameters
    ----------
    x : ndarray of shape (n_channels, n_timepoints)
        One case.
    factor : int
        Block length; ``1`` returns the series unchanged.

    Returns
    -------
    values : ndarray of shape (n_channels, ceil(n_timepoints / factor))
    positions : ndarray of shape (ceil(n_timepoints / factor),)
        Centre of each block on the original time axis.

    Examples
    --------
    >>> import numpy as np
    >>> values, positions = downsample_uniform(np.arange(6.0)[None], 2)
    >>> values.tolist(), positions.tolist()
    ([[0.5, 2.5, 4.5]], [0.5, 2.5, 4.5])
    """
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}.")
    n = x.shape[1]
    bounds = np.append(np.arange(0, n, factor), n)
    return segment_means(x, bounds)


def downsample_adaptive(x: np.ndarray, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``n_points`` segment means, more of them where the series varies.

    The series is cut into windows of about four output points each; every window
    gets a share of the ``n_points`` proportional to its standard deviation
    (channels z-normalised together, so a quiet channel counts as little as it
    moves), at least one point, at most one per timepoint.

    Parameters
    ----------
    x : ndarray of shape (n_channels, n_timepoints)
        One case.
    n_points : int
        Length of the result, ``1 <= n_points <= n_timepoints``.

    Returns
    -------
    values : ndarray of shape (n_channels, n_points)
    positions : ndarray of shape (n_points,)
        Centre of each segment on the original time axis (increasing).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.zeros(50), np.sin(np.arange(50))][None]
    >>> values, positions = downsample_adaptive(x, 20)
    >>> values.shape, int((positions >= 50).sum()) > 10
    ((1, 20), True)
    """
    n = x.shape[1]
    n_points = int(n_points)
    if not 1 <= n_points <= n:
        raise ValueError(f"n_points must be in [1, {n}], got {n_points}.")
    if n_points == n:
        return x.copy(), np.arange(n, dtype=float)
    n_windows = max(1, min(n_points, math.ceil(n_points / 4)))
    edges = np.linspace(0, n, n_windows + 1).round().astype(int)
    scale = x.std()
    z = (x - x.mean()) / (scale if scale > 0 else 1.0)
    sizes = np.diff(edges)
    spread = np.array(
        [z[:, a:b].std(axis=1).mean() for a, b in itertools.pairwise(edges)]
    )
    # Every window keeps one point; the rest follow the local spread, capped at one
    # point per timepoint, and the largest remainders take what rounding leaves.
    weights = spread + 1e-3 * (spread.mean() + 1e-12)
    ideal = np.minimum(1 + weights / weights.sum() * (n_points - n_windows), sizes)
    counts = np.floor(ideal).astype(int)
    while counts.sum() < n_points:
        remainder = np.where(counts < sizes, ideal - counts, -np.inf)
        counts[np.argmax(remainder)] += 1
    bounds = np.unique(
        np.concatenate(
            [
                np.linspace(a, b, k + 1).round().astype(int)
                for a, b, k in zip(edges[:-1], edges[1:], counts, strict=True)
            ]
        )
    )
    return segment_means(x, bounds)


def downsample(
    x: np.ndarray, factor: int, method: str = "uniform"
) -> tuple[np.ndarray, np.ndarray]:
    """Shorten ``x`` about ``factor`` times with ``method`` (see module docs).

    Parameters
    ----------
    x : ndarray of shape (n_channels, n_timepoints)
    factor : int
        ``1`` keeps the series; ``k`` keeps ``ceil(n_timepoints / k)`` points.
    method : {"uniform", "adaptive"}

    Returns
    -------
    values, positions : see :func:`downsample_uniform`.
    """
    if method == "uniform":
        return downsample_uniform(x, factor)
    if method == "adaptive":
        return downsample_adaptive(x, math.ceil(x.shape[1] / factor))
    raise ValueError(
        f"downsampling must be one of {DOWNSAMPLING_METHODS}, got {method!r}."
    )
