"""The composed VLM (frozen CNN + projector + causal LM) in the LM machinery."""

import functools
import importlib.util
import pickle

import numpy as np
import pytest
import torch

from vlmtsc.adapters import add_lora
from vlmtsc.backbones import OFFLINE_WEIGHTS, build_composed
from vlmtsc.backbones._composed import ComposedVLM, _stage_maps
from vlmtsc.training._lm import (
    LabelScoringModel,
    collate,
    embed_prefixes,
    encode_answer,
    encode_prefix,
    score_labels,
    training_example,
)

torch.set_num_threads(1)

LORA = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
TINY = functools.partial(build_composed, "tiny", "tiny-llama", verbose=0)


def _image(seed, shape=(40, 50, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def backbone():
    return TINY()


def _batch(backbone, images, answer=" up"):
    examples = []
    for image in images:
        prefix = encode_prefix(backbone, "Series: 1 2 3. Class?", image)
        examples.append(training_example(prefix, encode_answer(backbone, answer)))
    return collate(examples, backbone.tokenizer.pad_token_id)


def test_processor_places_and_expands_the_image(backbone):
    processor = backbone.processor
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text"}]}]
    messages[0]["content"][1]["text"] = "Class?"
    text = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    assert (
        text == "<|im_start|>user\n<image>\nClass?<|im_end|>\n<|im_start|>assistant\n"
    )
    prefix = encode_prefix(backbone, "Class?", _image(0))
    ids = prefix["input_ids"]
    image_id = backbone.model.config.image_token_id
    assert processor.image_token_id == image_id
    assert int((ids == image_id).sum()) == processor.n_image_tokens == 16
    assert prefix["pixel_values"].shape == (1, 3, 32, 32)
    assert prefix["pixel_values"].dtype == torch.float32
    again = pickle.loads(pickle.dumps(processor))
    inputs = again(text=[text], images=[_image(0)], return_tensors="pt")
    assert torch.equal(inputs["input_ids"][0], ids)
    assert torch.equal(inputs["pixel_values"], prefix["pixel_values"])
    with pytest.raises(ValueError, match="placeholders"):
        processor(text=["no image here"], images=[_image(0)])


def test_forward_sees_the_image(backbone):
    model = backbone.model
    with torch.no_grad():
        out = model(**_batch(backbone, [_image(0), _image(1), _image(0)]))
    assert torch.isfinite(out.loss)
    # logits are trimmed to the labelled positions; the loss is the full one's
    batch = _batch(backbone, [_image(0), _image(1), _image(0)])
    labels = batch.pop("labels")
    with torch.no_grad():
        full = model(**batch).logits
    expected = torch.nn.functional.cross_entropy(
        full[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100
    )
    torch.testing.assert_close(out.loss, expected)
    assert out.logits.shape[1] < full.shape[1]
    last = out.logits[:, -1]
    assert torch.equal(last[0], last[2])
    assert not torch.allclose(last[0], last[1])
    with torch.no_grad():
        alone = model(**_batch(backbone, [_image(0)])).logits[:, -1]
    torch.testing.assert_close(alone[0], last[0], rtol=1e-4, atol=1e-5)
    inputs = _batch(backbone, [_image(0)])
    del inputs["pixel_values"]
    with pytest.raises(ValueError, match="image tokens"):
        model(**inputs)


def test_features_for_the_feature_extractor(backbone):
    model = backbone.model
    prefixes = [encode_prefix(backbone, "Class?", _image(i)) for i in range(2)]
    tokens = model.vision_features(prefixes[0]["pixel_values"])
    assert tokens.shape == (1, 16, model.config.vision_channels)
    vision = embed_prefixes(model, prefixes, "vision")
    hidden = embed_prefixes(model, prefixes, "hidden")
    assert vision.shape == (2, model.config.vision_channels)
    assert hidden.shape == (2, model.language_model.config.hidden_size)
    assert not np.allclose(vision[0], vision[1])
    assert not np.allclose(hidden[0], hidden[1])


def test_vision_stages_of_the_tiny_cnn(backbone):
    model = backbone.model
    cnn = model.vision_tower
    assert model.n_vision_stages == 3
    assert model.vision_stage_channels == (8, 16, model.config.vision_channels)
    pixels = backbone.processor.preprocess([_image(0), _image(1)])
    calls = []
    counter = cnn.layers[0].register_forward_hook(lambda *a: calls.append(1))
    n_hooks = len(cnn.layers[2]._forward_hooks)
    try:
        with torch.no_grad():
            head, first, first_again, second = model.vision_stages(
                pixels, [-1, 0, -3, 1]
            )
    finally:
        counter.remove()
    assert len(calls) == 1  # one forward pass for all four stages
    assert len(cnn.layers[2]._forward_hooks) == n_hooks  # its hooks are gone
    with torch.no_grad():
        expected = [cnn.layers[:3](pixels), cnn.layers[:6](pixels)]
        tokens = model.vision_features(pixels)
    assert first.shape == (2, 8) and second.shape == (2, 16) and head.shape == (2, 32)
    torch.testing.assert_close(first, expected[0].mean((2, 3)), rtol=0, atol=1e-6)
    torch.testing.assert_close(second, expected[1].mean((2, 3)), rtol=0, atol=1e-6)
    torch.testing.assert_close(first_again, first, rtol=0, atol=0)
    torch.testing.assert_close(head, tokens.mean(1), rtol=0, atol=1e-6)
    assert not torch.allclose(head[0], head[1])


def _folded_check(backbone, pixels, atol):
    """The frozen CNN runs as a copy with its BatchNorms folded, and the maps
    equal the tower's own."""
    model = backbone.model
    cnn = model.vision_tower
    keys = set(model.state_dict())
    stages = list(range(model.n_vision_stages))
    with torch.no_grad():
        got = model.vision_stages(pixels, stages)
        folded = model._frozen_cnn()
        assert folded is not cnn and folded is model._frozen_cnn()  # kept
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in cnn.modules())
        want = _stage_maps(cnn, pixels, set(stages))
        for stage in stages:
            torch.testing.assert_close(
                got[stage], want[stage].mean((2, 3)), rtol=0, atol=atol
            )
        torch.testing.assert_close(
            model.vision_features(pixels).mean(1), got[-1], rtol=0, atol=atol
        )
        # Not a submodule: saved, loaded and pickled without it.
        assert set(model.state_dict()) == keys
        assert "_folded_cnn" not in pickle.loads(pickle.dumps(model)).__dict__
        # A statistic edited in place (or loaded) rebuilds the copy.
        norm = next(m for m in cnn.modules() if isinstance(m, torch.nn.BatchNorm2d))
        norm.running_mean.add_(0.5)
        assert model._frozen_cnn() is not folded
        moved = model.vision_stages(pixels, stages)
        assert not torch.allclose(moved[-1], got[-1])
        norm.running_mean.sub_(0.5)
        torch.testing.assert_close(
            model.vision_stages(pixels, stages)[-1], got[-1], rtol=0, atol=atol
        )
        # An unfrozen tower runs itself.
        cnn.requires_grad_(True)
        try:
            assert model._frozen_cnn() is cnn
        finally:
            cnn.requires_grad_(False)


def test_the_frozen_cnn_runs_with_its_batch_norms_folded(backbone):
    pixels = backbone.processor.preprocess([_image(0), _image(1)])
    _folded_check(TINY(), pixels, atol=1e-6)


def test_vision_stages_rejects_bad_indices(backbone):
    model = backbone.model
    pixels = backbone.processor.preprocess([_image(0)])
    for stage in (3, -4):
        with pytest.raises(
            ValueError, match=rf"Stage {stage} is out of range: .* -3 to 2\."
        ):
            model.vision_stages(pixels, [0, stage])
    with pytest.raises(ValueError, match="stages is empty"):
        model.vision_stages(pixels, [])
    with pytest.raises(TypeError, match="stages must be integers"):
        model.vision_stages(pixels, [1.0])
    assert [f.shape for f in model.vision_stages(pixels, 1)] == [(1, 16)]


def test_unknown_vision_encoder_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        build_composed("efficientnet-lite3", "tiny-llama", verbose=0)
    message = str(error.value)
    assert "Unknown vision encoder 'efficientnet-lite3'" in message
    for name in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"):
        assert name in message


def test_score_labels_equals_teacher_forcing(backbone):
    model = backbone.model
    prefixes = [encode_prefix(backbone, "Class?", _image(i)) for i in range(2)]
    labels = [encode_answer(backbone, f" {name}") for name in ("up", "down", "flat")]
    scores = score_labels(model, prefixes, labels)
    for i, prefix in enumerate(prefixes):
        for k, ids in enumerate(labels):
            full = collate([training_example(prefix, ids)], 0)
            with torch.no_grad():
                logits = model(
                    **{n: v for n, v in full.items() if n != "labels"}
                ).logits
            logprobs = torch.log_softmax(logits[0].float(), dim=-1)
            start = len(prefix["input_ids"])
            expected = sum(
                logprobs[start - 1 + j, token].item() for j, token in enumerate(ids)
            )
            assert scores[i, k] == pytest.approx(expected, abs=1e-4)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _train_step(peft_model, batch):
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    peft_model.train()
    loss = peft_model(**batch).loss
    loss.backward()
    optimizer.step()
    return loss


def test_lora_trains_projector_and_adapters_only():
    backbone = TINY()
    model = backbone.model
    vision_before = _snapshot(model.vision_tower)
    peft_model = add_lora(
        backbone, r=4, target_modules=LORA, modules_to_save=["multi_modal_projector"]
    )
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable
    for name in trainable:
        assert "lora_" in name or "multi_modal_projector.modules_to_save" in name
        assert "vision_tower" not in name
    assert any(".language_model." in n and "lora_B" in n for n in trainable)
    assert any("multi_modal_projector" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in peft_model.named_parameters()}

    loss = _train_step(peft_model, _batch(backbone, [_image(0), _image(1)]))
    assert torch.isfinite(loss)
    assert not model.vision_tower.training
    changed = {
        n for n, p in peft_model.named_parameters() if not torch.equal(p, before[n])
    }
    assert changed == set(trainable)
    for name, value in _snapshot(model.vision_tower).items():
        assert torch.equal(value, vision_before[name]), name  # incl. BatchNorm stats


def test_same_seed_same_model():
    def projector(seed):
        return _snapshot(TINY(seed=seed).model.multi_modal_projector)

    first, again, other = projector(0), projector(0), projector(1)
    # building probes the CNN in eval mode: BatchNorm statistics untouched
    cnn = TINY().model.vision_tower
    norms = [m for m in cnn.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(int(m.num_batches_tracked) == 0 for m in norms)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_label_scoring_model_pickles():
    lora = dict(
        r=4,
        alpha=8,
        dropout=0.0,
        target_modules=LORA,
        modules_to_save=["multi_modal_projector"],
    )
    scorer = LabelScoringModel(
        TINY, quantization=None, lora=lora, device="cpu", seed=0, verbose=0
    )
    assert scorer.uses_images and isinstance(scorer.backbone.model, ComposedVLM)
    scorer.label_ids = [encode_answer(scorer.backbone, t) for t in (" up", " down")]
    _train_step(scorer.model, _batch(scorer.backbone, [_image(0), _image(1)]))
    encoded = [(encode_prefix(scorer.backbone, "Class?", _image(2)), None)]
    again = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_allclose(again.score(encoded), scorer.score(encoded), atol=1e-5)


@pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes"
)
def test_4bit_quantises_the_language_model_only():
    import bitsandbytes as bnb

    backbone = TINY(quantization="4bit")
    model = backbone.model
    assert model.is_loaded_in_4bit
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.language_model.modules())
    for part in (model.vision_tower, model.multi_modal_projector):
        assert all(p.dtype == torch.float32 for p in part.parameters())
    peft_model = add_lora(
        backbone, r=4, target_modules=LORA, modules_to_save=["multi_modal_projector"]
    )
    before = _snapshot(model.multi_modal_projector)
    loss = _train_step(peft_model, _batch(backbone, [_image(0), _image(1)]))
    assert torch.isfinite(loss)
    after = _snapshot(model.multi_modal_projector)
    assert any(not torch.equal(after[k], before[k]) for k in before)


def _real_vision_available(name: str = "efficientnet-lite0") -> bool:
    return (
        OFFLINE_WEIGHTS[name].is_ready()
        and importlib.util.find_spec("efficientnet_lite_pytorch") is not None
    )


def _grace_hopper():
    if importlib.util.find_spec("matplotlib") is None:
        return None
    import matplotlib.cbook
    from PIL import Image

    return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))


NEEDS_REAL_LITE0 = pytest.mark.skipif(
    not _real_vision_available(),
    reason="EfficientNet-Lite0 weights not prepared (`vlmtsc models prepare "
    "efficientnet-lite0`) or efficientnet-lite-pytorch not installed",
)


@NEEDS_REAL_LITE0
def test_real_efficientnet_lite0():
    backbone = build_composed("efficientnet-lite0", "tiny-llama", verbose=0)
    model, processor = backbone.model, backbone.processor
    assert processor.n_image_tokens == model.config.n_image_tokens == 49
    assert model.config.vision_channels == 1280
    assert not any(p.requires_grad for p in model.vision_tower.parameters())
    weights = OFFLINE_WEIGHTS["efficientnet-lite0"].folder / "model.pth"
    pretrained = torch.load(weights, map_location="cpu", weights_only=True)
    state = model.vision_tower.state_dict()
    assert state.keys() == pretrained.keys()
    assert all(torch.equal(state[k], pretrained[k]) for k in state)
    images = [_image(0, (224, 224, 3)), _image(1, (224, 224, 3))]
    with torch.no_grad():
        if (hopper := _grace_hopper()) is not None:
            logits = model.vision_tower(processor.preprocess([hopper]))
            assert logits.argmax().item() == 652  # ImageNet "military uniform"
        tokens = model.get_image_features(processor.preprocess(images))
        assert tokens.shape == (2, 49, model.language_model.config.hidden_size)
        assert not torch.allclose(tokens[0], tokens[1])
        out = model(**_batch(backbone, images))
    assert torch.isfinite(out.loss)


@NEEDS_REAL_LITE0
def test_real_efficientnet_lite0_stages():
    backbone = build_composed("efficientnet-lite0", "tiny-llama", verbose=0)
    model = backbone.model
    cnn = model.vision_tower
    assert model.vision_stage_channels == (
        (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320, 1280)
    )
    images = [_image(0, (224, 224, 3)), _image(1, (224, 224, 3))]
    pixels = backbone.processor.preprocess(images)
    with torch.no_grad():
        stages = model.vision_stages(pixels, [3, 9, 15, -1])
        tokens = model.vision_features(pixels)
        # extract_features written out: stem, blocks (drop-connect is off in
        # eval mode whatever its rate), head.
        x = cnn._swish(cnn._bn0(cnn._conv_stem(pixels)))
        blocks = []
        for idx, block in enumerate(cnn._blocks):
            rate = cnn._global_params.drop_connect_rate * idx / len(cnn._blocks)
            x = block(x, drop_connect_rate=rate)
            blocks.append(x.mean((2, 3)))
        head = cnn._swish(cnn._bn1(cnn._conv_head(x))).mean((2, 3))
    # The stages come from a copy with the BatchNorms folded into the
    # convolutions: equal up to float rounding (~6e-6 here).
    for got, want in zip(stages, [blocks[3], blocks[9], blocks[15], head], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=5e-5)
    torch.testing.assert_close(stages[-1], tokens.mean(1), rtol=0, atol=1e-6)


@NEEDS_REAL_LITE0
def test_the_frozen_efficientnet_runs_with_its_batch_norms_folded():
    backbone = build_composed("efficientnet-lite0", "tiny-llama", verbose=0)
    images = [_image(0, (224, 224, 3)), _image(1, (224, 224, 3))]
    _folded_check(backbone, backbone.processor.preprocess(images), atol=5e-5)


@pytest.mark.parametrize(
    "vision, n_params, n_blocks, last_block",
    [
        pytest.param(
            name,
            n_params,
            21,
            last_block,
            marks=pytest.mark.skipif(
                not _real_vision_available(name),
                reason=f"{name} weights not prepared (`vlmtsc models prepare "
                f"{name}`) or efficientnet-lite-pytorch not installed",
            ),
        )
        for name, n_params, last_block in (
            ("efficientnet-lite1", 5_416_680, 320),
            ("efficientnet-lite2", 6_092_072, 352),
        )
    ],
)
def test_real_efficientnet_lite1_and_lite2(vision, n_params, n_blocks, last_block):
    backbone = build_composed(vision, "tiny-llama", verbose=0)
    model, processor = backbone.model, backbone.processor
    cnn = model.vision_tower
    assert model.config.vision == vision and model.config.image_size == 224
    assert processor.n_image_tokens == model.config.n_image_tokens == 49
    assert model.config.vision_channels == 1280
    assert sum(p.numel() for p in cnn.parameters()) == n_params
    assert len(cnn._blocks) == n_blocks and model.n_vision_stages == n_blocks + 1
    assert model.vision_stage_channels[-2:] == (last_block, 1280)
    assert not any(p.requires_grad for p in cnn.parameters())
    weights = OFFLINE_WEIGHTS[vision].folder / "model.pth"
    pretrained = torch.load(weights, map_location="cpu", weights_only=True)
    state = cnn.state_dict()
    assert state.keys() == pretrained.keys()
    assert all(torch.equal(state[k], pretrained[k]) for k in state)
    images = [_image(0, (224, 224, 3)), _image(1, (224, 224, 3))]
    with torch.no_grad():
        if (hopper := _grace_hopper()) is not None:
            logits = cnn(processor.preprocess([hopper]))
            assert logits.argmax().item() == 652  # ImageNet "military uniform"
        pixels = processor.preprocess(images)
        head = model.vision_stages(pixels, [-1])[0]
        tokens = model.vision_features(pixels)
        torch.testing.assert_close(head, tokens.mean(1), rtol=0, atol=1e-6)
        out = model(**_batch(backbone, images))
    assert torch.isfinite(out.loss)
    # The native resolution (240 / 260 px) is one argument away: a larger grid.
    native = cnn._global_params.image_size
    side = -(-native // 32)
    larger = build_composed(vision, "tiny-llama", verbose=0, image_size=native)
    assert larger.model.config.n_image_tokens == side * side
    assert larger.processor.preprocess(images).shape == (2, 3, native, native)
