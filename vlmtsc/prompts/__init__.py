"""Prompts for language models: values as text, statistics, token budgets.

:class:`TimeSeriesPrompt` builds seed 001's prompts (``"baseline"``,
``"with_stats"``, ``"with_rationale"``) and shortens the values, uniformly or
adaptively, when a prompt would exceed the model's context.
"""

from vlmtsc.prompts._template import (
    MODES,
    PromptExample,
    TimeSeriesPrompt,
    count_tokens,
)
from vlmtsc.prompts._text import (
    STATISTICS,
    format_statistics,
    serialize_series,
    series_statistics,
)
from vlmtsc.series import (
    DownsamplingWarning,
    downsample,
    downsample_adaptive,
    downsample_uniform,
)

__all__ = [
    "MODES",
    "STATISTICS",
    "DownsamplingWarning",
    "PromptExample",
    "TimeSeriesPrompt",
    "count_tokens",
    "downsample",
    "downsample_adaptive",
    "downsample_uniform",
    "format_statistics",
    "serialize_series",
    "series_statistics",
]
