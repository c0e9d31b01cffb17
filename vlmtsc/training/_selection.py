"""Choosing the epoch count on validation data carved from the training set.

One rule for every estimator that trains (the language-model classifiers,
CrossTimeNet, Time-LlaMA and MTCS), in two steps:

1. :func:`validation_splits`, run at the start of ``fit`` before anything
   expensive, decides from the labels alone how the epoch is chosen: no
   validation, one stratified split, or stratified k-fold. Classes too small for
   the requested split are handled by the documented fallback below, with a
   warning, never by an error after minutes of training.
2. :func:`train_with_validation` trains on each split's training part, scores
   every epoch on its validation part (accuracy, ties broken by the log-loss:
   :func:`validation_score`), keeps the best epoch count (the mean curve over
   folds) and, with ``refit``, retrains from the initial state on all training
   series for that many epochs. The test set is never involved.

**Small classes.** A class with a single training case cannot be validated:
it always stays on the training side (so it is still learnt) and only the
classes with two or more cases are split. The validation part holds
``validation_fraction`` of those cases, and at least one case of each of their
classes (e.g. 52 classes with 2 cases each: 52 validation cases, one per
class, and 52 training cases). k-fold uses at most as many folds as the
smallest splittable class has cases. When no class has two cases, the model
trains ``n_epochs`` epochs without validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy.special import logsumexp

from vlmtsc.base import warn_user
from vlmtsc.training._loop import TrainingConfig

__all__ = [
    "ValidationWarning",
    "train_with_validation",
    "validation_score",
    "validation_splits",
]

# Accuracy decides; the log-loss only breaks ties (small validation splits give
# many equal accuracies, and the earliest epoch would win otherwise).
LOG_LOSS_TIE_BREAK = 1e-3


class ValidationWarning(UserWarning):
    """The requested validation split did not fit the classes; a fallback ran."""


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


def _warn(message: str) -> None:
    warn_user(message, ValidationWarning)


def validation_splits(
    y: np.ndarray,
    validation_fraction: float,
    validation_folds: int | None = None,
    *,
    random_state: int = 0,
    what: str = "the training series",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """How the epoch count will be chosen: ``(fit, validation)`` index pairs.

    Decided from the labels before any training (see the module docstring for
    the small-class rule); a fallback warns with a :class:`ValidationWarning`.

    Parameters
    ----------
    y : ndarray of shape (n_cases,)
        Labels of the cases that train.
    validation_fraction : float
        Stratified share held out (without ``validation_folds``); ``0``: none.
    validation_folds : int, optional
        Stratified k-fold instead of one split.
    random_state : int, default=0
        Seeds the split (the same seed gives the same split).
    what : str, default="the training series"
        Named in warnings.

    Returns
    -------
    list of (ndarray, ndarray)
        Positions into ``y``: empty for no validation, one pair for a split,
        ``k`` pairs for k-fold.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat(np.arange(4), 2)  # 4 classes of 2 cases
    >>> ((fit, val),) = validation_splits(y, 0.2)
    >>> sorted(y[val].tolist()), sorted(y[fit].tolist())
    ([0, 1, 2, 3], [0, 1, 2, 3])
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    y = np.asarray(y)
    if validation_folds is None and validation_fraction <= 0:
        return []
    classes, counts = np.unique(y, return_counts=True)
    single = classes[counts < 2]
    splittable = np.flatnonzero(~np.isin(y, single))
    kept = np.flatnonzero(np.isin(y, single))  # always on the training side
    if len(single):
        listed = ", ".join(repr(c) for c in single.tolist()[:5])
        more = f" and {len(single) - 5} more" if len(single) > 5 else ""
        if len(splittable) == 0:
            _warn(
                f"Every class of {what} has a single case, so none can be held out "
                "to choose the epoch count: training n_epochs epochs without "
                "validation. Add cases, or set validation_fraction=0 to silence this."
            )
            return []
        _warn(
            f"Classes {listed}{more} of {what} have a single case: they always "
            "train and are not validated; the epoch count is chosen on the other "
            "classes."
        )
    y_split = y[splittable]
    n_classes = len(classes) - len(single)

    if validation_folds is not None:
        smallest = int(np.bincount(np.unique(y_split, return_inverse=True)[1]).min())
        folds = min(int(validation_folds), smallest)
        if folds < validation_folds:
            _warn(
                f"validation_folds={validation_folds} needs {validation_folds} cases "
                f"of every class, but the smallest class of {what} has {smallest}: "
                f"choosing the epoch count by {folds}-fold instead."
            )
        splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
        return [
            (np.sort(np.concatenate([splittable[fit], kept])), splittable[val])
            for fit, val in splitter.split(splittable, y_split)
        ]

    n = len(splittable)
    requested = math.ceil(validation_fraction * n)  # train_test_split's rounding
    size: float | int = validation_fraction
    if requested < n_classes or n - requested < n_classes:
        # One validation case per class at least, one training case per class.
        size = min(max(requested, n_classes), n - n_classes)
        _warn(
            f"validation_fraction={validation_fraction} of {what} gives "
            f"{requested} validation cases for {n_classes} classes; holding out "
            f"{size} cases instead (at least one of each class, and one of each "
            "left to train on). Set validation_fraction=0 to train n_epochs "
            "epochs without validation."
        )
    fit, val = train_test_split(
        np.arange(n), test_size=size, stratify=y_split, random_state=random_state
    )
    if len(kept):
        return [(np.concatenate([splittable[fit], kept]), splittable[val])]
    return [(fit, val)]


def train_with_validation(
    run: Callable,
    splits: list[tuple[np.ndarray, np.ndarray]],
    everything,
    config: TrainingConfig,
    *,
    refit: bool,
    reset: Callable[[], None],
) -> tuple[list[dict], int]:
    """Train with the epoch count chosen on ``splits`` (:func:`validation_splits`).

    Parameters
    ----------
    run : callable
        ``run(fit, validation, config, phase) -> (history, best_epoch)`` trains
        the model on the cases ``fit`` for ``config.n_epochs`` epochs, scoring
        every epoch on ``validation`` (``None``: no scoring) and keeping the best
        epoch's weights; it tags its history entries with ``phase``. A run that
        also scores its starting state (epoch 0) may be asked for
        ``n_epochs=0`` in the refit: it then trains nothing.
    splits : list of (fit, validation)
        Empty: train ``config.n_epochs`` epochs on ``everything`` (phase
        ``"train"``). One pair: phase ``"validation"``. Several: k-fold (phases
        ``"fold 1"``...), every fold trains all epochs and the mean curve
        chooses the epoch count; the model is then always refitted.
    everything : index
        What the final model trains on (``refit``, or without validation).
    config : TrainingConfig
        ``n_epochs`` is the most a validation run trains.
    refit : bool
        After a single split, restart from the initial state and train the
        chosen number of epochs on ``everything`` (phase ``"refit"``).
        ``False`` keeps the validation run's model.
    reset : callable
        Restores the model's initial state (before each further fold and
        before the refit).

    Returns
    -------
    history : list of dict
    best_epoch : int
        Epochs of the final model.
    """
    if not splits:
        return run(everything, None, config, "train")
    if len(splits) == 1:
        ((fit, validation),) = splits
        history, best_epoch = run(fit, validation, config, "validation")
        if not refit:
            return history, best_epoch
    else:
        history, curves = [], []
        every_epoch = replace(config, patience=None)  # curves of equal length
        for k, (fit, validation) in enumerate(splits, start=1):
            if k > 1:
                reset()
            more, _ = run(fit, validation, every_epoch, f"fold {k}")
            history += more
            curves.append([entry["validation_score"] for entry in more])
        # The epochs scored (from 0 when the starting model is scored too).
        epochs = [entry["epoch"] for entry in more]
        best_epoch = int(epochs[int(np.argmax(np.mean(curves, axis=0)))])
    reset()
    more, _ = run(everything, None, replace(config, n_epochs=best_epoch), "refit")
    return history + more, best_epoch
