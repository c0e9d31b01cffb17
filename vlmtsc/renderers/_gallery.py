"""A PNG grid of rendered examples per class: what the model is shown."""

from __future__ import annotations

import os

import numpy as np

from vlmtsc.base import check_labels, check_series


def save_gallery(renderer, X, y, path, *, n_per_class=4, random_state=0, title=None):
    """Render ``n_per_class`` random cases of every class and save them as one PNG.

    Rows are classes (in sorted order), columns are examples.

    Parameters
    ----------
    renderer : renderer
        Any vlmtsc renderer (or transformer returning uint8 RGB images).
    X : array-like or list of array-like
        Series.
    y : array-like of shape (n_cases,)
        Class labels.
    path : str or os.PathLike
        Where to write the PNG; parent folders are created.
    n_per_class : int, default=4
        Examples per class (fewer when a class has fewer cases).
    random_state : int, default=0
        Seed for picking the examples.
    title : str, optional
        Figure title; defaults to the renderer's class name.

    Returns
    -------
    path : str
        The written file.

    Examples
    --------
    >>> import tempfile, os
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.renderers import LinePlotRenderer, save_gallery
    >>> X, y = load_dataset("GunPoint")
    >>> out = save_gallery(LinePlotRenderer(image_size=64), X, y,
    ...                    os.path.join(tempfile.mkdtemp(), "gallery.png"))
    >>> out.endswith("gallery.png")
    True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    X = check_series(X)
    n_cases = len(X)
    y = check_labels(y, n_cases)
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}.")
    rng = np.random.default_rng(random_state)
    classes = np.unique(y)
    picks = []
    for label in classes:
        members = np.flatnonzero(y == label)
        picks.append(rng.choice(members, min(n_per_class, len(members)), replace=False))
    chosen = np.concatenate(picks)
    subset = X[chosen] if isinstance(X, np.ndarray) else [X[i] for i in chosen]
    images = iter(renderer.transform(subset))

    n_cols = max(len(p) for p in picks)
    figure = Figure(figsize=(1.6 * n_cols + 0.8, 1.6 * len(classes) + 0.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(classes), n_cols, squeeze=False)
    for row, (label, members) in enumerate(zip(classes, picks, strict=True)):
        for col in range(n_cols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(members):
                ax.imshow(next(images))
                ax.set_xlabel(f"case {members[col]}", fontsize=7)
            else:
                ax.set_axis_off()
        axes[row, 0].set_ylabel(f"class {label}", fontsize=9)
    figure.suptitle(title or type(renderer).__name__, fontsize=10)
    figure.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path)
    return path
