"""Quantised loading (bitsandbytes): the config, and the CPU fix after loading.

Quantisation happens while a backbone loads, so it belongs to the backbones;
:mod:`vlmtsc.adapters` then puts LoRA on the quantised model (QLoRA).
"""

from __future__ import annotations

from vlmtsc.backbones._quiet import import_peft

__all__ = ["QUANTIZATIONS", "prepare_quantized", "quantization_config"]

QUANTIZATIONS = (None, "8bit", "4bit")


def quantization_config(
    quantization: str, family, device: str = "cpu", *, verbose: int = 0
):
    """A bitsandbytes config for ``"4bit"`` (NF4, QLoRA) or ``"8bit"`` loading.

    The family's vision tower, projector and output layer stay in full precision
    (``Family.keep_full_precision``). Computation runs in bfloat16 on GPU and
    float32 on CPU.

    Parameters
    ----------
    quantization : {"8bit", "4bit"}
    family : Family
    device : str, default="cpu"
    verbose : int, default=0
        Whether bitsandbytes' import-time log lines may show (see
        :func:`~vlmtsc.backbones.import_peft`).

    Returns
    -------
    transformers.BitsAndBytesConfig
    """
    import torch
    from transformers import BitsAndBytesConfig

    import_peft(verbose)  # imports bitsandbytes, where installed, quietly
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
