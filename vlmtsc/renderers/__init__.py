"""Render time series as RGB images for vision models.

Every renderer is a stateless scikit-learn transformer: ``transform(X)`` takes 2D,
3D or unequal-length list input and returns ``uint8`` images of shape
``(n_cases, image_size, image_size, 3)``: line plots, Gramian angular fields,
Markov transition fields, recurrence plots, TiViT's stacks of overlapping
windows, and heatmaps of the channels x time matrix. Multivariate series become
a grid (or a stack) of per-channel panels, except in a heatmap, which shows them
as bands of one image; line plots can also overlay the channels.
:func:`save_gallery` writes a PNG of examples per class, to see what a model sees.
:data:`RENDERERS` maps the short names (``"lineplot"``, ``"gaf"``, ``"mtf"``,
``"rp"``, ``"windows"``, ``"heatmap"``) that the command line and experiment
grids take to the classes; :func:`make_renderer` builds one from its name.
"""

from vlmtsc.renderers._base import BaseRenderer
from vlmtsc.renderers._fields import (
    GramianAngularFieldRenderer,
    MarkovTransitionFieldRenderer,
    RecurrencePlotRenderer,
)
from vlmtsc.renderers._gallery import save_gallery
from vlmtsc.renderers._heatmap import HeatmapRenderer
from vlmtsc.renderers._lineplot import LinePlotRenderer
from vlmtsc.renderers._names import RENDERERS, make_renderer, renderer_name
from vlmtsc.renderers._windows import WindowStackRenderer, resize_weights

__all__ = [
    "RENDERERS",
    "BaseRenderer",
    "GramianAngularFieldRenderer",
    "HeatmapRenderer",
    "LinePlotRenderer",
    "MarkovTransitionFieldRenderer",
    "RecurrencePlotRenderer",
    "WindowStackRenderer",
    "make_renderer",
    "renderer_name",
    "resize_weights",
    "save_gallery",
]
