import os

# Before transformers/huggingface_hub are imported: they read it at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools
import json
import socket

import numpy as np
import pytest
import torch
from PIL import Image

from vlmtsc.backbones._processors import make_processor
from vlmtsc.backbones._tiny import (
    TINY_FAMILIES,
    TINY_IMAGE_SIZE,
    TINY_IMAGE_TOKENS,
    build_tiny,
    tiny_tokenizer,
)

# Two threads on a loaded 2-core machine ran 20-50x slower.
torch.set_num_threads(1)

CAUSAL = ("gpt2", "llama")
VLMS = ("llava", "qwen2_vl", "qwen2_5_vl", "idefics3", "smolvlm")
# What each family's chat template writes for one image, before expansion.
PLACEHOLDER = {
    "llava": "USER: <image>\n",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "idefics3": "User:<image>",
    "smolvlm": "User:<image>",
}
IMAGE_TOKEN = {
    "llava": "<image>",
    "qwen2_vl": "<|image_pad|>",
    "qwen2_5_vl": "<|image_pad|>",
    "idefics3": "<image>",
    "smolvlm": "<image>",
}
PROMPT = "Which class is the following signal from? Possible classes: up, down."
TEXT = "Which class is the following signal from? 0.25, -1.50"


@functools.cache
def built(family):
    return build_tiny(family)


def image(seed, size=TINY_IMAGE_SIZE):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)
    return Image.fromarray(pixels)


def chat(processor, text=PROMPT):
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": text}],
        }
    ]
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )


def last_logits(family, picture):
    model, processor = built(family)
    inputs = processor(text=[chat(processor)], images=[[picture]], return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits[0, -1]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_build_is_tiny_seeded_and_in_eval_mode(family):
    model, _ = built(family)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert not model.training
    state = torch.random.get_rng_state()
    same, _ = build_tiny(family, seed=0)
    other, _ = build_tiny(family, seed=1)
    # The caller's random stream is left alone.
    assert torch.equal(state, torch.random.get_rng_state())
    reference = model.state_dict()
    assert reference.keys() == same.state_dict().keys()
    assert all(torch.equal(reference[k], v) for k, v in same.state_dict().items())
    assert not all(torch.equal(reference[k], v) for k, v in other.state_dict().items())


def test_unknown_family_names_the_choices():
    with pytest.raises(ValueError, match="qwen2_vl"):
        build_tiny("gpt3")


@pytest.mark.parametrize("family", CAUSAL)
def test_causal_lm_chat_template_and_forward(family):
    model, tokenizer = built(family)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == f"<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    inputs = tokenizer(text, return_tensors="pt")
    assert set(inputs) == {"input_ids", "attention_mask"}
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], len(tokenizer))
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id is not None


def test_llama_tokenizer_prepends_bos_like_llama():
    _, tokenizer = built("llama")
    assert tokenizer("up")["input_ids"][0] == tokenizer.bos_token_id
    assert tokenizer("up", add_special_tokens=False)["input_ids"][0] != (
        tokenizer.bos_token_id
    )


def test_bert_forward_and_special_tokens():
    model, tokenizer = built("bert")
    inputs = tokenizer(TEXT, return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    for token in ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"):
        assert tokenizer.convert_tokens_to_ids(token) < len(tokenizer)
    assert tokenizer.mask_token == "[MASK]" and tokenizer.pad_token == "[PAD]"
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
    assert hidden.shape == (1, len(ids), model.config.hidden_size)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_tokenizer_round_trips_and_splits_digits(family):
    tokenizer = tiny_tokenizer(family)
    ids = tokenizer.encode(TEXT)
    assert tokenizer.decode(ids, skip_special_tokens=True) == TEXT
    plain = tokenizer.encode(TEXT, add_special_tokens=False)
    assert tokenizer.decode(plain) == TEXT
    tokens = tokenizer.convert_ids_to_tokens(plain)
    assert tokens[-4:] == ["1", ".", "5", "0"]
    assert "Ġclass" in tokens and "Ġsignal" in tokens  # words are merged
    assert len(tokenizer.encode("2024", add_special_tokens=False)) == 4


def test_tokenizer_is_deterministic_and_a_fresh_copy():
    first = tiny_tokenizer("llama")
    first.add_tokens(["<added>"])
    second = tiny_tokenizer("llama")
    assert "<added>" not in second.get_vocab()
    assert len(second) == len(first) - 1
    assert second.get_vocab() == tiny_tokenizer("llama").get_vocab()


@pytest.mark.parametrize("family", VLMS)
def test_vlm_chat_template_places_the_image(family):
    _, processor = built(family)
    text = chat(processor)
    assert PLACEHOLDER[family] in text
    assert text.count(IMAGE_TOKEN[family]) == 1
    assert PROMPT in text
    assert processor.tokenizer.chat_template == processor.chat_template


@pytest.mark.parametrize("family", VLMS)
def test_vlm_forward_sees_the_image(family):
    model, processor = built(family)
    inputs = processor(text=[chat(processor)], images=[image(0)], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN[family])
    assert model.config.image_token_id == image_id
    # The model checks that its image features fill exactly these positions.
    assert (inputs["input_ids"] == image_id).sum() == TINY_IMAGE_TOKENS
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], len(processor.tokenizer))
    assert model.config.get_text_config().vocab_size == len(processor.tokenizer)

    # Only the image differs: the prediction moves; the same image twice: it doesn't.
    reference = last_logits(family, image(0))
    assert torch.equal(reference, last_logits(family, image(0)))
    assert not torch.allclose(reference, last_logits(family, image(1)), atol=1e-5)


@pytest.mark.parametrize("family", VLMS)
def test_vlm_batch_of_two_nested_images(family):
    model, processor = built(family)
    texts = [chat(processor), chat(processor, "Class:")]
    inputs = processor(
        text=texts,
        images=[[image(0)], [image(1, size=48)]],
        padding=True,
        return_tensors="pt",
    )
    image_id = model.config.image_token_id
    counts = (inputs["input_ids"] == image_id).sum(dim=1).tolist()
    assert all(0 < n <= TINY_IMAGE_TOKENS for n in counts)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape


@pytest.mark.parametrize("family", ("qwen2_vl", "qwen2_5_vl", "smolvlm"))
def test_processors_needing_video_build_without_it(family):
    _, processor = built(family)
    assert processor.video_processor is None
    assert "pixel_values" in processor.model_input_names


def test_make_processor_reads_a_checkpoint_folder(tmp_path):
    tokenizer = tiny_tokenizer("smolvlm")
    images = built("smolvlm")[1].image_processor
    (tmp_path / "processor_config.json").write_text(
        json.dumps(
            {
                "image_seq_len": 4,
                "processor_class": "SmolVLMProcessor",
                "image_processor": {"do_resize": True},
            }
        )
    )
    template = "{% for m in messages %}<image>{% endfor %}"
    (tmp_path / "chat_template.jinja").write_text(template)
    processor = make_processor("smolvlm", tokenizer, images, source=tmp_path)
    assert processor.image_seq_len == 4
    assert processor.chat_template == template
    # Keyword arguments win over the folder.
    processor = make_processor(
        "smolvlm", tokenizer, images, source=tmp_path, image_seq_len=9
    )
    assert processor.image_seq_len == 9
    # Without a template anywhere, the family's real one.
    processor = make_processor("smolvlm", tokenizer, images)
    assert processor.chat_template.startswith("<|im_start|>")
    assert processor.image_seq_len == 169  # the class default, as for a real checkpoint


def test_make_processor_for_text_families_and_errors():
    tokenizer = tiny_tokenizer("gpt2")
    tokenizer.chat_template = None
    assert make_processor("gpt2", tokenizer) is tokenizer
    assert "<|im_start|>assistant" in tokenizer.chat_template
    with pytest.raises(ValueError, match="image processor"):
        make_processor("llava", tiny_tokenizer("llava"))
    with pytest.raises(ValueError, match="No processor for family 'bloom'"):
        make_processor("bloom", tokenizer)
    with pytest.raises(ValueError, match="Unknown tiny family 'bloom'"):
        tiny_tokenizer("bloom")


def test_building_never_touches_the_network(monkeypatch):
    from huggingface_hub.constants import is_offline_mode

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert is_offline_mode()

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for family in TINY_FAMILIES:
        model, processor = build_tiny(family, seed=7)
        assert model is not None and processor is not None
