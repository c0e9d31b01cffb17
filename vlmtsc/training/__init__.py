"""The training core shared by every language-model estimator.

:func:`train` is the one loop (AdamW, warm-up and decay, gradient accumulation
and clipping, best-epoch checkpointing on a validation split of the training
data, early stopping, bf16 autocast where the device runs it natively, tqdm
progress). :class:`LabelScoringModel` puts a backbone, its LoRA adapters,
prompt encoding (loss on the answer tokens only) and label scoring together;
the start every text prompt shares runs once (:func:`shared_start`).
"""

from vlmtsc.persistence import write_once
from vlmtsc.training._lm import (
    LabelScoringModel,
    batch_features,
    batches_of_equal_shape,
    collate,
    decoder_blocks,
    embed_prefixes,
    encode_answer,
    encode_prefix,
    label_log_likelihoods,
    middle_stages,
    resolve_layers,
    score_labels,
    shared_start,
    shared_start_loss,
    training_example,
)
from vlmtsc.training._loop import (
    MIXED_PRECISION,
    TrainingConfig,
    TrainingResult,
    bf16_autocast,
    captured_output,
    epochs_for_steps,
    epochs_within,
    input_gradients,
    resolve_device,
    seed_everything,
    train,
)
from vlmtsc.training._probe import (
    PROBE_STRENGTHS,
    fit_pooled_head,
    fit_probe,
    probe_as_linear,
    probe_log_proba,
)
from vlmtsc.training._selection import (
    ValidationWarning,
    train_with_validation,
    validation_score,
    validation_splits,
)
from vlmtsc.training._series import (
    NORMALIZATIONS,
    SeriesAugmenter,
    SeriesNormalizer,
    channel_stats,
    normalize_series,
    series_stats,
)

__all__ = [
    "MIXED_PRECISION",
    "NORMALIZATIONS",
    "PROBE_STRENGTHS",
    "LabelScoringModel",
    "SeriesAugmenter",
    "SeriesNormalizer",
    "TrainingConfig",
    "TrainingResult",
    "ValidationWarning",
    "batch_features",
    "batches_of_equal_shape",
    "bf16_autocast",
    "captured_output",
    "channel_stats",
    "collate",
    "decoder_blocks",
    "embed_prefixes",
    "encode_answer",
    "encode_prefix",
    "epochs_for_steps",
    "epochs_within",
    "fit_pooled_head",
    "fit_probe",
    "input_gradients",
    "label_log_likelihoods",
    "middle_stages",
    "normalize_series",
    "probe_as_linear",
    "probe_log_proba",
    "resolve_device",
    "resolve_layers",
    "score_labels",
    "seed_everything",
    "series_stats",
    "shared_start",
    "shared_start_loss",
    "train",
    "train_with_validation",
    "training_example",
    "validation_score",
    "validation_splits",
    "write_once",
]
