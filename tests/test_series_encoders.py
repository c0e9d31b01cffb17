"""Frozen series encoders (Fracast-0) and their place in the linear head."""

import numpy as np
import pytest
import torch

from vlmtsc import VLMFeatureExtractor, VLMTimeSeriesClassifier
from vlmtsc.backbones import pooled_series_features, series_features
from vlmtsc.renderers import LinePlotRenderer
from vlmtsc.testing import make_example_series

torch.set_num_threads(1)


def test_features_pool_every_channel_and_every_step():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 2, 40))
    F = series_features("fracast", X)
    assert F.shape == (3, 2 * 192) and F.dtype == np.float32 and np.isfinite(F).all()
    # Channels side by side: a change in the second channel moves its block.
    changed = X.copy()
    changed[:, 1, -5:] += 3
    moved = series_features("fracast", changed)
    assert not np.allclose(moved[:, 192:], F[:, 192:])
    # A univariate series is one channel alone.
    np.testing.assert_allclose(
        series_features("fracast", X[:, 0]),
        series_features("fracast", X[:, :1]),
    )
    # Fracast scales each channel to [0, 1] itself: amplitude and offset vanish.
    np.testing.assert_allclose(series_features("fracast", 5 * X + 3), F, atol=1e-5)
    # A case reads the same alone and beside series of other lengths.
    cases = [X[0], rng.normal(size=(2, 25)), X[2]]
    np.testing.assert_allclose(
        series_features("fracast", cases)[[0, 2]], F[[0, 2]], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        series_features("fracast", X, batch_size=1), F, rtol=1e-5, atol=1e-6
    )


def test_short_channels_share_one_window_each_in_its_own_slot():
    from vlmtsc.backbones._series_encoders import _fracast

    rng = np.random.default_rng(4)
    X = rng.normal(size=(2, 3, 40))
    window = _fracast().context_length
    # The layout spelled out: channel k, min-max scaled, ends slot k of
    # window // 3 steps; the slots end at the window's end; every other step
    # is unobserved.
    ends = [window - (2 - k) * (window // 3) for k in range(3)]
    values = np.zeros((2, 1, window), np.float32)
    observed = torch.zeros(values.shape, dtype=torch.bool)
    for k, end in enumerate(ends):
        low, high = X[:, k].min(1, keepdims=True), X[:, k].max(1, keepdims=True)
        values[:, 0, end - 40 : end] = (X[:, k] - low) / (high - low)
        observed[:, 0, end - 40 : end] = True
    with torch.no_grad():
        hidden = _fracast().core(torch.as_tensor(values), observed, observed.float())
    expected = [hidden[:, end - 40 : end].numpy() for end in ends]
    expected = [np.hstack([h.mean(1), h.max(1), h.std(1)]) for h in expected]
    np.testing.assert_allclose(
        series_features("fracast", X), np.hstack(expected), rtol=1e-4, atol=1e-5
    )


def test_channels_too_long_to_share_a_window_are_read_alone():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1, 2, 1500))  # 2 x 1500 > 2048 steps
    F = series_features("fracast", X)
    for channel in range(2):
        np.testing.assert_allclose(
            F[:, 192 * channel : 192 * (channel + 1)],
            series_features("fracast", X[:, channel]),
            rtol=1e-5,
            atol=1e-6,
        )


def test_a_series_longer_than_the_context_is_read_whole():
    rng = np.random.default_rng(1)
    long = rng.normal(size=(1, 1, 2100))  # Fracast reads 2048 steps at a time
    changed = long.copy()
    changed[0, 0, :30] += 5  # only the first steps, outside the last window
    assert not np.allclose(
        series_features("fracast", long), series_features("fracast", changed)
    )


def test_the_torch_function_matches_and_has_gradients():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2, 1, 30))
    cases = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    pooled = pooled_series_features("fracast", cases)
    np.testing.assert_allclose(
        pooled.detach().numpy(), series_features("fracast", X), rtol=1e-5, atol=1e-6
    )
    (grad,) = torch.autograd.grad(pooled[0].sum(), cases)
    assert grad[0].abs().sum() > 0 and not grad[1].any()  # cases stay apart


def test_unknown_encoder_is_named():
    with pytest.raises(ValueError, match=r"Unknown series encoder 'moment'.*fracast"):
        series_features("moment", np.zeros((1, 1, 10)))


def test_the_probe_adds_fracast_features_by_default():
    X, y = make_example_series(n_cases=12, n_timepoints=30)
    line = LinePlotRenderer(image_size=32)
    probe = VLMTimeSeriesClassifier(
        backbone="tiny-llava", head="linear", renderer=line, verbose=0
    ).fit(X, y)
    assert probe.series_encoder_ == "fracast"
    images_only = VLMTimeSeriesClassifier(
        backbone="tiny-llava",
        head="linear",
        renderer=line,
        series_encoder=None,
        verbose=0,
    ).fit(X, y)
    width = images_only.transform(X).shape[1]
    features = probe.transform(X)
    assert features.shape == (12, width + 192)
    np.testing.assert_allclose(features[:, :width], images_only.transform(X), rtol=1e-5)
    np.testing.assert_allclose(features[:, width:], series_features("fracast", X))
    extracted = VLMFeatureExtractor(backbone="tiny-llava", renderer=line, verbose=0)
    np.testing.assert_allclose(
        extracted.fit_transform(X)[:, width:], features[:, width:]
    )
    # Label scoring reads images only: "auto" means none there, and asking
    # for one is refused before anything loads.
    tuned = VLMTimeSeriesClassifier(
        backbone="tiny-llava", head="lm", n_epochs=1, verbose=0
    )
    assert tuned.fit(X, y).series_encoder_ is None
    with pytest.raises(
        ValueError, match="series_encoder='fracast' feeds the probe's features"
    ):
        tuned.set_params(series_encoder="fracast").fit(X, y)


def test_gradients_follow_the_series_features_too():
    X, y = make_example_series(n_cases=10, n_timepoints=30)
    params = dict(backbone="tiny-llava", head="linear", verbose=0)
    line = LinePlotRenderer(image_size=32)
    with_series = VLMTimeSeriesClassifier(renderer=line, **params).fit(X, y)
    images_only = VLMTimeSeriesClassifier(
        renderer=line, series_encoder=None, **params
    ).fit(X, y)
    both = with_series.explain(X[:3], method="gradient")
    assert both.shape == (3, 1, 30) and np.isfinite(both).all() and (both >= 0).all()
    assert not np.allclose(both, images_only.explain(X[:3], method="gradient"))
    # Every step gets some attribution through the series path (the plot's
    # pixels alone leave steps between drawn pixels at zero only by chance).
    assert (both > 0).mean() > 0.9


def test_an_unknown_series_encoder_is_refused_before_any_weights_load():
    X, _ = make_example_series(n_cases=4, n_timepoints=20)
    # The backbone does not exist either: the series encoder is checked first.
    extractor = VLMFeatureExtractor(backbone="no/such-model", series_encoder="moment")
    with pytest.raises(ValueError, match=r"Unknown series_encoder 'moment'.*fracast"):
        extractor.fit(X)
