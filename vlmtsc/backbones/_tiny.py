"""Tiny random backbones for tests.

:func:`build_tiny` builds a model of one of :data:`TINY_FAMILIES` from its config
class (random weights, nothing downloaded) with a working tokenizer or processor: a
byte-level BPE trained in memory, the family's special tokens and its real chat
template, so code written against a tiny backbone runs unchanged on the real one.
The processors are the ones real checkpoints get
(:func:`vlmtsc.backbones._processors.make_processor`).

Sizes: "2 x 64" is layers x hidden size, "32 / 8" image side / patch size in pixels.

==========  ==================================  ==================  ======  ========
family      model class                         text + vision       image   params
==========  ==================================  ==================  ======  ========
gpt2        GPT2LMHeadModel                     2 x 64              --      198,592
llama       LlamaForCausalLM                    2 x 64 (2 kv)       --      140,352
bert        BertModel                           2 x 64              --      169,984
llava       LlavaForConditionalGeneration       Llama + CLIP 2x32   32 / 8  170,432
qwen2_vl    Qwen2VLForConditionalGeneration     2 x 64 + ViT 2x32   32 / 4  185,728
qwen2_5_vl  Qwen2_5_VLForConditionalGeneration  2 x 64 + ViT 2x32   32 / 4  189,792
idefics3    Idefics3ForConditionalGeneration    Llama + SigLIP 2x32 32 / 4  174,048
smolvlm     SmolVLMForConditionalGeneration     Llama + SigLIP 2x32 32 / 4  174,048
==========  ==================================  ==================  ======  ========

Text models have 4 attention heads, intermediate size 128 and a context of 1024;
vision towers 2 heads. Every vision-language model turns one image into 16 image
tokens: images are resized to 32 x 32 (Qwen: to at most 32 x 32 pixels keeping the
aspect ratio, so at most 16 tokens; LLaVA: centre-cropped) and Idefics3/SmolVLM
never split them into tiles. Vocabularies: 512 BPE entries plus the family's
special tokens (515 to 555 in all).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from vlmtsc.backbones._processors import (
    CHAT_TEMPLATES,
    PROCESSOR_FAMILIES,
    make_processor,
)

__all__ = [
    "TINY_FAMILIES",
    "TINY_IMAGE_SIZE",
    "TINY_IMAGE_TOKENS",
    "build_tiny",
    "tiny_tokenizer",
]

TINY_FAMILIES = (
    "gpt2",
    "llama",
    "bert",
    "llava",
    "qwen2_vl",
    "qwen2_5_vl",
    "idefics3",
    "smolvlm",
)
"""Families :func:`build_tiny` knows."""

TINY_IMAGE_SIZE = 32
"""Side in pixels of the images the tiny vision-language models look at."""

TINY_IMAGE_TOKENS = 16
"""Image tokens per 32 x 32 image in every tiny vision-language model."""

_VOCAB_SIZE = 512  # BPE vocabulary before special tokens
_CONTEXT = 1024

_CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")
_QWEN_TOKENS = (
    *_CHATML_TOKENS,
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
_IDEFICS_TOKENS = (
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    "<end_of_utterance>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
)


@dataclass(frozen=True)
class _Family:
    """Tokenizer conventions of a family, copied from its real checkpoints."""

    special: dict[str, str]  # bos_token, eos_token, ... -> token
    extra: tuple[str, ...] = ()
    image_token: str | None = None
    prepend: str | None = None  # token the tokenizer puts before every text
    bert: bool = False


_LLAMA2 = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
_FAMILIES = {
    "gpt2": _Family(
        dict.fromkeys(
            ("bos_token", "eos_token", "unk_token", "pad_token"), "<|endoftext|>"
        ),
        _CHATML_TOKENS,
    ),
    "llama": _Family({**_LLAMA2, "pad_token": "<pad>"}, _CHATML_TOKENS, prepend="<s>"),
    "bert": _Family(
        {
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "mask_token": "[MASK]",
            "unk_token": "[UNK]",
        },
        bert=True,
    ),
    "llava": _Family(
        {**_LLAMA2, "pad_token": "<pad>"},
        ("<image>",),
        image_token="<image>",
        prepend="<s>",
    ),
    "qwen2_vl": _Family(
        {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
        _QWEN_TOKENS,
        image_token="<|image_pad|>",
    ),
    "idefics3": _Family(
        {
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|end_of_text|>",
            "pad_token": "<|reserved_special_token_0|>",
        },
        _IDEFICS_TOKENS,
        image_token="<image>",
        prepend="<|begin_of_text|>",
    ),
    "smolvlm": _Family(
        {
            "bos_token": "<|im_start|>",
            "eos_token": "<end_of_utterance>",
            "pad_token": "<|im_end|>",
            "unk_token": "<|endoftext|>",
        },
        _IDEFICS_TOKENS,
        image_token="<image>",
    ),
}
_FAMILIES["qwen2_5_vl"] = _FAMILIES["qwen2_vl"]

# ---------------------------------------------------------------------------------
# Tokenizer


def _corpus() -> list[str]:
    """A fixed text in the style of vlmtsc's prompts, answers and chat turns."""
    statistics = (
        "mean std min max median skewness kurtosis slope lag1_autocorrelation "
        "zero_crossing_rate peaks energy dominant_frequency spectral_centroid "
        "spectral_entropy"
    )
    labels = (
        "up down left right normal abnormal positive negative yes no true false "
        "Gun Point Standing Running Walking Badminton class one two three four five "
        "six seven eight nine ten first second third"
    )
    prompt = [
        "Which class is the following signal from?",
        "Possible classes: up, down, normal, abnormal.",
        "Dimension 1: [0.25, -1.50, 3.00, 0.00, -0.75, 12.5, 100, 2024]",
        "Dimension 2 statistics: mean=0.5, std=1.2, min=-3.1, max=4.7",
        "Class: normal\nRationale: the signal rises and then falls.",
    ]
    other = [
        "Statistics: " + ", ".join(f"{s}=0.1" for s in statistics.split()),
        "The time series has values with a trend, a peak and some noise.",
        "You are a helpful assistant. Answer with the name of the class.",
        "user assistant system User: Assistant: USER: ASSISTANT:",
        "Describe the image. The plot shows the line of the series over time.",
        labels,
        labels.lower(),
    ]
    return prompt * 16 + other * 4


@functools.lru_cache(maxsize=1)
def _base_tokenizer_json() -> str:
    """Train the shared byte-level BPE once; callers rebuild it from this JSON."""
    tokenizer = Tokenizer(models.BPE())
    # Digits are single tokens, as in Llama 3 and Qwen: numbers in prompts then
    # cost one token per digit, like with the real tokenizers.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    return tokenizer.to_str()


def tiny_tokenizer(family: str = "llama") -> transformers.PreTrainedTokenizerFast:
    """A fresh tiny tokenizer with the special tokens and chat template of ``family``.

    Parameters
    ----------
    family : str, default="llama"
        One of :data:`TINY_FAMILIES`.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        A byte-level BPE of ~560 entries; digits are single tokens.

    Examples
    --------
    >>> tok = tiny_tokenizer("gpt2")
    >>> tok.convert_ids_to_tokens(tok.encode("0.25"))
    ['0', '.', '2', '5']
    """
    spec = _family(family)
    backend = Tokenizer.from_str(_base_tokenizer_json())
    tokens = list(dict.fromkeys([*spec.special.values(), *spec.extra]))
    backend.add_special_tokens(tokens)
    if spec.bert:
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[(t, backend.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
        )
    elif spec.prepend:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{spec.prepend} $A",
            pair=f"{spec.prepend} $A $B:1",
            special_tokens=[(spec.prepend, backend.token_to_id(spec.prepend))],
        )
    named = set(spec.special.values())
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **spec.special,
        extra_special_tokens=[t for t in tokens if t not in named],
        chat_template=CHAT_TEMPLATES[family],
        clean_up_tokenization_spaces=False,
        model_input_names=(
            ["input_ids", "token_type_ids", "attention_mask"]
            if spec.bert
            else ["input_ids", "attention_mask"]
        ),
    )


def _family(family: str) -> _Family:
    if family not in _FAMILIES:
        raise ValueError(
            f"Unknown tiny family {family!r}; choose one of {', '.join(TINY_FAMILIES)}."
        )
    return _FAMILIES[family]


# ---------------------------------------------------------------------------------
# Models


def _text_config(tokenizer, **overrides) -> dict:
    """Keyword arguments of a tiny decoder config (Llama/Qwen2 naming)."""
    # A family without a BOS (Qwen) must say so, or the config keeps the real id.
    ids = {
        f"{name}_id": getattr(tokenizer, f"{name}_id")
        for name in ("bos_token", "eos_token", "pad_token")
    }
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": _CONTEXT,
        "tie_word_embeddings": False,
        **ids,
        **overrides,
    }


_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": TINY_IMAGE_SIZE,
}


def _image_processor(name: str, **kwargs):
    # The PIL backends work without torchvision; the default classes would fall
    # back to them anyway, with a warning.
    cls = getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)
    return cls(**kwargs)


def _text_model(family: str, tok):
    if family == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=len(tok),
            n_positions=_CONTEXT,
            n_embd=64,
            n_layer=2,
            n_head=4,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
        return transformers.GPT2LMHeadModel(config)
    if family == "llama":
        return transformers.LlamaForCausalLM(
            transformers.LlamaConfig(**_text_config(tok))
        )
    config = transformers.BertConfig(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=_CONTEXT,
        pad_token_id=tok.pad_token_id,
    )
    return transformers.BertModel(config)


def _vision_model(family: str, tok):
    """Model, image processor and processor settings of a vision-language family."""
    image_id = tok.convert_tokens_to_ids(_FAMILIES[family].image_token)
    if family == "llava":
        config = transformers.LlavaConfig(
            vision_config=transformers.CLIPVisionConfig(**_VISION, patch_size=8),
            text_config=transformers.LlamaConfig(**_text_config(tok)),
            image_token_index=image_id,
            image_seq_length=TINY_IMAGE_TOKENS,
            vision_feature_layer=-1,
        )
        images = _image_processor(
            "CLIPImageProcessor",
            size={"shortest_edge": TINY_IMAGE_SIZE},
            crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
        )
        settings = {
            "patch_size": 8,
            "vision_feature_select_strategy": config.vision_feature_select_strategy,
            "num_additional_image_tokens": 1,  # CLIP's CLS, which "default" drops
        }
        return transformers.LlavaForConditionalGeneration(config), images, settings
    if family in ("qwen2_vl", "qwen2_5_vl"):
        # rope is split over (time, height, width): mrope_section sums to head_dim/2
        rope = {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]}
        vision = {"depth": 2, "num_heads": 2, "patch_size": 4, "spatial_merge_size": 2}
        if family == "qwen2_vl":
            vision.update(embed_dim=32, hidden_size=64, mlp_ratio=2)
        else:
            # windows of 2 x 2 merged patches in block 0, full attention in block 1
            vision.update(
                hidden_size=32,
                intermediate_size=64,
                out_hidden_size=64,
                window_size=16,
                fullatt_block_indexes=[1],
            )
        name = "Qwen2VL" if family == "qwen2_vl" else "Qwen2_5_VL"
        config = getattr(transformers, f"{name}Config")(
            text_config=_text_config(tok, rope_parameters=rope),
            vision_config=vision,
            image_token_id=image_id,
            video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
            vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
            vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        )
        images = _image_processor(
            "Qwen2VLImageProcessor",
            patch_size=4,
            merge_size=2,
            size={"shortest_edge": 8 * 8, "longest_edge": TINY_IMAGE_SIZE**2},
        )
        model = getattr(transformers, f"{name}ForConditionalGeneration")(config)
        return model, images, {}
    # idefics3, smolvlm: one 32 x 32 tile of 8 x 8 patches, pixel-shuffled by 2
    name = "Idefics3" if family == "idefics3" else "SmolVLM"
    config = getattr(transformers, f"{name}Config")(
        vision_config={**_VISION, "patch_size": 4},
        text_config={"model_type": "llama", **_text_config(tok)},
        image_token_id=image_id,
        scale_factor=2,
    )
    images = _image_processor(
        f"{name}ImageProcessor",
        do_image_splitting=False,
        size={"longest_edge": TINY_IMAGE_SIZE},
        max_image_size={"longest_edge": TINY_IMAGE_SIZE},
    )
    model = getattr(transformers, f"{name}ForConditionalGeneration")(config)
    return model, images, {"image_seq_len": TINY_IMAGE_TOKENS}


def build_tiny(family: str, *, seed: int = 0):
    """A tiny random model of ``family`` and its tokenizer or processor.

    Nothing is downloaded: the model comes from its config class, the tokenizer is
    trained in memory. The model is returned in eval mode, like ``from_pretrained``.

    Parameters
    ----------
    family : str
        One of :data:`TINY_FAMILIES`.
    seed : int, default=0
        Seed of the random weights. The global torch RNG is left untouched.

    Returns
    -------
    model : transformers.PreTrainedModel
    processor : transformers.PreTrainedTokenizerFast or transformers.ProcessorMixin
        The tokenizer for ``"gpt2"``, ``"llama"`` and ``"bert"``, else the
        family's processor (see :func:`make_processor`). Both carry the family's
        chat template.

    Examples
    --------
    >>> model, tokenizer = build_tiny("gpt2")
    >>> ids = tokenizer("Class: up", return_tensors="pt")
    >>> model(**ids).logits.shape[-1] == len(tokenizer)
    True
    """
    tokenizer = tiny_tokenizer(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family in PROCESSOR_FAMILIES:
            model, images, settings = _vision_model(family, tokenizer)
        else:
            model = _text_model(family, tokenizer)
    model.eval()
    if family not in PROCESSOR_FAMILIES:
        return model, tokenizer
    return model, make_processor(family, tokenizer, images, **settings)
