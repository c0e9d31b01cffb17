"""InstructTimeClassifier on tiny backbones: VQ tokens in a causal LM."""

import pickle

import numpy as np
import pytest
import torch

from vlmtsc import InstructTimeClassifier
from vlmtsc.adapters import SeriesVocabulary
from vlmtsc.backbones import load_backbone
from vlmtsc.testing import make_example_series
from vlmtsc.tokenizers import VQTokenizer

torch.set_num_threads(1)


def _tokenizer():
    return VQTokenizer(
        patch_length=4,
        codebook_size=16,
        hidden_size=8,
        n_blocks=2,
        n_epochs=3,
        verbose=0,
    )


def _clf(**params):
    """The paper's label scoring (``head="lm"``) unless ``params`` say otherwise."""
    defaults = dict(
        backbone="tiny-llama", tokenizer=_tokenizer(), head="lm", n_epochs=2, verbose=0
    )
    return InstructTimeClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    return make_example_series(n_cases=12, n_timepoints=24)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return _clf(learning_rate=1e-2).fit(X, y)


@pytest.mark.parametrize("backbone", ["tiny-llama", "tiny-gpt2"])
def test_fits_and_predicts_with_each_causal_family(backbone, data):
    X, y = data
    clf = _clf(backbone=backbone).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert [h["phase"] for h in clf.history_][:2] == ["validation"] * 2


def test_the_epoch_is_chosen_by_the_shared_validation_score(data):
    # Accuracy with ties broken by the log-loss of the label scores, as the
    # torch estimators choose: each epoch's score sits just below an accuracy
    # (by 1e-3 x the validation log-loss), so epochs of equal accuracy differ.
    X, y = data
    clf = _clf(n_epochs=3, learning_rate=1e-2, refit=False).fit(X, y)
    scores = [h["validation_score"] for h in clf.history_]
    accuracies = np.arange(4) / 3  # 3 validation cases
    gaps = [min(a - s for a in accuracies if a >= s) for s in scores]
    assert all(0 < gap < 0.01 for gap in gaps), scores
    assert clf.best_epoch_ == int(np.argmax(scores)) + 1


def test_label_scoring_runs_under_the_estimators_mixed_precision(fitted, data):
    # bf16 autocast of label scoring (as of the training steps): close to
    # float32, not equal; "auto" is bf16 exactly where the CPU runs it natively.
    from vlmtsc.training._loop import bf16_is_fast

    X, _ = data
    model = fitted.model_
    assert model.mixed_precision == fitted.mixed_precision == "auto"
    probabilities = {}
    for mode in ("no", "bf16", "auto"):
        model.mixed_precision = mode
        probabilities[mode] = fitted.predict_proba(X)
    model.mixed_precision = "auto"
    np.testing.assert_allclose(probabilities["bf16"], probabilities["no"], atol=0.05)
    assert not np.array_equal(probabilities["bf16"], probabilities["no"])
    expected = probabilities["bf16" if bf16_is_fast("cpu") else "no"]
    np.testing.assert_array_equal(probabilities["auto"], expected)


def test_auto_epochs_give_at_least_120_optimiser_steps(data):
    from vlmtsc.training import TrainingConfig, epochs_for_steps

    assert InstructTimeClassifier().n_epochs == "auto"
    X, y = data  # 12 cases: 9 train, 3 validate; batches of 4 -> 3 steps per epoch
    clf = _clf(n_epochs="auto", batch_size=4, learning_rate=1e-2).fit(X, y)
    trained = [h for h in clf.history_ if h["phase"] == "validation"]
    expected = epochs_for_steps(9, TrainingConfig(batch_size=4), 120, 10)
    assert expected == 40 and len(trained) == expected
    assert 1 <= clf.best_epoch_ <= expected
    # More cases per epoch: fewer epochs, never fewer than 10.
    assert epochs_for_steps(22, TrainingConfig(batch_size=4), 120, 10) == 20
    assert epochs_for_steps(400, TrainingConfig(batch_size=4), 120, 10) == 10
    # A number is kept as given.
    assert len(_clf(n_epochs=2).fit(X, y).history_) == 2
    with pytest.raises(ValueError, match="n_epochs"):
        _clf(n_epochs="many").fit(X, y)


def test_prompt_holds_the_series_tokens_and_candidate_labels(data):
    X, y = data
    labels = np.array(["gun", "point"])[y]
    clf = _clf(
        label_names={"gun": "drawing a gun", "point": "pointing"},
        domain_description="motion-capture tracks of a hand",
    ).fit(X, labels)
    text = clf.prompt(X[:1])[0]
    codes = clf.tokenizer_.transform(X[:1])[0]
    expected = "".join(f"<ts:signal:{c}>" for c in codes)
    assert f"<BET>{expected}<EET>" in text
    assert "motion-capture tracks of a hand" in text
    assert "Candidate labels: drawing a gun, pointing." in text
    assert set(clf.predict(X)) <= {"gun", "point"}


def test_series_token_embeddings_are_the_projected_codebook(fitted):
    model = fitted.model_
    embedding = model.model.get_input_embeddings()
    first = model.tokenizer.convert_tokens_to_ids("<ts:signal:0>")
    ids = torch.tensor([[first + 3, first + 5]])
    projection = embedding.series_projection
    with torch.no_grad():
        got = embedding(ids)[0]
        codebook = torch.as_tensor(fitted.tokenizer_.codebook_, dtype=torch.float32)
        codebook = (codebook - codebook.mean(0)) / codebook.std(0, correction=0)
        # peft wraps the trained projection; call the active copy directly.
        mlp = projection.modules_to_save["default"].mlps[0]
        np.testing.assert_allclose(got, mlp(codebook[[3, 5]]), atol=1e-5)
    trained = {n for n, p in model.model.named_parameters() if p.requires_grad}
    assert any("series_projection" in n for n in trained)
    assert all("lora_" in n or "series_projection" in n for n in trained)


def test_series_tokens_start_at_the_scale_of_words_and_apart():
    # A plain MLP gives series tokens a fraction of a word's norm that differ
    # mostly by a shared bias; the model then cannot tell series apart.
    backbone = load_backbone("tiny-llama")
    words = backbone.model.get_input_embeddings().weight.detach().clone()
    codebook = np.random.default_rng(0).normal(size=(16, 8)) * 0.01
    vocabulary = SeriesVocabulary({"d": codebook})
    vocabulary(backbone)
    first = backbone.tokenizer.convert_tokens_to_ids("<ts:d:0>")
    with torch.no_grad():
        series = backbone.model.get_input_embeddings()(
            torch.arange(first, first + 16)[None]
        )[0]
    word_norm = words.norm(dim=1).mean()
    assert 0.5 < series.norm(dim=1).mean() / word_norm < 2
    spread = (series - series.mean(0)).norm(dim=1).mean() / series.mean(0).norm()
    assert spread > 0.5


def test_series_token_logits_are_tied_to_the_projection_and_materialize():
    backbone = load_backbone("tiny-llama")
    vocabulary = SeriesVocabulary({"d": np.random.default_rng(0).normal(size=(6, 4))})
    vocabulary(backbone)
    model = backbone.model.eval()
    first = backbone.tokenizer.convert_tokens_to_ids("<ts:d:0>")
    ids = torch.tensor([[1, first + 2, first + 4, 3]])
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        vectors = model.get_input_embeddings()(torch.arange(first, first + 6)[None])[0]
        hidden = out.hidden_states[-1][0]
        np.testing.assert_allclose(
            out.logits[0, :, first : first + 6], hidden @ vectors.T, atol=1e-5
        )
        SeriesVocabulary.materialize(model)
        assert type(model.get_input_embeddings()) is torch.nn.Embedding
        again = model(input_ids=ids).logits
    np.testing.assert_allclose(again, out.logits, atol=1e-5)


def test_the_series_reaches_the_model(fitted, data):
    X, _ = data
    first = fitted.predict_proba(X[:3])
    changed = X[:3].copy()
    changed[1] = changed[1][:, ::-1]
    assert not np.array_equal(
        fitted.tokenizer_.transform(changed[1:2]), fitted.tokenizer_.transform(X[1:2])
    )
    second = fitted.predict_proba(changed)
    np.testing.assert_allclose(second[[0, 2]], first[[0, 2]])
    assert not np.allclose(second[1], first[1])


def test_full_fine_tuning_trains_every_weight(data):
    X, y = data
    clf = _clf(fine_tuning="full", n_epochs=1, validation_fraction=0).fit(X, y)
    params = list(clf.model_.model.parameters())
    assert all(p.requires_grad for p in params)
    assert not any("lora_" in n for n, _ in clf.model_.model.named_parameters())
    with pytest.raises(ValueError, match=r"'fine_tuning' parameter .* among"):
        _clf(fine_tuning="prefix").fit(X, y)


def test_reproducible_and_pickle_and_save_round_trips(fitted, data, tmp_path):
    X, y = data
    again = _clf(learning_rate=1e-2).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.predict_proba(X), fitted.predict_proba(X))
    loaded = InstructTimeClassifier.load(fitted.save(tmp_path / "it"))
    np.testing.assert_allclose(
        loaded.predict_proba(X), fitted.predict_proba(X), atol=1e-6
    )


def test_random_language_model_ablation(fitted, data, tmp_path):
    X, y = data
    clf = _clf(language_model="random", learning_rate=1e-2).fit(X, y)
    pretrained = load_backbone("tiny-llama", seed=clf.backbone_seed_, verbose=0)
    name = "model.layers.0.self_attn.q_proj.weight"
    drawn = dict(clf.model_.model.get_base_model().named_parameters())
    drawn = {k.replace(".base_layer", ""): v for k, v in drawn.items()}
    assert not torch.allclose(
        drawn[name], dict(pretrained.model.named_parameters())[name]
    )
    # The series tokens are still added (after the random weights).
    assert "<ts:signal:0>" in clf.model_.tokenizer.get_vocab()
    assert not np.allclose(clf.predict_proba(X), fitted.predict_proba(X))
    loaded = InstructTimeClassifier.load(clf.save(tmp_path / "random"))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    with pytest.raises(ValueError, match="quantization=None"):
        _clf(language_model="random", quantization="4bit").fit(X, y)
    with pytest.raises(ValueError, match=r"'language_model' parameter .* among"):
        _clf(language_model="attention").fit(X, y)


def test_unequal_lengths_multivariate_and_augmentation():
    from vlmtsc.training import SeriesAugmenter

    X, y = make_example_series(
        n_cases=10, n_channels=2, n_timepoints=24, unequal=True, random_state=3
    )
    clf = _clf(augmentation=SeriesAugmenter(), validation_fraction=0).fit(X, y)
    assert clf.predict_proba(X).shape == (10, 2)
    assert clf.transform(X).shape[0] == 10


def test_the_default_keeps_the_channels_relative_levels():
    X, y = make_example_series(n_cases=8, n_channels=2, n_timepoints=24)
    pair = np.stack([X[0], X[0]])
    pair[1, 1] *= 3  # the same shapes, the second channel three times louder
    clf = _clf(n_epochs=1).fit(X, y)
    assert clf.normalization == "across_channels"
    level, louder = clf.prompt(pair)
    assert louder != level  # the level is in the tokens
    shapes_only = _clf(n_epochs=1, normalization="per_channel").fit(X, y)
    assert len(set(shapes_only.prompt(pair))) == 1


def test_generate_returns_text_and_linear_head(fitted, data):
    X, y = data
    texts = fitted.generate(X[:2], max_new_tokens=3)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    linear = _clf(head="linear").fit(X, y)
    assert linear.history_ == []
    assert linear.predict_proba(X).shape == (12, 2)


def test_the_default_head_is_the_probe_on_the_frozen_model(data):
    X, y = data
    defaults = {"backbone": "tiny-llama", "tokenizer": _tokenizer(), "verbose": 0}
    clf = InstructTimeClassifier(**defaults).fit(X, y)
    assert clf.head == "linear" and clf.history_ == []  # nothing trained
    assert not any("lora" in name for name, _ in clf.model_.model.named_parameters())
    features = clf.transform(X)  # the frozen model's averaged hidden states
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.head_.predict_proba(features), rtol=1e-6
    )
    assert clf.score(X, y) > 0.5  # the probe fits its own training cases
    # The hidden states run under the estimator's autocast, as label scoring.
    from vlmtsc.training._loop import bf16_is_fast

    embedded = {}
    for mode in ("no", "bf16"):
        clf.model_.mixed_precision = mode
        embedded[mode] = clf.transform(X)
    clf.model_.mixed_precision = "auto"
    np.testing.assert_allclose(embedded["bf16"], embedded["no"], rtol=0.1, atol=0.1)
    assert not np.array_equal(embedded["bf16"], embedded["no"])
    expected = embedded["bf16" if bf16_is_fast("cpu") else "no"]
    np.testing.assert_array_equal(features, expected)
    # Zero-shot label scoring is the "lm" head's: a probe would train on y.
    with pytest.raises(ValueError, match="fine_tuning='none' is zero-shot"):
        InstructTimeClassifier(**defaults, fine_tuning="none").fit(X, y)


def test_pooled_head_reads_the_fine_tuned_hidden_states(data):
    X, y = data
    clf = _clf(head="pooled", learning_rate=1e-2).fit(X, y)
    features = clf.transform(X)  # a text model: the hidden states only
    assert features.shape == (12, clf.model_.backbone.model.config.hidden_size)
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.head_.predict_proba(features), rtol=1e-6
    )
    assert clf.history_[0]["epoch"] == 0  # the probe, scored before training


def test_qlora_4bit_on_cpu(data):
    import bitsandbytes as bnb

    X, y = data
    clf = _clf(quantization="4bit", n_epochs=1, validation_fraction=0).fit(X, y)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in clf.model_.model.modules())
    assert clf.predict_proba(X).shape == (12, 2)


# --------------------------------------------------------------- pre-training
@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def artifact(request, data, tmp_path_factory):
    X, y = data
    other, _ = make_example_series(n_cases=10, n_timepoints=32, random_state=1)
    clf = _clf(backbone=request.param, n_epochs=3, learning_rate=1e-2)
    folder = tmp_path_factory.mktemp("pretrained")
    returned = clf.pretrain(
        {"motion": (X, y), "power": other},
        folder,
        descriptions={"motion": "hand tracks"},
        label_names={"motion": ["gun", "point"]},
    )
    assert returned == folder
    return folder


def test_pretraining_writes_a_plain_transformers_folder(artifact):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vlmtsc.backbones import read_pretraining

    model = AutoModelForCausalLM.from_pretrained(artifact)
    tokenizer = AutoTokenizer.from_pretrained(artifact)
    ids = tokenizer.convert_tokens_to_ids(["<ts:motion:0>", "<ts:power:15>"])
    assert tokenizer.unk_token_id not in ids
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)
    rows = model.get_input_embeddings().weight[ids[0] : ids[0] + 16]
    assert torch.linalg.matrix_rank(rows.detach()) > 1  # projected codes differ
    record = read_pretraining(artifact, "InstructTimeClassifier")
    assert set(record["tokenizers"]) == {"motion", "power"}
    assert record["descriptions"] == {"motion": "hand tracks", "power": "power series"}
    assert record["label_names"] == {"motion": ["gun", "point"]}
    losses = [entry["loss"] for entry in record["history"]]
    assert losses[-1] < losses[0]  # both objectives trained


def test_adapting_a_pretrained_domain_uses_its_tokenizer_and_tokens(artifact, data):
    from vlmtsc.backbones import read_pretraining

    X, y = data
    clf = _clf(backbone=str(artifact), domain="motion").fit(X, y)
    pretrained = read_pretraining(artifact, "InstructTimeClassifier")["tokenizers"][
        "motion"
    ]
    np.testing.assert_array_equal(clf.tokenizer_.codebook_, pretrained.codebook_)
    assert clf.vocabulary_ is None  # no new tokens
    assert "You will be receiving hand tracks." in clf.prompt(X[:1])[0]
    assert "<ts:motion:" in clf.prompt(X[:1])[0]
    assert clf.predict_proba(X).shape == (12, 2)
    # A new domain on the pre-trained model gets its own tokens.
    new = _clf(backbone=str(artifact)).fit(X, y)
    assert "<ts:signal:" in new.prompt(X[:1])[0]


def test_zero_shot_scores_labels_without_training(artifact, data):
    X, y = data
    labels = np.array(["gun", "point"])[y]
    clf = _clf(backbone=str(artifact), domain="motion", fine_tuning="none")
    first = clf.fit(X, labels).predict_proba(X)
    assert clf.history_ == []
    np.testing.assert_allclose(first.sum(axis=1), 1, rtol=1e-6)
    # Only the class list comes from y: other series or labels' order change
    # nothing, since the model is not trained.
    again = clf.fit(X[::-1], labels[::-1]).predict_proba(X)
    np.testing.assert_allclose(first, again, atol=1e-6)
    with pytest.raises(ValueError, match="zero-shot"):
        _clf(fine_tuning="none").fit(X, y)


def test_pretraining_errors_are_clear(artifact, data):
    X, y = data
    with pytest.raises(ValueError, match="not in the pre-training artifact"):
        _clf(backbone=str(artifact), domain="ecg").fit(X, y)
    with pytest.raises(ValueError, match="not a folder written by"):
        _clf(domain="motion").fit(X, y)
    with pytest.raises(ValueError, match="'random' would discard"):
        _clf(backbone=str(artifact), language_model="random").fit(X, y)
    with pytest.raises(ValueError, match="token names"):
        _clf().pretrain({"a:b": X}, artifact / "x")
    with pytest.raises(ValueError, match="non-empty dict"):
        _clf().pretrain([X], artifact / "x")
    with pytest.raises(ValueError, match="without quantization"):
        _clf(quantization="4bit").pretrain({"a": X}, artifact / "x")


def test_few_shot_draws_k_per_class(data):
    from vlmtsc.datasets import few_shot

    X, y = data
    X_few, y_few = few_shot(X, y, 3, random_state=0)
    assert sorted(np.unique(y_few, return_counts=True)[1]) == [3, 3]
    flat = np.asarray(X).reshape(len(X), -1)
    for series, label in zip(X_few, y_few, strict=True):
        match = [i for i in range(len(X)) if np.array_equal(flat[i], series.ravel())]
        assert match and y[match[0]] == label
    assert np.array_equal(few_shot(X, y, 3, random_state=0)[1], y_few)
    with pytest.raises(ValueError, match="fewer than n_per_class"):
        few_shot(X, y, 7)
