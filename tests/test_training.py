"""The training core: encoding, collation, the loop, label scoring."""

import numpy as np
import pytest
import torch

from vlmtsc.backbones import load_backbone
from vlmtsc.training import (
    TrainingConfig,
    collate,
    decoder_blocks,
    embed_prefixes,
    encode_answer,
    encode_prefix,
    score_labels,
    shared_start,
    shared_start_loss,
    train,
    training_example,
)
from vlmtsc.training._lm import IGNORE_INDEX

torch.set_num_threads(1)

GENERATORS = [
    "tiny-gpt2",
    "tiny-llama",
    "tiny-llava",
    "tiny-qwen2-vl",
    "tiny-qwen2.5-vl",
    "tiny-idefics3",
    "tiny-smolvlm",
]
IMAGE = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)


def _prefix(backbone, prompt="Which class is the following signal from? 0.25, 1.5"):
    image = IMAGE if backbone.family.kind == "vlm" else None
    return encode_prefix(backbone, prompt, image)


def test_loss_is_on_the_answer_tokens_only():
    backbone = load_backbone("tiny-llama")
    prefix = _prefix(backbone)
    answer = encode_answer(backbone, " up")
    assert answer[-1] == backbone.tokenizer.eos_token_id
    example = training_example(prefix, answer)
    n = len(prefix["input_ids"])
    assert (example["labels"][:n] == IGNORE_INDEX).all()
    assert example["labels"][n:].tolist() == answer
    assert example["input_ids"][n:].tolist() == answer


def test_collate_pads_per_token_fields_and_concatenates_images():
    backbone = load_backbone("tiny-qwen2-vl")
    short = training_example(_prefix(backbone, "a"), [5])
    long = training_example(
        _prefix(backbone, "a longer prompt with more words"), [5, 6]
    )
    batch = collate([short, long], pad_token_id=0)
    width = len(long["input_ids"])
    assert batch["input_ids"].shape == (2, width)
    assert batch["labels"][0, len(short["input_ids"]) :].eq(IGNORE_INDEX).all()
    assert batch["attention_mask"].sum(dim=1).tolist() == [
        len(short["input_ids"]),
        width,
    ]
    assert batch["mm_token_type_ids"].shape == (2, width)  # per token, padded
    assert batch["pixel_values"].shape[0] == 2 * short["pixel_values"].shape[0]


@pytest.mark.parametrize("alias", GENERATORS)
def test_cached_label_scoring_equals_teacher_forcing(alias):
    backbone = load_backbone(alias)
    prefix = _prefix(backbone)
    labels = [encode_answer(backbone, t) for t in (" up", " down", " far away 12")]
    scores = score_labels(backbone.model, [prefix], labels)[0]
    n = len(prefix["input_ids"])
    for k, ids in enumerate(labels):
        batch = collate([training_example(prefix, ids)], 0)
        batch.pop("labels")
        with torch.no_grad():
            logprobs = torch.log_softmax(backbone.model(**batch).logits[0].float(), -1)
        expected = sum(logprobs[n - 1 + j, t].item() for j, t in enumerate(ids))
        assert scores[k] == pytest.approx(expected, abs=1e-4)


def _embedded_tokens(model):
    """A list that collects how many token positions each model call embeds."""
    counts = []
    model.get_input_embeddings().register_forward_hook(
        lambda module, args, out: counts.append(args[0].numel())
    )
    return counts


@pytest.mark.parametrize("alias", ["tiny-gpt2", "tiny-llama"])
def test_the_shared_prompt_start_runs_once_and_scores_as_teacher_forcing(alias):
    backbone = load_backbone(alias)
    template = "You will be receiving time series. Which class? Signal: "
    prefixes = [
        _prefix(backbone, template + series)
        for series in ("0.5, 1.5", "2.5, 0.5, 7", "0.25, 1.5, 3.75")
    ]
    start = shared_start(backbone.model, prefixes)
    ids = [p["input_ids"] for p in prefixes]
    assert all((i[:start] == ids[0][:start]).all() for i in ids)  # shared ...
    assert len({int(i[start]) for i in ids}) > 1  # ... up to the first difference
    assert start > min(map(len, ids)) // 2  # the chat turn and the instructions
    labels = [encode_answer(backbone, t) for t in (" up", " far away 12")]
    counts = _embedded_tokens(backbone.model)
    scores = score_labels(backbone.model, prefixes, labels)
    prompt_tokens = sum(len(p["input_ids"]) for p in prefixes)
    label_tokens = len(prefixes) * len(labels) * (max(map(len, labels)) - 1)
    # the start once, then each prompt's rest, then the labels
    assert sum(counts) == prompt_tokens - 2 * start + label_tokens
    for i, prefix in enumerate(prefixes):
        n = len(prefix["input_ids"])
        for k, ids in enumerate(labels):
            batch = collate([training_example(prefix, ids)], 0)
            batch.pop("labels")
            with torch.no_grad():
                logprobs = torch.log_softmax(backbone.model(**batch).logits[0], -1)
            expected = sum(logprobs[n - 1 + j, t].item() for j, t in enumerate(ids))
            assert scores[i, k] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("alias", ["tiny-gpt2", "tiny-llama"])
@pytest.mark.parametrize("layers", [None, [0, 1, -1]])
def test_embeddings_run_the_shared_start_once_and_equal_whole_prompts(alias, layers):
    backbone = load_backbone(alias)
    template = "You will be receiving time series. Which class? Signal: "
    prefixes = [
        _prefix(backbone, template + series)
        for series in ("0.5, 1.5", "2.5, 0.5, 7", "0.25, 1.5, 3.75", "0.5, 1.25")
    ]
    start = shared_start(backbone.model, prefixes)
    assert start > 0
    counts = _embedded_tokens(backbone.model)
    pooled = embed_prefixes(backbone.model, prefixes, "hidden", layers=layers)
    # the start once, then each prompt's rest
    assert sum(counts) == sum(len(p["input_ids"]) for p in prefixes) - 3 * start
    for i, prefix in enumerate(prefixes):  # each whole prompt alone, averaged
        with torch.no_grad():
            out = backbone.model(**collate([prefix], 0), output_hidden_states=True)
        hidden = out.hidden_states
        chosen = [hidden[-1]] if layers is None else [hidden[k] for k in layers]
        expected = torch.cat(chosen, dim=-1)[0].mean(dim=0).numpy()
        np.testing.assert_allclose(pooled[i], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(pooled[0], pooled[1])  # the cases differ


@pytest.mark.parametrize("alias", ["tiny-gpt2", "tiny-llama"])
def test_embeddings_of_a_lower_layer_run_only_the_blocks_up_to_it(alias):
    backbone = load_backbone(alias)  # two blocks
    prefixes = [
        _prefix(backbone, "Which class? Signal: " + series)
        for series in ("0.5, 1.5", "2.5, 0.5, 7", "0.25, 1.5, 3.75")
    ]
    module, name = decoder_blocks(backbone.model)
    blocks = getattr(module, name)
    ran = []
    for k, block in enumerate(blocks):
        block.register_forward_hook(lambda *_, k=k: ran.append(k))
    pooled = embed_prefixes(backbone.model, prefixes, "hidden", layers=[1])
    assert set(ran) == {0, 1}  # hidden state 1 of 2 is not the last: one cut
    ran.clear()
    lowest = embed_prefixes(backbone.model, prefixes, "hidden", layers=[0])
    assert set(ran) == {0}  # the second block never ran
    assert getattr(module, name) is blocks  # and is back
    for i, prefix in enumerate(prefixes):
        with torch.no_grad():
            out = backbone.model(**collate([prefix], 0), output_hidden_states=True)
        for features, k in ((lowest, 0), (pooled, 1)):
            expected = out.hidden_states[k][0].mean(dim=0).numpy()
            np.testing.assert_allclose(features[i], expected, rtol=1e-4, atol=1e-5)


def test_nothing_is_shared_across_images_or_whole_sequence_routing():
    vlm = load_backbone("tiny-llava")
    prefixes = [_prefix(vlm), _prefix(vlm)]  # identical text, images in it
    assert shared_start(vlm.model, prefixes) == 0
    from vlmtsc.adapters.dlora import add_dlora

    lm = load_backbone("tiny-llama")
    text = [_prefix(lm, "the same start, then " + w) for w in ("up", "down")]
    assert shared_start(lm.model, text) > 0
    assert shared_start(add_dlora(lm.model), text) == 0  # routers pool it all


def test_the_shared_start_loss_equals_the_plain_loss_and_gradients():
    backbone = load_backbone("tiny-llama")
    model = backbone.model
    examples = [
        training_example(_prefix(backbone, "Which class? Signal: " + s), a)
        for s, a in (("0.5, 1.5", [7, 8]), ("2.5", [9]), ("0.25, 1.5, 3.75", [5]))
    ]
    batch = collate(examples, 0)  # right-padded rows of three lengths
    model.eval()  # no dropout: the two losses compare exactly
    grads = []
    for compute in (
        lambda: model(**batch).loss,
        lambda: shared_start_loss(model, batch),
    ):
        model.zero_grad()
        counts = _embedded_tokens(model)
        value = compute()
        value.backward()
        grads.append((value.item(), sum(counts), model.lm_head.weight.grad.clone()))
        model.get_input_embeddings()._forward_hooks.clear()
    (plain, plain_tokens, plain_grad), (shared, shared_tokens, shared_grad) = grads
    assert shared == pytest.approx(plain, abs=1e-5)
    torch.testing.assert_close(shared_grad, plain_grad, atol=1e-5, rtol=1e-4)
    assert shared_tokens < plain_tokens
    # gradient checkpointing returns no cache in training: the plain call
    checkpointing = "activation_checkpointing"  # transformers 5.25's name
    if not hasattr(model, f"{checkpointing}_enable"):
        checkpointing = "gradient_checkpointing"
    getattr(model, f"{checkpointing}_enable")()
    model.train()
    assert shared_start_loss(model, batch).item() == pytest.approx(plain, abs=1e-5)
    getattr(model, f"{checkpointing}_disable")()
    model.eval()
    # a row of the batch that is all answer leaves nothing to share
    lm_batch = {**batch, "labels": batch["input_ids"].clone()}
    assert shared_start_loss(model, lm_batch).item() == pytest.approx(
        model(**lm_batch).loss.item(), abs=1e-6
    )


@pytest.mark.parametrize("alias", GENERATORS)
def test_batched_scoring_and_embedding_equal_one_case_at_a_time(alias):
    backbone = load_backbone(alias)
    rng = np.random.default_rng(1)
    prompts = ["Signal: 0.5, 1.5", "Signal: 2.5, 0.5", "Signal: 0.25, 1.5, 3.75"]
    prefixes = [
        encode_prefix(
            backbone,
            prompt,
            (rng.random((32, 32, 3)) * 255).astype(np.uint8)
            if backbone.family.kind == "vlm"
            else None,
        )
        for prompt in prompts
    ]
    labels = [encode_answer(backbone, t) for t in (" up", " far away 12")]
    batched = score_labels(backbone.model, prefixes, labels, batch_size=8)
    single = score_labels(backbone.model, prefixes, labels, batch_size=1)
    np.testing.assert_allclose(batched, single, atol=1e-4)
    assert not np.allclose(batched[0], batched[1])  # the cases differ
    sources = ["hidden", "vision"] if backbone.family.kind == "vlm" else ["hidden"]
    for source in sources:
        np.testing.assert_allclose(
            embed_prefixes(backbone.model, prefixes, source, batch_size=8),
            embed_prefixes(backbone.model, prefixes, source, batch_size=1),
            atol=1e-4,
        )


def _toy_task(backbone):
    """Two prompts mapped to two answers: learnable in a few steps."""
    prompts = ["Signal: rising", "Signal: falling"]
    answers = [" up", " down"]
    label_ids = [encode_answer(backbone, a) for a in answers]
    prefixes = [encode_prefix(backbone, p) for p in prompts]
    examples = [
        training_example(p, ids) for p, ids in zip(prefixes, label_ids, strict=True)
    ]
    return prefixes, label_ids, examples


def _lora(alias="tiny-llama"):
    from vlmtsc.adapters import add_lora

    backbone = load_backbone(alias)
    torch.manual_seed(0)  # LoRA's A matrices are initialised randomly
    return backbone, add_lora(backbone, r=8, alpha=16, dropout=0.0)


def test_training_learns_and_checkpoints_the_best_epoch():
    backbone, model = _lora()
    prefixes, label_ids, examples = _toy_task(backbone)

    def batches(rng):
        yield collate([examples[i] for i in rng.permutation(2)], 0)

    def margin(m):
        """How much more likely each prompt's own answer is than the other's."""
        scores = score_labels(m, prefixes, label_ids)
        return float(scores[0, 0] - scores[0, 1] + scores[1, 1] - scores[1, 0])

    before = margin(model)
    config = TrainingConfig(
        n_epochs=20, batch_size=2, learning_rate=1e-2, warmup_ratio=0
    )
    result = train(model, batches, 1, config, evaluate=margin, verbose=0)
    losses = [entry["loss"] for entry in result.history]
    # A random 64-wide model's small tied output head caps how low the loss can
    # go (~5 nats) and how far answers separate; both must still move clearly.
    assert losses[-1] < losses[0] - 1.0
    assert margin(model) > before + 0.25
    scores = score_labels(model, prefixes, label_ids)
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]
    assert (
        result.best_epoch
        == int(np.argmax([h["validation_score"] for h in result.history])) + 1
    )
    assert all(entry["tokens"] > 0 for entry in result.history)
    # torch counts the first step's FLOPs; every epoch sees the same batch.
    assert result.history[0]["flops"] > 0
    assert len({entry["flops"] for entry in result.history}) == 1


def test_best_epoch_parameters_are_restored_and_patience_stops():
    backbone, model = _lora()
    _, _, examples = _toy_task(backbone)
    scores = iter([0.9, 0.5, 0.4, 0.3, 0.2])
    snapshots = []

    def evaluate(m):
        snapshots.append(
            {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
        )
        return next(scores)

    config = TrainingConfig(n_epochs=5, batch_size=2, learning_rate=1e-2, patience=2)
    result = train(
        model,
        lambda rng: iter([collate(examples, 0)]),
        1,
        config,
        evaluate=evaluate,
        verbose=0,
    )
    assert result.best_epoch == 1
    assert len(result.history) == 3  # epochs 2 and 3 did not improve: stop
    for name, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p, snapshots[0][name])


def test_training_is_reproducible():
    def run():
        backbone, model = _lora()
        _, _, examples = _toy_task(backbone)
        config = TrainingConfig(n_epochs=2, batch_size=1, learning_rate=1e-2)
        batches = lambda rng: (collate([examples[i]], 0) for i in rng.permutation(2))  # noqa: E731
        return train(model, batches, 2, config, random_state=3, verbose=0).history

    first, second = run(), run()
    assert [h["loss"] for h in first] == [h["loss"] for h in second]


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"n_epochs": 0}, "n_epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"learning_rate": 0}, "learning_rate must be positive"),
        ({"warmup_ratio": 1.0}, r"warmup_ratio must be in \[0, 1\)"),
        ({"schedule": "step"}, "schedule must be one of"),
        ({"patience": 0}, "patience must be None or >= 1"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be one of"),
    ],
)
def test_bad_training_settings(params, pattern):
    with pytest.raises(ValueError, match=pattern):
        TrainingConfig(**params).validate()


def test_a_model_without_trainable_parameters_is_refused():
    backbone = load_backbone("tiny-llama")
    for p in backbone.model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(backbone.model, lambda rng: iter([]), 1, TrainingConfig(), verbose=0)


def test_bf16_mixed_precision_trains_with_float32_weights():
    _, _, examples = _toy_task(load_backbone("tiny-llama"))

    def batches(rng):
        yield collate(examples, 0)

    losses = {}
    for precision in ("bf16", "no"):
        _, model = _lora()
        config = TrainingConfig(
            n_epochs=3, learning_rate=1e-2, warmup_ratio=0, mixed_precision=precision
        )
        losses[precision] = [
            h["loss"] for h in train(model, batches, 1, config, verbose=0).history
        ]
        assert all(p.dtype == torch.float32 for p in model.parameters())
    # bf16 rounds the matmuls: close to, but not the same as, float32.
    assert losses["bf16"] != losses["no"]
    np.testing.assert_allclose(losses["bf16"], losses["no"], rtol=0.05)


def test_score_start_keeps_the_starting_parameters_when_no_epoch_beats_them():
    backbone, model = _lora()
    _, _, examples = _toy_task(backbone)
    start = {
        n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
    }
    scores = iter([0.9, 0.5, 0.8])  # epoch 0 (the start), then epochs 1 and 2
    config = TrainingConfig(n_epochs=2, batch_size=2, learning_rate=1e-2)
    result = train(
        model,
        lambda rng: iter([collate(examples, 0)]),
        1,
        config,
        evaluate=lambda m: next(scores),
        verbose=0,
        score_start=True,
    )
    assert result.best_epoch == 0
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert result.history[0]["validation_score"] == 0.9
    for name, p in model.named_parameters():
        if p.requires_grad:  # the training moved them; the start is restored
            torch.testing.assert_close(p, start[name])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_pooled_head_starts_as_the_probe(n_classes):
    from scipy.special import softmax

    from vlmtsc.training import fit_probe
    from vlmtsc.training._probe import _head_module

    backbone, model = _lora()
    # Prompts of several lengths: one padded batch against equal-shape batches.
    prompts = [f"series {i}: " + "1.5 " * (i % 4) for i in range(12)]
    prefixes = [encode_prefix(backbone, p) for p in prompts]
    hidden = embed_prefixes(model, prefixes, "hidden")
    frozen = np.random.default_rng(0).normal(size=(12, 3))
    y = np.arange(12) % n_classes
    features = np.hstack([frozen, hidden])
    probe = fit_probe(features, y, 0)
    network = _head_module(model, probe, n_classes)
    batch = collate(prefixes, 0)
    assert len(set(map(len, prompts))) > 1 and (batch["attention_mask"] == 0).any()
    batch["frozen"] = torch.as_tensor(frozen, dtype=torch.float32)
    network.eval()
    with torch.no_grad():
        logits = network(**batch).logits.numpy()
    np.testing.assert_allclose(
        softmax(logits, axis=1), probe.predict_proba(features), atol=1e-5
    )


@pytest.mark.parametrize("n_classes", [2, 4])
def test_a_probe_folds_into_one_linear_map(n_classes):
    from scipy.special import softmax

    from vlmtsc.training import fit_probe, probe_as_linear

    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, -2, 0, 1]
    X[:, 4] = 2.0  # constant: StandardScaler's scale 1
    y = np.arange(24) % n_classes
    probe = fit_probe(X, y, 0)
    weight, bias = probe_as_linear(probe, n_classes)
    assert weight.shape == (n_classes, 5) and bias.shape == (n_classes,)
    np.testing.assert_allclose(
        softmax(X @ weight.T + bias, axis=1), probe.predict_proba(X), atol=1e-10
    )
    with pytest.raises(ValueError, match=r"needs every one of 0\.\.4"):
        probe_as_linear(probe, 5)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_probe_log_proba_is_the_log_of_predict_proba_with_gradients(n_classes):
    import torch

    from vlmtsc.training import fit_probe, probe_as_linear, probe_log_proba

    rng = np.random.default_rng(2)
    X = rng.normal(size=(24, 5)) * [1, 10, 0.1, 3, 1]
    y = np.arange(24) % n_classes
    probe = fit_probe(X, y, 0)
    features = torch.tensor(X, requires_grad=True)
    log_proba = probe_log_proba(probe, features, n_classes)
    assert log_proba.dtype == torch.float64
    np.testing.assert_allclose(
        log_proba.exp().detach().numpy(), probe.predict_proba(X), atol=1e-10
    )
    # d log p_1 / dx = w_1 - sum_k p_k w_k, w the probe as one linear map.
    (gradient,) = torch.autograd.grad(log_proba[:, 1].sum(), features)
    weight, _ = probe_as_linear(probe, n_classes)
    expected = weight[1] - probe.predict_proba(X) @ weight
    np.testing.assert_allclose(gradient.numpy(), expected, atol=1e-8)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_wide_probe_is_solved_in_the_span_of_its_rows(n_classes):
    # More features than rows: the same model as on all the features (an L2
    # penalty's solution lies in the rows' span), as the usual two steps.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vlmtsc.training import fit_probe

    rng = np.random.default_rng(0)
    y = np.arange(30) % n_classes
    X = rng.normal(size=(30, 200)) + y[:, None] * rng.normal(size=200) * 0.3
    probe = fit_probe(X, y, 0)
    assert [name for name, _ in probe.steps] == [
        "standardscaler",
        "logisticregression",
    ]
    assert probe[-1].coef_.shape[1] == probe.n_features_in_ == 200
    plain = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=probe[-1].C, max_iter=5000, tol=1e-8),
    ).fit(X, y)
    held = rng.normal(size=(10, 200))
    # Equal up to the probe's solver tolerance (1e-4).
    np.testing.assert_allclose(
        probe.predict_proba(held), plain.predict_proba(held), atol=1e-2
    )
    coef, expected = probe[-1].coef_.ravel(), plain[-1].coef_.ravel()
    assert np.corrcoef(coef, expected)[0, 1] > 0.999
    assert np.abs(probe.predict_proba(held) - 1 / n_classes).max() > 0.1


def test_a_widened_probe_answers_as_the_probe():
    from vlmtsc.training import fit_probe
    from vlmtsc.training._probe import _widened

    rng = np.random.default_rng(0)
    frozen, hidden = rng.normal(size=(20, 4)), rng.normal(size=(20, 6))
    hidden[:, 0] = 3.0  # a constant column is scaled by 1, as StandardScaler does
    y = np.arange(20) % 3
    probe = fit_probe(frozen, y, 0)
    expected = probe.predict_proba(frozen)
    wide = _widened(probe, hidden)
    both = np.hstack([frozen, hidden])
    np.testing.assert_allclose(wide.predict_proba(both), expected)
    np.testing.assert_allclose(wide[0].transform(both)[:, 4:].std(axis=0)[1:], 1.0)
    assert wide[-1].coef_.shape == (3, 10) and not wide[-1].coef_[:, 4:].any()
