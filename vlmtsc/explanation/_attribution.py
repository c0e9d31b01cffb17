"""Which time steps decided: occlusion attributions and deletion curves.

Both rest on one operation, :func:`remove_steps`: the chosen steps of a series
are replaced by what their neighbours predict (a straight line between the
nearest kept steps, by default), so a removed event leaves no trace and no
artificial edge. Occlusion removes one window of one channel at a time and
reads how much the target class's probability falls; a deletion curve removes
the most-attributed steps first and reads how fast accuracy falls, against
removing random steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from vlmtsc.base import Series, check_series, series_lengths, take_cases

__all__ = [
    "REPLACEMENTS",
    "deletion_curve",
    "occlusion_attributions",
    "remove_steps",
    "segment_bounds",
]

REPLACEMENTS = ("linear", "mean")
"""How removed steps are filled: ``"linear"`` interpolates between the nearest
kept steps of the channel (a constant beyond the ends); ``"mean"`` puts each run
of removed steps at its own mean (a local mean: the level stays, the shape
goes)."""


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every run of True in the 1D ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(
        zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    )


def remove_steps(
    series: np.ndarray, mask: np.ndarray, replacement: str = "linear"
) -> np.ndarray:
    """A copy of ``series`` with the steps where ``mask`` is True removed.

    Parameters
    ----------
    series : ndarray of shape (n_channels, n_timepoints)
    mask : ndarray of bool, same shape
        The steps to remove.
    replacement : {"linear", "mean"}, default="linear"
        What fills them (see :data:`REPLACEMENTS`). A channel removed entirely
        becomes its own mean.

    Returns
    -------
    ndarray of shape (n_channels, n_timepoints)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 5.0, 5.0, 3.0]])
    >>> remove_steps(x, np.array([[False, True, True, False]]))
    array([[0., 1., 2., 3.]])
    >>> remove_steps(x, np.array([[False, True, True, False]]), "mean")
    array([[0., 5., 5., 3.]])
    """
    if replacement not in REPLACEMENTS:
        raise ValueError(
            f"replacement must be one of {REPLACEMENTS}, got {replacement!r}."
        )
    out = np.array(series, dtype=np.float64, copy=True)
    steps = np.arange(out.shape[1])
    for channel, removed in zip(out, np.asarray(mask, dtype=bool), strict=True):
        if not removed.any():
            continue
        if removed.all():
            channel[:] = channel.mean()
        elif replacement == "linear":
            kept = ~removed
            channel[removed] = np.interp(steps[removed], steps[kept], channel[kept])
        else:
            for start, stop in _runs(removed):
                channel[start:stop] = channel[start:stop].mean()
    return out


def segment_bounds(n_timepoints: int, n_segments: int) -> np.ndarray:
    """Edges of ``min(n_segments, n_timepoints)`` near-equal windows.

    Examples
    --------
    >>> segment_bounds(10, 4).tolist()
    [0, 2, 5, 8, 10]
    """
    n = max(1, min(int(n_segments), int(n_timepoints)))
    return np.linspace(0, n_timepoints, n + 1).round().astype(int)


def _as_series(cases: list[np.ndarray]) -> Series:
    lengths = {c.shape[1] for c in cases}
    return np.stack(cases) if len(lengths) == 1 else cases


def occlusion_attributions(
    predict_proba: Callable[[Series], np.ndarray],
    X: Series,
    targets: np.ndarray,
    *,
    n_segments: int = 16,
    replacement: str = "linear",
    max_batch: int = 256,
    progress: Callable | None = None,
) -> list[np.ndarray]:
    """Occlusion attributions of class ``targets[i]`` for every case of ``X``.

    Each channel of a series is cut into ``n_segments`` windows of near-equal
    length; each window of each channel is removed in turn
    (:func:`remove_steps`) and the fall of the target class's probability is
    spread evenly over the window's steps, so a window's attributions sum to
    that fall. Positive: the steps supported the class; negative: they spoke
    against it. One series costs ``n_channels * min(n_segments, n_timepoints)
    + 1`` predictions, made in calls of at most ``max_batch`` series.

    Parameters
    ----------
    predict_proba : callable
        Canonical series -> probabilities ``(n_cases, n_classes)``.
    X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of ndarray
        Canonical series (see :func:`vlmtsc.base.check_series`).
    targets : ndarray of int of shape (n_cases,)
        Column of the class to explain, per case.
    n_segments : int, default=16
    replacement : {"linear", "mean"}, default="linear"
    max_batch : int, default=256
    progress : callable, optional
        Called with the number of cases done after every call.

    Returns
    -------
    list of ndarray of shape (n_channels, n_timepoints_i)
    """
    n_cases = len(targets)
    lengths = series_lengths(X)
    n_channels = X.shape[1] if isinstance(X, np.ndarray) else X[0].shape[0]
    cost = [n_channels * (len(segment_bounds(n, n_segments)) - 1) + 1 for n in lengths]
    attributions: list[np.ndarray] = []
    start = 0
    while start < n_cases:
        stop = start + 1
        while stop < n_cases and sum(cost[start : stop + 1]) <= max_batch:
            stop += 1
        variants, windows = [], []
        for case in take_cases(X, range(start, stop)):
            variants.append(case)
            for channel in range(n_channels):
                bounds = segment_bounds(case.shape[1], n_segments)
                for a, b in itertools.pairwise(bounds):
                    mask = np.zeros(case.shape, dtype=bool)
                    mask[channel, a:b] = True
                    variants.append(remove_steps(case, mask, replacement))
                    windows.append((channel, a, b))
        proba = np.asarray(predict_proba(_as_series(variants)), dtype=np.float64)
        row, occluded = 0, iter(windows)
        for i in range(start, stop):
            target = int(targets[i])
            reference = proba[row, target]
            attribution = np.zeros((n_channels, lengths[i]))
            for _ in range(cost[i] - 1):
                row += 1
                channel, a, b = next(occluded)
                attribution[channel, a:b] = (reference - proba[row, target]) / (b - a)
            attributions.append(attribution)
            row += 1
        if progress is not None:
            progress(stop - start)
        start = stop
    return attributions


def deletion_curve(
    estimator,
    X,
    y,
    attributions: Sequence[np.ndarray],
    *,
    fractions: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),
    replacement: str = "linear",
    n_random: int = 3,
    random_state: int | None = 0,
    **params,
) -> dict[str, list[float]]:
    """How fast a model's answers fall as the most-attributed steps go.

    For every fraction ``f``, the ``round(f * n_channels * n_timepoints)``
    steps of each series with the highest attribution are removed
    (:func:`remove_steps`) and the series predicted; the same number of
    randomly chosen steps (``n_random`` draws, averaged) gives the reference.
    Three curves come from the same predictions:

    - ``accuracy`` against the true labels ``y``;
    - ``agreement``: the share of series still predicted as they were intact;
    - ``probability``: the mean probability of the class predicted intact.

    A faithful attribution makes each fall faster than random removal. The
    last two measure faithfulness to the model even where it is wrong
    (removing the evidence of a wrong answer can raise accuracy) or never
    changes its answer (a model that always predicts one class still moves
    its probabilities).

    Parameters
    ----------
    estimator : fitted classifier
        With ``predict_proba`` and ``classes_``.
    X : array-like or list of array-like
        The explained series.
    y : array-like of shape (n_cases,)
        True labels.
    attributions : sequence of ndarray of shape (n_channels, n_timepoints_i)
        One per case of ``X`` (what ``estimator.explain(X)`` returns).
    fractions : sequence of float, default=(0, .05, .1, .2, .3, .5)
    replacement : {"linear", "mean"}, default="linear"
    n_random : int, default=3
    random_state : int or None, default=0
    **params
        Passed to ``predict_proba`` (MTCS: ``task``).

    Returns
    -------
    dict
        ``fraction``; for ``attributed`` and ``random`` removal, the curves
        ``{order}_accuracy``, ``{order}_agreement`` and ``{order}_probability``
        (one value per fraction) and their means over the fractions, the
        *areas*, under the same names with ``_area`` (lower is faster).

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.testing import make_bump_series
    >>> class Window:  # a model that reads steps 20-29 only
    ...     classes_ = np.array([0, 1])
    ...     def predict_proba(self, Z):
    ...         mean = np.asarray(Z)[:, 0, 20:30].mean(axis=1)
    ...         p = 1 / (1 + np.exp(-4 * (mean - 1)))
    ...         return np.column_stack([1 - p, p])
    >>> X, y = make_bump_series(10)
    >>> there = np.zeros((1, 64)); there[0, 20:30] = 1.0
    >>> curve = deletion_curve(Window(), X, y, [there] * 10, fractions=(0, 0.2))
    >>> curve["attributed_accuracy"], curve["attributed_agreement"]
    ([1.0, 0.5], [1.0, 0.5])
    >>> curve["random_accuracy_area"] > curve["attributed_accuracy_area"]
    True
    """
    X, y = check_series(X), np.asarray(y)
    cases = list(take_cases(X, range(len(y))))
    if len(attributions) != len(cases):
        raise ValueError(
            f"got {len(attributions)} attributions for {len(cases)} series; pass one "
            "per series (what explain(X) returns)."
        )
    # The classes the model answers with (MTCS: the task's, given task=).
    fitted = getattr(estimator, "_fitted_input", None)
    classes = np.asarray(fitted(**params)[2] if fitted else estimator.classes_)
    rng = np.random.default_rng(random_state)
    orders = {
        "attributed": [
            np.argsort(-np.asarray(a, dtype=np.float64).ravel(), kind="stable")
            for a in attributions
        ]
    }
    for draw in range(n_random):
        orders[f"random{draw}"] = [rng.permutation(c.size) for c in cases]
    intact = np.argmax(estimator.predict_proba(_as_series(cases), **params), axis=1)
    rows = np.arange(len(cases))
    scores: dict[str, np.ndarray] = {}
    for name, order in orders.items():
        points = []
        for fraction in fractions:
            removed = []
            for case, ranking in zip(cases, order, strict=True):
                mask = np.zeros(case.size, dtype=bool)
                mask[ranking[: round(fraction * case.size)]] = True
                removed.append(
                    remove_steps(case, mask.reshape(case.shape), replacement)
                )
            proba = estimator.predict_proba(_as_series(removed), **params)
            predicted = np.argmax(proba, axis=1)
            points.append(
                [
                    np.mean(classes[predicted] == y),
                    np.mean(predicted == intact),
                    np.mean(proba[rows, intact]),
                ]
            )
        scores[name] = np.array(points)
    scores["random"] = np.mean([scores.pop(f"random{d}") for d in range(n_random)], 0)
    curve: dict[str, list[float]] = {"fraction": [float(f) for f in fractions]}
    for name in ("attributed", "random"):
        for column, measure in enumerate(("accuracy", "agreement", "probability")):
            values = scores[name][:, column]
            curve[f"{name}_{measure}"] = [float(v) for v in values]
            curve[f"{name}_{measure}_area"] = float(values.mean())
    return curve
