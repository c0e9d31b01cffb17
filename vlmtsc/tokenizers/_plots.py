"""Diagnostic plots of a fitted VQTokenizer (seed 000's Figures 4 and 5)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from vlmtsc.base import check_labels

__all__ = ["plot_reconstruction", "plot_token_usage"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def plot_reconstruction(tokenizer, X, index=0, ax=None, show_patches=True):
    """Overlay one series and its reconstruction from its tokens.

    The seed's Figure 4: original channels as solid lines, reconstructions as
    dashed lines of the same colour, in the original units; the title gives the
    mean squared error.

    Parameters
    ----------
    tokenizer : VQTokenizer
        A fitted tokenizer.
    X : array-like or list of array-like
        Series with the channels seen in fit.
    index : int, default=0
        Which case of ``X`` to draw.
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    show_patches : bool, default=True
        Faint vertical lines at the patch boundaries (one token per patch).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from vlmtsc.testing import make_example_series
    >>> from vlmtsc.tokenizers import VQTokenizer, plot_reconstruction
    >>> X, y = make_example_series(n_cases=8, n_timepoints=32)
    >>> tokenizer = VQTokenizer(patch_length=8, codebook_size=8, hidden_size=8,
    ...     n_blocks=1, n_epochs=1, random_state=0, verbose=0).fit(X)
    >>> ax = plot_reconstruction(tokenizer, X, index=1)
    >>> len(ax.get_lines()) >= 2
    True
    """
    check_is_fitted(tokenizer)
    X = tokenizer._check_transform_X(X)
    if not -len(X) <= index < len(X):
        raise IndexError(f"index {index} is out of range for {len(X)} series.")
    case = X[index][None] if isinstance(X, np.ndarray) else [X[index]]
    original = np.asarray(case[0])
    reconstruction = np.asarray(tokenizer.reconstruct(case)[0])
    ax = _axes(ax)
    t = np.arange(original.shape[1])
    for c in range(original.shape[0]):
        color = f"C{c % 10}"
        suffix = f" (channel {c})" if original.shape[0] > 1 else ""
        ax.plot(t, original[c], color=color, linewidth=1.5, label=f"original{suffix}")
        ax.plot(
            t,
            reconstruction[c],
            color=color,
            linestyle="--",
            linewidth=1.5,
            label=f"reconstruction{suffix}",
        )
    if show_patches:
        stride = tokenizer._stride
        for start in range(stride, original.shape[1], stride):
            ax.axvline(start, color="0.85", linewidth=0.5, zorder=0)
    mse = float(np.mean((original - reconstruction) ** 2))
    n_tokens = tokenizer.n_tokens(original.shape[1])
    ax.set_title(f"Case {index}: {n_tokens} tokens, MSE {mse:.3g}")
    ax.set_xlabel("time")
    ax.legend(fontsize="small")
    return ax


def plot_token_usage(tokenizer, X, y, ax=None, normalize=True, cmap="viridis"):
    """Heatmap of how often each token occurs in the series of each class.

    The seed's Figure 5: one row per class, one column per code; with
    ``normalize`` each row holds the class's token frequencies (summing to 1), so
    classes of different sizes compare.

    Parameters
    ----------
    tokenizer : VQTokenizer
        A fitted tokenizer.
    X : array-like or list of array-like
        Series with the channels seen in fit.
    y : array-like of shape (n_cases,)
        Class labels.
    ax : matplotlib Axes, optional
    normalize : bool, default=True
        Frequencies per class instead of raw counts.
    cmap : str, default="viridis"

    Returns
    -------
    ax : matplotlib Axes
        The heatmap's image is ``ax.images[0]``; its array is the
        ``(n_classes, codebook_size)`` table shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from vlmtsc.testing import make_example_series
    >>> from vlmtsc.tokenizers import VQTokenizer, plot_token_usage
    >>> X, y = make_example_series(n_cases=8, n_timepoints=32)
    >>> tokenizer = VQTokenizer(patch_length=8, codebook_size=8, hidden_size=8,
    ...     n_blocks=1, n_epochs=1, random_state=0, verbose=0).fit(X)
    >>> plot_token_usage(tokenizer, X, y).images[0].get_array().shape
    (2, 8)
    """
    check_is_fitted(tokenizer)
    tokens = tokenizer.transform(X)
    y = check_labels(y, len(tokens), estimator_name="plot_token_usage")
    classes = np.unique(y)
    table = np.zeros((len(classes), tokenizer.codebook_size))
    for row, label in enumerate(classes):
        ids = [t for t, yi in zip(tokens, y, strict=True) if yi == label]
        table[row] = np.bincount(np.concatenate(ids), minlength=tokenizer.codebook_size)
    if normalize:
        table /= table.sum(axis=1, keepdims=True)
    ax = _axes(ax)
    image = ax.imshow(table, aspect="auto", interpolation="nearest", cmap=cmap)
    ax.set_yticks(np.arange(len(classes)), [str(c) for c in classes])
    ax.set_xlabel("token id")
    ax.set_ylabel("class")
    ax.set_title("token frequency per class" if normalize else "token count per class")
    ax.figure.colorbar(image, ax=ax, label="frequency" if normalize else "count")
    return ax
