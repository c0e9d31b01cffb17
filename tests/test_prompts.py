"""Prompts: serialisation, statistics, downsampling, budgets, rationales."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from vlmtsc.prompts import (
    STATISTICS,
    DownsamplingWarning,
    TimeSeriesPrompt,
    count_tokens,
    downsample,
    downsample_adaptive,
    downsample_uniform,
    format_statistics,
    serialize_series,
    series_statistics,
)
from vlmtsc.testing import make_example_series

CLASSES = np.array(["down", "up"])


class CharTokenizer:
    """Every character is a token: much stricter than the default estimate."""

    def encode(self, text, add_special_tokens=False):
        return list(text)


# --- serialisation and statistics ---------------------------------------------------


def test_serialize_univariate_and_multivariate():
    assert serialize_series(np.array([0.123, -1.5, 2.0])) == "0.12, -1.50, 2.00"
    assert (
        serialize_series(np.array([[-0.001, 1.26]]), decimals=1, separator=" ")
        == "0.0 1.3"
    )
    text = serialize_series(np.array([[1.0, 2.0], [3.0, 4.0]]), decimals=0)
    assert text == "Dimension 1: [1, 2]\nDimension 2: [3, 4]"


def test_statistics_values():
    [stats] = series_statistics(np.array([1.0, 2.0, 3.0, 4.0]))
    assert list(stats) == list(STATISTICS)
    assert stats["mean"] == 2.5 and stats["min"] == 1.0 and stats["max"] == 4.0
    assert stats["slope"] == pytest.approx(1.0)
    assert stats["energy"] == pytest.approx(7.5)
    [wave] = series_statistics(np.sin(np.linspace(0, 8 * np.pi, 200, endpoint=False)))
    assert wave["dominant_frequency"] == pytest.approx(4 / 200)
    assert wave["peaks"] == 4
    assert wave["lag1_autocorrelation"] > 0.95
    assert wave["spectral_entropy"] < 0.05
    [noise] = series_statistics(np.random.default_rng(0).normal(size=2000))
    assert noise["spectral_entropy"] > 0.8
    assert abs(noise["lag1_autocorrelation"]) < 0.1


def test_statistics_of_a_flat_series_are_finite():
    [stats] = series_statistics(np.full(10, 3.0))
    assert all(np.isfinite(v) for v in stats.values())
    assert stats["std"] == 0 and stats["skewness"] == 0 and stats["peaks"] == 0


def test_format_statistics_one_line_per_channel():
    text = format_statistics(np.random.default_rng(0).normal(size=(3, 50)))
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("Dimension 2 statistics: mean=")
    assert all(f"{name}=" in lines[0] for name in STATISTICS)


# --- downsampling -----------------------------------------------------------------


def test_uniform_downsampling_averages_blocks():
    values, positions = downsample_uniform(np.arange(7.0)[None], 3)
    assert values.tolist() == [[1.0, 4.0, 6.0]]
    assert positions.tolist() == [1.0, 4.0, 6.0]
    same, _ = downsample_uniform(np.arange(5.0)[None], 1)
    assert same.tolist() == [[0, 1, 2, 3, 4]]


def test_adaptive_downsampling_keeps_more_points_where_the_series_moves():
    quiet_then_busy = np.r_[np.zeros(200), np.sin(np.arange(200) * 1.3)][None]
    values, positions = downsample_adaptive(quiet_then_busy, 50)
    assert values.shape == (1, 50)
    assert np.all(np.diff(positions) > 0)
    assert (positions >= 200).sum() > 35
    # All channels share the segments, so they stay aligned.
    two, _ = downsample_adaptive(np.vstack([quiet_then_busy, 2 * quiet_then_busy]), 50)
    np.testing.assert_allclose(two[1], 2 * two[0])


@pytest.mark.parametrize("n_points", [1, 2, 7, 99, 100])
def test_adaptive_downsampling_hits_the_requested_length(n_points):
    x = np.random.default_rng(3).normal(size=(2, 100)).cumsum(axis=1)
    values, _ = downsample_adaptive(x, n_points)
    assert values.shape == (2, n_points)


def test_downsampling_bad_arguments():
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        downsample_uniform(np.zeros((1, 5)), 0)
    with pytest.raises(ValueError, match=r"n_points must be in \[1, 5\]"):
        downsample_adaptive(np.zeros((1, 5)), 6)
    with pytest.raises(ValueError, match="downsampling must be one of"):
        downsample(np.zeros((1, 5)), 2, "random")


# --- the prompt template -------------------------------------------------------------


def test_baseline_prompt_text_and_answer():
    prompt = TimeSeriesPrompt(decimals=1, domain_description="Hand motion recordings.")
    [example] = prompt.build(np.array([[0.0, 0.5, 1.0]]), ["up"], classes=CLASSES)
    assert example.prompt == (
        "Hand motion recordings.\n"
        "Which class is the following signal from?\n"
        "Possible classes: down, up.\n"
        "0.0, 0.5, 1.0\n"
        "Class:"
    )
    assert example.answer == " up"
    assert example.downsample_factor == 1


def test_prediction_prompts_have_no_answer():
    examples = TimeSeriesPrompt().build(np.zeros((2, 4)), classes=CLASSES)
    assert [e.answer for e in examples] == [None, None]


def test_stats_mode_image_only_and_label_names():
    X = np.array([[1.0, 2.0, 3.0]])
    stats = TimeSeriesPrompt(mode="with_stats").build(X, classes=CLASSES)[0].prompt
    assert "Statistics: mean=2" in stats
    image_only = TimeSeriesPrompt(include_values=False, list_classes=False).build(
        X, ["up"], classes=CLASSES, label_names={"up": "rising"}
    )[0]
    assert image_only.prompt == "Which class is the following signal from?\nClass:"
    assert image_only.answer == " rising"


def test_multivariate_prompt_has_a_block_per_channel():
    X, _ = make_example_series(n_cases=1, n_channels=3, n_timepoints=5)
    text = TimeSeriesPrompt().build(X, classes=CLASSES)[0].prompt
    assert [line[:12] for line in text.splitlines()[2:5]] == [
        "Dimension 1:",
        "Dimension 2:",
        "Dimension 3:",
    ]


@pytest.mark.parametrize("method", ["uniform", "adaptive"])
def test_context_budget_is_met_with_the_given_tokenizer(method):
    X, y = make_example_series(n_cases=4, n_timepoints=200)
    tokenizer = CharTokenizer()
    prompt = TimeSeriesPrompt(context_length=400, downsampling=method)
    with pytest.warns(
        DownsamplingWarning, match=f"4 of 4 series were downsampled \\({method}"
    ):
        examples = prompt.build(
            X, CLASSES[y], classes=CLASSES, tokenizer=tokenizer, reserved_tokens=10
        )
    for example in examples:
        used = count_tokens(example.prompt + example.answer, tokenizer) + 10
        assert used <= 400
        assert example.downsample_factor > 1
        # Not shortened more than needed: half the factor would not have fit.
        assert used > 400 * 0.6


def test_no_warning_when_everything_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [example] = TimeSeriesPrompt(context_length=10_000).build(
            np.zeros((1, 50)), classes=CLASSES
        )
    assert example.downsample_factor == 1


def test_budget_counts_the_longest_label_when_predicting():
    long_names = {"down": "d", "up": "u" * 300}
    X = np.zeros((1, 40))
    with pytest.warns(DownsamplingWarning):
        [example] = TimeSeriesPrompt(context_length=800).build(
            X, classes=CLASSES, label_names=long_names, tokenizer=CharTokenizer()
        )
    assert example.downsample_factor > 1
    assert len(example.prompt) + 1 + 300 <= 800


def test_budget_too_small_is_a_clear_error():
    with pytest.raises(
        ValueError, match="context_length=10 leaves no room for the values"
    ):
        TimeSeriesPrompt(context_length=10).build(np.zeros((1, 50)), classes=CLASSES)
    with pytest.raises(ValueError, match="too small even for one value per channel"):
        TimeSeriesPrompt(context_length=19).build(np.zeros((1, 50)), classes=CLASSES)


def test_rationale_sees_only_training_cases_and_their_labels():
    calls = []

    def rationale(x, label):
        calls.append((x.shape, label))
        return f"it goes {label}"

    prompt = TimeSeriesPrompt(mode="with_rationale", rationale=rationale)
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    train = prompt.build(X, ["up", "down"], classes=CLASSES)
    assert calls == [((1, 2), "up"), ((1, 2), "down")]
    assert train[0].answer == " up\nRationale: it goes up"
    # Predicting calls no rationale and puts no label anywhere in the prompt.
    test = prompt.build(X, classes=CLASSES)
    assert len(calls) == 2
    assert all(e.answer is None and "Rationale" not in e.prompt for e in test)


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"mode": "chatty"}, "'mode' parameter .* among"),
        ({"mode": "with_rationale"}, "needs rationale=callable"),
        ({"downsampling": "random"}, "'downsampling' parameter .* among"),
        ({"decimals": -1}, r"'decimals' .* \[0, inf\)"),
        ({"context_length": 0}, r"'context_length' .* \[1, inf\) or None"),
    ],
)
def test_bad_prompt_parameters(params, pattern):
    with pytest.raises(ValueError, match=pattern):
        TimeSeriesPrompt(**params).build(np.zeros((1, 3)), classes=CLASSES)


def test_bad_labels_and_rationales():
    with pytest.raises(ValueError, match=r"labels \['sideways'\] not in classes"):
        TimeSeriesPrompt().build(np.zeros((1, 3)), ["sideways"], classes=CLASSES)
    with pytest.raises(ValueError, match=r"y must have shape \(1,\)"):
        TimeSeriesPrompt().build(np.zeros((1, 3)), ["up", "up"], classes=CLASSES)
    bad = TimeSeriesPrompt(mode="with_rationale", rationale=lambda x, label: 42)
    with pytest.raises(TypeError, match="rationale must return a str, got int"):
        bad.build(np.zeros((1, 3)), ["up"], classes=CLASSES)


def test_prompt_is_a_clonable_nested_parameter():
    prompt = TimeSeriesPrompt(mode="with_stats", context_length=256)
    copy = clone(prompt)
    assert copy.get_params() == prompt.get_params()
    assert copy is not prompt


def test_approximate_token_count_splits_digits():
    assert count_tokens("12.5, -3") == 7  # 1 2 . 5 , - 3
    assert count_tokens("Class: up") == 3
