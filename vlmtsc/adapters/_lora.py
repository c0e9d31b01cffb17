"""LoRA and QLoRA on any supported backbone, with per-family defaults.

QLoRA is LoRA on a backbone loaded quantised (``load_backbone(...,
quantization="4bit")``, see :func:`vlmtsc.backbones.quantization_config`).
"""

from __future__ import annotations

import warnings
from typing import Any

from vlmtsc.backbones import import_peft

__all__ = ["add_lora"]


def add_lora(
    backbone,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: Any = None,
    modules_to_save: list[str] | None = None,
    model=None,
    verbose: int = 0,
):
    """Wrap ``backbone.model`` with LoRA adapters (peft) and return the peft model.

    Parameters
    ----------
    backbone : Backbone
        From :func:`vlmtsc.backbones.load_backbone`.
    r, alpha, dropout : LoRA rank, scaling numerator and dropout.
    target_modules : list of str or str, optional
        Defaults to the family's ``lora_targets`` (attention and MLP projections
        of the language model; a VLM's vision tower is left as pretrained).
    modules_to_save : list of str, optional
        Modules trained in full and saved with the adapter; defaults to the
        family's ``train_in_full`` (e.g. a freshly initialised projector).
    model : torch.nn.Module, optional
        A part of ``backbone.model`` to adapt instead of the whole model, e.g. a
        decoder cut to its first blocks; it is wrapped as a plain peft model (no
        task head).
    verbose : int, default=0
        Whether peft's and bitsandbytes' import-time log lines may show (see
        :func:`vlmtsc.backbones.quiet_library_logs`).

    Returns
    -------
    peft.PeftModel
        Only the adapter (and ``modules_to_save``) parameters require grad.
    """
    peft = import_peft(verbose)
    family = backbone.family
    whole = model is None
    model = backbone.model if whole else model
    if getattr(model, "is_loaded_in_4bit", False) or getattr(
        model, "is_loaded_in_8bit", False
    ):
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=False
        )
    task = {
        "causal_lm": peft.TaskType.CAUSAL_LM,
        "encoder": peft.TaskType.FEATURE_EXTRACTION,
    }.get(family.kind)
    if not whole:
        task = None
    config = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules or family.lora_targets,
        modules_to_save=modules_to_save or list(family.train_in_full) or None,
        fan_in_fan_out=family.lora_fan_in_fan_out,
        task_type=task,
    )
    with warnings.catch_warnings():
        # peft (up to 0.21 at least) reads the model's deprecated
        # `is_gradient_checkpointing` (transformers 5.x); nothing in our call
        # can avoid it, and the property works until transformers 6.
        warnings.filterwarnings(
            "ignore",
            message="`is_gradient_checkpointing` is deprecated",
            category=FutureWarning,
        )
        return peft.get_peft_model(model, config)
