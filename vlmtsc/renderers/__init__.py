"""Render time series as RGB images for vision models.

Every renderer is a stateless scikit-learn transformer: ``transform(X)`` takes 2D,
3D or unequal-length list input and returns ``uint8`` images of shape
``(n_cases, image_size, image_size, 3)``. Multivariate series become a grid (or a
stack) of per-channel panels; line plots can also overlay the channels.
:func:`save_gallery` writes a PNG of examples per class, to see what a model sees.
"""

from vlmtsc.renderers._base import BaseRenderer
from vlmtsc.renderers._fields import (
    GramianAngularFieldRenderer,
    MarkovTransitionFieldRenderer,
    RecurrencePlotRenderer,
)
from vlmtsc.renderers._gallery import save_gallery
from vlmtsc.renderers._lineplot import LinePlotRenderer

__all__ = [
    "BaseRenderer",
    "GramianAngularFieldRenderer",
    "LinePlotRenderer",
    "MarkovTransitionFieldRenderer",
    "RecurrencePlotRenderer",
    "save_gallery",
]
