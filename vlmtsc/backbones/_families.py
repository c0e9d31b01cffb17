"""Model families vlmtsc knows: what kind of model, how to load it, where LoRA goes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILIES", "KINDS", "Family", "describe_kinds", "family_of"]

KINDS = {
    "causal_lm": "decoder-only language model (causal LM)",
    "encoder": "BERT-family encoder",
    "vlm": "vision-language model",
}
"""The kinds of model vlmtsc uses (:attr:`Family.kind`) and what each is."""

_LLAMA_LINEAR = r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class Family:
    """What vlmtsc needs to know about one architecture family.

    Attributes
    ----------
    name : str
        The ``model_type`` of the Hugging Face config.
    kind : {"causal_lm", "vlm", "encoder"}
        Text generator, image+text generator, or encoder.
    auto_class : str
        The ``transformers`` auto class that loads it.
    lora_targets : str or tuple of str
        Default LoRA ``target_modules`` (a regex string restricts LoRA to the
        language model of a VLM: its vision tower keeps its pretrained weights).
    keep_full_precision : tuple of str
        Module prefixes that 4-bit/8-bit loading leaves unquantised (full
        prefixes: bitsandbytes silently ignores bare names).
    train_in_full : tuple of str
        Modules that start untrained and must be trained in full beside LoRA
        (peft's ``modules_to_save``), e.g. a freshly initialised projector.
    lora_fan_in_fan_out : bool
        Whether the LoRA targets store their weight as (in, out), like GPT-2's
        ``Conv1D`` (peft's ``fan_in_fan_out``).
    """

    name: str
    kind: str
    auto_class: str
    lora_targets: str | tuple[str, ...]
    keep_full_precision: tuple[str, ...] = ()
    train_in_full: tuple[str, ...] = ()
    lora_fan_in_fan_out: bool = False


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "gpt2",
            "causal_lm",
            "AutoModelForCausalLM",
            ("c_attn", "c_proj", "c_fc"),
            lora_fan_in_fan_out=True,
        ),
        Family(
            "llama",
            "causal_lm",
            "AutoModelForCausalLM",
            (
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ),
        ),
        Family("bert", "encoder", "AutoModel", ("query", "key", "value", "dense")),
        Family(
            "llava",
            "vlm",
            "AutoModelForImageTextToText",
            rf".*language_model.*\.{_LLAMA_LINEAR}",
            ("model.vision_tower", "model.multi_modal_projector", "lm_head"),
        ),
        Family(
            "qwen2_vl",
            "vlm",
            "AutoModelForImageTextToText",
            rf".*language_model.*\.{_LLAMA_LINEAR}",
            ("model.visual", "lm_head"),
        ),
        Family(
            "qwen2_5_vl",
            "vlm",
            "AutoModelForImageTextToText",
            rf".*language_model.*\.{_LLAMA_LINEAR}",
            ("model.visual", "lm_head"),
        ),
        Family(
            "idefics3",
            "vlm",
            "AutoModelForImageTextToText",
            rf".*text_model.*\.{_LLAMA_LINEAR}",
            ("model.vision_model", "model.connector", "lm_head"),
        ),
        Family(
            "smolvlm",
            "vlm",
            "AutoModelForImageTextToText",
            rf".*text_model.*\.{_LLAMA_LINEAR}",
            ("model.vision_model", "model.connector", "lm_head"),
        ),
        # vlmtsc's composed VLM (EfficientNet-Lite0 + projector + SmolLM2): only the
        # language model is quantised, and the new projector trains in full.
        Family(
            "composed_vlm",
            "vlm",
            "AutoModelForImageTextToText",
            rf".*language_model.*\.{_LLAMA_LINEAR}",
            ("vision_tower", "multi_modal_projector"),
            ("multi_modal_projector",),
        ),
    )
}

# Architectures that load and train like a known family.
_ALIASES = {"mistral": "llama", "qwen2": "llama", "qwen3": "llama", "gemma": "llama"}


def describe_kinds(kinds) -> str:
    """``("causal_lm", "vlm")`` -> ``"decoder-only language model (causal LM) or
    vision-language model"``."""
    return " or ".join(KINDS[kind] for kind in kinds)


def family_of(config) -> Family:
    """The :class:`Family` of a Hugging Face config.

    Parameters
    ----------
    config : transformers.PretrainedConfig or object
        Anything with a ``model_type`` attribute.

    Raises
    ------
    ValueError
        For a ``model_type`` vlmtsc does not support, listing the supported ones.
    """
    model_type = getattr(config, "model_type", None)
    name = _ALIASES.get(model_type, model_type)
    if name not in FAMILIES:
        raise ValueError(
            f"Unsupported model type {model_type!r}; vlmtsc supports "
            f"{sorted(FAMILIES) + sorted(_ALIASES)}."
        )
    return FAMILIES[name]
