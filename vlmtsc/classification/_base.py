"""What every classifier that trains does the same way.

:class:`BaseTrainedClassifier` is the common ground of the two bases (the
language-model estimators on :mod:`~vlmtsc.classification._lm_base`, the torch
networks on :mod:`~vlmtsc.classification._torch_base`): one parameter-validation
style (scikit-learn's ``_parameter_constraints``, with the shared training
parameters declared once in :data:`TRAINING_PARAMETERS`), the seed drawn from
``random_state``, the :class:`~vlmtsc.training.TrainingConfig`, the fitted
normaliser, the validation plan decided before any expensive step, and
explanations (:meth:`BaseTrainedClassifier.explain`: occlusion for every
estimator, gradient saliency through the hooks an estimator overrides).
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import column_or_1d

from vlmtsc.base import BaseTimeSeriesClassifier, Series, is_integer, series_lengths
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
# ``n_epochs`` of an estimator that resolves "auto" itself (InstructTime, Time-LlaMA).
EPOCHS_OR_AUTO = [*_POSITIVE_INT, StrOptions({"auto"})]

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
    "patience": [Interval(Integral, 1, None, closed="left"), None],
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

    # ----------------------------------------------------------- explanations
    def _explanation_methods(self) -> tuple[str, ...]:
        """The ``method`` values :meth:`explain` accepts for this estimator:
        occlusion always; ``"gradient"`` where the estimator implements
        :meth:`_gradient_attributions` for its fitted configuration."""
        return ("occlusion",)

    def _gradient_attributions(
        self, X: Series, targets: np.ndarray, **params
    ) -> list[np.ndarray]:  # pragma: no cover - abstract
        """Gradient saliency of class column ``targets[i]``, per case an array
        ``(n_channels, n_timepoints_i)``; larger = more important."""
        raise NotImplementedError

    def explain(
        self,
        X,
        y=None,
        *,
        method: str = "occlusion",
        n_segments: int = 16,
        replacement: str = "linear",
        **params,
    ):
        """Which time steps of each series decided its class.

        ``method="occlusion"`` (the default, for every estimator) removes one
        window of one channel at a time (each channel cut into ``n_segments``
        near-equal windows; the removed steps are filled by ``replacement``)
        and spreads the fall of the class's probability over the window's
        steps, so a window's attributions sum to that fall: positive steps
        supported the class, negative ones spoke against it. Cost: ``n_channels
        * n_segments + 1`` predictions per series (17 for a univariate series
        at the default), batched. ``method="gradient"``, where the estimator
        offers it (:meth:`_explanation_methods`), maps the gradient of the
        class's log-probability back to time steps in one backward pass per
        batch (see the estimator's guide page).

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit.
        y : array-like of shape (n_cases,), optional
            The class to explain per case; default the predicted one.
        method : {"occlusion", "gradient"}, default="occlusion"
        n_segments : int, default=16
            Windows per channel (occlusion); a series shorter than that gets
            one per step.
        replacement : {"linear", "mean"}, default="linear"
            What fills an occluded window: the straight line between its
            neighbouring steps, or the window's own mean (see
            :data:`vlmtsc.explanation.REPLACEMENTS`).
        **params
            As for :meth:`predict_proba` (MTCS: ``task``).

        Returns
        -------
        attributions : ndarray of shape (n_cases, n_channels, n_timepoints)
            A list of ``(n_channels, n_timepoints_i)`` arrays when the series'
            lengths differ, like the input.

        Examples
        --------
        >>> from vlmtsc import MTCSClassifier
        >>> from vlmtsc.testing import make_example_series
        >>> X, y = make_example_series(8)
        >>> clf = MTCSClassifier(n_blocks=1, hidden_size=8, representation_size=8,
        ...     n_epochs=1, validation_fraction=0, verbose=0).fit(X, y)
        >>> clf.explain(X[:2], n_segments=4).shape == X[:2].shape
        True
        """
        from vlmtsc.explanation import REPLACEMENTS, occlusion_attributions

        X = self._check_predict_X(X, **params)
        classes = self._fitted_input(**params)[2]
        methods = self._explanation_methods()
        if method not in methods:
            raise ValueError(
                f"{type(self).__name__} (as configured) explains with {methods}, not "
                f"method={method!r}; use method='occlusion', which works for every "
                "estimator."
            )
        if not is_integer(n_segments) or n_segments < 1:
            raise ValueError(
                f"n_segments must be a positive integer, got {n_segments!r}."
            )
        if replacement not in REPLACEMENTS:
            raise ValueError(
                f"replacement must be one of {REPLACEMENTS}, got {replacement!r}."
            )
        n_cases = len(series_lengths(X))
        if y is None:
            targets = np.argmax(self._predict_proba(X, **params), axis=1)
        else:
            targets = self._class_columns(y, classes, n_cases)
        if method == "gradient":
            attributions = self._gradient_attributions(X, targets, **params)
        else:
            bar = _progress(n_cases, "Explaining", self)
            attributions = occlusion_attributions(
                lambda Z: self._predict_proba(Z, **params),
                X,
                targets,
                n_segments=n_segments,
                replacement=replacement,
                progress=bar.update,
            )
            bar.close()
        if isinstance(X, np.ndarray):
            return np.stack(attributions).astype(np.float64)
        return [np.asarray(a, dtype=np.float64) for a in attributions]

    def _class_columns(self, y, classes, n_cases: int) -> np.ndarray:
        """Column in ``classes`` of every label of ``y``."""
        y = column_or_1d(np.asarray(y, dtype=object), warn=True)
        if len(y) != n_cases:
            raise ValueError(
                f"y has {len(y)} labels for {n_cases} series; pass one per series."
            )
        column = {c: i for i, c in enumerate(classes.tolist())}
        unknown = sorted({repr(v) for v in y.tolist() if v not in column})
        if unknown:
            raise ValueError(
                f"y holds labels the classifier was not fitted on: "
                f"{', '.join(unknown[:5])}; known classes: {classes.tolist()}."
            )
        return np.array([column[v] for v in y.tolist()], dtype=int)

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


def _progress(total: int, what: str, owner):
    """A tqdm bar over ``total`` items, shown when ``owner.verbose`` is set."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=what,
        unit="series",
        disable=not getattr(owner, "verbose", 0),
        leave=False,
    )
