"""Cheap parameters and data for tests and doctests.

:data:`TEST_PARAMS` maps an estimator class name to the keyword arguments that make
it fast enough for scikit-learn's estimator checks (tiny images today; tiny
backbones as the LM estimators land). :func:`all_estimators` finds every public
estimator of vlmtsc by walking the package, so a new estimator is checked the day
it is exported.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

__all__ = [
    "TEST_PARAMS",
    "all_estimators",
    "make_bump_series",
    "make_example_series",
]


def _tiny_tokenizer():
    from vlmtsc.tokenizers import VQTokenizer

    return VQTokenizer(
        patch_length=2,
        codebook_size=8,
        embedding_dim=4,
        hidden_size=4,
        n_blocks=1,
        n_epochs=1,
        verbose=0,
    )


TEST_PARAMS: dict[str, dict] = {
    "InstructTimeClassifier": {
        "backbone": "tiny-llama",
        "n_epochs": 1,
        "validation_fraction": 0.0,
        "verbose": 0,
        "tokenizer": _tiny_tokenizer(),
    },
    "CrossTimeNetClassifier": {
        "backbone": "tiny-bert",
        # One value per token and one scale for all cases: per-series
        # normalisation of 2-step patches leaves only a sign, too little for
        # check_classifiers_train on two-feature blobs.
        "normalization": "global",
        "tokenizer": _tiny_tokenizer().set_params(patch_length=1),
        "pretrain_epochs": 1,
        "n_epochs": 3,
        "learning_rate": 1e-3,
        "validation_fraction": 0.0,
        "verbose": 0,
    },
    "LinePlotRenderer": {"image_size": 16},
    "GramianAngularFieldRenderer": {"image_size": 16},
    "MarkovTransitionFieldRenderer": {"image_size": 16},
    "RecurrencePlotRenderer": {"image_size": 16},
    "WindowStackRenderer": {"image_size": 16},
    "MTCSClassifier": {
        "n_blocks": 2,
        "hidden_size": 8,
        "representation_size": 16,
        "n_epochs": 1,
        "validation_fraction": 0.0,
        "verbose": 0,
    },
    "TimeLlamaClassifier": {
        "backbone": "tiny-llama",
        "n_layers": 1,
        "n_heads": 4,
        # Two-feature blobs: per-series z-normalisation of 2 points leaves a sign.
        "normalization": None,
        "n_epochs": 5,
        "learning_rate": 1e-2,
        "validation_fraction": 0.0,
        "verbose": 0,
    },
    "VLMFeatureExtractor": {"backbone": "tiny-llava", "verbose": 0},
    "VQTokenizer": {
        "patch_length": 2,
        "codebook_size": 8,
        "embedding_dim": 4,
        "hidden_size": 4,
        "n_blocks": 1,
        "n_epochs": 1,
        "verbose": 0,
    },
    "VLMTimeSeriesClassifier": {
        "backbone": "tiny-llava",
        # The images' features only: the checks' hundreds of 2-10-step series
        # each cost Fracast-0 a 2048-step pass, half their time. The probe
        # with it: tests/test_persistence.py, tests/test_series_encoders.py.
        "series_encoder": None,
        "n_epochs": 1,
        "validation_fraction": 0.0,
        "verbose": 0,
    },
}


def all_estimators() -> list[type]:
    """Public, concrete vlmtsc estimators and transformers (classes with ``fit``).

    Walks every public module (no leading underscore) and collects the
    :class:`~sklearn.base.BaseEstimator` subclasses listed in its ``__all__`` that
    are not abstract bases (``Base*``).
    """
    import vlmtsc

    found = {}
    for info in pkgutil.walk_packages(vlmtsc.__path__, "vlmtsc."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if info.name.startswith("vlmtsc.testing"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and hasattr(obj, "fit")
                and not name.startswith("Base")
            ):
                found[obj.__name__] = obj
    return [found[name] for name in sorted(found)]


def make_example_series(
    n_cases: int = 12,
    n_channels: int = 1,
    n_timepoints: int = 30,
    n_classes: int = 2,
    *,
    unequal: bool = False,
    random_state: int = 0,
):
    """Small labelled series whose classes differ in shape (sine vs. sawtooth...).

    Returns
    -------
    X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of 2D ndarray
        A list of unequal lengths (between ``n_timepoints // 2`` and
        ``n_timepoints``) when ``unequal``.
    y : ndarray of shape (n_cases,)
        Integer labels ``0 .. n_classes - 1``, balanced.
    """
    import numpy as np

    rng = np.random.default_rng(random_state)
    y = np.arange(n_cases) % n_classes
    cases = []
    for label in y:
        length = (
            int(rng.integers(n_timepoints // 2, n_timepoints + 1))
            if unequal
            else n_timepoints
        )
        t = np.linspace(0, 2 * np.pi, length)
        channels = [
            np.sin((label + 1) * t + c) + 0.1 * rng.normal(size=length)
            for c in range(n_channels)
        ]
        cases.append(np.stack(channels))
    X = cases if unequal else np.stack(cases)
    return X, y


def make_bump_series(
    n_cases: int = 40,
    n_timepoints: int = 64,
    window: tuple[int, int] = (20, 30),
    *,
    random_state: int = 0,
):
    """Series whose class is whether a bump sits in a known window.

    Class 1 has a smooth bump (height 3) on steps ``window[0]:window[1]``;
    class 0 has none. Both carry the same slow wave and noise, so the window
    is the only place the classes differ: a faithful explanation of class 1
    puts its attribution there.

    Returns
    -------
    X : ndarray of shape (n_cases, 1, n_timepoints)
    y : ndarray of shape (n_cases,)
        ``0`` and ``1``, alternating.

    Examples
    --------
    >>> X, y = make_bump_series(4)
    >>> X.shape, y.tolist()
    ((4, 1, 64), [0, 1, 0, 1])
    """
    import numpy as np

    rng = np.random.default_rng(random_state)
    y = np.arange(n_cases) % 2
    t = np.arange(n_timepoints)
    start, stop = window
    bump = np.zeros(n_timepoints)
    bump[start:stop] = 3.0 * np.sin(np.linspace(0, np.pi, stop - start))
    X = np.stack(
        [
            np.sin(2 * np.pi * t / n_timepoints + rng.uniform(0, 0.5))
            + 0.2 * rng.normal(size=n_timepoints)
            + label * bump
            for label in y
        ]
    )
    return X[:, np.newaxis, :], y
