"""Processors of the vision-language families, also where torchvision is missing.

:func:`make_processor` assembles a family's processor from a tokenizer and an
image processor, for real checkpoints (:func:`~vlmtsc.backbones.load_backbone`)
and the tiny test models alike. Without torchvision, Qwen2-VL, Qwen2.5-VL and
SmolVLM processors refuse to construct (they insist on a video processor):
subclasses here accept ``video_processor=None`` (images only).
:data:`CHAT_TEMPLATES` holds each family's real chat template, the fallback for
a checkpoint that ships none.
"""

from __future__ import annotations

import inspect
import sys

import transformers

__all__ = ["CHAT_TEMPLATES", "PROCESSOR_FAMILIES", "make_processor"]

# ---------------------------------------------------------------------------------
# Chat templates, in each family's real format (as shipped with the hub checkpoints).

_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# llava-hf/llava-1.5-7b-hf
_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
# Qwen/Qwen2-VL-2B-Instruct, identical in Qwen/Qwen2.5-VL-3B-Instruct
_QWEN_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content"
    " or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# HuggingFaceM4/Idefics3-8B-Llama3 (prefix <|begin_of_text|>) and
# HuggingFaceTB/SmolVLM-256M-Instruct (prefix <|im_start|>)
_IDEFICS_TEMPLATE = (
    "{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}"
    "{% endif %}{% for line in message['content'] %}"
    "{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

CHAT_TEMPLATES = {
    "gpt2": _CHATML,
    "llama": _CHATML,
    "bert": "{% for message in messages %}{{ message['content'] }}{% endfor %}",
    "llava": _LLAVA_TEMPLATE,
    "qwen2_vl": _QWEN_VL_TEMPLATE,
    "qwen2_5_vl": _QWEN_VL_TEMPLATE,
    "idefics3": "<|begin_of_text|>" + _IDEFICS_TEMPLATE,
    "smolvlm": "<|im_start|>" + _IDEFICS_TEMPLATE,
}
"""Family -> the chat template of its real checkpoints (ChatML for text LMs)."""

# ---------------------------------------------------------------------------------
# Processors that construct without torchvision


class _NoVideoProcessorMixin:
    """Accept ``video_processor=None``: without torchvision no video processor exists.

    The processors below insist on a video processor although images never use it.
    """

    def check_argument_for_proper_class(self, argument_name, argument):
        if argument is None and argument_name == "video_processor":
            return None
        return super().check_argument_for_proper_class(argument_name, argument)


class _Qwen2VLProcessor(_NoVideoProcessorMixin, transformers.Qwen2VLProcessor):
    pass


class _Qwen2_5_VLProcessor(_NoVideoProcessorMixin, transformers.Qwen2_5_VLProcessor):
    pass


class _SmolVLMProcessor(_NoVideoProcessorMixin, transformers.SmolVLMProcessor):
    def __init__(
        self,
        image_processor,
        tokenizer,
        video_processor=None,
        image_seq_len: int = 169,
        chat_template: str | None = None,
        **kwargs,
    ):
        # SmolVLMProcessor refuses to build without `num2words`, which only its
        # video prompts use; a stand-in that fails when called keeps images working.
        module = sys.modules[transformers.SmolVLMProcessor.__module__]
        missing = getattr(module, "num2words", None) is None
        if missing:
            module.num2words = _num2words_missing
        try:
            super().__init__(
                image_processor,
                tokenizer,
                video_processor,
                image_seq_len=image_seq_len,
                chat_template=chat_template,
                **kwargs,
            )
        finally:
            if missing:
                module.num2words = None

    def apply_chat_template(self, conversation, chat_template=None, **kwargs):
        if self.video_processor is None:
            # SmolVLMProcessor's override reads video sampling defaults from the
            # video processor; images need none of it.
            return transformers.ProcessorMixin.apply_chat_template(
                self, conversation, chat_template, **kwargs
            )
        return super().apply_chat_template(conversation, chat_template, **kwargs)


def _num2words_missing(*args, **kwargs):
    raise ImportError("SmolVLM video prompts need `pip install num2words`.")


PROCESSOR_FAMILIES = {
    "llava": transformers.LlavaProcessor,
    "qwen2_vl": _Qwen2VLProcessor,
    "qwen2_5_vl": _Qwen2_5_VLProcessor,
    "idefics3": transformers.Idefics3Processor,
    "smolvlm": _SmolVLMProcessor,
}


def make_processor(
    family: str,
    tokenizer,
    image_processor=None,
    *,
    source=None,
    **kwargs,
):
    """The processor of ``family`` around a tokenizer and an image processor.

    Works for tiny and real checkpoints alike, also where torchvision is missing:
    Qwen2-VL, Qwen2.5-VL and SmolVLM then get a subclass that accepts
    ``video_processor=None`` (images only).

    Parameters
    ----------
    family : str
        ``"llava"``, ``"qwen2_vl"``, ``"qwen2_5_vl"``, ``"idefics3"`` or
        ``"smolvlm"``; for a text family (``"gpt2"``, ``"llama"``, ``"bert"``)
        the tokenizer itself is returned, with a chat template.
    tokenizer : transformers.PreTrainedTokenizerBase
    image_processor : transformers.BaseImageProcessor, optional
        Required for vision-language families.
    source : str or path-like, optional
        A checkpoint folder or hub id whose ``processor_config.json`` and chat
        template files supply the processor's settings (``patch_size`` and
        ``vision_feature_select_strategy`` for LLaVA, ``image_seq_len`` for
        Idefics3/SmolVLM); read from local files only when ``HF_HUB_OFFLINE=1``.
    **kwargs
        Processor settings; they override those read from ``source``.
        ``chat_template`` defaults to the checkpoint's, else the family's real
        template.

    Returns
    -------
    transformers.ProcessorMixin or transformers.PreTrainedTokenizerBase
    """
    if family not in CHAT_TEMPLATES:
        raise ValueError(
            f"No processor for family {family!r}; choose one of "
            f"{', '.join(CHAT_TEMPLATES)}."
        )
    template = CHAT_TEMPLATES[family]
    if family not in PROCESSOR_FAMILIES:
        if kwargs.get("chat_template") or not tokenizer.chat_template:
            tokenizer.chat_template = kwargs.get("chat_template") or template
        return tokenizer
    if image_processor is None:
        raise ValueError(f"A {family} processor needs an image processor.")
    cls = PROCESSOR_FAMILIES[family]
    attributes = {"image_processor", "tokenizer", "video_processor"}
    settings = {}
    if source is not None:
        # processor_config.json may also hold sub-processor configs: drop them
        saved, _ = cls.get_processor_dict(source)
        settings = {k: v for k, v in saved.items() if k not in attributes}
    settings.update(kwargs)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    settings = {k: v for k, v in settings.items() if k in accepted}
    settings["chat_template"] = settings.get("chat_template") or template
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = settings["chat_template"]
    return cls(image_processor=image_processor, tokenizer=tokenizer, **settings)
