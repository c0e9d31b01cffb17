"""LoRA and QLoRA on any supported backbone, with per-family defaults."""

from __future__ import annotations

from typing import Any

__all__ = ["add_lora", "prepare_quantized", "quantization_config"]


def quantization_config(quantization: str, family, device: str = "cpu"):
    """A bitsandbytes config for ``"4bit"`` (NF4, QLoRA) or ``"8bit"`` loading.

    The family's vision tower, projector and output layer stay in full precision
    (``Family.keep_full_precision``). Computation runs in bfloat16 on GPU and
    float32 on CPU.
    """
    import torch
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ImportError(
            f"quantization={quantization!r} needs bitsandbytes: "
            'pip install "vlmtsc[quant]"'
        ) from None
    skip = list(family.keep_full_precision) or None
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    compute = (
        torch.bfloat16
        if device != "cpu" and torch.cuda.is_available()
        else torch.float32
    )
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
        llm_int8_skip_modules=skip,
    )


def prepare_quantized(model) -> None:
    """Make a freshly loaded 4-bit model trainable on CPU as on GPU.

    On CPUs with AVX512-BF16, bitsandbytes repacks 4-bit weights at the first
    eval-mode forward, after which every training forward fails ("a view of a
    leaf Variable that requires grad is being used in an in-place operation").
    Turning the repacking off on every ``Linear4bit`` right after loading avoids
    it (checked: eval -> train -> eval -> generate).
    """
    try:
        import bitsandbytes as bnb
    except ImportError:  # pragma: no cover - quantized loading needed it already
        return
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and hasattr(
            module, "support_avx512bf16_for_cpu"
        ):
            module.support_avx512bf16_for_cpu = False


def add_lora(
    backbone,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: Any = None,
    modules_to_save: list[str] | None = None,
    model=None,
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

    Returns
    -------
    peft.PeftModel
        Only the adapter (and ``modules_to_save``) parameters require grad.
    """
    from peft import (
        LoraConfig,
        TaskType,
        get_peft_model,
        prepare_model_for_kbit_training,
    )

    family = backbone.family
    whole = model is None
    model = backbone.model if whole else model
    if getattr(model, "is_loaded_in_4bit", False) or getattr(
        model, "is_loaded_in_8bit", False
    ):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    task = {
        "causal_lm": TaskType.CAUSAL_LM,
        "encoder": TaskType.FEATURE_EXTRACTION,
    }.get(family.kind)
    if not whole:
        task = None
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules or family.lora_targets,
        modules_to_save=modules_to_save or list(family.train_in_full) or None,
        task_type=task,
    )
    return get_peft_model(model, config)
