"""Parameter-efficient fine-tuning: LoRA through peft, QLoRA through bitsandbytes."""

from vlmtsc.adapters._lora import add_lora, prepare_quantized, quantization_config

__all__ = ["add_lora", "prepare_quantized", "quantization_config"]
