"""The series drawn with its attributions as colour behind it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vlmtsc.base import check_series, series_lengths, take_cases

__all__ = ["choose_cases", "plot_explanation"]


def choose_cases(labels, n_per_class: int = 2, random_state: int | None = 0):
    """Indices of up to ``n_per_class`` cases of every class, classes in
    sorted order (what :func:`plot_explanation` shows).

    Examples
    --------
    >>> choose_cases(["b", "a", "b", "a", "a"], n_per_class=1, random_state=None)
    [1, 0]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state) if random_state is not None else None
    chosen = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        if rng is not None:
            index = np.sort(rng.permutation(index)[:n_per_class])
        chosen.extend(int(i) for i in index[:n_per_class])
    return chosen


def plot_explanation(
    X,
    attributions,
    *,
    y=None,
    predicted=None,
    channel_names: Sequence[str] | None = None,
    title: str | None = None,
    path: str | Path | None = None,
    cmap: str = "RdBu_r",
):
    """Draw each series with its attribution as colour behind it.

    One row per case, one column per channel. The background of every step is
    coloured by its attribution (red: the step supported the explained class;
    blue: it spoke against it; white: no effect), on one symmetric scale per
    case so the rows compare what mattered within each series; the series is
    the black line on top.

    Parameters
    ----------
    X : array-like or list of array-like
        The explained series (any accepted input form).
    attributions : ndarray or list of ndarray
        What the classifier's ``explain`` returned for ``X``.
    y : array-like, optional
        True labels, shown in each row's title.
    predicted : array-like, optional
        Predicted labels, shown in each row's title.
    channel_names : sequence of str, optional
    title : str, optional
    path : str or Path, optional
        Where to write a PNG; the figure is returned either way.
    cmap : str, default="RdBu_r"
        A diverging matplotlib colormap.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> X = np.sin(np.linspace(0, 6, 50))[None, :].repeat(2, axis=0)
    >>> figure = plot_explanation(X, X[:, None, :], y=["a", "b"])
    >>> len(figure.axes)
    2
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    X = check_series(X)
    n_cases = len(series_lengths(X))
    if len(attributions) != n_cases:
        raise ValueError(
            f"got {len(attributions)} attributions for {n_cases} series; pass "
            "what explain(X) returned for the same X."
        )
    cases = list(take_cases(X, range(n_cases)))
    n_channels = cases[0].shape[0]
    names = list(channel_names) if channel_names is not None else None
    if names is not None and len(names) != n_channels:
        raise ValueError(
            f"channel_names has {len(names)} names for {n_channels} channels."
        )
    figure = Figure(
        figsize=(min(max(6.0, 3.2 * n_channels), 16), 1.5 * len(cases) + 0.6),
        dpi=100,
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(cases), n_channels, squeeze=False)
    colours = colormaps[cmap]
    for row, (series, attribution) in enumerate(zip(cases, attributions, strict=True)):
        attribution = np.asarray(attribution, dtype=np.float64)
        if attribution.shape != series.shape:
            raise ValueError(
                f"attributions[{row}] has shape {attribution.shape}, but its series "
                f"has {series.shape}."
            )
        scale = float(np.abs(attribution).max()) or 1.0
        label = " / ".join(
            f"{what} {values[row]}"
            for what, values in (("true", y), ("predicted", predicted))
            if values is not None
        )
        for channel, ax in enumerate(axes[row]):
            values = series[channel]
            low, high = float(values.min()), float(values.max())
            pad = 0.08 * (high - low or 1.0)
            ax.imshow(
                attribution[channel][np.newaxis, :],
                cmap=colours,
                vmin=-scale,
                vmax=scale,
                aspect="auto",
                interpolation="nearest",
                extent=(-0.5, len(values) - 0.5, low - pad, high + pad),
            )
            ax.plot(np.arange(len(values)), values, color="black", linewidth=1.0)
            ax.set_xlim(-0.5, len(values) - 0.5)
            ax.set_ylim(low - pad, high + pad)
            ax.tick_params(labelsize=7)
            heading = [label] if channel == 0 and label else []
            if names is not None or n_channels > 1:
                heading.append(names[channel] if names else f"channel {channel}")
            ax.set_title(", ".join(heading), fontsize=8, loc="left")
    if title:
        figure.suptitle(title, fontsize=10)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return figure
