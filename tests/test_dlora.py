"""D-LoRA: routing, gradients, balancing loss and saving on tiny Llama and GPT-2."""

import copy

import pytest
import torch

from vlmtsc.adapters.dlora import DLoRAConfig, DLoRAModel, add_dlora
from vlmtsc.backbones import load_backbone

MODULES = {
    "tiny-llama": [
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    ],
    "tiny-gpt2": ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"],
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny models: threads only add overhead, and they suffer badly on a busy CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=sorted(MODULES))
def backbone(request):
    return load_backbone(request.param, verbose=0)


def wrap(backbone, **config):
    """D-LoRA on a copy of the backbone's model (which stays untouched)."""
    config = {"dropout": 0.0, **config}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the LoRA A and router weights
        return add_dlora(copy.deepcopy(backbone.model), DLoRAConfig(**config))


def two_examples(pad_id):
    """Two clearly different inputs; the second right-padded with 3 pad tokens."""
    ids = torch.tensor([[5] * 8, [300, 17, 420, 99, 250, pad_id, pad_id, pad_id]])
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    return ids, mask


def randomise_lora(model, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layers in model.dlora_layers:
            for layer in layers:
                weight = layer.lora_B.weight
                weight.copy_(0.5 * torch.randn(weight.shape, generator=gen))


def test_wraps_every_projection_of_every_block(backbone):
    model = wrap(backbone)
    n_blocks = backbone.model.config.num_hidden_layers
    assert len(model.routers) == len(model.block_names) == n_blocks
    assert model.module_names == [MODULES[backbone.source]] * n_blocks
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(model.dlora_state_dict())
    assert all(".lora_" in n or n.startswith("routers.") for n in trainable)
    assert model.trainable_parameters() == sum(
        p.numel() for p in model.dlora_state_dict().values()
    )


def test_starts_as_the_base_model(backbone):
    model = wrap(backbone)
    ids, mask = two_examples(backbone.tokenizer.pad_token_id)
    with torch.no_grad():
        expected = backbone.model(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, expected)
        # B = 0 is what keeps it so
        randomise_lora(model)
        changed = model(input_ids=ids, attention_mask=mask).logits
    assert not torch.allclose(changed, expected, atol=1e-3)


def steer_routers(model, backbone, ids, mask):
    """Make every block send example 0 to modules {0, 1} and example 1 to {2, 3}.

    Each router gets logits +-5 along the difference of the two examples' pooled,
    RMS-normalised block inputs (the base model's hidden states: B = 0 leaves them
    unchanged).
    """
    with torch.no_grad():
        states = backbone.model(
            input_ids=ids, attention_mask=mask, output_hidden_states=True
        ).hidden_states
        weights = mask[..., None].float()
        for router, hidden in zip(model.routers, states, strict=False):
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            pooled = pooled / pooled.pow(2).mean(-1, keepdim=True).sqrt()
            u = pooled[0] - pooled[1]
            centre = pooled.mean(0)
            scale = 10 / u.dot(u)
            router.linear.weight.zero_()
            router.linear.bias.zero_()
            for module, sign in ((0, 1), (1, 1), (2, -1), (3, -1)):
                router.linear.weight[module] = sign * scale * u
                router.linear.bias[module] = -sign * scale * u.dot(centre)


def test_different_inputs_route_to_different_modules(backbone):
    model = wrap(backbone, top_n=2)
    ids, mask = two_examples(backbone.tokenizer.pad_token_id)
    steer_routers(model, backbone, ids, mask)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    routing = model.routing()
    n_blocks = len(model.block_names)
    assert routing.shape == (n_blocks, 2, 2)
    assert routing[:, 0].tolist() == [[0, 1]] * n_blocks
    assert routing[:, 1].tolist() == [[2, 3]] * n_blocks
    for layers in model.dlora_layers:
        gates = torch.stack([layer.gate for layer in layers])  # (modules, batch)
        assert set(gates.unique().tolist()) <= {0.0, 1.0}
        assert gates.sum(0).tolist() == [2.0, 2.0]  # exactly top_n per example
        assert gates[:2, 0].tolist() == [1.0, 1.0]
        assert gates[2:4, 1].tolist() == [1.0, 1.0]
    # Each example sees only its own modules: batched as alone.
    randomise_lora(model)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask).logits
        for i, length in enumerate(mask.sum(1).tolist()):
            alone = model(input_ids=ids[i : i + 1, :length]).logits
            torch.testing.assert_close(batched[i : i + 1, :length], alone)


def test_routing_ignores_padding_and_supervised_tokens(backbone):
    model = wrap(backbone)
    randomise_lora(model)
    ids, mask = two_examples(backbone.tokenizer.pad_token_id)
    with torch.no_grad():
        model(input_ids=ids[1:, :5])
        alone = [router.last_probs for router in model.routers]
        model(input_ids=ids, attention_mask=mask)
        for router, probs in zip(model.routers, alone, strict=True):
            torch.testing.assert_close(router.last_probs[1:], probs)
        # Supervised tokens (the answer) are not read: routing as on the prompt.
        answer = torch.tensor([[7, 8, 9]])
        labels = torch.cat([torch.full((1, 5), -100), answer], dim=1)
        model(input_ids=torch.cat([ids[1:, :5], answer], dim=1), labels=labels)
        for router, probs in zip(model.routers, alone, strict=True):
            torch.testing.assert_close(router.last_probs, probs)


def test_last_token_pooling(backbone):
    """pooling="last": the first router sees only the last attended token."""
    model = wrap(backbone, pooling="last")
    pad = backbone.tokenizer.pad_token_id
    ids = torch.tensor([[300, 17, 42, pad], [5, 6, 42, pad]])
    with torch.no_grad():
        model(input_ids=ids[:1, :3])
        alone = model.routers[0].last_probs
        model(input_ids=ids, attention_mask=torch.tensor([[1, 1, 1, 0]] * 2))
    probs = model.routers[0].last_probs
    torch.testing.assert_close(probs, alone.expand(2, -1))
    # deeper blocks' last token has read the whole (different) sequences
    second = model.routers[1].last_probs
    assert not torch.allclose(second[0], second[1])


def test_label_scoring_sees_the_routing_of_training(backbone):
    """score_labels (prompt cached, labels continued) = the training forward."""
    from vlmtsc.training import collate, score_labels, training_example

    model = wrap(backbone)
    randomise_lora(model)
    prefixes = [
        {"input_ids": torch.tensor(ids), "attention_mask": torch.ones(4).long()}
        for ids in ([300, 17, 420, 99], [5, 5, 5, 5])
    ]
    answers = [[7, 8], [9, 10, 11]]
    scores = score_labels(model, prefixes, answers)
    with torch.no_grad():
        for i, prefix in enumerate(prefixes):
            for k, answer in enumerate(answers):
                batch = collate([training_example(prefix, answer)], 0)
                logprobs = torch.log_softmax(model(**batch).logits[0, :-1], dim=-1)
                picked = logprobs.gather(-1, batch["input_ids"][0, 1:, None])
                expected = picked[len(prefix["input_ids"]) - 1 :].sum().item()
                assert scores[i, k] == pytest.approx(expected, abs=1e-4)


def test_gradients_reach_only_the_chosen_modules_and_the_routers(backbone):
    model = wrap(backbone, balance_weight=0.0)  # the routers learn from the LM loss
    randomise_lora(model)
    ids = torch.tensor([[300, 17, 420, 99, 250]])
    model(input_ids=ids, labels=ids).loss.backward()
    chosen = model.routing()[:, 0].tolist()
    for block, layers in enumerate(model.dlora_layers):
        for index, layer in enumerate(layers):
            grads = [layer.lora_A.weight.grad, layer.lora_B.weight.grad]
            if index in chosen[block]:
                assert all(g is not None and g.abs().sum() > 0 for g in grads)
            else:
                assert all(g is None or not g.any() for g in grads)
            assert layer.base_layer.weight.grad is None
        router = model.routers[block].linear
        assert router.weight.grad is not None and router.weight.grad.abs().sum() > 0


def test_loss_includes_the_balancing_loss(backbone):
    model = wrap(backbone, balance_weight=0.5)
    ids = torch.tensor([[300, 17, 420, 99, 250], [5, 5, 5, 5, 5]])
    with torch.no_grad():
        base = backbone.model(input_ids=ids, labels=ids).loss
        loss = model(input_ids=ids, labels=ids).loss
    balance = model.balance_loss()
    losses = torch.stack([router.last_balance_loss for router in model.routers])
    torch.testing.assert_close(balance, 0.5 * losses.sum())
    torch.testing.assert_close(loss, base + balance)
    assert balance > 0


def test_balancing_loss_value(backbone):
    """n_modules * sum_i f_i * P_i, f_i the share of the batch's top_n choices."""
    model = wrap(backbone, top_n=2, balance_weight=1.0)
    bias = torch.zeros(len(MODULES[backbone.source]))
    bias[:2] = 2.0  # every example picks modules 0 and 1: f = (1/2, 1/2, 0, ...)
    with torch.no_grad():
        for router in model.routers:
            router.linear.weight.zero_()
            router.linear.bias.copy_(bias)
        model(input_ids=torch.tensor([[300, 17, 420], [5, 5, 5]]))
    assert model.routing().unique().tolist() == [0, 1]
    expected = len(bias) * torch.softmax(bias, 0)[0]  # n * (P_0 + P_1) / 2
    for router in model.routers:
        torch.testing.assert_close(router.last_balance_loss, expected)
    torch.testing.assert_close(model.balance_loss(), len(model.routers) * expected)


def test_balancing_loss_falls_when_optimised(backbone):
    model = wrap(backbone, balance_weight=1.0, top_n=1)
    with torch.no_grad():
        for router in model.routers:
            router.linear.bias[0] = 4.0  # everyone picks module 0: unbalanced
    ids = torch.randint(0, 500, (8, 6), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.routers.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        model(input_ids=ids)
        loss = model.balance_loss()
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    n_blocks = len(model.routers)
    assert losses[0] > 1.5 * n_blocks  # 1 per block is perfect balance
    assert losses[-1] < 0.5 * losses[0]
    assert len(model.routing().unique()) > 1


def test_save_and_load_give_identical_logits(backbone, tmp_path):
    model = wrap(backbone)
    randomise_lora(model)
    ids, mask = two_examples(backbone.tokenizer.pad_token_id)
    model.save_pretrained(tmp_path)
    loaded = DLoRAModel.load(tmp_path, copy.deepcopy(backbone.model))
    assert loaded.dlora_config == model.dlora_config
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits
        base = backbone.model(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(loaded(input_ids=ids, attention_mask=mask).logits, expected)
    assert not torch.allclose(expected, base, atol=1e-3)
    # Only the D-LoRA tensors are saved, not the base model.
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "dlora_model.safetensors")
    assert sum(t.numel() for t in saved.values()) == model.trainable_parameters()


def test_load_refuses_a_different_model(tmp_path):
    model = wrap(load_backbone("tiny-gpt2", verbose=0))
    model.save_pretrained(tmp_path)
    llama = load_backbone("tiny-llama", verbose=0).model
    with pytest.raises(ValueError, match="do not fit this model"):
        DLoRAModel.load(tmp_path, llama)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"top_n": 0}, "top_n must be a positive integer, got 0"),
        ({"r": 0}, "r must be a positive integer"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"router_temperature": 0}, "router_temperature must be positive"),
        ({"pooling": "max"}, "pooling must be one of"),
    ],
)
def test_invalid_config(settings, message):
    with pytest.raises(ValueError, match=message):
        DLoRAConfig(**settings)


def test_top_n_larger_than_the_block(backbone):
    n_modules = len(MODULES[backbone.source])
    with pytest.raises(ValueError) as error:
        wrap(backbone, top_n=n_modules + 1)
    message = str(error.value)
    assert f"top_n={n_modules + 1}" in message
    assert f"the {n_modules} D-LoRA modules" in message
    assert f"choose top_n <= {n_modules}" in message


def test_unknown_target_modules(backbone):
    known = MODULES[backbone.source][0].rpartition(".")[2]
    with pytest.raises(ValueError, match=r"\['nope_proj'\] match no module"):
        wrap(backbone, target_modules=[known, "nope_proj"])
    with pytest.raises(ValueError, match="top_n=2 is larger than the 1"):
        wrap(backbone, target_modules=[known])
    with pytest.raises(ValueError, match="D-LoRA adapts linear layers"):
        wrap(backbone, target_modules=["mlp"])


def test_unsupported_model_type_needs_target_modules():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    model.config = type("Config", (), {"model_type": "mystery"})()
    with pytest.raises(ValueError, match="Unsupported model type 'mystery'"):
        add_dlora(model)
