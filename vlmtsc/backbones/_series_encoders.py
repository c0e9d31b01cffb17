"""Frozen time-series encoders whose features join the images' in the linear head.

An image shows a series at 224 pixels: a 2000-step series loses its fine
periodic detail and a 24-step one is a few strokes. A small pretrained
time-series model reads the values themselves. :data:`SERIES_ENCODERS` names
the ones that install offline; :func:`series_features` embeds series with one.

Fracast-0 (``fracast`` on PyPI, Apache-2.0) is a causal forecaster whose core
(26 k parameters) reads a 2048-step context; its weights ship inside the
wheel, so it loads with no network. vlmtsc uses its code as published and only
reads the core's last hidden states.
"""

from __future__ import annotations

import functools

import numpy as np

from vlmtsc.base import check_series

__all__ = ["SERIES_ENCODERS", "pooled_series_features", "series_features"]

SERIES_ENCODERS = ("fracast",)
"""Names of the series encoders (``series_encoder=`` of the linear head)."""

_POOLS = ("mean", "max", "std")
_FRACAST_WIDTH = 64


@functools.cache
def _fracast(device: str = "cpu"):
    """The Fracast-0 core, loaded once per process (fp32 weights of the wheel)."""
    try:
        from fracast import FracastModel
    except ImportError as error:  # pragma: no cover - a dependency of vlmtsc
        raise ImportError(
            "series_encoder='fracast' needs the fracast package, a dependency of "
            "vlmtsc: pip install 'fracast==0.1.0' (or pass series_encoder=None)."
        ) from error
    import torch

    # Loaded outside inference mode, so its weights also serve gradients.
    with torch.inference_mode(False):
        model = FracastModel.from_pretrained(weights="fp32", device=device)
    model.core.requires_grad_(False)
    return model


def _check_name(name):
    if name not in SERIES_ENCODERS:
        raise ValueError(
            f"Unknown series encoder {name!r}; choose one of {list(SERIES_ENCODERS)} "
            "or None."
        )


def _fracast_hidden(model, rows):
    """Hidden states ``(n_rows, steps, 64)`` of equal-length ``rows`` (a float
    tensor), each min-max scaled as Fracast scales its context and placed at the
    end of the 2048-step window; longer rows in consecutive windows, joined.
    Differentiable in ``rows``."""
    from torch import bool as bool_
    from torch import cat, nn

    window = model.context_length
    low = rows.min(dim=1, keepdim=True).values
    span = (rows.max(dim=1, keepdim=True).values - low).clamp_min(1e-5)
    scaled = (rows - low) / span
    pieces = []
    for start in range(0, scaled.shape[1], window):
        piece = scaled[:, start : start + window]
        pad = window - piece.shape[1]
        values = nn.functional.pad(piece, (pad, 0))[:, None]
        observed = values.new_zeros(values.shape, dtype=bool_)
        observed[..., pad:] = True
        hidden = model.core(values, observed, observed.to(values.dtype))
        pieces.append(hidden[:, pad:])
    return cat(pieces, dim=1)


def pooled_series_features(name: str, rows):
    """:func:`series_features` of equal-length channels as a differentiable torch
    function: ``(n_rows, n_steps)`` float tensor -> ``(n_rows, 192)``."""
    from torch import cat

    _check_name(name)
    hidden = _fracast_hidden(_fracast(str(rows.device)), rows)
    pools = [hidden.mean(dim=1), hidden.amax(dim=1), hidden.std(dim=1, correction=0)]
    return cat(pools, dim=1)


def series_features(name: str, X, *, device: str = "cpu", batch_size: int = 8):
    """Pooled features of a frozen series encoder, channels side by side.

    Each channel of each series is read on its own; its features are the mean,
    maximum and standard deviation over time of the encoder's last hidden
    states (192 per channel for Fracast). Every step is read: a channel longer
    than the encoder's context is read in consecutive windows.

    Parameters
    ----------
    name : {"fracast"}
    X : array-like or list of array-like
        Series in any form :func:`vlmtsc.base.check_series` takes.
    device : str, default="cpu"
    batch_size : int, default=8
        Channels per forward pass.

    Returns
    -------
    ndarray of shape (n_cases, n_channels * 192), float32

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.backbones import series_features
    >>> X = np.random.default_rng(0).normal(size=(2, 1, 50))
    >>> series_features("fracast", X).shape
    (2, 192)
    """
    import torch

    _check_name(name)
    cases = list(check_series(X, estimator_name="series_features"))
    rows = [np.asarray(channel, dtype=np.float32) for case in cases for channel in case]
    order = np.argsort([len(row) for row in rows], kind="stable")
    pooled = np.empty((len(rows), _FRACAST_WIDTH * len(_POOLS)), dtype=np.float32)
    with torch.no_grad():
        start = 0
        while start < len(order):
            # Rows of one length run together.
            length = len(rows[order[start]])
            stop = start
            while (
                stop < len(order)
                and stop - start < batch_size
                and len(rows[order[stop]]) == length
            ):
                stop += 1
            members = order[start:stop]
            batch = torch.from_numpy(np.stack([rows[i] for i in members])).to(device)
            features = pooled_series_features(name, batch)
            pooled[members] = features.float().cpu().numpy()
            start = stop
    return pooled.reshape(len(cases), -1)
