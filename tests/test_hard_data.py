"""Data that breaks naive pipelines: many tiny classes, long multivariate series.

Every classifier either fits such data within its costs (tiny backbones here)
or refuses at once, before any training, saying what it needs.
"""

import numpy as np
import pytest
from sklearn.base import clone

from vlmtsc import (
    CrossTimeNetClassifier,
    InstructTimeClassifier,
    MTCSClassifier,
    TimeLlamaClassifier,
    VLMTimeSeriesClassifier,
)
from vlmtsc.testing import TEST_PARAMS
from vlmtsc.tokenizers import VQTokenizer
from vlmtsc.training import ValidationWarning

CLASSIFIERS = [
    CrossTimeNetClassifier,
    InstructTimeClassifier,
    MTCSClassifier,
    TimeLlamaClassifier,
    VLMTimeSeriesClassifier,
]


def _tiny(cls, **params):
    """The cheap test configuration, with validation and an 'auto' tokenizer."""
    settings = {**TEST_PARAMS[cls.__name__], "n_epochs": 1, **params}
    if "tokenizer" in settings:
        settings["tokenizer"] = clone(settings["tokenizer"]).set_params(
            patch_length="auto"
        )
    return cls(**settings)


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_many_classes_of_two_series_choose_the_epoch_on_one_of_each(cls):
    # PigCVP's shape: 52 classes, 2 training series each.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(52), 2)
    X = rng.normal(size=(104, 24)) + y[:, None] / 10
    # The VLM's, InstructTime's and CrossTimeNet's default probes train no
    # epochs: their fine-tuned head here.
    tuned = {
        VLMTimeSeriesClassifier: {"head": "lm"},
        InstructTimeClassifier: {"head": "lm"},
        CrossTimeNetClassifier: {"head": "mlp"},
    }.get(cls, {})
    clf = _tiny(cls, validation_fraction=0.2, **tuned)
    with pytest.warns(ValidationWarning, match="holding out 52 cases"):
        clf.fit(X, y)
    assert "validation" in {h["phase"] for h in clf.history_}
    assert clf.predict_proba(X[:3]).shape == (3, 52)


def _long_multivariate_unequal(n_cases=8, n_channels=3, random_state=0):
    rng = np.random.default_rng(random_state)
    y = np.arange(n_cases) % 2
    X = []
    for label in y:
        length = int(rng.integers(1500, 3000))
        t = np.linspace(0, 20, length)
        base = np.sin(t * (1 + label)) + 0.1 * rng.normal(size=(n_channels, length))
        X.append(base * np.arange(1, n_channels + 1)[:, None])
    return X, y


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_long_multivariate_unequal_series_fit_and_predict(cls):
    X, y = _long_multivariate_unequal()
    clf = _tiny(cls, validation_fraction=0.0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (8, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    tokenizer = getattr(clf, "tokenizer_", None)
    if tokenizer is not None:  # 'auto' patches keep the longest at 64 tokens
        longest = max(x.shape[1] for x in X)
        assert tokenizer.patch_length_ == -(-longest // 64) > 8
        assert max(len(t) for t in tokenizer.transform(X)) == 64


def test_too_many_tokens_are_refused_before_the_tokenizer_trains(monkeypatch):
    X, y = _long_multivariate_unequal()

    def no_training(self, *args, **kwargs):
        raise AssertionError("the tokenizer trained before the check")

    monkeypatch.setattr(VQTokenizer, "fit", no_training)
    # 1-point patches: up to 3000 tokens, for an encoder of 1024 positions.
    clf = _tiny(CrossTimeNetClassifier)
    clf.set_params(tokenizer=clf.tokenizer.set_params(patch_length=1))
    with pytest.raises(ValueError, match=r"reads at most 1024 positions.*patch_length"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=r"reads at most 1024 positions"):
        clf.pretrain({"long": X}, "unused-folder")
