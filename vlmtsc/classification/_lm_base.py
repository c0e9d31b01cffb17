"""What every language-model classifier does the same way.

An estimator built on :class:`~vlmtsc.training.LabelScoringModel` only says how
its series enter the model: :meth:`BaseLanguageModelClassifier._prepare_inputs`
fits whatever turns series into prompts (a renderer, a VQ tokenizer) and
:meth:`~BaseLanguageModelClassifier._examples` encodes series (with their answers
when labelled). The shared parameters, the three heads (LoRA + label
scoring, logistic regression on embeddings, or LP-FT from it on pooled hidden
states), the small-data levers, ``transform`` and ``predict_proba`` live here
once; parameter checks, the seed, the normaliser and the validation plan come
from ``BaseTrainedClassifier`` (``_base.py``).
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from scipy.special import softmax
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.backbones import resolve_backbone
from vlmtsc.classification._base import (
    BACKBONE_SPEC,
    TRAINING_PARAMETERS,
    BaseTrainedClassifier,
)
from vlmtsc.training import (
    LabelScoringModel,
    epochs_for_steps,
    fit_pooled_head,
    fit_probe,
)

HEADS = ("lm", "linear", "pooled")
QUANTIZATIONS = ("8bit", "4bit")

# The parameters every language-model classifier shares.
LM_PARAMETERS: dict[str, list] = {
    **TRAINING_PARAMETERS,
    "backbone": BACKBONE_SPEC,
    "label_names": "no_validation",  # resolve_label_names checks them
    "quantization": [StrOptions(set(QUANTIZATIONS)), None],
    "lora_r": [Interval(Integral, 1, None, closed="left")],
    "lora_alpha": [Interval(Real, 0, None, closed="neither")],
    "lora_dropout": [Interval(Real, 0, 1, closed="left")],
    "target_modules": [list, str, None],
    "head": [StrOptions(set(HEADS))],
    "features": [StrOptions({"hidden", "vision"}), None],
    "layers": [StrOptions({"auto", "last"}), Integral, list, tuple, None],
}


class BaseLanguageModelClassifier(BaseTrainedClassifier):
    """Fit, predict and embed with a fine-tuned (or frozen) language model.

    Subclasses define ``__init__`` with the shared parameters (``backbone``,
    ``label_names``, ``quantization``, ``lora_r``, ``lora_alpha``,
    ``lora_dropout``, ``target_modules``, ``head``, ``features``, ``layers``,
    ``normalization``, ``augmentation``, ``n_epochs``, ``batch_size``,
    ``gradient_accumulation_steps``, ``learning_rate``, ``warmup_ratio``,
    ``validation_fraction``, ``validation_folds``, ``mixed_precision``, ``refit``,
    ``device``, ``random_state``, ``verbose``) and implement
    :meth:`_prepare_inputs` and :meth:`_examples`.
    """

    _parameter_constraints: ClassVar[dict] = LM_PARAMETERS
    _AUTO_EPOCHS: ClassVar[tuple[int, int] | None] = None
    """``(min_steps, min_epochs)`` of ``n_epochs="auto"`` where a subclass has it."""

    # ----------------------------------------------------------------- hooks
    def _prepare_inputs(self, X, y, seed: int) -> None:  # pragma: no cover
        """Fit what turns series into prompts (``renderer_``, ``tokenizer_``...)."""
        raise NotImplementedError

    def _examples(self, X, labels=None):  # pragma: no cover - abstract
        """``LabelScoringModel.encode`` output for ``X`` (answers if labelled)."""
        raise NotImplementedError

    def _adapter(self):
        """The ``lora`` argument of :class:`LabelScoringModel` for the ``"lm"`` head
        (``None``: score labels with the backbone as loaded, no training)."""
        return dict(
            r=self.lora_r,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            target_modules=self.target_modules,
        )

    def _backbone_preparation(self):
        """``prepare`` for :class:`LabelScoringModel` (new tokens etc.), or None."""
        return None

    def _answer_is_label_only(self) -> bool:
        """Whether the answer ends right after the label (not so with rationales)."""
        return True

    # ----------------------------------------------------------------- fitting
    def _check_params(self):
        super()._check_params()
        if self.head == "pooled" and self.augmentation is not None:
            raise ValueError(
                "augmentation is not offered with head='pooled' (its frozen "
                "features are computed once per fit); use head='lm' or "
                "head='linear' for augmented copies, or augmentation=None."
            )

    def _epochs_resolved(self, config, n_examples: int):
        """``config`` with ``n_epochs="auto"`` made a number for ``n_examples``
        training examples per epoch (``_AUTO_EPOCHS``: at least that many
        optimiser steps and epochs)."""
        if config.n_epochs != "auto":
            return config
        min_steps, min_epochs = self._AUTO_EPOCHS
        return replace(
            config, n_epochs=epochs_for_steps(n_examples, config, min_steps, min_epochs)
        )

    def _fit_recipe(self, X, y, config, seed):
        # The validation plan is decided before anything is loaded or trained.
        splits = self._validation_splits(y, seed) if self.head != "linear" else []
        config = self._epochs_resolved(config, len(splits[0][0]) if splits else len(y))
        # The backbone next: unavailable weights or a wrong kind fail in seconds,
        # before a renderer or tokenizer is fitted (offline weights are
        # prepared here on first use).
        resolve_backbone(
            self.backbone,
            kinds=LabelScoringModel.kinds,
            caller=type(self).__name__,
            verbose=self.verbose,
        )
        self._prepare_inputs(X, y, seed)
        adapter = None if self.head == "linear" else self._adapter()
        self.model_ = LabelScoringModel(
            self.backbone,
            quantization=self.quantization,
            lora=adapter,
            device=self.device_,
            seed=seed,
            verbose=self.verbose,
            prepare=self._backbone_preparation(),
            mixed_precision=self.mixed_precision,
        )
        self.label_names_ = self.model_.set_labels(
            self.classes_, self.label_names, terminate=self._answer_is_label_only()
        )
        augmenter = clone(self.augmentation) if self.augmentation else None
        self.history_, self.best_epoch_ = [], 0
        if self.head == "linear":
            source = None
            if augmenter is not None:
                X, source = augmenter.expand(X, np.random.default_rng(seed))
                y = y[source]
            self.head_ = fit_probe(self._embed(X), y, seed, source)
            return
        if self.head == "pooled":
            self.head_, self.history_, self.best_epoch_ = fit_pooled_head(
                self.model_,
                [prefix for prefix, _ in self._examples(X)],
                self._frozen_features(X),
                y,
                config,
                splits=splits,
                refit=self.refit,
                random_state=seed,
            )
            return
        if adapter is None:  # zero-shot: the labels are scored as loaded
            return
        self.history_, self.best_epoch_ = self.model_.fit(
            X,
            y,
            lambda X_part, y_part: self._examples(
                X_part, None if y_part is None else self.classes_[y_part]
            ),
            config,
            splits=splits,
            refit=self.refit,
            augmenter=augmenter,
            random_state=seed,
        )

    # --------------------------------------------------------------- inference
    def _embed(self, X):
        return self.model_.embed(self._examples(X), self.features, self.layers)

    def _frozen_features(self, X):
        """What ``head="pooled"`` reads beside the language model's pooled
        hidden states, from parts that do not train (computed once per fit),
        or None. A text model has none: its probe reads the hidden states."""
        return None

    def _pooled_features(self, X):
        """The features of ``head="pooled"``: the frozen block, then the
        (fine-tuned) language model's last hidden state averaged over the prompt."""
        hidden = self.model_.embed(self._examples(X), "hidden", "last")
        frozen = self._frozen_features(X)
        return hidden if frozen is None else np.hstack([frozen, hidden])

    def transform(self, X):
        """Embed each series with the (fine-tuned, for ``head="lm"``) backbone.

        With ``head="pooled"``: the features its head reads (the frozen block
        and the fine-tuned pooled hidden states).

        Parameters
        ----------
        X : array-like or list of array-like

        Returns
        -------
        ndarray of shape (n_cases, n_features)
        """
        X = self._check_predict_X(X)
        return self._pooled_features(X) if self.head == "pooled" else self._embed(X)

    def _predict_proba(self, X):
        if self.head == "linear":
            return self.head_.predict_proba(self._embed(X))
        if self.head == "pooled":
            return self.head_.predict_proba(self._pooled_features(X))
        return softmax(self.model_.score(self._examples(X)), axis=1)
