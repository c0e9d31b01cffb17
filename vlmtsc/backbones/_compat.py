"""The one place that knows which transformers API is installed.

transformers 5.25 renamed a model call's key/value cache argument and output
field from ``past_key_values`` to ``cache`` (the old name still works with a
deprecation warning until 5.40). vlmtsc supports releases on both sides of the
rename, so code that passes or reads a cache asks here for the name.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["CACHE_FIELDS", "cache_keyword", "output_cache"]

# Every name a model call has taken its key/value cache by, newest first.
CACHE_FIELDS = ("cache", "past_key_values")


@functools.cache
def cache_keyword() -> str:
    """The keyword a transformers model call takes its key/value cache by.

    ``"cache"`` from transformers 5.25 on, ``"past_key_values"`` before.

    Examples
    --------
    >>> cache_keyword() in CACHE_FIELDS
    True
    """
    from transformers import LlamaModel

    parameters = inspect.signature(LlamaModel.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def output_cache(output):
    """The key/value cache a model call returned (``use_cache=True``), or None."""
    return getattr(output, cache_keyword(), None)
