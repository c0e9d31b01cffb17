"""Choosing the epoch count on validation data carved from the training set.

The classifiers with a trained head (CrossTimeNet, Time-LlaMA, MTCS) share the
rule: train on a stratified part of the training series, score every epoch on
the rest, keep the best epoch, and optionally retrain from the start on all
training series for that many epochs. The test set is never involved.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy.special import logsumexp

from vlmtsc.training._loop import TrainingConfig, stratified_split

__all__ = ["check_validation_fraction", "train_with_validation", "validation_score"]

# Accuracy decides; the log-loss only breaks ties (small validation splits give
# many equal accuracies, and the earliest epoch would win otherwise).
LOG_LOSS_TIE_BREAK = 1e-3


def check_validation_fraction(value) -> None:
    """Raise unless ``value`` is a number in [0, 1) (0: no validation split)."""
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real) and 0 <= value < 1
    ):
        raise ValueError(
            f"validation_fraction must be in [0, 1), got {value!r}: the share of "
            "the training series held out to choose the epoch (0: none)."
        )


def validation_score(logits: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``logits`` on labels ``y``, ties broken by the log-loss.

    Parameters
    ----------
    logits : ndarray of shape (n_cases, n_classes)
    y : ndarray of shape (n_cases,)
        Integer labels.

    Returns
    -------
    float
        ``accuracy - 1e-3 * log_loss`` (higher is better).

    Examples
    --------
    >>> import numpy as np
    >>> confident = np.array([[4.0, 0.0], [0.0, 4.0]])
    >>> unsure = np.array([[0.1, 0.0], [0.0, 0.1]])
    >>> y = np.array([0, 1])
    >>> validation_score(confident, y) > validation_score(unsure, y)
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    log_proba = logits - logsumexp(logits, axis=1, keepdims=True)
    log_loss = -log_proba[np.arange(len(y)), y].mean()
    accuracy = (logits.argmax(axis=1) == y).mean()
    return float(accuracy - LOG_LOSS_TIE_BREAK * log_loss)


def train_with_validation(
    network,
    run: Callable,
    logits: Callable[[np.ndarray], np.ndarray],
    y: np.ndarray,
    index: np.ndarray,
    config: TrainingConfig,
    *,
    validation_fraction: float,
    refit: bool,
    random_state: int,
) -> tuple[list[dict], int]:
    """Train ``network`` on the cases ``index``, the epoch count chosen on validation.

    Parameters
    ----------
    network : torch.nn.Module
        Trained in place; with ``refit`` its state before training is restored
        before the second run.
    run : callable
        ``run(index, config, evaluate, phase) -> (history, best_epoch)`` trains
        ``network`` on the cases ``index`` (calling :func:`vlmtsc.training.train`
        with ``evaluate``) and tags its history entries with ``phase``.
    logits : callable
        ``logits(index)``: the current network's logits for the cases ``index``.
    y : ndarray of int
        Labels of all cases.
    index : ndarray of int
        The cases to train on (all, or a labelled subset).
    config : TrainingConfig
        ``n_epochs`` is the most the validation run trains.
    validation_fraction : float
        Stratified share of ``index`` held out; ``0`` trains ``config.n_epochs``
        epochs on all of ``index`` (phase ``"train"``).
    refit : bool
        After the ``"validation"`` run, restart from the initial state and train
        the chosen number of epochs on all of ``index`` (phase ``"refit"``).
    random_state : int
        Seeds the split.

    Returns
    -------
    history : list of dict
    best_epoch : int
        Epochs of the final model.
    """
    if validation_fraction <= 0:
        return run(index, config, None, "train")
    fit_part, val_part = stratified_split(y[index], validation_fraction, random_state)
    fit_index, val_index = index[fit_part], index[val_part]

    def evaluate(model):
        return validation_score(logits(val_index), y[val_index])

    start = (
        {k: v.detach().clone() for k, v in network.state_dict().items()}
        if refit
        else None
    )
    history, best_epoch = run(fit_index, config, evaluate, "validation")
    if refit:
        network.load_state_dict(start)
        del start
        more, _ = run(index, replace(config, n_epochs=best_epoch), None, "refit")
        history = history + more
    return history, best_epoch
