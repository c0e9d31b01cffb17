"""What every classifier that trains does the same way.

:class:`BaseTrainedClassifier` is the common ground of the two bases (the
language-model estimators on :mod:`~vlmtsc.classification._lm_base`, the torch
networks on :mod:`~vlmtsc.classification._torch_base`): one parameter-validation
style (scikit-learn's ``_parameter_constraints``, with the shared training
parameters declared once in :data:`TRAINING_PARAMETERS`), the seed drawn from
``random_state``, the :class:`~vlmtsc.training.TrainingConfig`, the fitted
normaliser, and the validation plan decided before any expensive step.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.base import BaseTimeSeriesClassifier
from vlmtsc.training import (
    MIXED_PRECISION,
    NORMALIZATIONS,
    SeriesAugmenter,
    SeriesNormalizer,
    TrainingConfig,
    resolve_device,
    validation_splits,
)

__all__ = ["BACKBONE_SPEC", "TRAINING_PARAMETERS", "BaseTrainedClassifier"]

# A backbone spec (vlmtsc.backbones.load_backbone): alias, folder, hub id, factory.
BACKBONE_SPEC = [str, os.PathLike, callable]
_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]

# The parameters every trained estimator shares, with one meaning and one check.
TRAINING_PARAMETERS: dict[str, list] = {
    "normalization": [StrOptions({n for n in NORMALIZATIONS if n}), None],
    "augmentation": [SeriesAugmenter, None],
    "n_epochs": _POSITIVE_INT,
    "batch_size": _POSITIVE_INT,
    "gradient_accumulation_steps": _POSITIVE_INT,
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "warmup_ratio": [Interval(Real, 0, 1, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "validation_folds": [Interval(Integral, 2, None, closed="left"), None],
    "refit": ["boolean"],
    "mixed_precision": [StrOptions(set(MIXED_PRECISION))],
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class BaseTrainedClassifier(TransformerMixin, BaseTimeSeriesClassifier):
    """Shared fitting steps of the classifiers that train a model.

    ``fit`` (through :class:`~vlmtsc.base.BaseTimeSeriesClassifier`) validates
    every parameter against ``_parameter_constraints`` and the recipe's own
    cross-parameter rules (:meth:`_check_params`), fits ``normalizer_`` and
    then runs the subclass's recipe, :meth:`_fit_recipe`, with the training
    configuration and the seed. Recipes call :meth:`_validation_splits` before
    their first expensive step.
    """

    _parameter_constraints: ClassVar[dict] = TRAINING_PARAMETERS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # transform() returns features
        return tags

    # ----------------------------------------------------------------- hooks
    def _check_params(self) -> None:
        """Rules between parameters that constraints cannot express."""

    def _fit_recipe(self, X, y, config: TrainingConfig, seed: int) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    # ----------------------------------------------------------------- fitting
    def _fit(self, X, y):
        config, seed = self._begin_fit()
        self.normalizer_ = SeriesNormalizer(self.normalization).fit(X)
        self._fit_recipe(X, y, config, seed)

    def _begin_fit(self) -> tuple[TrainingConfig, int]:
        """Check every parameter; ``(training configuration, seed)``."""
        self._validate_params()
        self._check_params()
        self.device_ = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        return self._training_config(), seed

    def _training_config(self) -> TrainingConfig:
        """The estimator's optimisation parameters (those it has)."""
        names = TrainingConfig.__dataclass_fields__
        return TrainingConfig(
            **{k: v for k, v in self.get_params(deep=False).items() if k in names}
        )

    def _validation_splits(self, y, seed: int, *, what="the training series"):
        """The validation plan for labels ``y`` (see
        :func:`vlmtsc.training.validation_splits`)."""
        return validation_splits(
            np.asarray(y),
            self.validation_fraction,
            getattr(self, "validation_folds", None),
            random_state=seed,
            what=what,
        )
