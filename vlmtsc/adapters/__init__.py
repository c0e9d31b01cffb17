"""Parameter-efficient fine-tuning: LoRA through peft, QLoRA through bitsandbytes.

The adapters go on backbones (:mod:`vlmtsc.backbones`, which also loads them
quantised for QLoRA); this package imports backbones, never the other way round.

Also :class:`SeriesVocabulary`, which adds a VQ tokenizer's codes to a language
model's vocabulary (InstructTime), and :mod:`vlmtsc.adapters.dlora`, dynamic LoRA
with a router per block (Time-LlaMA).
"""

from vlmtsc.adapters._lora import add_lora
from vlmtsc.adapters._series_tokens import SERIES_START, SeriesVocabulary, series_text

__all__ = [
    "SERIES_START",
    "SeriesVocabulary",
    "add_lora",
    "series_text",
]
