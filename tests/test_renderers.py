"""Renderers: shapes, content, layouts, determinism, agreement with pyts."""

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from vlmtsc.prompts import DownsamplingWarning
from vlmtsc.renderers import (
    GramianAngularFieldRenderer,
    HeatmapRenderer,
    LinePlotRenderer,
    MarkovTransitionFieldRenderer,
    RecurrencePlotRenderer,
    WindowStackRenderer,
    make_renderer,
    renderer_name,
    resize_weights,
    save_gallery,
)
from vlmtsc.testing import make_example_series

RENDERERS = [
    LinePlotRenderer,
    GramianAngularFieldRenderer,
    MarkovTransitionFieldRenderer,
    RecurrencePlotRenderer,
    WindowStackRenderer,
    HeatmapRenderer,
]


def _non_white(image):
    return (image < 250).any(axis=-1)


@pytest.mark.parametrize("renderer_class", RENDERERS)
def test_every_input_form_gives_rgb_images(renderer_class):
    renderer = renderer_class(image_size=32)
    univariate, _ = make_example_series(n_cases=3, n_timepoints=40)
    multivariate, _ = make_example_series(n_cases=3, n_channels=4, n_timepoints=40)
    unequal, _ = make_example_series(n_cases=3, n_channels=2, unequal=True)
    for X in (univariate[:, 0], multivariate, unequal):
        images = renderer.fit_transform(X)
        assert images.shape == (3, 32, 32, 3)
        assert images.dtype == np.uint8
        assert _non_white(images[0]).any(), "nothing was drawn"


@pytest.mark.parametrize("renderer_class", RENDERERS)
def test_rendering_is_deterministic_and_per_case(renderer_class):
    X, _ = make_example_series(n_cases=4, n_channels=2, n_timepoints=50)
    first = renderer_class(image_size=48).transform(X)
    again = renderer_class(image_size=48).transform(X)
    np.testing.assert_array_equal(first, again)
    # A case renders the same alone as in a batch, and different cases differ.
    np.testing.assert_array_equal(
        renderer_class(image_size=48).transform(X[2:3])[0], first[2]
    )
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize("renderer_class", RENDERERS)
def test_unequal_lengths_render_like_single_cases(renderer_class):
    X, _ = make_example_series(n_cases=4, unequal=True, n_timepoints=60)
    renderer = renderer_class(image_size=40)
    batch = renderer.transform(X)
    for x, image in zip(X, batch, strict=True):
        np.testing.assert_array_equal(renderer.transform(x[None])[0], image)


@pytest.mark.parametrize("renderer_class", RENDERERS)
def test_constant_and_single_point_series_do_not_crash(renderer_class):
    images = renderer_class(image_size=16).transform(np.array([[3.0, 3.0, 3.0, 3.0]]))
    assert images.shape == (1, 16, 16, 3)
    assert renderer_class(image_size=16).transform(np.array([[1.0]])).shape == (
        1,
        16,
        16,
        3,
    )


def test_line_plot_draws_the_series_shape():
    # A rising ramp: the line's mean row moves up (smaller index) to the right.
    image = LinePlotRenderer(image_size=64).transform(np.arange(50.0)[None])[0]
    drawn = _non_white(image)
    rows = np.arange(64)[:, None].repeat(64, axis=1)
    left = rows[:, 5:15][drawn[:, 5:15]].mean()
    right = rows[:, 50:60][drawn[:, 50:60]].mean()
    assert right < left - 20


def test_line_plot_overlay_uses_one_colour_per_channel():
    X = np.stack([np.sin(np.linspace(0, 6, 80)), np.cos(np.linspace(0, 6, 80))])[None]
    image = LinePlotRenderer(image_size=96, antialiased=False).transform(X)[0]
    colours = {tuple(c) for c in image.reshape(-1, 3)} - {(255, 255, 255)}
    assert len(colours) == 2


def test_grid_layout_separates_channel_panels():
    X, _ = make_example_series(n_cases=1, n_channels=4, n_timepoints=50)
    image = LinePlotRenderer(image_size=64, layout="grid").transform(X)[0]
    drawn = _non_white(image)
    # 2 x 2 panels of 31 px with a 2 px white gap at 31..32.
    assert not drawn[:, 31:33].any() and not drawn[31:33, :].any()
    for rows in (slice(0, 31), slice(33, 64)):
        for cols in (slice(0, 31), slice(33, 64)):
            assert drawn[rows, cols].any()


def test_stacked_layout_gives_full_width_rows():
    X, _ = make_example_series(n_cases=1, n_channels=3, n_timepoints=50)
    image = GramianAngularFieldRenderer(image_size=64, layout="stacked").transform(X)[0]
    gaps = np.flatnonzero((image == 255).all(axis=(1, 2)))
    assert gaps.tolist() == [20, 21, 42, 43]


def test_sharey_keeps_relative_amplitude():
    t = np.linspace(0, 6, 100)
    X = np.stack([np.sin(t) * 10, np.sin(t) * 0.1])[None]

    def drawn_rows(sharey):
        image = LinePlotRenderer(
            image_size=64, layout="stacked", sharey=sharey
        ).transform(X)[0]
        lower = _non_white(image[33:])  # the second, small channel
        return np.flatnonzero(lower.any(axis=1)).size

    assert drawn_rows(True) < drawn_rows(False) / 3


def test_max_points_draws_a_downsampled_series_and_warns():
    x = np.sin(np.linspace(0, 40, 400)) + np.random.default_rng(0).normal(0, 0.3, 400)
    full = LinePlotRenderer(image_size=64).transform(x[None])
    with pytest.warns(DownsamplingWarning, match="1 of 1 series"):
        short = LinePlotRenderer(image_size=64, max_points=50).transform(x[None])
    assert not np.array_equal(full, short)


def test_gaf_diagonal_is_cos_of_twice_the_angle():
    renderer = GramianAngularFieldRenderer(image_size=20, cmap="gray")
    field = renderer._fields(np.linspace(0, 1, 20)[None], 20)[0]
    cos = np.linspace(-1, 1, 20)
    np.testing.assert_allclose(np.diag(field) * 2 - 1, 2 * cos**2 - 1, atol=1e-12)


@pytest.fixture(scope="module")
def pyts_image():
    # pyts 0.14 compiles its numba kernels at import (tens of seconds here), which
    # is why vlmtsc computes the fields itself; it stays the reference.
    import pyts.image

    return pyts.image


@pytest.mark.parametrize("method", ["summation", "difference"])
@pytest.mark.parametrize("size", [30, 13])
def test_gaf_matches_pyts(pyts_image, method, size):
    # size < 30 also checks the piecewise aggregation of long series.
    X = np.random.default_rng(0).normal(size=(4, 30)).cumsum(axis=1)
    ours = GramianAngularFieldRenderer(method=method)._fields(X, size)
    reference = pyts_image.GramianAngularField(
        method=method, image_size=size
    ).fit_transform(X)
    np.testing.assert_allclose(ours, (reference + 1) / 2, atol=1e-7)


@pytest.mark.parametrize("strategy", ["quantile", "uniform", "normal"])
@pytest.mark.parametrize("size", [40, 10])
def test_mtf_matches_pyts(pyts_image, strategy, size):
    X = np.random.default_rng(1).normal(size=(4, 40)).cumsum(axis=1)
    X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    ours = MarkovTransitionFieldRenderer(n_bins=5, strategy=strategy)._fields(X, size)
    reference = pyts_image.MarkovTransitionField(
        n_bins=5, strategy=strategy, image_size=size
    ).fit_transform(X)
    low = reference.min(axis=(1, 2), keepdims=True)
    high = reference.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(ours, (reference - low) / (high - low), atol=1e-12)


@pytest.mark.parametrize(
    ("dimension", "time_delay", "threshold"),
    [(1, 1, None), (3, 2, None), (2, 1, "point"), (1, 1, "distance"), (1, 1, 0.5)],
)
def test_recurrence_plot_matches_pyts(pyts_image, dimension, time_delay, threshold):
    X = np.random.default_rng(2).normal(size=(3, 30)).cumsum(axis=1)
    params = dict(
        dimension=dimension, time_delay=time_delay, threshold=threshold, percentage=20
    )
    ours = RecurrencePlotRenderer(**params)._fields(X, 30)
    reference = pyts_image.RecurrencePlot(**params).fit_transform(X).astype(float)
    if threshold is None:
        low = reference.min(axis=(1, 2), keepdims=True)
        reference = (reference - low) / (
            reference.max(axis=(1, 2), keepdims=True) - low
        )
    np.testing.assert_allclose(ours, reference, atol=1e-12)


@pytest.mark.parametrize(
    ("renderer", "pattern"),
    [
        (
            LinePlotRenderer(image_size=4),
            r"'image_size' .* int in the range \[8, inf\)",
        ),
        (LinePlotRenderer(image_size=32.0), r"'image_size' .* an int .*Got 32.0"),
        (LinePlotRenderer(layout="diagonal"), "'layout' parameter .* among"),
        (GramianAngularFieldRenderer(layout="overlay"), "'layout' parameter .* among"),
        (LinePlotRenderer(max_points=1), r"'max_points' .* \[2, inf\) or None"),
        (LinePlotRenderer(linewidth=0), r"'linewidth' .* range \(0.0, inf\)"),
        (GramianAngularFieldRenderer(method="sum"), "'method' parameter .* among"),
        (
            GramianAngularFieldRenderer(cmap="no-such-map"),
            "Unknown colour map 'no-such-map'",
        ),
        (MarkovTransitionFieldRenderer(n_bins=1), r"'n_bins' .* \[2, inf\)"),
        (MarkovTransitionFieldRenderer(strategy="kmeans"), "'strategy' .* among"),
        (RecurrencePlotRenderer(dimension=0), r"'dimension' .* \[1, inf\)"),
        (RecurrencePlotRenderer(dimension=20), "too short for dimension=20"),
        (WindowStackRenderer(window_length=0), r"'window_length' .* \[1, inf\)"),
        (WindowStackRenderer(window_length="sqrt"), r"'window_length' .* \{'auto'\}"),
        (WindowStackRenderer(stride=0), r"'stride' .* \[1, inf\) or .* \(0.0, 1.0\]"),
        (WindowStackRenderer(stride=1.5), r"'stride' .* \(0.0, 1.0\]"),
        (WindowStackRenderer(stride="tivit"), r"'stride' .* \{'auto'\}"),
        (
            WindowStackRenderer(window_length=3, stride=5),
            "'stride' .* 5 points, exceeds the window length 3,",
        ),
        (
            WindowStackRenderer(stride=4),
            r"'stride' .* window length 3 \(of series of 12 timepoints\)",
        ),
        (WindowStackRenderer(gamma=0), r"'gamma' .* range \(0.0, inf\)"),
        (WindowStackRenderer(gamma="0.8"), "'gamma' .* float"),
    ],
)
def test_bad_parameters_are_named(renderer, pattern):
    with pytest.raises(ValueError, match=pattern):
        renderer.fit_transform(np.random.default_rng(0).normal(size=(2, 12)))


def test_too_many_channels_for_the_image_size():
    with pytest.raises(ValueError, match="too small to show 40 channels"):
        GramianAngularFieldRenderer(image_size=16, layout="stacked").transform(
            np.zeros((1, 40, 10))
        )


def test_renderers_are_nested_params_in_a_grid_search():
    X, y = make_example_series(n_cases=16, n_timepoints=40)
    flatten = FunctionTransformer(
        lambda images: images.reshape(len(images), -1) / 255.0
    )
    pipe = make_pipeline(LinePlotRenderer(image_size=16), flatten, LogisticRegression())
    grid = GridSearchCV(
        pipe,
        {
            "lineplotrenderer": [LinePlotRenderer(), GramianAngularFieldRenderer()],
            "lineplotrenderer__image_size": [16, 24],
        },
        cv=2,
    )
    grid.fit(X[:, 0], y)
    assert grid.best_score_ > 0.9
    assert grid.best_params_["lineplotrenderer__image_size"] in (16, 24)


def test_gallery_has_one_row_per_class(tmp_path):
    X, y = make_example_series(n_cases=9, n_classes=3, n_timepoints=30)
    path = save_gallery(
        LinePlotRenderer(image_size=32), X, y, tmp_path / "sub" / "g.png", n_per_class=2
    )
    with Image.open(path) as image:
        # 2 columns x 3 rows at 1.6 in each plus margins, 100 dpi.
        assert image.size == (400, 540)


def test_gallery_refuses_bad_requests(tmp_path):
    X, y = make_example_series(n_cases=4)
    with pytest.raises(ValueError, match="n_per_class must be >= 1"):
        save_gallery(LinePlotRenderer(), X, y, tmp_path / "g.png", n_per_class=0)
    with pytest.raises(ValueError, match="holds 1 class"):
        save_gallery(LinePlotRenderer(), X, np.zeros(4), tmp_path / "g.png")


def test_every_renderer_has_a_short_name():
    import vlmtsc.renderers as module

    exported = {
        getattr(module, name)
        for name in module.__all__
        if isinstance(getattr(module, name), type)
        and issubclass(getattr(module, name), module.BaseRenderer)
        and getattr(module, name) is not module.BaseRenderer
    }
    assert exported == set(RENDERERS) == set(module.RENDERERS.values())
    assert isinstance(make_renderer("windows", gamma=1.0), WindowStackRenderer)
    assert renderer_name(WindowStackRenderer) == "windows"


# ------------------------------------------------------------ window stacks (TiViT)
def _grey(images):
    """The grey level of RGB images whose three channels must be equal."""
    np.testing.assert_array_equal(images[..., 0], images[..., 1])
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    return images[..., 0].astype(float)


def test_window_stack_geometry_follows_tivit():
    # w = round(sqrt(T)), s = max(1, round(0.1 w)); windows cover every point.
    assert WindowStackRenderer().geometry(500) == (22, 2, 240)
    assert WindowStackRenderer().geometry(5000) == (71, 7, 706)
    # An int stride counts points, a float is a fraction of the window length.
    assert WindowStackRenderer(window_length=10, stride=3).geometry(100) == (10, 3, 31)
    assert WindowStackRenderer(window_length=10, stride=0.5).geometry(100) == (
        10,
        5,
        19,
    )
    assert WindowStackRenderer(window_length=10, stride=1.0).geometry(95) == (
        10,
        10,
        10,
    )
    # Shorter than a window: one (padded) window.
    assert WindowStackRenderer(window_length=10).geometry(4) == (10, 1, 1)
    # window_scale multiplies the automatic length (a coarser view), only it.
    assert WindowStackRenderer(window_scale=2).geometry(500) == (45, 4, 115)
    assert WindowStackRenderer(window_scale=0.5).geometry(500) == (11, 1, 490)
    with pytest.raises(ValueError, match="window_length='auto' or leave"):
        WindowStackRenderer(window_length=10, window_scale=2).transform(
            np.ones((1, 20))
        )
    image = _grey(
        WindowStackRenderer(image_size=16, window_length=10).transform(
            np.array([[0.0, 1.0, 3.0, 2.0]])
        )
    )[0]
    np.testing.assert_array_equal(image, np.broadcast_to(image[0], image.shape))
    # Padding repeats the last value: a ramp ends in a flat stretch, not an edge.
    ramp = WindowStackRenderer(image_size=20, window_length=5, stride=1.0).transform(
        np.arange(12.0)[None]
    )
    assert _grey(ramp)[0, -1].max() == 255 and np.diff(_grey(ramp)[0, -1]).min() >= 0


def test_window_stack_default_is_224_rgb_grey():
    X, _ = make_example_series(n_cases=2, n_timepoints=100)
    images = WindowStackRenderer().transform(X)
    assert images.shape == (2, 224, 224, 3) and images.dtype == np.uint8
    grey = _grey(images)
    assert grey.min() == 0 and grey.max() == 255  # stretched contrast


def test_window_stack_ignores_offset_and_scale():
    x = np.random.default_rng(0).normal(size=(3, 300)).cumsum(axis=1)
    renderer = WindowStackRenderer(image_size=64)
    np.testing.assert_array_equal(renderer.transform(x), renderer.transform(5 * x + 3))
    # ... but not the shape: a flipped series is another image.
    assert not np.array_equal(renderer.transform(x), renderer.transform(-x))


def test_window_stack_runs_time_down_the_rows():
    def step_row(t0):
        x = np.zeros(400)
        x[t0:] = 1.0
        image = _grey(WindowStackRenderer(image_size=100).transform(x[None]))[0]
        return int(np.argmax(image.mean(axis=1) > 127))  # first bright row

    early, late = step_row(100), step_row(300)
    assert abs(early - 25) <= 3 and abs(late - 75) <= 3


def test_window_stack_gamma_brightens_mid_tones():
    x = np.random.default_rng(1).normal(size=(1, 200)).cumsum(axis=1)
    linear = _grey(WindowStackRenderer(image_size=32, gamma=1.0).transform(x))
    bright = _grey(WindowStackRenderer(image_size=32).transform(x))
    middle = (linear > 20) & (linear < 235)
    assert middle.any() and (bright[middle] > linear[middle]).all()
    np.testing.assert_allclose(bright / 255, (linear / 255) ** 0.8, atol=0.01)


def test_window_stack_lengths_2_and_5000_in_one_call():
    long = np.random.default_rng(2).normal(size=(1, 5000)).cumsum(axis=1)
    renderer = WindowStackRenderer(image_size=32)
    images = renderer.transform([np.array([[0.0, 1.0]]), long])
    assert images.shape == (2, 32, 32, 3)
    short = _grey(images)[0]
    # Two one-point windows: the first (low) point on top, the second below.
    assert short[0].max() == 0 and short[-1].min() == 255
    np.testing.assert_array_equal(images[1], renderer.transform(long)[0])


def test_window_stack_channels_get_their_own_panels():
    t = np.arange(200.0)
    X = np.stack([t, -t, t, -t])[None]  # rising, falling, rising, falling
    grey = _grey(WindowStackRenderer(image_size=64).transform(X))[0]
    # 2 x 2 panels of 31 px with a white 2 px gap at 31..32 (as the fields).
    assert (grey[31:33] == 255).all() and (grey[:, 31:33] == 255).all()
    for top, left, rising in [(0, 0, True), (0, 33, False), (33, 0, True)]:
        panel = grey[top : top + 31, left : left + 31]
        assert (panel[-1].mean() > panel[0].mean()) == rising
    stacked = _grey(WindowStackRenderer(image_size=64, layout="stacked").transform(X))
    assert np.flatnonzero((stacked[0] == 255).all(axis=1)).tolist()[:2] == [14, 15]


def test_window_stack_resize_is_pils_bilinear():
    image = np.random.default_rng(3).normal(size=(90, 7)).astype(np.float32)
    for height, width in [(40, 30), (200, 5)]:
        reference = Image.fromarray(image, mode="F").resize(
            (width, height), Image.Resampling.BILINEAR
        )
        ours = resize_weights(90, height) @ image @ resize_weights(7, width).T
        np.testing.assert_allclose(ours, np.asarray(reference), atol=1e-5)


def test_window_stack_is_a_plain_sklearn_estimator():
    renderer = WindowStackRenderer(image_size=48, window_length=8, stride=0.25)
    copy = clone(renderer)
    assert copy is not renderer and copy.get_params() == renderer.get_params()
    assert set(renderer.get_params()) == {
        "image_size",
        "window_length",
        "window_scale",
        "stride",
        "gamma",
        "layout",
    }
    X, _ = make_example_series(n_cases=2, n_timepoints=64)
    np.testing.assert_array_equal(copy.transform(X), renderer.transform(X))
    assert copy.set_params(stride=2).geometry(64) == (8, 2, 29)


def test_window_stack_survives_a_zero_interquartile_range():
    x = np.zeros(100)
    x[50] = 1.0  # median 0, IQR 0: scaled by 1 instead
    grey = _grey(WindowStackRenderer(image_size=50).transform(x[None]))[0]
    bright = np.flatnonzero(grey.max(axis=1) > 127)
    assert grey.max() == 255 and grey[:10].max() == 0 and grey[-10:].max() == 0
    assert bright.min() >= 15 and bright.max() <= 30  # windows holding point 50


# ------------------------------------------------------------------- heatmaps
def test_heatmap_shows_the_channels_levels_relative_to_each_other():
    # Two constant channels: the higher one is the top band, drawn in the colour
    # map's last colour, the lower the bottom band in its first; swapping them
    # swaps the bands. Per-channel panels would draw both alike.
    renderer = HeatmapRenderer(image_size=20, cmap="gray", gamma=1.0)
    x = np.array([[2.0] * 30, [-1.0] * 30])
    grey = _grey(renderer.transform(np.stack([x, x[::-1]])))
    assert (grey[0, :5] == 255).all() and (grey[0, -5:] == 0).all()
    np.testing.assert_array_equal(grey[1], grey[0][::-1])
    # Colour: viridis runs from purple (low) to yellow (high).
    top, bottom = HeatmapRenderer(image_size=20).transform(x[None])[0, [0, -1], 0]
    assert top[1] > 200 and bottom[2] > top[2]
    # One scale per case, none across cases: an affine map changes nothing.
    np.testing.assert_array_equal(
        renderer.transform(5 * x[None] + 3), renderer.transform(x[None])
    )


def test_heatmap_time_map_reproduces_the_image():
    # The image (grey, gamma 1) is the contrast stretch of the time map applied
    # to the series: the map is exactly the resize the rendering does.
    X, _ = make_example_series(n_cases=1, n_channels=3, n_timepoints=37)
    renderer = HeatmapRenderer(image_size=24, cmap="gray", gamma=1.0)
    grey = _grey(renderer.transform(X))[0].ravel()
    values = renderer.time_map(37, 3) @ X[0].ravel()
    stretched = (values - values.min()) / (values.max() - values.min()) * 255
    np.testing.assert_allclose(grey, stretched, atol=1.0)
    assert renderer_name(HeatmapRenderer) == "heatmap"


def test_heatmap_rejects_an_unknown_colour_map():
    with pytest.raises(ValueError, match="Unknown colour map 'nope'"):
        HeatmapRenderer(cmap="nope").transform(np.ones((1, 1, 5)))
