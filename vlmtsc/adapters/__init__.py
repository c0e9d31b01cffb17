"""Parameter-efficient fine-tuning: LoRA through peft, QLoRA through bitsandbytes.

Also :class:`SeriesVocabulary`, which adds a VQ tokenizer's codes to a language
model's vocabulary (InstructTime).
"""

from vlmtsc.adapters._lora import add_lora, prepare_quantized, quantization_config
from vlmtsc.adapters._series_tokens import SeriesVocabulary

__all__ = ["SeriesVocabulary", "add_lora", "prepare_quantized", "quantization_config"]
