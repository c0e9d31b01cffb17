"""The classifiers, one module per method."""

from vlmtsc.classification._vlm import VLMFeatureExtractor, VLMTimeSeriesClassifier

__all__ = ["VLMFeatureExtractor", "VLMTimeSeriesClassifier"]
