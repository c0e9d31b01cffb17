"""explain(), occlusion, deletion curves and the explanation plot."""

import numpy as np
import pytest
import torch
from PIL import Image

from vlmtsc import MTCSClassifier, VLMTimeSeriesClassifier
from vlmtsc.cli import main
from vlmtsc.explanation import (
    choose_cases,
    deletion_curve,
    occlusion_attributions,
    plot_explanation,
    remove_steps,
    segment_bounds,
)
from vlmtsc.renderers import LinePlotRenderer
from vlmtsc.testing import make_bump_series, make_example_series

torch.set_num_threads(1)

WINDOW = (20, 30)


def _bump_rule(X):
    """Probabilities of a model that reads only the bump window."""
    X = np.stack(list(X)) if isinstance(X, list) else X
    p = 1 / (1 + np.exp(-4 * (X[:, 0, slice(*WINDOW)].mean(axis=1) - 1.0)))
    return np.column_stack([1 - p, p])


def _mass_in_window(attributions, window=WINDOW):
    positive = np.clip(np.asarray(attributions)[:, 0], 0, None)
    return positive[:, slice(*window)].sum() / positive.sum()


def _tiny_mtcs(**params):
    defaults = dict(
        n_blocks=1, hidden_size=8, representation_size=8, n_epochs=1,
        validation_fraction=0, verbose=0, random_state=0,
    )  # fmt: skip
    return MTCSClassifier(**{**defaults, **params})


# ------------------------------------------------------------ remove_steps
def test_removed_steps_are_bridged_by_a_line_or_their_local_mean():
    x = np.array([[0.0, 9.0, 9.0, 3.0, 4.0, 8.0, 8.0]])
    mask = np.array([[False, True, True, False, False, True, True]])
    np.testing.assert_allclose(remove_steps(x, mask)[0], [0, 1, 2, 3, 4, 4, 4])
    np.testing.assert_allclose(remove_steps(x, mask, "mean")[0], [0, 9, 9, 3, 4, 8, 8])
    bumpy = np.array([[0.0, 2.0, 6.0, 0.0]])
    np.testing.assert_allclose(
        remove_steps(bumpy, np.array([[False, True, True, False]]), "mean")[0],
        [0, 4, 4, 0],
    )
    # A channel removed entirely becomes its mean; other channels are untouched.
    two = np.array([[1.0, 3.0], [5.0, 7.0]])
    np.testing.assert_allclose(
        remove_steps(two, np.array([[True, True], [False, False]])), [[2, 2], [5, 7]]
    )
    assert x[0, 1] == 9.0  # the input is not modified


def test_unknown_replacement_is_refused():
    with pytest.raises(ValueError, match="replacement must be one of"):
        remove_steps(np.zeros((1, 3)), np.zeros((1, 3), bool), "zero")


def test_a_short_series_gets_one_window_per_step():
    assert segment_bounds(5, 16).tolist() == [0, 1, 2, 3, 4, 5]
    bounds = segment_bounds(150, 16)
    assert len(bounds) == 17 and bounds[0] == 0 and bounds[-1] == 150
    assert set(np.diff(bounds)) <= {9, 10}


# --------------------------------------------------------------- occlusion
def test_occlusion_finds_the_window_a_model_reads():
    X, y = make_bump_series(10)
    attributions = occlusion_attributions(_bump_rule, X, y, n_segments=16)
    ones = np.stack([a for a, label in zip(attributions, y, strict=True) if label])
    # The windows of 4 steps that overlap steps 20-29 are 20-31.
    assert _mass_in_window(ones, (20, 32)) > 0.99
    # Outside the window occluding changes nothing the rule reads.
    assert np.abs(ones[:, 0, 40:]).max() == 0


def test_a_window_sums_to_the_probability_drop_and_cost_is_bounded():
    X, y = make_bump_series(6)
    calls = []

    def predict_proba(Z):
        calls.append(len(Z))
        return _bump_rule(Z)

    attributions = occlusion_attributions(
        predict_proba, X, y, n_segments=8, max_batch=20
    )
    assert sum(calls) == 6 * (8 + 1)  # n_channels * n_segments + 1 per series
    assert max(calls) <= 20
    bounds = segment_bounds(64, 8)
    case = 1  # a bump case, explained as class 1
    a, b = bounds[2], bounds[3]  # the window holding steps 16-24
    occluded = X[case].copy()
    occluded[0, a:b] = np.interp(
        np.arange(a, b), [a - 1, b], [X[case, 0, a - 1], X[case, 0, b]]
    )
    drop = _bump_rule(X[[case]])[0, 1] - _bump_rule(occluded[None])[0, 1]
    np.testing.assert_allclose(attributions[case][0, a:b].sum(), drop)
    assert np.ptp(attributions[case][0, a:b]) == 0  # spread evenly


def test_explain_keeps_the_input_shape_equal_or_unequal():
    X, y = make_example_series(8, n_channels=2)
    clf = _tiny_mtcs().fit(X, y)
    attributions = clf.explain(X[:3], n_segments=4)
    assert attributions.shape == (3, 2, 30) and attributions.dtype == np.float64
    assert np.isfinite(attributions).all() and np.abs(attributions).sum() > 0
    np.testing.assert_array_equal(clf.explain(X[:3], n_segments=4), attributions)
    # Channels are occluded one at a time: the two channels differ.
    assert not np.allclose(attributions[:, 0], attributions[:, 1])
    U, yu = make_example_series(6, n_channels=2, unequal=True)
    clf = _tiny_mtcs().fit(U, yu)
    explained = clf.explain(U, n_segments=4)
    assert isinstance(explained, list)
    assert [e.shape for e in explained] == [u.shape for u in U]


def test_explain_takes_the_class_to_explain_and_rejects_bad_requests():
    X, y = make_example_series(8)
    labels = np.array(["sine", "saw"])[y]
    clf = _tiny_mtcs().fit(X, labels)
    predicted = clf.predict(X[:4])
    np.testing.assert_array_equal(
        clf.explain(X[:4], predicted, n_segments=4), clf.explain(X[:4], n_segments=4)
    )
    other = np.where(predicted == "sine", "saw", "sine")
    # For two classes, explaining the other class flips every sign (up to the
    # float32 resolution of a probability: the logistic regression's
    # probabilities are computed from float32 representations).
    np.testing.assert_allclose(
        clf.explain(X[:4], other, n_segments=4),
        -clf.explain(X[:4], predicted, n_segments=4),
        atol=1e-7,
    )
    with pytest.raises(ValueError, match="not fitted on: 'cosine'"):
        clf.explain(X[:2], ["cosine", "sine"])
    with pytest.raises(ValueError, match="2 labels for 3 series"):
        clf.explain(X[:3], ["sine", "saw"])
    with pytest.raises(ValueError, match="method='occlusion', which works for"):
        clf.explain(X[:2], method="shap")
    with pytest.raises(ValueError, match="n_segments must be a positive integer"):
        clf.explain(X[:2], n_segments=0)
    with pytest.raises(ValueError, match="replacement must be one of"):
        clf.explain(X[:2], replacement="noise")
    with pytest.raises(ValueError, match="channels"):
        clf.explain(make_example_series(2, n_channels=3)[0])


def test_explain_passes_the_task_to_mtcs():
    X, y = make_example_series(8)
    Z, z = make_example_series(9, n_classes=3, random_state=1)
    clf = _tiny_mtcs().fit_tasks({"a": (X, y), "b": (Z, z)})
    assert clf.explain(Z[:2], task="b", n_segments=4).shape == (2, 1, 30)
    # The explained class is the task's: column 2 exists only in task "b".
    assert clf.explain(Z[:2], [2, 2], task="b", n_segments=4).shape == (2, 1, 30)
    with pytest.raises(ValueError, match="not fitted on"):
        clf.explain(X[:1], [5], task="a")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: VLMTimeSeriesClassifier(
                backbone="tiny-llava",
                head="linear",
                renderer=LinePlotRenderer(image_size=32),
                verbose=0,
                random_state=0,
            ),
            id="probe",
        ),
        pytest.param(
            lambda: _tiny_mtcs(n_epochs=30, learning_rate=1e-2), id="fine-tuned-mtcs"
        ),
    ],
)
def test_attribution_of_class_cases_falls_in_the_bump_window(make):
    X, y = make_bump_series(40)
    clf = make().fit(X, y)
    X_test, y_test = make_bump_series(20, random_state=1)
    assert clf.score(X_test, y_test) >= 0.9
    ones = X_test[y_test == 1]
    attributions = clf.explain(ones, np.ones(len(ones), int))
    # The window is 10 of 64 steps (16 %); most positive mass falls in it.
    assert _mass_in_window(attributions, (16, 34)) > 0.5


# ---------------------------------------------------------------- deletion
class _Rule:
    """A fitted-classifier face on a rule: ``predict_proba`` and ``classes_``."""

    classes_ = np.array([0, 1])

    def __init__(self, proba):
        self.proba = proba

    def predict_proba(self, X):
        return self.proba(X)


def test_deletion_falls_faster_for_faithful_than_for_random_attributions():
    X, y = make_bump_series(20)
    attributions = occlusion_attributions(_bump_rule, X, y)
    model = _Rule(_bump_rule)
    curve = deletion_curve(model, X, y, attributions, fractions=(0, 0.2, 0.5))
    assert curve["fraction"] == [0.0, 0.2, 0.5]
    assert curve["attributed_accuracy"][0] == curve["random_accuracy"][0] == 1.0
    # A fifth of the steps, chosen by attribution, already costs bump cases;
    # a random fifth rarely hits the window.
    assert curve["attributed_accuracy"][1] < curve["random_accuracy"][1] - 0.1
    for measure in ("accuracy", "agreement", "probability"):
        assert curve[f"attributed_{measure}_area"] < curve[f"random_{measure}_area"]
    # A model that is always wrong: removing its evidence raises accuracy, but
    # its answers still change faster than with random steps.
    wrong = _Rule(lambda Z: _bump_rule(Z)[:, ::-1])
    flipped = occlusion_attributions(wrong.predict_proba, X, 1 - y)
    curve = deletion_curve(wrong, X, y, flipped, fractions=(0, 0.2, 0.5))
    assert curve["attributed_accuracy"][0] == 0.0
    assert curve["attributed_accuracy"][1] > 0.0
    assert curve["attributed_agreement_area"] < curve["random_agreement_area"]
    # A model whose answer never changes (always class 1, surer with a bump):
    # only the probability curve can tell a faithful attribution.
    stubborn = _Rule(lambda Z: 0.4 * _bump_rule(Z) + [0.0, 0.6])
    ones = np.ones(len(y), dtype=int)
    attributed = occlusion_attributions(stubborn.predict_proba, X, ones)
    curve = deletion_curve(stubborn, X, y, attributed, fractions=(0, 0.2, 0.5))
    assert curve["attributed_agreement"] == [1.0, 1.0, 1.0]
    assert curve["random_agreement"] == [1.0, 1.0, 1.0]
    assert curve["attributed_probability_area"] < curve["random_probability_area"]
    # Anti-faithful attributions (the window ranked last) do worse than random.
    reverse = deletion_curve(model, X, y, [-a for a in attributions], n_random=1)
    assert reverse["attributed_accuracy_area"] >= reverse["random_accuracy_area"]
    with pytest.raises(ValueError, match="one per series"):
        deletion_curve(model, X, y, attributions[:3])


# -------------------------------------------------------------- plot, CLI
def test_plot_draws_each_case_and_channel_and_writes_a_png(tmp_path):
    X, y = make_example_series(4, n_channels=2)
    attributions = np.linspace(-1, 1, X.size).reshape(X.shape)
    figure = plot_explanation(
        X, attributions, y=y, predicted=y, title="why", path=tmp_path / "w.png"
    )
    assert len(figure.axes) == 8
    assert figure.axes[0].get_title(loc="left") == "true 0 / predicted 0, channel 0"
    with Image.open(tmp_path / "w.png") as image:
        assert image.size[0] >= 600
        colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # Red (supporting) and blue (opposing) steps are both drawn.
    assert ((colours[:, 0] > 150) & (colours[:, 2] < 100)).any()
    assert ((colours[:, 2] > 150) & (colours[:, 0] < 100)).any()
    with pytest.raises(ValueError, match="attributions for 4 series"):
        plot_explanation(X, attributions[:2])
    with pytest.raises(ValueError, match=r"attributions\[0\] has shape"):
        plot_explanation(X, attributions[:, :1])
    assert choose_cases([0, 1, 1, 0, 1], n_per_class=2, random_state=None) == [
        0, 3, 1, 2,
    ]  # fmt: skip


def test_cli_explain_fits_and_draws(tmp_path, capsys):
    out = tmp_path / "why.png"
    argv = ["explain", "UnitTest", "--estimator",
            "MTCSClassifier(n_blocks=1, hidden_size=8, representation_size=8, "
            "n_epochs=2, verbose=0)",
            "--per-class", "1", "--n-segments", "4", "--output", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size[1] > 100
    out.unlink()
    assert main([*argv[:-2], "--method", "gradient", "--output", str(out)]) == 0
    assert out.exists()
