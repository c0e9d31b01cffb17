"""The probe with augmented copies of its training series (the protocol's
``module:callable`` entries; see README.md)."""

from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.training import SeriesAugmenter


def augment_once():
    """The default probe, each training series also once freshly varied."""
    return VLMTimeSeriesClassifier(augmentation=SeriesAugmenter(), random_state=0)


def augment_thrice():
    """The default probe, each training series also three times varied."""
    return VLMTimeSeriesClassifier(
        augmentation=SeriesAugmenter(n_copies=3), random_state=0
    )
