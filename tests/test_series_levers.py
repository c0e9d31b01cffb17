"""Normalisation and augmentation of the series (the small-data levers)."""

import numpy as np
import pytest

from vlmtsc.training import (
    NORMALIZATIONS,
    SeriesAugmenter,
    SeriesNormalizer,
    channel_stats,
    normalize_series,
)


def _series():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 2, 40)).cumsum(axis=-1)
    X[:, 1] *= 10  # channel 1 moves ten times more
    return X


def test_per_channel_normalization_gives_each_channel_mean_0_std_1():
    Z = normalize_series(_series(), "per_channel")
    np.testing.assert_allclose(Z.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=-1), 1)


def test_across_channels_normalization_keeps_relative_amplitudes():
    X = _series()
    Z = normalize_series(X, "across_channels")
    np.testing.assert_allclose(Z.mean(axis=(-2, -1)), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=(-2, -1)), 1)
    ratio = X[:, 1].std(axis=-1) / X[:, 0].std(axis=-1)
    np.testing.assert_allclose(Z[:, 1].std(axis=-1) / Z[:, 0].std(axis=-1), ratio)


def test_global_normalization_uses_the_training_statistics_for_every_case():
    X = _series()
    fitted = channel_stats(X[:2])  # statistics of a "training" part
    Z = normalize_series(X, "global", fitted)
    loc, scale = fitted
    np.testing.assert_allclose(Z, (X - loc[:, None]) / scale[:, None])
    # One scale for all cases: a series five times louder stays five times louder.
    loud = normalize_series(X[:1] * 5 + loc[:, None] * -4, "global", fitted)
    np.testing.assert_allclose(loud, Z[:1] * 5)
    unequal = normalize_series([x[:, :30] for x in X], "global", fitted)
    np.testing.assert_allclose(unequal[0], Z[0, :, :30])
    with pytest.raises(ValueError, match="pass fitted=channel_stats"):
        normalize_series(X, "global")


def test_the_normalizer_keeps_global_statistics_of_its_training_series():
    X = _series()
    normalizer = SeriesNormalizer("global").fit(X)
    loc, scale = channel_stats(X)
    np.testing.assert_allclose(normalizer.loc_, loc)
    np.testing.assert_allclose(normalizer.scale_, scale)
    new = 3 * X[:2]  # new series keep their amplitude relative to training
    np.testing.assert_allclose(
        normalizer.transform(new), (new - loc[:, None]) / scale[:, None]
    )
    assert SeriesNormalizer("per_channel").fit(X).loc_ is None
    np.testing.assert_allclose(
        SeriesNormalizer("per_channel").fit(X).transform(new),
        normalize_series(new, "per_channel"),
    )
    with pytest.raises(ValueError, match="normalization must be one of"):
        SeriesNormalizer("minmax").fit(X)


@pytest.mark.parametrize(
    "estimator",
    [
        "CrossTimeNetClassifier",
        "InstructTimeClassifier",
        "MTCSClassifier",
        "TimeLlamaClassifier",
        "VLMTimeSeriesClassifier",
    ],
)
def test_every_estimator_speaks_the_one_normalization_vocabulary(estimator):
    import vlmtsc

    cls = getattr(vlmtsc, estimator)
    for normalization in NORMALIZATIONS:
        cls(normalization=normalization)._validate_params()
    with pytest.raises(ValueError, match="'normalization' parameter"):
        cls(normalization="minmax")._validate_params()


def test_normalization_of_unequal_lengths_and_flat_series():
    X = [np.ones((1, 5)), np.arange(8.0)[None]]
    Z = normalize_series(X, "per_channel")
    assert [z.shape for z in Z] == [(1, 5), (1, 8)]
    np.testing.assert_array_equal(Z[0], 0)  # flat stays flat, no division by 0
    assert normalize_series(X, None) is X
    with pytest.raises(ValueError, match="normalization must be one of"):
        normalize_series(X, "minmax")


def test_augmentation_varies_series_reproducibly_and_keeps_shape():
    X = _series()
    augmenter = SeriesAugmenter()
    first = augmenter.augment(X, np.random.default_rng(0))
    again = augmenter.augment(X, np.random.default_rng(0))
    other = augmenter.augment(X, np.random.default_rng(1))
    assert first.shape == X.shape
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, X) and not np.allclose(first, other)
    # Mild by default: the variation is small against the series' own spread.
    assert np.abs(first - X).mean() < 0.5 * X.std()


def test_each_augmentation_can_be_switched_off():
    X = _series()
    rng = np.random.default_rng(0)
    off = SeriesAugmenter(jitter=0, scaling=0, window_slice=1)
    np.testing.assert_array_equal(off.augment(X, rng), X)
    scaled = SeriesAugmenter(jitter=0, window_slice=1, scaling=0.2).augment(X, rng)
    factors = scaled / X  # one factor per channel, constant over time
    np.testing.assert_allclose(factors, factors[..., :1] * np.ones_like(factors))
    sliced = SeriesAugmenter(jitter=0, scaling=0, window_slice=0.5).augment(X, rng)
    # A stretched half-window: its range lies within the original's range.
    assert (sliced.max(axis=-1) <= X.max(axis=-1) + 1e-9).all()
    assert (sliced.min(axis=-1) >= X.min(axis=-1) - 1e-9).all()


def test_expand_puts_originals_first_and_returns_sources():
    X = [np.arange(6.0)[None], np.arange(9.0)[None]]
    expanded, source = SeriesAugmenter(n_copies=2).expand(X, np.random.default_rng(0))
    assert len(expanded) == 6
    assert source.tolist() == [0, 1, 0, 1, 0, 1]
    assert [x.shape[1] for x in expanded] == [6, 9] * 3
    np.testing.assert_array_equal(expanded[1], X[1])


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"jitter": -1}, r"'jitter' .* range \[0.0, inf\)"),
        ({"window_slice": 0}, r"'window_slice' .* range \(0.0, 1.0\]"),
        ({"n_copies": 0}, r"'n_copies' .* range \[1, inf\)"),
    ],
)
def test_bad_augmentation_settings(params, pattern):
    with pytest.raises(ValueError, match=pattern):
        SeriesAugmenter(**params).augment(_series(), np.random.default_rng(0))
