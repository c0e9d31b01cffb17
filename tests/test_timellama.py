"""TimeLlamaClassifier on tiny backbones: channel tokens, alignment, D-LoRA, head."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state

from vlmtsc import TimeLlamaClassifier
from vlmtsc.adapters.dlora import DLoRAModel
from vlmtsc.backbones import load_backbone
from vlmtsc.classification._timellama import (
    cut_blocks,
    n_patches,
    patch_length_for,
    resample_series,
)
from vlmtsc.testing import make_example_series

torch.set_num_threads(1)

SEED = int(check_random_state(0).randint(2**31 - 1))  # what random_state=0 seeds


def _clf(**params):
    defaults = dict(
        backbone="tiny-llama",
        n_layers=1,
        n_heads=4,
        n_epochs=3,
        learning_rate=1e-2,
        validation_fraction=0.0,
        verbose=0,
    )
    return TimeLlamaClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    return make_example_series(n_cases=16, n_channels=3, n_timepoints=24)


@pytest.fixture(scope="module")
def fitted(data):
    return _clf(patch_length=None).fit(*data)  # the paper's channel tokens


def _block_weights(decoder):
    """The frozen projections of the (cut) backbone, by name."""
    return {
        k: v.clone()
        for k, v in decoder.state_dict().items()
        if "layers." in k and ".lora_" not in k
    }


def _inputs(clf, X):
    """What the network reads: normalised series resampled to one length."""
    return clf._inputs(clf.normalizer_.transform(X))


def _embedded(clf, X):
    """The tokens of ``X`` before alignment: its patches through the token map."""
    network = clf.model_
    return network.embed(network.patches(torch.from_numpy(_inputs(clf, X))))


# ----------------------------------------------------------------- architecture
def test_one_token_per_channel_through_the_cut_backbone(fitted, data):
    X, _ = data
    network = fitted.model_
    assert isinstance(network.decoder, DLoRAModel)
    assert len(network.decoder.model.layers) == 1  # tiny-llama has 2 blocks
    assert network.decoder.model.config.num_hidden_layers == 1
    series = torch.from_numpy(_inputs(fitted, X[:4]))
    assert network.tokens(series).shape == (4, 3, 64)  # 3 channels -> 3 tokens
    assert fitted.transform(X[:4]).shape == (4, 3 * 64)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(fitted.predict(X)) <= set(fitted.classes_)


def test_patch_tokens_by_default(data):
    X, y = data  # 3 channels of 24 points: 12 patches of 2 per channel
    clf = _clf(n_epochs=1).fit(X, y)
    assert clf.patch_length_ == 2
    assert clf.transform(X[:2]).shape == (2, 3 * 12 * 64)
    # A subset answers as the whole batch, up to float rounding.
    np.testing.assert_allclose(
        clf.predict_proba(X[3:6]), clf.predict_proba(X)[3:6], atol=1e-5
    )


def test_patch_tokens_cut_each_channel_into_patches(data):
    X, y = data  # 3 channels of 24 points
    clf = _clf(patch_length=5, n_epochs=1).fit(X, y)
    assert clf.patch_length_ == 5
    network = clf.model_
    series = torch.from_numpy(_inputs(clf, X[:2]))
    patches = network.patches(series)
    # ceil(24 / 5) = 5 patches per channel, channel by channel; the last
    # patch is padded with the channel's last value.
    assert patches.shape == (2, 3 * 5, 5)
    torch.testing.assert_close(patches[:, 5], series[:, 1, :5])
    torch.testing.assert_close(patches[:, 4, :4], series[:, 0, 20:])
    torch.testing.assert_close(patches[:, 4, 4], series[:, 0, 23])
    assert network.embed.in_features == 5
    assert network.tokens(series).shape == (2, 15, 64)
    assert clf.transform(X[:2]).shape == (2, 15 * 64)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    # Saved and loaded, the rebuilt network cuts the same patches.
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    ("patch_length", "length", "n_channels", "expected", "tokens"),
    [
        (None, 24, 3, None, 3),  # the paper's: one token per channel
        (8, 24, 1, 8, 3),
        (40, 24, 1, 24, 1),  # at most the series length
        ("auto", 24, 1, 2, 12),  # 16 patches per channel at most ...
        ("auto", 150, 1, 10, 15),
        ("auto", 2000, 1, 125, 16),
        ("auto", 100, 6, 10, 60),  # ... and 64 tokens per series at most
        ("auto", 29, 12, 6, 60),
        ("auto", 10, 100, 10, 100),  # many channels: one token each
    ],
)
def test_patch_length_for_a_series_length(
    patch_length, length, n_channels, expected, tokens
):
    got = patch_length_for(patch_length, length, n_channels)
    assert got == expected
    assert n_channels * n_patches(length, got) == tokens


def test_dlora_routes_top_n_of_seven_modules_per_series(fitted, data):
    X, _ = data
    network = fitted.model_
    network(torch.from_numpy(_inputs(fitted, X[:5])))
    routing = network.decoder.routing()
    assert routing.shape == (1, 5, 4)  # (blocks, series, top_n=4)
    assert len(network.decoder.module_names[0]) == 7  # q k v o gate up down


def test_training_loss_includes_the_balancing_loss(fitted, data):
    X, y = data
    network = fitted.model_
    series = torch.from_numpy(_inputs(fitted, X[:6]))
    labels = torch.from_numpy(y[:6]).long()
    out = network(series, labels)
    cross_entropy = torch.nn.functional.cross_entropy(out.logits, labels)
    balance = network.decoder.balance_loss()
    assert balance > 0
    torch.testing.assert_close(out.loss, cross_entropy + balance)
    # Without D-LoRA the loss is the cross-entropy alone.
    plain = _clf(adapter="lora", n_epochs=1).fit(X, y).model_
    out = plain(series, labels)
    torch.testing.assert_close(
        out.loss, torch.nn.functional.cross_entropy(out.logits, labels)
    )


def test_alignment_attends_to_the_prompt_embeddings(fitted, data):
    X, _ = data
    network = fitted.model_
    backbone = load_backbone("tiny-llama", seed=SEED, verbose=0)
    ids = backbone.tokenizer(fitted.prompt_, add_special_tokens=False)["input_ids"]
    words = backbone.model.get_input_embeddings().weight.detach()
    torch.testing.assert_close(network.prompt, words[ids])
    series = torch.from_numpy(_inputs(fitted, X[:2]))
    assert not torch.allclose(network.tokens(series), network.embed(series))
    # Another prompt moves the tokens: the alignment reads it (attention is
    # order-free, so other words, not the same words reordered).
    network.prompt = words[: len(ids)].clone()
    moved = network.tokens(series)
    network.prompt = words[ids].clone()
    assert not torch.allclose(moved, network.tokens(series))


def test_prompt_names_the_task_and_the_classes(data):
    X, y = data
    clf = _clf(
        n_epochs=1,
        prompt="Gestures from an accelerometer.",
        label_names={0: "wave", 1: "point"},
    ).fit(X, y)
    assert clf.prompt_ == "Gestures from an accelerometer. Classes: wave, point."


def test_ablations_no_alignment_lora_frozen(data):
    X, y = data
    initial = _block_weights(
        cut_blocks(load_backbone("tiny-llama", seed=SEED, verbose=0).model.model, 1)
    )

    no_alignment = _clf(alignment=False, n_epochs=1).fit(X, y)
    assert no_alignment.model_.align is None
    assert no_alignment.model_.prompt is None

    lora = _clf(adapter="lora", n_epochs=2).fit(X, y)
    names = [n for n, _ in lora.model_.decoder.named_parameters()]
    assert any(".lora_A." in n for n in names)
    assert not any("routers" in n for n in names)

    frozen = _clf(adapter="none", n_epochs=2).fit(X, y)
    assert not any(".lora_" in n for n, _ in frozen.model_.named_parameters())
    after = _block_weights(frozen.model_.decoder)
    assert after.keys() == initial.keys()
    for name, value in initial.items():
        torch.testing.assert_close(after[name], value)
    # Trainable: token map + alignment + head only; the adapters add to it.
    assert frozen.n_trainable_ < lora.n_trainable_


def test_language_model_ablations_random_attention_none(data, tmp_path):
    X, y = data
    initial = _block_weights(
        cut_blocks(load_backbone("tiny-llama", seed=SEED, verbose=0).model.model, 1)
    )
    # "random": the same cut architecture, other (frozen) weights, D-LoRA on it.
    random = _clf(language_model="random", n_epochs=1).fit(X, y)
    assert isinstance(random.model_.decoder, DLoRAModel)
    drawn = {
        k.removeprefix("model.").replace(".base_layer", ""): v
        for k, v in _block_weights(random.model_.decoder).items()
    }
    assert drawn.keys() == initial.keys()
    projections = [k for k in initial if "proj" in k]  # (norms start at 1)
    assert projections
    assert not any(torch.allclose(drawn[k], initial[k]) for k in projections)

    # "none": the tokens are the head's input.
    none = _clf(language_model="none", n_epochs=1).fit(X, y)
    series = torch.from_numpy(_inputs(none, X[:3]))
    np.testing.assert_allclose(
        none.transform(X[:3]),
        none.model_.tokens(series).flatten(1).detach().numpy(),
        rtol=1e-5,
    )
    assert not any(".lora_" in n for n, _ in none.model_.named_parameters())

    # "attention": one self-attention layer, trained whole, saved with the rest.
    attention = _clf(language_model="attention", n_epochs=2).fit(X, y)
    layer = attention.model_.decoder
    assert isinstance(layer.attention, torch.nn.MultiheadAttention)
    assert layer.attention.num_heads == 4
    assert sum(p.numel() for p in layer.parameters()) > 0
    assert attention.n_trainable_ > none.n_trainable_
    for clf in (random, none, attention):
        saved = TimeLlamaClassifier.load(clf.save(tmp_path / clf.language_model))
        np.testing.assert_allclose(saved.predict_proba(X), clf.predict_proba(X))


def test_backbone_weights_stay_frozen_under_dlora(fitted):
    initial = _block_weights(
        cut_blocks(load_backbone("tiny-llama", seed=SEED, verbose=0).model.model, 1)
    )
    after = {
        k.removeprefix("model.").replace(".base_layer", ""): v
        for k, v in _block_weights(fitted.model_.decoder).items()
    }
    assert after.keys() == initial.keys()
    for name, value in initial.items():
        torch.testing.assert_close(after[name], value)
    lora_b = [p for n, p in fitted.model_.decoder.named_parameters() if ".lora_B." in n]
    assert any(p.abs().sum() > 0 for p in lora_b)  # the adapter did train


def test_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4 * np.pi, 32)
    y = np.arange(40) % 2
    X = np.stack([np.sin(t + rng.normal(0, 0.3)) * (1 if c else -1) for c in y])
    X = X[:, None, :] + rng.normal(0, 0.1, (40, 1, 32))
    clf = _clf(n_epochs=15, learning_rate=3e-3, validation_fraction=0.25).fit(X, y)
    assert (clf.predict(X) == y).mean() >= 0.95
    phases = [h["phase"] for h in clf.history_]
    assert phases[0] == "validation" and phases[-1] == "refit"
    assert phases.count("refit") == clf.best_epoch_


def test_linear_head_is_a_probe_on_the_untrained_network(data):
    X, y = data
    clf = _clf(head="linear").fit(X, y)
    assert clf.history_ == [] and clf.best_epoch_ == 0 and clf.n_trainable_ == 0
    # Nothing trained: the network is the one built from the seed.
    built = clf._build_network(SEED)
    for name, value in built.state_dict().items():
        torch.testing.assert_close(clf.model_.state_dict()[name], value)
    features = clf.transform(X)
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.head_.predict_proba(features), atol=1e-6
    )
    assert (clf.predict(X) == y).mean() >= 0.9
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match=r"explains with \('occlusion',\)"):
        clf.explain(X[:1], method="gradient")


def test_lp_ft_starts_the_head_from_the_probe_and_scores_it_as_epoch_0(data):
    X, y = data
    probe = _clf(head="linear").fit(X, y)
    # A learning rate too small to move anything: the head is the probe's.
    still = _clf(head="lp-ft", n_epochs=1, learning_rate=1e-12).fit(X, y)
    np.testing.assert_allclose(
        still.predict_proba(X), probe.predict_proba(X), atol=1e-4
    )
    # It is the network's own head that answers, trained like the random one.
    random_head = _clf(n_epochs=1, learning_rate=1e-12).fit(X, y)
    assert still.head_ is None and still.n_trainable_ == random_head.n_trainable_
    assert np.abs(random_head.predict_proba(X) - probe.predict_proba(X)).max() > 0.05
    # With validation the probe is epoch 0 of the curve, and the refit starts
    # from a probe fitted on every training case.
    tuned = _clf(head="lp-ft", n_epochs=2, validation_fraction=0.25).fit(X, y)
    validation = [h for h in tuned.history_ if h["phase"] == "validation"]
    assert [h["epoch"] for h in validation] == [0, 1, 2]
    assert 0 <= tuned.best_epoch_ <= 2
    assert len([h for h in tuned.history_ if h["phase"] == "refit"]) == (
        tuned.best_epoch_
    )
    restored = pickle.loads(pickle.dumps(tuned))
    np.testing.assert_allclose(restored.predict_proba(X), tuned.predict_proba(X))


def test_patience_ends_the_validation_run_early(data):
    X, y = data
    # A learning rate too small to move anything: no epoch after the first is
    # better, so one stale epoch ends the run; the refit trains the best one.
    clf = _clf(
        n_epochs=6, learning_rate=1e-12, validation_fraction=0.25, patience=1
    ).fit(X, y)
    phases = [(h["phase"], h["epoch"]) for h in clf.history_]
    assert phases == [("validation", 1), ("validation", 2), ("refit", 1)]
    assert clf.best_epoch_ == 1


def test_auto_epochs_cap_the_tokens_trained_on(data, monkeypatch):
    import vlmtsc.classification._timellama as module

    monkeypatch.setattr(module, "AUTO_EPOCHS", 5)
    monkeypatch.setattr(module, "AUTO_EPOCH_TOKENS", 200)  # 1000 tokens a run
    X, y = data  # 36 tokens a series: 3 channels of 12 patches
    # The validation run trains on 12 of the 16 series (432 tokens an epoch):
    # 3 epochs, the refit at most as many; all 16 (576 an epoch): 2 epochs.
    held = _clf(n_epochs="auto", validation_fraction=0.25).fit(X, y)
    assert held.n_epochs_ == 3
    phases = [h["phase"] for h in held.history_]
    assert phases.count("validation") == 3 and phases.count("refit") <= 3
    assert _clf(n_epochs="auto").fit(X, y).n_epochs_ == 2
    # One token a channel (48 tokens an epoch): 21 epochs' worth, capped at 5.
    few = _clf(n_epochs="auto", patch_length=None).fit(X, y)
    assert few.n_epochs_ == len(few.history_) == 5
    assert _clf(n_epochs=4).fit(X, y).n_epochs_ == 4


def test_gpt2_family_works(data):
    X, y = data
    clf = _clf(backbone="tiny-gpt2", n_heads=2, n_epochs=1).fit(X, y)
    assert len(clf.model_.decoder.model.h) == 1
    assert clf.model_.decoder.module_names[0] == [
        "attn.c_attn",
        "attn.c_proj",
        "mlp.c_fc",
        "mlp.c_proj",
    ]
    assert clf.predict(X).shape == (16,)


# ----------------------------------------------------------------- lengths
def test_resample_keeps_equal_lengths_and_interpolates_others():
    x = np.array([[0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(resample_series([x], 4)[0], x)
    np.testing.assert_allclose(resample_series([x], 7)[0, 0], np.linspace(0, 3, 7))
    np.testing.assert_allclose(resample_series([x], 2)[0, 0], [0.0, 3.0])


def test_unequal_lengths_resample_to_the_longest():
    X, y = make_example_series(n_cases=12, n_timepoints=24, unequal=True)
    clf = _clf(n_epochs=1).fit(X, y)
    assert clf.n_timepoints_ is None
    assert clf.series_length_ == max(x.shape[1] for x in X)
    short = [x[:, :10] for x in X[:3]]
    assert clf.predict_proba(short).shape == (3, 2)


# ----------------------------------------------------------------- determinism, io
def test_same_random_state_same_probabilities(data, fitted):
    X, y = data
    again = _clf(patch_length=None).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), fitted.predict_proba(X))


def test_pickle_keeps_only_trained_weights_and_round_trips(fitted, data, tmp_path):
    X, _ = data
    blob = pickle.dumps(fitted)
    weights = pickle.loads(pickle.dumps(fitted.__getstate__()))["model_"]["weights"]
    assert not any(k.startswith("decoder.model.layers") and "lora" not in k
                   for k in weights)  # fmt: skip
    assert "decoder.model.embed_tokens.weight" not in weights
    restored = pickle.loads(blob)
    np.testing.assert_allclose(restored.predict_proba(X), fitted.predict_proba(X))
    saved = TimeLlamaClassifier.load(fitted.save(tmp_path / "clf"))
    np.testing.assert_allclose(saved.predict_proba(X), fitted.predict_proba(X))


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"adapter": "ia3"}, r"'adapter' parameter .* among"),
        ({"head": "mlp"}, r"'head' parameter .* among"),
        ({"n_layers": 0}, r"'n_layers' parameter .* int in the range \[1, inf\)"),
        ({"n_layers": 5}, "n_layers=5 but the backbone has 2 blocks"),
        ({"n_heads": 3}, "n_heads=3 does not divide the backbone's hidden size 64"),
        ({"top_n": 8}, "top_n=8 is larger than the 7 D-LoRA modules"),
        ({"alignment": "yes"}, r"'alignment' parameter .* instance of 'bool'"),
        ({"balance_weight": -1}, r"'balance_weight' .* range \[0.0, inf\)"),
        ({"backbone": "tiny-bert"}, "needs a decoder-only language model"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' .* \[0.0, 1.0\)"),
        ({"normalization": "minmax"}, "normalization"),
        ({"language_model": "bert"}, r"'language_model' parameter .* among"),
        ({"patch_length": 0}, r"'patch_length' parameter .* range \[1, inf\)"),
        ({"patch_length": "long"}, r"'patch_length' parameter .* \{'auto'\}"),
    ],
)
def test_bad_parameters_are_refused_with_the_fix(data, params, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        _clf(**params).fit(X, y)


def test_predict_refuses_other_channel_counts(fitted):
    X, _ = make_example_series(n_cases=4, n_channels=2, n_timepoints=24)
    with pytest.raises(ValueError, match="3 channels"):
        fitted.predict(X)


def test_global_normalization_keeps_amplitudes_per_series_does_not(data):
    X, y = data
    clf = _clf(n_epochs=1).fit(X, y)
    assert clf.normalizer_.loc_.shape == clf.normalizer_.scale_.shape == (3,)
    quiet, loud = X[:1], X[:1] * 5.0  # same shape, five times the amplitude
    tokens = _embedded
    assert not torch.allclose(tokens(clf, quiet), tokens(clf, loud))
    shapes = _clf(n_epochs=1, normalization="per_channel").fit(X, y)
    torch.testing.assert_close(tokens(shapes, quiet), tokens(shapes, loud))


def test_tokens_start_at_the_word_embeddings_scale(data):
    X, _ = data
    backbone = load_backbone("tiny-llama", seed=SEED, verbose=0)
    words = backbone.model.get_input_embeddings().weight.detach()
    fresh = _clf(n_epochs=1, learning_rate=1e-12).fit(*data)  # barely trained
    tokens = _embedded(fresh, X)
    ratio = tokens.norm(dim=-1).mean() / words.norm(dim=-1).mean()
    assert 0.5 < float(ratio) < 2.0
