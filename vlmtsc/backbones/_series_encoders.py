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


def _fracast_slots(model, scaled):
    """Hidden states ``(n_cases, n_channels, n_steps, 64)`` of short channels
    read in one pass: the window cut into one slot per channel, each channel at
    the end of its slot, the steps before it unobserved."""
    from torch import nn

    window = model.context_length
    n_cases, n_channels, n_steps = scaled.shape
    slot = window // n_channels
    lead = window - n_channels * slot

    def place(steps):  # (n_cases, n_channels, n_steps) -> (n_cases, 1, window)
        slots = nn.functional.pad(steps, (slot - n_steps, 0)).reshape(n_cases, -1)
        return nn.functional.pad(slots, (lead, 0))[:, None]

    values = place(scaled)
    observed = place(scaled.new_ones(scaled.shape)).bool()
    hidden = model.core(values, observed, observed.to(values.dtype))[:, lead:]
    return hidden.reshape(n_cases, n_channels, slot, -1)[:, :, slot - n_steps :]


def _fracast_hidden(model, rows):
    """Hidden states ``(n_rows, steps, 64)`` of equal-length ``rows``, each read
    alone; rows longer than the window in consecutive windows, joined."""
    from torch import cat

    window = model.context_length
    pieces = [
        _fracast_slots(model, rows[:, None, start : start + window])[:, 0]
        for start in range(0, rows.shape[1], window)
    ]
    return cat(pieces, dim=1)


def _hidden_states(name: str, cases):
    """The series encoder's last hidden states of equal-shape series, which
    :func:`pooled_series_features` pools: ``(n_cases, n_channels, n_steps)``
    float tensor -> ``(n_cases, n_channels, n_steps, 64)``. Each channel is
    min-max scaled, as Fracast scales its context; short channels are read in
    one pass, each in its own slot, long ones each alone."""
    _check_name(name)
    model = _fracast(str(cases.device))
    n_cases, n_channels, n_steps = cases.shape
    low = cases.amin(dim=2, keepdim=True)
    span = (cases.amax(dim=2, keepdim=True) - low).clamp_min(1e-5)
    scaled = (cases - low) / span
    if n_channels * n_steps <= model.context_length:
        hidden = _fracast_slots(model, scaled)
    else:
        rows = scaled.reshape(n_cases * n_channels, n_steps)
        hidden = _fracast_hidden(model, rows)
    return hidden.reshape(n_cases, n_channels, n_steps, -1)


def pooled_series_features(name: str, cases):
    """:func:`series_features` of equal-shape series as a differentiable torch
    function: ``(n_cases, n_channels, n_steps)`` float tensor ->
    ``(n_cases, n_channels * 192)``."""
    from torch import cat

    n_cases, n_channels, n_steps = cases.shape
    hidden = _hidden_states(name, cases).reshape(n_cases * n_channels, n_steps, -1)
    pools = [hidden.mean(dim=1), hidden.amax(dim=1), hidden.std(dim=1, correction=0)]
    return cat(pools, dim=1).reshape(n_cases, -1)


def series_features(name: str, X, *, device: str = "cpu", batch_size: int = 8):
    """Pooled features of a frozen series encoder, channels side by side.

    Each channel is min-max scaled; its features are the mean, maximum and
    standard deviation over its steps of the encoder's last hidden states (192
    per channel for Fracast). Every step is read: a channel longer than the
    encoder's context is read in consecutive windows. The channels of a
    multivariate series that fit in one context together are read in one pass,
    each at the end of its own slot of the context with unobserved steps
    before it (so no channel begins with the end of the one before; the
    features guide measures the layouts); otherwise each on its own. A
    series' features never depend on the other series in ``X``.

    Parameters
    ----------
    name : {"fracast"}
    X : array-like or list of array-like
        Series in any form :func:`vlmtsc.base.check_series` takes.
    device : str, default="cpu"
    batch_size : int, default=8
        Series of one shape per forward pass.

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
    cases = check_series(X, estimator_name="series_features")
    shapes = [np.shape(case) for case in cases]
    features = [None] * len(cases)
    with torch.no_grad():
        for shape in dict.fromkeys(shapes):
            members = [i for i, other in enumerate(shapes) if other == shape]
            for start in range(0, len(members), batch_size):
                chosen = members[start : start + batch_size]
                batch = torch.as_tensor(
                    np.stack([cases[i] for i in chosen]),
                    dtype=torch.float32,
                    device=device,
                )
                pooled = pooled_series_features(name, batch).cpu().numpy()
                for i, row in zip(chosen, pooled, strict=True):
                    features[i] = row
    return np.stack(features)
