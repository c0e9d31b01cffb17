"""vlmtsc: time-series classification with language and vision-language models.

Every estimator follows the scikit-learn contract, so it drops into a
:class:`~sklearn.pipeline.Pipeline`, :class:`~sklearn.model_selection.GridSearchCV`
or :func:`~sklearn.model_selection.cross_val_score`.

Importing :mod:`vlmtsc` is cheap: torch and transformers load only when a model
is built. The public subpackages are

- :mod:`vlmtsc.datasets`   bundled UCR/UEA data and readers for user files
- :mod:`vlmtsc.renderers`  series -> images (line plots, GAF, MTF, recurrence plots)
- :mod:`vlmtsc.prompts`    numeric serialisation, statistics, token budgets
- :mod:`vlmtsc.tokenizers` VQ-VAE tokens of series for language models
- :mod:`vlmtsc.training`   the train loop, label scoring, augmentation
- :mod:`vlmtsc.ensemble`   soft-voting ensembles over seeds or renderers
- :mod:`vlmtsc.experiments` scenario grids, the experiment launcher, reports
"""

import os

# Users compare against aeon's MiniRocket in the same process. Numba's default
# OpenMP/TBB workers keep spinning after a call and starve torch on the same
# cores (a LoRA step measured 6x slower after MiniRocket on 2 cores); the
# workqueue layer's do not. setdefault: an explicit user choice wins, and it only
# applies while numba has not started its threads yet.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

from vlmtsc._version import __version__
from vlmtsc.classification import (
    CrossTimeNetClassifier,
    InstructTimeClassifier,
    MTCSClassifier,
    TimeLlamaClassifier,
    VLMFeatureExtractor,
    VLMTimeSeriesClassifier,
)
from vlmtsc.ensemble import ensemble_over

__all__ = [
    "CrossTimeNetClassifier",
    "InstructTimeClassifier",
    "MTCSClassifier",
    "TimeLlamaClassifier",
    "VLMFeatureExtractor",
    "VLMTimeSeriesClassifier",
    "__version__",
    "ensemble_over",
]
