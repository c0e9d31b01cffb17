"""The classifiers, one module per method."""

from vlmtsc.classification._crosstimenet import CrossTimeNetClassifier
from vlmtsc.classification._instructtime import InstructTimeClassifier
from vlmtsc.classification._mtcs import MTCSClassifier
from vlmtsc.classification._timellama import TimeLlamaClassifier
from vlmtsc.classification._vlm import (
    PROMPT_MODES,
    VLMFeatureExtractor,
    VLMTimeSeriesClassifier,
    default_renderer,
)

__all__ = [
    "PROMPT_MODES",
    "CrossTimeNetClassifier",
    "InstructTimeClassifier",
    "MTCSClassifier",
    "TimeLlamaClassifier",
    "VLMFeatureExtractor",
    "VLMTimeSeriesClassifier",
    "default_renderer",
]
