"""The classifiers, one module per method."""

from vlmtsc.classification._vlm import VLMTimeSeriesClassifier

__all__ = ["VLMTimeSeriesClassifier"]
