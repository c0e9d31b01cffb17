"""Explanations: which time steps and channels decided a classification.

Every vlmtsc classifier has :meth:`~vlmtsc.base.BaseTimeSeriesClassifier.explain`
(occlusion for all, gradient saliency where an estimator offers it); this
package holds the machinery it uses, the faithfulness measure
(:func:`deletion_curve`) and the plot (:func:`plot_explanation`).
"""

from vlmtsc.explanation._attribution import (
    REPLACEMENTS,
    deletion_curve,
    occlusion_attributions,
    remove_steps,
    segment_bounds,
)

__all__ = [
    "REPLACEMENTS",
    "deletion_curve",
    "occlusion_attributions",
    "remove_steps",
    "segment_bounds",
]
