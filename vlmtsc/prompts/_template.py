"""The prompt a language model reads for one series, within a token budget."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.base import check_series, resolve_label_names
from vlmtsc.prompts._text import format_statistics, serialize_series
from vlmtsc.series import (
    DOWNSAMPLING_METHODS,
    DownsamplingWarning,
    downsample,
)

__all__ = ["MODES", "PromptExample", "TimeSeriesPrompt", "count_tokens"]

MODES = ("baseline", "with_stats", "with_rationale")

# Digits one by one, words, and single symbols: how Llama-family and GPT-2-style
# BPE tokenizers roughly split serialised numbers.
_APPROXIMATE_TOKEN = re.compile(r"\d|[^\W\d_]+|[^\w\s]|_")


def count_tokens(text: str, tokenizer=None) -> int:
    """Number of tokens of ``text``.

    Parameters
    ----------
    text : str
    tokenizer : object, optional
        A Hugging Face tokenizer (its ``encode`` is used without special tokens) or
        any callable returning a sequence of tokens. ``None`` uses an approximation
        that counts every digit, word and symbol as one token.

    Returns
    -------
    int

    Examples
    --------
    >>> count_tokens("0.25, -1.5")
    9
    """
    if tokenizer is None:
        return len(_APPROXIMATE_TOKEN.findall(text))
    if hasattr(tokenizer, "encode"):
        try:
            return len(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:
            return len(tokenizer.encode(text))
    return len(tokenizer(text))


@dataclass(frozen=True)
class PromptExample:
    """One formatted case.

    Attributes
    ----------
    prompt : str
        What the model reads (the image, if any, is added by the estimator).
    answer : str or None
        The training target after the prompt (label text, then the rationale in
        ``"with_rationale"`` mode); ``None`` for cases to predict.
    downsample_factor : int
        ``1`` if the values were written in full, else about how many timepoints
        each written value summarises.
    """

    prompt: str
    answer: str | None
    downsample_factor: int = 1


class TimeSeriesPrompt(BaseEstimator):
    """Build the text prompts of seed 001: values, statistics, rationales.

    A nested parameter of the LM estimators (``clf.set_params(prompt__mode=...)``),
    usable on its own to see exactly what a model reads.

    Modes
    -----
    ``"baseline"``
        The question, the candidate classes and the values (rounded to
        ``decimals``; one ``Dimension i: [...]`` line per channel).
    ``"with_stats"``
        Also per-channel summary statistics of the full series.
    ``"with_rationale"``
        As baseline; at fit time each training answer is the label followed by a
        rationale from the user's ``rationale(x, label)`` callable. The callable only
        ever sees a training series and its own label; prompts to predict never
        contain a label or a rationale, and the label is scored before any
        rationale, so predicting needs none.

    With ``context_length`` set, a prompt that would exceed it has its values
    downsampled (``"uniform"``: block means; ``"adaptive"``: more points where the
    series varies) by the smallest factor that fits, measured per case with the
    backbone's tokenizer, and a :class:`DownsamplingWarning` says how many cases
    were shortened.

    Parameters
    ----------
    mode : {"baseline", "with_stats", "with_rationale"}, default="baseline"
        What the prompt holds besides the question.
    include_values : bool, default=True
        Write the series values (``False`` for image-only prompts).
    decimals : int, default=2
        Digits after the decimal point of written values.
    separator : str, default=", "
        Between written values.
    context_length : int, optional
        Token budget for prompt plus answer (and ``reserved_tokens``, e.g. image
        tokens); ``None`` never shortens.
    downsampling : {"uniform", "adaptive"}, default="uniform"
        How values are shortened to fit ``context_length``.
    rationale : callable, optional
        ``rationale(x, label) -> str`` for ``"with_rationale"``; ``x`` is one
        training case ``(n_channels, n_timepoints)``.
    question : str, default="Which class is the following signal from?"
        The instruction.
    domain_description : str, optional
        A first line describing the data, e.g. ``"These are accelerometer
        recordings of four activities."``
    list_classes : bool, default=True
        Name the candidate classes in the prompt.

    Examples
    --------
    >>> import numpy as np
    >>> prompt = TimeSeriesPrompt(mode="baseline", decimals=1)
    >>> [example] = prompt.build(np.array([[0.0, 0.5, 1.0]]), ["up"],
    ...                          classes=np.array(["down", "up"]))
    >>> print(example.prompt)
    Which class is the following signal from?
    Possible classes: down, up.
    0.0, 0.5, 1.0
    Class:
    >>> example.answer
    ' up'
    """

    def __init__(
        self,
        mode="baseline",
        include_values=True,
        decimals=2,
        separator=", ",
        context_length=None,
        downsampling="uniform",
        rationale=None,
        question="Which class is the following signal from?",
        domain_description=None,
        list_classes=True,
    ):
        self.mode = mode
        self.include_values = include_values
        self.decimals = decimals
        self.separator = separator
        self.context_length = context_length
        self.downsampling = downsampling
        self.rationale = rationale
        self.question = question
        self.domain_description = domain_description
        self.list_classes = list_classes

    _parameter_constraints: ClassVar[dict] = {
        "mode": [StrOptions(set(MODES))],
        "include_values": ["boolean"],
        "decimals": [Interval(Integral, 0, None, closed="left")],
        "separator": [str],
        "context_length": [Interval(Integral, 1, None, closed="left"), None],
        "downsampling": [StrOptions(set(DOWNSAMPLING_METHODS))],
        "rationale": [callable, None],
        "question": [str],
        "domain_description": [str, None],
        "list_classes": ["boolean"],
    }

    def _check_params(self) -> None:
        """Every parameter, and that a rationale mode has its callable."""
        self._validate_params()
        if self.mode == "with_rationale" and not callable(self.rationale):
            raise ValueError(
                "mode='with_rationale' needs rationale=callable(x, label) -> str, "
                f"got {self.rationale!r}."
            )

    def _compose(self, x, values, label_texts) -> str:
        parts = [self.domain_description] if self.domain_description else []
        parts.append(self.question)
        if self.list_classes:
            parts.append(f"Possible classes: {', '.join(label_texts)}.")
        if values is not None:
            parts.append(
                serialize_series(
                    values, decimals=self.decimals, separator=self.separator
                )
            )
        if self.mode == "with_stats":
            parts.append(format_statistics(x))
        parts.append("Class:")
        return "\n".join(parts)

    def _fit_budget(self, x, label_texts, answer, tokenizer, reserved_tokens):
        """The prompt for case ``x`` and its downsampling factor."""
        if not self.include_values:
            return self._compose(x, None, label_texts), 1
        full = self._compose(x, x, label_texts)
        if self.context_length is None:
            return full, 1
        extra = count_tokens(answer, tokenizer) + reserved_tokens
        total = count_tokens(full, tokenizer) + extra
        if total <= self.context_length:
            return full, 1
        fixed = count_tokens(self._compose(x, None, label_texts), tokenizer) + extra
        available = self.context_length - fixed
        if available <= 0:
            raise ValueError(
                f"context_length={self.context_length} leaves no room for the values: "
                f"the rest of the prompt and the answer already take {fixed} tokens. "
                "Raise context_length, shorten the question, or set "
                "include_values=False."
            )
        n_timepoints = x.shape[1]
        factor = math.ceil((total - fixed) / available)
        while factor <= n_timepoints:
            values, _ = downsample(x, factor, self.downsampling)
            text = self._compose(x, values, label_texts)
            if count_tokens(text, tokenizer) + extra <= self.context_length:
                return text, factor
            # Tokens per value vary; step up gently so no more is cut than needed.
            factor += max(1, factor // 10)
        raise ValueError(
            f"context_length={self.context_length} is too small even for one value "
            f"per channel ({x.shape[0]} channels); raise it or set "
            "include_values=False."
        )

    def build(
        self, X, y=None, *, classes, label_names=None, tokenizer=None, reserved_tokens=0
    ) -> list[PromptExample]:
        """Format every case of ``X``.

        Parameters
        ----------
        X : array-like or list of array-like
            Series (2D, 3D or a list of 2D arrays).
        y : array-like of shape (n_cases,), optional
            Training labels: given, each example gets an ``answer`` (and in
            ``"with_rationale"`` mode the rationale callable is called); omitted for
            cases to predict, which never see a label.
        classes : array-like
            All classes, in ``classes_`` order (the candidates in the prompt).
        label_names : dict or sequence of str, optional
            Text of each class (see :func:`vlmtsc.base.resolve_label_names`).
        tokenizer : object, optional
            Counts tokens for ``context_length`` (see :func:`count_tokens`).
        reserved_tokens : int, default=0
            Tokens the estimator adds around the prompt (image tokens, chat
            template), counted against ``context_length``.

        Returns
        -------
        list of PromptExample
        """
        self._check_params()
        X = check_series(X, estimator_name=type(self).__name__)
        classes = np.asarray(classes)
        texts = resolve_label_names(classes, label_names)
        text_of = dict(zip(classes.tolist(), texts, strict=True))
        labels = None
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(X),):
                raise ValueError(f"y must have shape ({len(X)},), got {y.shape}.")
            labels = y.tolist()
            unknown = set(labels) - set(text_of)
            if unknown:
                raise ValueError(f"y holds labels {sorted(unknown)!r} not in classes.")
        # The budget must hold the longest label the model may be asked to score.
        longest = max(texts, key=lambda t: count_tokens(t, tokenizer))
        examples = []
        for i, x in enumerate(X):
            answer = None
            if labels is not None:
                answer = f" {text_of[labels[i]]}"
                if self.mode == "with_rationale":
                    reason = self.rationale(x.copy(), labels[i])
                    if not isinstance(reason, str):
                        raise TypeError(
                            f"rationale must return a str, got {type(reason).__name__}."
                        )
                    answer += f"\nRationale: {reason.strip()}"
            budget_answer = answer if answer is not None else f" {longest}"
            prompt, factor = self._fit_budget(
                x, texts, budget_answer, tokenizer, reserved_tokens
            )
            examples.append(PromptExample(prompt, answer, factor))
        factors = [e.downsample_factor for e in examples if e.downsample_factor > 1]
        if factors:
            warnings.warn(
                f"{len(factors)} of {len(examples)} series were downsampled "
                f"({self.downsampling}, factor {min(factors)}-{max(factors)}) so their "
                f"prompts fit context_length={self.context_length} tokens; the values "
                "the model reads summarise several timepoints each.",
                DownsamplingWarning,
                stacklevel=2,
            )
        return examples
