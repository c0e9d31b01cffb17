"""The one table of renderer names: the short names the command line, the
experiment grids and the benchmarks use, and the classes they stand for."""

from __future__ import annotations

import difflib

from vlmtsc.renderers._fields import (
    GramianAngularFieldRenderer,
    MarkovTransitionFieldRenderer,
    RecurrencePlotRenderer,
)
from vlmtsc.renderers._heatmap import HeatmapRenderer
from vlmtsc.renderers._lineplot import LinePlotRenderer
from vlmtsc.renderers._windows import WindowStackRenderer

__all__ = ["RENDERERS", "make_renderer", "renderer_name"]

RENDERERS = {
    "lineplot": LinePlotRenderer,
    "gaf": GramianAngularFieldRenderer,
    "mtf": MarkovTransitionFieldRenderer,
    "rp": RecurrencePlotRenderer,
    "windows": WindowStackRenderer,
    "heatmap": HeatmapRenderer,
}
"""Short renderer name -> renderer class (as in ``vlmtsc render --renderer``)."""


def _renderer_class(name: str) -> type:
    by_class = {cls.__name__: cls for cls in RENDERERS.values()}
    found = RENDERERS.get(str(name).lower()) or by_class.get(str(name))
    if found is None:
        matches = difflib.get_close_matches(
            str(name).lower(), list(RENDERERS), n=1, cutoff=0.6
        )
        hint = f" Did you mean {matches[0]!r}?" if matches else ""
        raise ValueError(
            f"Unknown renderer {name!r}.{hint} Valid names: "
            f"{', '.join(RENDERERS)} (or their class names)."
        )
    return found


def make_renderer(name: str, **params):
    """A new renderer from its short name or class name, with ``params``.

    Parameters
    ----------
    name : str
        A key of :data:`RENDERERS` (any case) or a renderer class name.
    **params
        Parameters of the renderer.

    Returns
    -------
    BaseRenderer

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or an unknown parameter.

    Examples
    --------
    >>> make_renderer("gaf", image_size=32)
    GramianAngularFieldRenderer(image_size=32)
    >>> make_renderer("LinePlotRenderer").image_size
    224
    """
    cls = _renderer_class(name)
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"Renderer {name!r}: {error}") from None


def renderer_name(renderer) -> str:
    """The short name of a renderer (instance or class); its class name if none.

    Examples
    --------
    >>> from vlmtsc.renderers import RecurrencePlotRenderer
    >>> renderer_name(RecurrencePlotRenderer())
    'rp'
    """
    cls = renderer if isinstance(renderer, type) else type(renderer)
    short = {c: n for n, c in RENDERERS.items()}
    return short.get(cls, cls.__name__)
