"""What every language-model classifier does the same way.

An estimator built on :class:`~vlmtsc.training.LabelScoringModel` only says how
its series enter the model: :meth:`BaseLanguageModelClassifier._prepare_inputs`
fits whatever turns series into prompts (a renderer, a VQ tokenizer) and
:meth:`~BaseLanguageModelClassifier._examples` encodes series (with their answers
when labelled). The shared parameters, the two heads (LoRA + label scoring, or
logistic regression on embeddings), the small-data levers, ``transform`` and
``predict_proba`` live here once; parameter checks, the seed, the normaliser
and the validation plan come from ``BaseTrainedClassifier`` (``_base.py``).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from scipy.special import softmax
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.backbones import resolve_backbone
from vlmtsc.classification._base import (
    BACKBONE_SPEC,
    TRAINING_PARAMETERS,
    BaseTrainedClassifier,
)
from vlmtsc.training import LabelScoringModel

HEADS = ("lm", "linear")
QUANTIZATIONS = ("8bit", "4bit")

PROBE_STRENGTHS = np.logspace(-4, 2, 7).tolist()
"""The inverse regularisation strengths ``C`` the linear probe chooses among."""

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


def fit_probe(features, y, seed: int, groups=None):
    """The linear head on frozen features, fitted: standardised, L2-regularised
    logistic regression whose strength ``C`` is chosen by stratified k-fold
    log-loss on the training data (k = min(5, smallest class); ``C=1`` when a
    class has one case), then refitted on all of it.

    ``groups`` (the source case of each row, when augmented copies are added)
    keeps a case and its copies in the same fold. Standardising matters most
    (Mantis: +7 points); the chosen strength is compared with ``C=1`` and ridge
    in the features guide. Log-loss, not accuracy: on folds of a few cases
    accuracy ties across most strengths.

    Returns
    -------
    Pipeline
        ``StandardScaler`` then ``LogisticRegression`` with the chosen ``C``.
    """
    head = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed)
    )
    # Cases (a case and its copies) are split by StratifiedKFold, which
    # stratifies exactly; StratifiedGroupKFold only approximates it and can
    # leave a class out of a training fold (scikit-learn 1.6), failing every
    # candidate.
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    cases, first, case_of_row = np.unique(
        groups, return_index=True, return_inverse=True
    )
    case_labels = np.asarray(y)[first]
    smallest = int(np.bincount(np.unique(case_labels, return_inverse=True)[1]).min())
    if smallest >= 2:
        splitter = StratifiedKFold(min(5, smallest), shuffle=True, random_state=seed)
        folds = [
            (
                np.flatnonzero(np.isin(case_of_row, train)),
                np.flatnonzero(np.isin(case_of_row, held)),
            )
            for train, held in splitter.split(cases, case_labels)
        ]
        search = GridSearchCV(
            head,
            {"logisticregression__C": PROBE_STRENGTHS},
            # Every class named: a held-out fold that lacks one still scores.
            scoring=make_scorer(
                log_loss,
                greater_is_better=False,
                response_method="predict_proba",
                labels=np.unique(y),
            ),
            cv=folds,
            refit=False,
        )
        # Weakly regularised candidates may stop short of convergence on a few
        # cases; that only lowers their score. The final fit still warns.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(features, y)
        head.set_params(**search.best_params_)
    return head.fit(features, y)


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
    def _fit_recipe(self, X, y, config, seed):
        # The validation plan is decided before anything is loaded or trained.
        splits = self._validation_splits(y, seed) if self.head == "lm" else []
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

    def transform(self, X):
        """Embed each series with the (fine-tuned, for ``head="lm"``) backbone.

        Parameters
        ----------
        X : array-like or list of array-like

        Returns
        -------
        ndarray of shape (n_cases, n_features)
        """
        return self._embed(self._check_predict_X(X))

    def _predict_proba(self, X):
        if self.head == "linear":
            return self.head_.predict_proba(self._embed(X))
        return softmax(self.model_.score(self._examples(X)), axis=1)
