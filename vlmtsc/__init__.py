"""vlmtsc: time-series classification with language and vision-language models.

Every estimator follows the scikit-learn contract, so it drops into a
:class:`~sklearn.pipeline.Pipeline`, :class:`~sklearn.model_selection.GridSearchCV`
or :func:`~sklearn.model_selection.cross_val_score`.

Importing :mod:`vlmtsc` is cheap: torch and transformers load only when a model
is built. The public subpackages are

- :mod:`vlmtsc.datasets`   bundled UCR/UEA data and readers for user files
- :mod:`vlmtsc.renderers`  series -> images (line plots, GAF, MTF, recurrence plots)
- :mod:`vlmtsc.prompts`    numeric serialisation, statistics, token budgets
"""

__version__ = "0.1.0.dev0"

from vlmtsc.classification import (
    VLMFeatureExtractor,
    VLMTimeSeriesClassifier,
)

__all__ = ["VLMFeatureExtractor", "VLMTimeSeriesClassifier", "__version__"]
