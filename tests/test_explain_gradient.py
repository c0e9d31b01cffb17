"""explain(method="gradient") of the four non-image estimators (tiny backbones)."""

import numpy as np
import pytest
from sklearn.base import clone

from vlmtsc import (
    CrossTimeNetClassifier,
    InstructTimeClassifier,
    MTCSClassifier,
    TimeLlamaClassifier,
)
from vlmtsc.testing import TEST_PARAMS, make_bump_series, make_example_series
from vlmtsc.tokenizers import VQTokenizer

pytest.importorskip("torch")

SEED = 0


def _params(name, **extra):
    params = dict(TEST_PARAMS[name])
    if "tokenizer" in params:  # overlapping patches: the mapping's hard case
        tokenizer = clone(params["tokenizer"])  # TEST_PARAMS is shared: a copy
        params["tokenizer"] = tokenizer.set_params(patch_length=4, stride=3)
    return {**params, "random_state": SEED, **extra}


ESTIMATORS = {
    "mtcs-logistic": lambda: MTCSClassifier(**_params("MTCSClassifier")),
    "mtcs-svm": lambda: MTCSClassifier(**_params("MTCSClassifier", classifier="svm")),
    "mtcs-linear": lambda: MTCSClassifier(
        **_params("MTCSClassifier", classifier="linear")
    ),
    "timellama": lambda: TimeLlamaClassifier(**_params("TimeLlamaClassifier")),
    "crosstimenet": lambda: CrossTimeNetClassifier(  # the fine-tuned head
        **_params("CrossTimeNetClassifier", head="mlp", pooling="flatten")
    ),
    "instructtime": lambda: InstructTimeClassifier(  # label scoring
        **_params(
            "InstructTimeClassifier", head="lm", label_names=["rising wave", "flat"]
        )
    ),
}


@pytest.fixture(scope="module")
def data():
    return make_example_series(n_cases=12, n_channels=2, n_timepoints=24)


@pytest.fixture(scope="module", params=list(ESTIMATORS))
def fitted(request, data):
    X, y = data
    return ESTIMATORS[request.param]().fit(X, y)


def _network(clf):
    model = clf.model_
    return model.model if isinstance(clf, InstructTimeClassifier) else model


def test_gradient_shape_finite_deterministic(fitted, data):
    X, _ = data
    assert "gradient" in fitted._explanation_methods()
    network = _network(fitted)
    flags = [p.requires_grad for p in network.parameters()]
    attributions = fitted.explain(X[:5], method="gradient")
    assert attributions.shape == X[:5].shape
    assert attributions.dtype == np.float64
    assert np.isfinite(attributions).all()
    assert np.abs(attributions).sum() > 0
    np.testing.assert_array_equal(
        attributions, fitted.explain(X[:5], method="gradient")
    )
    # Inputs only: no parameter gradients, every flag and the mode restored.
    assert flags == [p.requires_grad for p in network.parameters()]
    assert all(p.grad is None for p in network.parameters())
    assert not network.training


def test_gradient_unequal_lengths(fitted, data):
    X, _ = data
    series = [X[i][:, : 17 + 2 * i] for i in range(4)]
    attributions = fitted.explain(series, method="gradient")
    assert isinstance(attributions, list)
    assert [a.shape for a in attributions] == [s.shape for s in series]
    assert all(np.isfinite(a).all() for a in attributions)
    # A series in a padded batch is attributed as when alone.
    alone = fitted.explain(series[:1], method="gradient")[0]
    np.testing.assert_allclose(alone, attributions[0], rtol=1e-4, atol=1e-7)


def test_gradient_explains_the_requested_class(fitted, data):
    X, _ = data
    first = fitted.explain(X[:3], np.repeat(fitted.classes_[0], 3), method="gradient")
    second = fitted.explain(X[:3], np.repeat(fitted.classes_[1], 3), method="gradient")
    assert not np.allclose(first, second)


def test_mtcs_svm_decision_in_torch_matches_sklearn():
    import torch
    from sklearn.svm import SVC

    from vlmtsc.classification._mtcs import _svm_decision

    rng = np.random.default_rng(0)
    for n_classes in (2, 3, 4):
        Z = rng.normal(size=(60, 5))
        svm = SVC(kernel="rbf", gamma="scale").fit(Z, np.arange(60) % n_classes)
        new = rng.normal(size=(10, 5))
        expected = svm.decision_function(new)
        if expected.ndim == 1:
            expected = np.column_stack([-expected, expected]) / 2
        ours = _svm_decision(svm, torch.tensor(new)).numpy()
        np.testing.assert_allclose(ours, expected, atol=1e-10)


@pytest.mark.parametrize("classifier", ["logistic", "svm", "linear"])
def test_mtcs_objective_is_predict_proba(data, classifier):
    """What the gradient differentiates is log predict_proba, whichever final
    classifier (the logistic regression folded into one linear map)."""
    import torch

    X, y = data
    clf = MTCSClassifier(**_params("MTCSClassifier", classifier=classifier)).fit(X, y)
    inputs, _, position = clf._task_inputs(X[:3], None)
    with torch.no_grad():
        scores = clf._log_probabilities(clf.model_, clf._collate(inputs, position))
    np.testing.assert_allclose(scores.exp(), clf.predict_proba(X[:3]), atol=1e-5)


def test_timellama_gradient_through_resampling_matches_finite_differences(data):
    """A series of another length than in fit: the attribution is gradient x
    input with respect to the series at its own length."""
    import torch

    from vlmtsc.classification._timellama import resample_series

    X, y = data
    clf = TimeLlamaClassifier(**_params("TimeLlamaClassifier")).fit(X, y)
    case = X[3][:, :10]
    z = clf.normalizer_.transform(case[None])[0].astype(np.float64)

    def log_p(series):
        batch = clf._collate(resample_series(series[None], clf.series_length_))
        with torch.no_grad():
            return clf._log_probabilities(clf.model_, batch)[0, 1].item()

    step = 1e-2
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        shift = np.zeros_like(z)
        shift[index] = step
        numeric[index] = (log_p(z + shift) - log_p(z - shift)) / (2 * step)
    ours = clf.explain(case[None], [clf.classes_[1]], method="gradient")[0]
    np.testing.assert_allclose(ours, numeric * z, atol=2e-3 * np.abs(ours).max())


def test_instructtime_objective_is_predict_proba(data):
    import torch

    X, y = data
    clf = InstructTimeClassifier(
        **_params(
            "InstructTimeClassifier", head="lm", label_names=["rising wave", "flat"]
        )
    ).fit(X, y)
    from vlmtsc.training import label_log_likelihoods

    ids = torch.stack([prefix["input_ids"] for prefix, _ in clf._examples(X[:3])])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        scores = label_log_likelihoods(clf.model_.model, inputs, clf.model_.label_ids)
    proba = torch.softmax(scores.double(), dim=1).numpy()
    np.testing.assert_allclose(proba, clf.predict_proba(X[:3]), atol=1e-5)


def test_instructtime_linear_probe_offers_occlusion_only(data):
    X, y = data
    clf = InstructTimeClassifier(**_params("InstructTimeClassifier", head="linear"))
    clf.fit(X, y)
    assert clf._explanation_methods() == ("occlusion",)
    with pytest.raises(ValueError, match="method='occlusion'"):
        clf.explain(X[:2], method="gradient")


def test_token_scores_spread_over_their_patches_keep_their_totals():
    tokenizer = VQTokenizer(
        patch_length=4, stride=3, codebook_size=4, n_epochs=1, verbose=0
    ).fit(np.zeros((4, 2, 11)))
    scores = np.array([1.0, -2.0, 3.0, 0.5])
    # Patches of 4 every 3 steps over 2 channels; the last one padded past 11.
    (steps,) = tokenizer.token_attributions([scores], [11])
    assert steps.shape == (2, 11)
    np.testing.assert_allclose(steps.sum(), scores.sum())
    np.testing.assert_allclose(steps[:, :3], 1.0 / 8)  # token 0 alone
    np.testing.assert_allclose(steps[:, 3], 1.0 / 8 - 2.0 / 8)  # overlap adds
    np.testing.assert_allclose(steps[:, 10], 0.5 / 4)  # cut to the series


@pytest.mark.parametrize("classifier", ["logistic", "svm", "linear"])
def test_mtcs_gradient_finds_the_bump(classifier):
    X, y = make_bump_series(40)
    X_test, y_test = make_bump_series(20, random_state=1)
    clf = MTCSClassifier(
        n_blocks=2,
        hidden_size=16,
        representation_size=16,
        n_epochs=10,
        learning_rate=1e-2,
        validation_fraction=0,
        classifier=classifier,
        verbose=0,
        random_state=SEED,
    ).fit(X, y)
    assert (clf.predict(X_test) == y_test).mean() >= 0.9
    bumps = X_test[y_test == 1]
    attributions = clf.explain(bumps, np.ones(len(bumps), int), method="gradient")
    # The receptive field of two blocks (kernel 3, dilations 1, 2) is 13 steps:
    # the window, widened by 6 on each side, covers 22 of the 64 steps.
    magnitude = np.abs(attributions)
    inside = magnitude[:, :, 14:36].sum(axis=(1, 2)) / magnitude.sum(axis=(1, 2))
    assert np.median(inside) > 0.8, inside
    # Signed: the bump speaks for class 1.
    assert attributions[:, :, 20:30].sum() > 0
