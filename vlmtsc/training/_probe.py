"""LP-FT: a classification head on pooled hidden states, started from the probe.

The ``head="pooled"`` of the language-model estimators, in two steps (Kumar et
al. 2022, "Fine-Tuning can Distort Pretrained Features"):

1. **LP**: the linear probe (:func:`fit_probe`: standardised logistic
   regression, its strength chosen by k-fold) is fitted on the estimator's
   frozen block (a VLM's image and series features, computed once per fit):
   exactly the estimator's ``head="linear"``. The language model's last hidden
   state averaged over the prompt joins it standardised and weighted 0, so
   the head starts with the probe's answers. (A text model has no frozen
   block: its probe reads the frozen model's hidden states.)
2. **FT**: that head, rebuilt in torch (the scaler fixed, the weights
   trainable), is trained with the LoRA adapters on the cross-entropy of the
   classes; the hidden states now come from the adapted model.

A probe fitted on the hidden states too was tried first: LP-FT from it
scored below the probe alone (2-fold CV on the training splits of seven
bundled sets, ``benchmarks/protocol.py``: PickupGestureWiimoteZ .58
against .72, ItalyPowerDemand .88 against .91, GunPoint .96 against .98,
UnitTest .95 against 1.0, equal on the other three): the frozen language
model's features of a VLM's images add dimensions, not information.

The starting point is scored too (epoch 0): unless a later epoch classifies
more validation cases correctly, the probe is kept (ties keep the earlier
epoch; with k folds, the mean curve's first maximum). The fitted head is the probe's
scikit-learn pipeline with the fine-tuned coefficients, so it saves and
predicts as the probe does.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from vlmtsc.training._lm import _phase, batch_features, collate, embed_prefixes
from vlmtsc.training._loop import load_trainable_state, train, trainable_state
from vlmtsc.training._selection import train_with_validation

__all__ = [
    "PROBE_STRENGTHS",
    "fit_pooled_head",
    "fit_probe",
    "probe_as_linear",
    "probe_log_proba",
]

PROBE_STRENGTHS = np.logspace(-4, 2, 7).tolist()
"""The inverse regularisation strengths ``C`` the linear probe chooses among."""


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

    With more features than rows, the logistic regression is solved in the
    span of the (standardised) training rows, :class:`RowSpace`: exact for an
    L2 penalty, and each solver step costs rows instead of features (the
    probe's k-fold fit on ACSF1, 2,240 features of 80 series, images included:
    44 s to 10 s, ``benchmarks/results/protocol-probe-*-20261207``); the
    result is folded back, so the head is the same two steps either way.

    Returns
    -------
    Pipeline
        ``StandardScaler`` then ``LogisticRegression`` with the chosen ``C``.
    """
    wide = np.shape(features)[1] > len(y)
    head = make_pipeline(
        StandardScaler(),
        *([RowSpace()] if wide else []),
        LogisticRegression(max_iter=5000, random_state=seed),
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
    head.fit(features, y)
    if wide:  # the coefficients back in the standardised features' space
        rows, logistic = head[1], head[2]
        logistic.coef_ = logistic.coef_ @ rows.components_
        logistic.n_features_in_ = rows.n_features_in_
        head = Pipeline([head.steps[0], head.steps[2]])
    return head


class RowSpace(TransformerMixin, BaseEstimator):
    """Coordinates of the rows in the span of the training rows.

    An L2-penalised linear model's coefficients lie in the span of its
    training rows (its gradient is a combination of them), and this basis is
    orthonormal, so the penalty is unchanged: fitting on these at most
    ``n_rows`` coordinates gives the same model as fitting on all the
    features, with ``coef_ @ components_`` its coefficients on them.

    Attributes
    ----------
    components_ : ndarray of shape (min(n_rows, n_features), n_features)
        The orthonormal basis (right singular vectors of the training rows).

    Examples
    --------
    >>> import numpy as np
    >>> from vlmtsc.training._probe import RowSpace
    >>> X = np.random.default_rng(0).normal(size=(5, 40))
    >>> RowSpace().fit_transform(X).shape
    (5, 5)
    """

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self.components_ = np.linalg.svd(X, full_matrices=False)[2]
        return self

    def transform(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False) @ self.components_.T


def probe_as_linear(probe, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted probe (:func:`fit_probe`) as one linear map of the raw features.

    The scaler folded into the logistic regression: ``softmax(x @ weight.T +
    bias)`` equals ``probe.predict_proba(x)``. A binary probe's single logit
    ``z`` becomes the two logits ``(0, z)``. This is how a network's linear
    head starts from the probe (LP-FT, :meth:`BaseNetworkClassifier
    <vlmtsc.classification._torch_base.BaseNetworkClassifier>`).

    Parameters
    ----------
    probe : Pipeline
        ``StandardScaler`` then ``LogisticRegression``, fitted on the labels
        ``0 .. n_classes - 1``, every one of them present.
    n_classes : int

    Returns
    -------
    weight : ndarray of shape (n_classes, n_features)
    bias : ndarray of shape (n_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import softmax
    >>> from vlmtsc.training import fit_probe, probe_as_linear
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    >>> probe = fit_probe(X, y, seed=0)
    >>> weight, bias = probe_as_linear(probe, 3)
    >>> bool(np.allclose(softmax(X @ weight.T + bias, axis=1), probe.predict_proba(X)))
    True
    """
    scaler, logistic = probe[0], probe[-1]
    if not np.array_equal(logistic.classes_, np.arange(n_classes)):
        raise ValueError(
            f"The probe was fitted on the classes {logistic.classes_.tolist()}; "
            f"a head of {n_classes} classes needs every one of 0..{n_classes - 1}."
        )
    weight = logistic.coef_ / scaler.scale_
    bias = logistic.intercept_ - weight @ scaler.mean_
    if n_classes == 2:  # predict_proba is sigmoid(z) = softmax(0, z)
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([[0.0], bias])
    return weight, bias


def probe_log_proba(probe, features, n_classes: int):
    """The log of a fitted probe's ``predict_proba`` as a differentiable torch
    function of its (raw) ``features``, in float64: what gradient explanations
    differentiate.

    Parameters
    ----------
    probe : Pipeline
        As :func:`probe_as_linear` takes it.
    features : torch.Tensor of shape (n_cases, n_features)
    n_classes : int

    Returns
    -------
    torch.Tensor of shape (n_cases, n_classes), float64

    Examples
    --------
    >>> import numpy as np, torch
    >>> from vlmtsc.training import fit_probe, probe_log_proba
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(30, 4)), np.arange(30) % 2
    >>> probe = fit_probe(X, y, seed=0)
    >>> log_proba = probe_log_proba(probe, torch.as_tensor(X), 2)
    >>> bool(np.allclose(log_proba.exp().numpy(), probe.predict_proba(X)))
    True
    """
    import torch

    weight, bias = (
        torch.as_tensor(a, dtype=torch.float64, device=features.device)
        for a in probe_as_linear(probe, n_classes)
    )
    return torch.log_softmax(features.double() @ weight.T + bias, dim=-1)


def _head_module(model, probe, n_classes: int):
    """The fitted probe (scaler + logistic regression) on top of ``model``'s
    pooled hidden states, as a torch module: the scaler fixed, the logistic
    regression's coefficients trainable."""
    import torch

    scaler, logistic = probe[0], probe[-1]
    device = next(model.parameters()).device

    class PooledClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
            self.register_buffer("mean", as_tensor(scaler.mean_))
            self.register_buffer("scale", as_tensor(scaler.scale_))
            self.linear = torch.nn.Linear(logistic.coef_.shape[1], len(logistic.coef_))
            with torch.no_grad():
                self.linear.weight.copy_(as_tensor(logistic.coef_))
                self.linear.bias.copy_(as_tensor(logistic.intercept_))
            self.to(device)

        def forward(self, frozen, labels=None, **inputs):
            hidden = batch_features(self.model, inputs, "hidden", None, len(frozen))
            features = torch.cat([frozen.float(), hidden], dim=1)
            logits = self.linear((features - self.mean) / self.scale).float()
            if n_classes == 2:  # binary: predict_proba is sigmoid(logit)
                logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
            loss = None
            if labels is not None:
                loss = torch.nn.functional.cross_entropy(logits, labels)
            return SimpleNamespace(loss=loss, logits=logits)

        def write_back(self):
            """The probe's pipeline with the fine-tuned coefficients."""
            logistic.coef_ = self.linear.weight.detach().double().cpu().numpy()
            logistic.intercept_ = self.linear.bias.detach().double().cpu().numpy()
            return probe

    return PooledClassifier()


def _widened(probe, hidden: np.ndarray):
    """``probe``, fitted on the frozen block, as a head over ``[frozen,
    hidden]``: the hidden states standardised on the same cases and weighted
    0, so it answers as the probe does."""
    scaler, logistic = probe[0], probe[-1]
    mean, var = hidden.mean(axis=0), hidden.var(axis=0)
    scale = np.sqrt(var)
    scale[scale == 0] = 1.0  # as StandardScaler treats constant features
    scaler.mean_ = np.concatenate([scaler.mean_, mean])
    scaler.var_ = np.concatenate([scaler.var_, var])
    scaler.scale_ = np.concatenate([scaler.scale_, scale])
    zeros = np.zeros((len(logistic.coef_), hidden.shape[1]))
    logistic.coef_ = np.hstack([logistic.coef_, zeros])
    scaler.n_features_in_ = logistic.n_features_in_ = len(scaler.mean_)
    return probe


def fit_pooled_head(
    scorer,
    prefixes: list[dict[str, Any]],
    frozen: np.ndarray | None,
    y: np.ndarray,
    config,
    *,
    splits,
    refit: bool,
    random_state: int = 0,
):
    """LP-FT of a :class:`~vlmtsc.training.LabelScoringModel` (see the module).

    Parameters
    ----------
    scorer : LabelScoringModel
        With LoRA adapters, not yet trained.
    prefixes : list of dict
        The encoded prompts of the training cases.
    frozen : ndarray of shape (n_cases, n_frozen) or None
        Features that do not change in fine-tuning (computed once), placed
        before the hidden states.
    y : ndarray of int
    config : TrainingConfig
    splits : list of (fit, validation)
        The validation plan: the epoch count (0: the probe) is chosen on it.
    refit : bool
        See :func:`~vlmtsc.training.train_with_validation`.
    random_state : int, default=0

    Returns
    -------
    head : Pipeline
        The fine-tuned probe, for ``[frozen, pooled hidden states]``.
    history : list of dict
    best_epoch : int
    """
    import torch

    y = np.asarray(y)
    n_classes = int(y.max()) + 1
    model = scorer.model
    device = next(model.parameters()).device
    frozen = np.zeros((len(y), 0)) if frozen is None else np.asarray(frozen)
    # LP: the adapters start as the identity, so these are the frozen model's.
    hidden = embed_prefixes(model, prefixes, "hidden")
    start = trainable_state(model)
    fitted = {}

    def batch_of(index):
        batch = collate([prefixes[i] for i in index], scorer._pad_id)
        batch["frozen"] = torch.as_tensor(frozen[index], dtype=torch.float32)
        batch["labels"] = torch.as_tensor(y[index], dtype=torch.long)
        return batch

    def run(fit_index, val_index, settings, phase):
        if frozen.shape[1]:
            probe = fit_probe(frozen[fit_index], y[fit_index], random_state)
            probe = _widened(probe, hidden[fit_index])
        else:
            probe = fit_probe(hidden[fit_index], y[fit_index], random_state)
        if settings.n_epochs == 0:  # the refit of a probe no epoch beat
            fitted["head"] = probe
            return [], 0
        network = _head_module(model, probe, n_classes)

        def batches(rng):
            order = rng.permutation(fit_index)
            for first in range(0, len(order), settings.batch_size):
                yield batch_of(order[first : first + settings.batch_size])

        evaluate = None
        if val_index is not None:

            def evaluate(network):
                logits = []
                for first in range(0, len(val_index), settings.batch_size):
                    batch = batch_of(val_index[first : first + settings.batch_size])
                    batch.pop("labels")
                    batch = {k: v.to(device) for k, v in batch.items()}
                    logits.append(network(**batch).logits.cpu().numpy())
                # Accuracy alone: ties keep the earlier epoch, so the probe
                # stays unless fine-tuning classifies more validation cases
                # correctly (the log-loss tie-break of the other heads favours
                # the longer-trained head on a few validation cases).
                predicted = np.concatenate(logits).argmax(axis=1)
                return float((predicted == y[val_index]).mean())

        result = train(
            network,
            batches,
            -(-len(fit_index) // settings.batch_size),
            settings,
            evaluate=evaluate,
            random_state=random_state,
            verbose=scorer.verbose,
            description="refitting on all training data"
            if phase == "refit"
            else "fine-tuning from the probe",
            score_start=True,
        )
        fitted["head"] = network.write_back()
        return _phase(result.history, phase), result.best_epoch

    history, best_epoch = train_with_validation(
        run,
        splits,
        np.arange(len(y)),
        config,
        refit=refit,
        reset=lambda: load_trainable_state(model, start),
    )
    return fitted["head"], history, best_epoch
