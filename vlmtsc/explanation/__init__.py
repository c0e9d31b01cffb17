"""Explanations: which time steps and channels decided a classification.

Every vlmtsc classifier has ``explain(X)`` (occlusion for all, gradient
saliency where an estimator offers it); this package holds the machinery it
uses, the faithfulness measure (:func:`deletion_curve`) and the plot
(:func:`plot_explanation`).
"""

from vlmtsc.explanation._attribution import (
    REPLACEMENTS,
    deletion_curve,
    occlusion_attributions,
    remove_steps,
    segment_bounds,
)
from vlmtsc.explanation._plots import choose_cases, plot_explanation

__all__ = [
    "REPLACEMENTS",
    "choose_cases",
    "deletion_curve",
    "occlusion_attributions",
    "plot_explanation",
    "remove_steps",
    "segment_bounds",
]
