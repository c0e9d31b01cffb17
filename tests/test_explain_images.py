"""Gradient saliency of VLMTimeSeriesClassifier: renderers' time maps, explain()."""

import warnings

import numpy as np
import pytest

from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.renderers import (
    GramianAngularFieldRenderer,
    HeatmapRenderer,
    LinePlotRenderer,
    MarkovTransitionFieldRenderer,
    RecurrencePlotRenderer,
    WindowStackRenderer,
)
from vlmtsc.testing import make_example_series

TIME_RENDERERS = [
    LinePlotRenderer(image_size=64),
    LinePlotRenderer(image_size=64, layout="grid"),
    LinePlotRenderer(image_size=64, layout="stacked"),
    LinePlotRenderer(image_size=64, max_points=40),
    LinePlotRenderer(image_size=64, max_points=40, downsampling="adaptive"),
    WindowStackRenderer(image_size=64),
    WindowStackRenderer(image_size=64, layout="stacked"),
    HeatmapRenderer(image_size=64),
]


def _spiked(n_channels, n_timepoints=100, step=40):
    """A flat series whose range is fixed by its ends, with and without a spike
    at ``step`` of the last channel (the spike stays inside the range, so only
    the pixels near it change)."""
    x = np.zeros((n_channels, n_timepoints))
    x[:, :10], x[:, -10:] = 1.0, -1.0  # blocks: still the extremes once resized
    spiked = x.copy()
    spiked[-1, step] = 0.8
    return x, spiked


@pytest.mark.parametrize("renderer", TIME_RENDERERS, ids=repr)
@pytest.mark.parametrize("n_channels", [1, 3])
def test_time_map_shape_and_weights(renderer, n_channels):
    size = renderer.image_size
    M = renderer.time_map(50, n_channels, series=np.ones((n_channels, 50)))
    assert M.shape == (size * size, n_channels * 50)
    assert M.min() >= 0
    rows = np.asarray(M.sum(axis=1)).ravel()
    # Every pixel's weights sum to one, except gaps between panels (zero).
    np.testing.assert_allclose(rows[rows > 0.5], 1.0, atol=1e-6)
    if n_channels == 1:
        np.testing.assert_allclose(rows, 1.0, atol=1e-6)
    # Every step is shown by some pixel.
    assert (np.asarray(M.sum(axis=0)).ravel() > 0).all()


def test_overlay_time_map_splits_pixels_by_line_colour():
    renderer = LinePlotRenderer(image_size=48)
    X, _ = make_example_series(n_cases=1, n_channels=3, n_timepoints=30)
    image = renderer.transform(X)[0]
    assert renderer.time_map_uses_case(3) and not renderer.time_map_uses_case(1)
    even = renderer.time_map(30, 3)
    coloured = renderer.time_map(30, 3, image=image)
    for M in (even, coloured):
        np.testing.assert_allclose(np.asarray(M.sum(axis=1)).ravel(), 1.0)
    shares = np.stack(
        [
            np.asarray(coloured[:, c * 30 : (c + 1) * 30].sum(axis=1)).ravel()
            for c in range(3)
        ],
        axis=1,
    )
    blank = (image.reshape(-1, 3) == 255).all(axis=1)
    np.testing.assert_allclose(shares[blank], 1 / 3)
    # A pixel drawn in a line's pure colour goes (almost) all to that line.
    from matplotlib.colors import to_rgb

    for c in range(3):
        pure = np.all(
            np.abs(image.reshape(-1, 3) - 255 * np.array(to_rgb(f"C{c}"))) < 2, axis=1
        )
        if pure.any():
            assert shares[pure, c].min() > 0.9


def test_line_plot_time_map_runs_left_to_right():
    M = LinePlotRenderer(image_size=32, layout="grid").time_map(10, 1).toarray()
    steps = np.arange(10)
    centre = (M * steps).sum(axis=1).reshape(32, 32)
    assert (np.diff(centre, axis=1) >= 0).all()  # time grows along each row
    np.testing.assert_allclose(centre, np.broadcast_to(centre[:1], centre.shape))


@pytest.mark.parametrize("renderer", TIME_RENDERERS, ids=repr)
@pytest.mark.parametrize("n_channels", [1, 3])
def test_time_map_puts_a_spike_at_its_step(renderer, n_channels):
    step = 40
    x, spiked = _spiked(n_channels, step=step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before, after = renderer.transform(np.stack([x, spiked])).astype(float)
    changed = np.abs(after - before).sum(axis=-1).ravel()
    assert changed.sum() > 0
    M = renderer.time_map(x.shape[1], n_channels, series=spiked, image=after)
    mass = (M.T @ changed).reshape(n_channels, -1)
    # Within a few pixels' worth of steps: a grid panel is 31 px for 100 steps;
    # a stacked window-stack panel is 20 px high for 91 windows.
    reach = 8 if isinstance(renderer, LinePlotRenderer) else 12
    near = mass[:, step - reach : step + reach + 1].sum() / mass.sum()
    assert near > 0.9
    if n_channels > 1:
        # Its own panel, or (overlay) its line's colour: the spiked channel
        # gets most of the mass.
        assert mass[-1].sum() / mass.sum() > 0.5
    assert np.unravel_index(mass.argmax(), mass.shape)[1] in range(step - 2, step + 3)


@pytest.mark.parametrize(
    "renderer_class",
    [
        GramianAngularFieldRenderer,
        MarkovTransitionFieldRenderer,
        RecurrencePlotRenderer,
    ],
)
def test_renderers_without_a_time_axis_say_so(renderer_class):
    renderer = renderer_class(image_size=16)
    assert renderer.time_axis is False
    with pytest.raises(NotImplementedError, match="no time axis"):
        renderer.time_map(20)


# ---------------------------------------------------------------- explain()
def _bump_data(n_cases=40, n_timepoints=64, n_channels=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 0.3, (n_cases, n_channels, n_timepoints))
    y = np.arange(n_cases) % 2
    X[y == 1, -1, 20:31] += 2.0
    return X, y


def _probe(renderer=None, backbone="tiny-composed", **params):
    if renderer is None:
        renderer = [LinePlotRenderer(image_size=32), WindowStackRenderer(image_size=32)]
    return VLMTimeSeriesClassifier(
        backbone=backbone, head="linear", renderer=renderer, verbose=0, **params
    )


@pytest.fixture(scope="module")
def fitted():
    X, y = _bump_data()
    return _probe().fit(X, y), X, y


def test_gradient_explanation_shapes_and_determinism(fitted):
    clf, X, _ = fitted
    assert clf._explanation_methods() == ("occlusion", "gradient")
    first = clf.explain(X[:6], method="gradient")
    assert first.shape == (6, 1, 64)
    assert np.isfinite(first).all() and (first >= 0).all() and first.sum() > 0
    assert (first.sum(axis=(1, 2)) > 0).all()
    np.testing.assert_array_equal(first, clf.explain(X[:6], method="gradient"))
    # A case explains the same alone as in a batch, and for either class.
    np.testing.assert_allclose(
        clf.explain(X[2:3], method="gradient")[0], first[2], rtol=1e-5, atol=1e-12
    )
    other = clf.explain(X[:6], y=1 - clf.predict(X[:6]), method="gradient")
    assert other.shape == first.shape


def test_gradients_leave_the_model_as_they_found_it(fitted):
    clf, X, _ = fitted
    model = clf.model_.model
    flags = [p.requires_grad for p in model.parameters()]
    training = model.training
    before = clf.predict_proba(X[:4])
    clf.explain(X[:4], method="gradient")
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert model.training == training
    np.testing.assert_array_equal(clf.predict_proba(X[:4]), before)


@pytest.mark.parametrize("backbone", ["tiny-llava", "tiny-smolvlm"])
def test_gradient_explanation_multivariate_and_other_backbones(backbone):
    X, y = _bump_data(n_cases=12, n_timepoints=30, n_channels=2)
    renderer = [
        LinePlotRenderer(image_size=32, layout="grid"),
        WindowStackRenderer(image_size=32),
    ]
    clf = _probe(renderer, backbone=backbone).fit(X, y)
    attributions = clf.explain(X[:3], method="gradient")
    assert attributions.shape == (3, 2, 30)
    assert np.isfinite(attributions).all() and attributions.sum() > 0


def test_gradient_explanation_of_unequal_lengths():
    X, y = make_example_series(n_cases=10, n_channels=2, unequal=True)
    clf = _probe(LinePlotRenderer(image_size=32, layout="stacked")).fit(X, y)
    attributions = clf.explain(X[:3], method="gradient")
    assert isinstance(attributions, list)
    assert [a.shape for a in attributions] == [x.shape for x in X[:3]]


def test_gradient_needs_a_time_axis_and_whole_images():
    X, y = _bump_data(n_cases=10, n_timepoints=20)
    fields = _probe(
        [LinePlotRenderer(image_size=32), GramianAngularFieldRenderer(image_size=32)]
    ).fit(X, y)
    assert fields._explanation_methods() == ("occlusion",)
    with pytest.raises(ValueError, match="method='occlusion'"):
        fields.explain(X[:2], method="gradient")
    with pytest.raises(ValueError, match="no time axis"):
        fields._gradient_attributions(X[:2], np.zeros(2, dtype=int))
    # Qwen2-VL's processor makes patch sequences, not a (3, h, w) picture.
    patches = _probe(LinePlotRenderer(image_size=32), backbone="tiny-qwen2-vl")
    assert patches.fit(X, y)._explanation_methods() == ("occlusion",)
    text = VLMTimeSeriesClassifier(
        backbone="tiny-llama", prompt_mode="baseline", head="linear", verbose=0
    ).fit(X, y)
    assert text._explanation_methods() == ("occlusion",)


@pytest.mark.parametrize("n_channels", [1, 2])
def test_gradient_explanation_of_the_fine_tuned_head(n_channels):
    X, y = _bump_data(n_cases=8, n_timepoints=20, n_channels=n_channels)
    clf = VLMTimeSeriesClassifier(
        backbone="tiny-composed",
        head="lm",
        renderer=LinePlotRenderer(image_size=32, layout="grid"),
        label_names=["flat", "a bump"],  # labels of different token lengths
        n_epochs=1,
        validation_fraction=0,
        verbose=0,
    ).fit(X, y)
    assert clf._explanation_methods() == ("occlusion", "gradient")
    model = clf.model_.model
    flags = [p.requires_grad for p in model.parameters()]
    attributions = clf.explain(X[:3], method="gradient")
    assert attributions.shape == (3, n_channels, 20)
    assert np.isfinite(attributions).all() and attributions.sum() > 0
    np.testing.assert_array_equal(attributions, clf.explain(X[:3], method="gradient"))
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("backbone", ["tiny-llava", "tiny-composed"])
def test_label_scores_with_gradients_match_the_cached_scores(backbone):
    import torch

    from vlmtsc.training import collate, label_log_likelihoods

    X, y = make_example_series(n_cases=6, n_timepoints=20)
    clf = VLMTimeSeriesClassifier(
        backbone=backbone,
        head="lm",
        renderer=LinePlotRenderer(image_size=32),
        label_names=["alpha beta", "c"],
        n_epochs=1,
        validation_fraction=0,
        mixed_precision="no",  # both scorings in float32
        verbose=0,
    ).fit(X, y)
    encoded = clf._examples(X[:4])
    inputs = collate([prefix for prefix, _ in encoded], 0)
    with torch.no_grad():
        scores = label_log_likelihoods(
            clf.model_.model.eval(), inputs, clf.model_.label_ids
        )
    np.testing.assert_allclose(
        scores.numpy(), clf.model_.score(encoded), rtol=1e-4, atol=1e-4
    )


def test_gradient_attribution_finds_the_class_window():
    """Class 1 differs from class 0 by a bump at steps 20-30 only: its gradient
    attributions put more than twice the window's share of the length (11 / 64)
    there, and more than class 0's attributions do. (A window stack through
    tiny-composed's random CNN gives about 2.9x; the real default probe, line
    plot and window stack fused at 224 px, about 2.4x.)"""
    X, y = _bump_data()
    clf = _probe(WindowStackRenderer(image_size=32)).fit(X, y)
    attributions = clf.explain(X[:20], y=y[:20], method="gradient")
    share = attributions[:, 0, 20:31].sum(axis=1) / attributions.sum(axis=(1, 2))
    assert share[y[:20] == 1].mean() > 2 * 11 / 64
    assert share[y[:20] == 1].mean() > share[y[:20] == 0].mean()
