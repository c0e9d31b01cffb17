"""Ensembles of one estimator over seeds, renderers or any other parameter.

A fine-tuned backbone on 20-300 series varies with its seed and with how the
series is shown; averaging the probabilities of a few variants is the usual
remedy. This builds scikit-learn's own :class:`~sklearn.ensemble.VotingClassifier`
(soft voting), so the result clones, grid-searches and cross-validates like any
classifier.
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.model_selection import ParameterGrid

__all__ = ["ensemble_over"]


def _label(value) -> str:
    return type(value).__name__ if hasattr(value, "get_params") else repr(value)


def ensemble_over(estimator, n_jobs=None, **param_values) -> VotingClassifier:
    """Soft-voting ensemble of ``estimator`` over every combination of values.

    Parameters
    ----------
    estimator : classifier
        The template; each member is a clone with some parameters changed.
    n_jobs : int, optional
        Members fitted in parallel (joblib), as in ``VotingClassifier``.
    **param_values : list
        Parameter name -> values; members are all combinations
        (``random_state=[0, 1, 2]``, ``renderer=[LinePlotRenderer(), ...]``).

    Returns
    -------
    VotingClassifier
        Unfitted, ``voting="soft"``: it predicts the class with the highest mean
        probability over the members.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> ensemble = ensemble_over(LogisticRegression(), C=[0.1, 1.0])
    >>> [name for name, _ in ensemble.estimators]
    ['C=0.1', 'C=1.0']
    """
    if not param_values:
        raise ValueError(
            "Name at least one parameter to vary, e.g. random_state=[0, 1, 2]."
        )
    for name, values in param_values.items():
        if isinstance(values, str) or not hasattr(values, "__len__") or not values:
            raise ValueError(
                f"{name} must be a non-empty list of values, got {values!r}."
            )
    members = []
    for params in ParameterGrid(param_values):
        name = ",".join(f"{k}={_label(v)}" for k, v in sorted(params.items()))
        if any(name == existing for existing, _ in members):
            name = f"{name}#{len(members)}"  # e.g. two renderers of one class
        members.append((name, clone(estimator).set_params(**params)))
    return VotingClassifier(members, voting="soft", n_jobs=n_jobs)
