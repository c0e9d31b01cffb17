"""CrossTimeNetClassifier on tiny-bert: masked VQ-token pre-training, then a head."""

import json
import pickle

import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state

from vlmtsc.backbones import load_backbone
from vlmtsc.classification._crosstimenet import (
    CrossTimeNetClassifier,
    _initial_embeddings,
    _mask_tokens,
    _pad_codes,
    _segment_weights,
)
from vlmtsc.testing import make_example_series
from vlmtsc.tokenizers import VQTokenizer
from vlmtsc.training import SeriesAugmenter

torch.set_num_threads(1)

N_CODES = 16
SEED = int(check_random_state(0).randint(2**31 - 1))  # what random_state=0 seeds


def _tokenizer():
    return VQTokenizer(
        patch_length=4,
        codebook_size=N_CODES,
        hidden_size=8,
        n_blocks=1,
        n_epochs=2,
        verbose=0,
    )


def _clf(**params):
    """Fine-tuning the seed's flattened head on the encoder as loaded unless
    told otherwise (the default head, the probe, and the default random
    encoder are tested on their own)."""
    defaults = dict(
        language_model="pretrained",
        head="mlp",
        pooling="flatten",
        backbone="tiny-bert",
        tokenizer=_tokenizer(),
        pretrain_epochs=1,
        n_epochs=2,
        learning_rate=1e-3,
        verbose=0,
    )
    return CrossTimeNetClassifier(**{**defaults, **params})


def _pretrained_tiny_bert():
    return load_backbone("tiny-bert", seed=SEED, verbose=0)


@pytest.fixture(scope="module")
def data():
    return make_example_series(n_cases=12, n_timepoints=24)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return _clf().fit(X, y)


def test_the_default_keeps_the_channels_relative_levels():
    X, y = make_example_series(n_cases=8, n_channels=2, n_timepoints=24)
    pair = np.stack([X[0], X[0]])
    pair[1, 1] *= 3  # the same shapes, the second channel three times louder
    clf = _clf(random_state=0).fit(X, y)
    assert clf.normalization == "across_channels"
    level, louder = clf.transform(pair)
    assert not np.allclose(level, louder)  # the level reaches the encoder
    shapes_only = _clf(random_state=0, normalization="per_channel").fit(X, y)
    np.testing.assert_allclose(*shapes_only.transform(pair), rtol=1e-5, atol=1e-6)


def test_fits_and_predicts_with_any_labels(data):
    X, y = data
    labels = np.array(["gun", "point"])[y]
    clf = _clf().fit(X, labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"gun", "point"}
    phases = [h["phase"] for h in clf.history_]
    # 1 pre-training epoch, 2 epochs on the validation split, refit on all data.
    assert phases[:3] == ["pretraining", "validation", "validation"]
    assert all("validation_score" in h for h in clf.history_[1:3])
    assert phases.count("refit") == clf.best_epoch_
    # 24 timepoints in patches of 4: 6 tokens; the head reads [CLS] + 6 states.
    assert clf.max_tokens_ == 6
    assert clf.transform(X[:3]).shape == (3, 7 * 64)


def test_learns_the_training_classes(data):
    X, y = data
    clf = _clf(pretrain_epochs=0, n_epochs=8, validation_fraction=0).fit(X, y)
    assert (clf.predict(X) == y).mean() >= 0.9


def test_masked_pretraining_loss_falls(data):
    X, y = data
    clf = _clf(pretrain_epochs=12, validation_fraction=0, n_epochs=1).fit(X, y)
    losses = [h["loss"] for h in clf.history_ if h["phase"] == "pretraining"]
    assert len(losses) == 12
    # Masked codes of a 16-code book start near chance, ln(16) = 2.77.
    assert abs(losses[0] - np.log(N_CODES)) < 0.5
    assert np.mean(losses[-3:]) < losses[0] - 0.2


@pytest.mark.parametrize("mask_ratio", [0.15, 0.5, 0.8])
def test_masking_touches_a_mask_ratio_share_of_the_codes(mask_ratio):
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, N_CODES, size=n) for n in (10, 7, 1, 20)]
    ids, attention = _pad_codes(codes, cls_id=N_CODES + 1, pad_id=N_CODES)
    inputs, labels = _mask_tokens(ids, attention, mask_ratio, N_CODES, rng)
    for row, series in enumerate(codes):
        masked = labels[row] != -100
        assert masked.sum() == max(1, round(mask_ratio * len(series)))
        # Only code positions: never [CLS] (0) nor padding.
        assert not masked[0] and not masked[1 + len(series) :].any()
        assert (inputs[row, masked] == N_CODES).all()
        np.testing.assert_array_equal(labels[row, masked], ids[row, masked])
        np.testing.assert_array_equal(inputs[row, ~masked], ids[row, ~masked])


def test_masked_loss_is_on_masked_positions_only(fitted):
    network = fitted.model_
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, N_CODES, size=6) for _ in range(3)]
    ids, attention = _pad_codes(codes, network.cls_id, network.mask_id)
    inputs, labels = _mask_tokens(ids, attention, 0.5, network.mask_id, rng)
    batch = {
        "codes": torch.from_numpy(inputs),
        "attention_mask": torch.from_numpy(attention),
        "labels": torch.from_numpy(labels),
        "task": "masked",
    }
    with torch.no_grad():
        out = network(**batch)
    masked = torch.from_numpy(labels != -100)
    expected = torch.nn.functional.cross_entropy(
        out.logits[masked], torch.from_numpy(ids)[masked]
    )
    assert out.logits.shape == (3, 7, N_CODES)  # an output layer over the codes
    torch.testing.assert_close(out.loss, expected)


def test_code_embeddings_start_as_rows_of_the_word_embedding_matrix():
    backbone = _pretrained_tiny_bert()
    words = backbone.model.get_input_embeddings().weight.detach()
    table, rows = _initial_embeddings(
        backbone.model, backbone.tokenizer, N_CODES, np.random.default_rng(0)
    )
    assert table.shape == (N_CODES + 2, 64)
    torch.testing.assert_close(table[:N_CODES], words[torch.from_numpy(rows)])
    # [MASK] and [CLS] start as the language model's own.
    torch.testing.assert_close(table[N_CODES], words[backbone.tokenizer.mask_token_id])
    torch.testing.assert_close(
        table[N_CODES + 1], words[backbone.tokenizer.cls_token_id]
    )


@pytest.mark.parametrize("init", ["pretrained", "random", "auto"])
def test_init_pretrained_or_random_encoder(init, data):
    """``"auto"`` (the default) is ``"random"`` for a backbone that is no
    ``pretrain()`` folder."""
    X, y = data
    # A negligible learning rate leaves the start in place (AdamW moves ~lr).
    clf = _clf(
        language_model=init,
        pretrain_epochs=0,
        n_epochs=1,
        validation_fraction=0,
        learning_rate=1e-9,
    ).fit(X, y)
    assert clf.language_model_ == {"auto": "random"}.get(init, init)
    pretrained = _pretrained_tiny_bert().model.get_input_embeddings().weight.detach()
    own = clf.model_.encoder.get_input_embeddings().weight.detach()
    rows = torch.from_numpy(clf.code_init_rows_)
    codes = clf.model_.code_embeddings.weight.detach()[:N_CODES]
    torch.testing.assert_close(codes, own[rows], atol=1e-6, rtol=0)
    if init == "pretrained":
        torch.testing.assert_close(own, pretrained)
    else:  # re-initialised from the config: other weights, other code rows
        assert not torch.allclose(codes, pretrained[rows], atol=1e-2)
        encoder_pretrained = dict(_pretrained_tiny_bert().model.named_parameters())
        for name, value in clf.model_.encoder.named_parameters():
            if value.ndim == 2:
                assert not torch.allclose(value, encoder_pretrained[name]), name


@pytest.mark.parametrize("ablation", ["attention", "none"])
def test_language_model_stand_ins_read_the_code_embeddings(ablation, data, tmp_path):
    X, y = data
    clf = _clf(language_model=ablation, pretrain_epochs=1, n_epochs=2).fit(X, y)
    reader = clf.model_.encoder
    assert (
        type(reader).__name__
        == {
            "attention": "OneAttentionLayer",
            "none": "NoLanguageModel",
        }[ablation]
    )
    # The code rows start from the pretrained word embeddings all the same.
    assert clf.code_init_rows_ is not None
    batch = clf._collate(clf._inputs(clf.normalizer_.transform(X[:3])))
    states = clf.model_.states(**batch)
    embeds = clf.model_.code_embeddings(batch["codes"])
    if ablation == "none":
        torch.testing.assert_close(states, embeds)
    else:
        # The encoder's own head count.
        assert reader.attention.num_heads == reader.config.num_attention_heads
        assert not torch.allclose(states, embeds)
    saved = CrossTimeNetClassifier.load(clf.save(tmp_path / ablation))
    np.testing.assert_allclose(saved.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="pretrain\\(\\) writes a pre-trained"):
        clf.pretrain({"a": X}, tmp_path / "artifact")


def test_freeze_encoder_trains_only_the_head_and_code_embeddings(data):
    X, y = data
    start = _clf(
        pretrain_epochs=0, n_epochs=1, validation_fraction=0, learning_rate=1e-9
    ).fit(X, y)
    frozen = _clf(
        pretrain_epochs=0, n_epochs=3, validation_fraction=0, freeze_encoder=True
    ).fit(X, y)
    free = _clf(pretrain_epochs=0, n_epochs=3, validation_fraction=0).fit(X, y)
    reference = dict(_pretrained_tiny_bert().model.named_parameters())
    for name, value in frozen.model_.encoder.named_parameters():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=0)
    changed = [
        name
        for name, value in free.model_.encoder.named_parameters()
        if not torch.equal(value, reference[name])
    ]
    assert len(changed) > 10
    for part in ("code_embeddings", "head"):
        before = getattr(start.model_, part).state_dict()
        after = getattr(frozen.model_, part).state_dict()
        for name in before:
            assert not torch.allclose(before[name], after[name], atol=1e-4), name


def test_linear_head_is_a_probe_on_the_frozen_network(data):
    X, y = data
    clf = _clf(head="linear", pretrain_epochs=0).fit(X, y)
    # Nothing is fine-tuned: the encoder is the backbone as loaded, no epoch ran.
    reference = dict(_pretrained_tiny_bert().model.named_parameters())
    for name, value in clf.model_.encoder.named_parameters():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=0)
    assert clf.history_ == [] and clf.best_epoch_ == 0 and clf.model_.head is None
    # The probe reads transform's features and answers predict_proba.
    features = clf.transform(X)
    assert features.shape == (12, 7 * 64)
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.head_.predict_proba(features), atol=1e-6
    )
    assert (clf.predict(X) == y).mean() >= 0.9
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match=r"explains with .*occlusion"):
        clf.explain(X[:1], method="gradient")

    # Pre-training still runs first; the probe sees the labelled share only,
    # and augmented copies beside it.
    half = _clf(head="linear", pretrain_epochs=2, label_fraction=0.5).fit(X, y)
    assert [h["phase"] for h in half.history_] == ["pretraining"] * 2
    assert half.head_[0].n_samples_seen_ == 6
    varied = _clf(
        head="linear", pretrain_epochs=0, augmentation=SeriesAugmenter(n_copies=2)
    ).fit(X, y)
    assert varied.head_[0].n_samples_seen_ == 3 * 12
    assert not np.allclose(varied.predict_proba(X), clf.predict_proba(X))


def test_label_fraction_uses_a_stratified_share_of_the_labels(data):
    X, y = data
    clf = _clf(label_fraction=0.5, validation_fraction=0, n_epochs=1).fit(X, y)
    assert len(clf.labelled_index_) == 6
    assert np.bincount(y[clf.labelled_index_]).tolist() == [3, 3]
    tokens = {h["phase"]: h["tokens"] for h in clf.history_}
    # [CLS] + 6 tokens per series: pre-training reads all 12, fine-tuning 6.
    assert tokens == {"pretraining": 12 * 7, "train": 6 * 7}
    other = _clf(label_fraction=0.5, random_state=1, validation_fraction=0)
    assert not np.array_equal(other.fit(X, y).labelled_index_, clf.labelled_index_)


def test_pretrain_artifact_round_trips(data, tmp_path):
    X, y = data
    X2, _ = make_example_series(
        n_cases=8, n_channels=2, n_timepoints=40, random_state=1
    )
    folder = _clf(pretrain_epochs=2).pretrain({"a": (X, y), "b": X2}, tmp_path)
    record = json.loads((folder / "vlmtsc_crosstimenet.json").read_text())
    assert [d["name"] for d in record["domains"]] == ["a", "b"]
    assert record["language_model"] == "pretrained"
    assert [h["phase"] for h in record["history"]] == ["pretraining"] * 2
    with open(folder / "vlmtsc_crosstimenet_tokenizers.pkl", "rb") as f:
        saved = pickle.load(f)
    arrays = np.load(folder / "vlmtsc_crosstimenet_embeddings.npz")
    # The folder is an ordinary transformers model folder as well.
    assert load_backbone(str(folder), verbose=0).family.kind == "encoder"

    clf = _clf(
        backbone=str(folder),
        domain="b",
        language_model="auto",  # the default: the folder's encoder as saved
        pretrain_epochs=0,
        n_epochs=1,
        validation_fraction=0,
        freeze_encoder=True,
        learning_rate=1e-9,
    ).fit(X2[2:], np.arange(6) % 2)  # other data than pretrain() saw
    assert clf.domain_ == "b" and clf.code_init_rows_ is None
    assert clf.language_model_ == "pretrained"
    np.testing.assert_array_equal(
        clf.tokenizer_.transform(X2), saved["b"].transform(X2)
    )
    table = clf.model_.code_embeddings.weight.detach().numpy()
    np.testing.assert_allclose(table[:N_CODES], arrays["codes_1"], atol=1e-6)
    np.testing.assert_allclose(table[N_CODES], arrays["mask"], atol=1e-6)
    np.testing.assert_allclose(
        clf.model_.token_head.weight.detach().numpy(), arrays["output_weight_1"]
    )
    encoder = load_backbone(str(folder), verbose=0).model
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(clf.model_.encoder.state_dict()[name], value)

    # Without a domain: a new tokenizer and code rows on the pre-trained encoder.
    new = _clf(backbone=str(folder), validation_fraction=0).fit(X, y)
    assert new.domain_ is None and new.code_init_rows_ is not None
    assert new.predict_proba(X).shape == (12, 2)

    with pytest.raises(ValueError, match=r"domains are \['a', 'b'\]"):
        _clf(backbone=str(folder), domain="c").fit(X, y)
    for ablation in ("random", "attention", "none"):
        with pytest.raises(ValueError, match=f"'{ablation}' would discard"):
            _clf(backbone=str(folder), language_model=ablation).fit(X, y)


def test_reproducible_with_random_state(data):
    X, y = data
    first = _clf().fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(_clf().fit(X, y).predict_proba(X), first)
    other = _clf(random_state=1).fit(X, y).predict_proba(X)
    assert not np.allclose(other, first)


def test_pickle_and_save_round_trip(fitted, data, tmp_path):
    X, _ = data
    expected = fitted.predict_proba(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.predict_proba(X), expected, atol=1e-6)
    np.testing.assert_allclose(restored.transform(X), fitted.transform(X), atol=1e-5)
    loaded = CrossTimeNetClassifier.load(fitted.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=1e-6)


def test_unequal_length_multivariate_series():
    X, y = make_example_series(
        n_cases=12, n_channels=3, n_timepoints=32, unequal=True, random_state=2
    )
    clf = _clf(validation_fraction=0).fit(X, y)
    lengths = [x.shape[1] for x in X]
    assert clf.max_tokens_ == clf.tokenizer_.n_tokens(max(lengths))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Padding is masked: a series gets the same answer alone or in a batch.
    shortest = int(np.argmin(lengths))
    np.testing.assert_allclose(
        clf.predict_proba([X[shortest]])[0], proba[shortest], atol=1e-5
    )
    longer = [np.concatenate([X[0], X[0]], axis=1)]
    with pytest.raises(ValueError, match=r"not truncated.*pooling='segments'"):
        clf.predict(longer)
    mean = _clf(validation_fraction=0, pooling="mean").fit(X, y)
    assert mean.predict_proba(longer).shape == (1, 2)
    assert mean.transform(X[:2]).shape == (2, 64)
    # The defaults (the probe on 8 segments) read any length too.
    default = CrossTimeNetClassifier(
        backbone="tiny-bert", tokenizer=_tokenizer(), pretrain_epochs=1, verbose=0
    ).fit(X, y)
    assert [h["phase"] for h in default.history_] == ["pretraining"]
    assert default.predict_proba(longer).shape == (1, 2)
    features = default.transform(X)
    assert features.shape == (12, 9 * 64)
    np.testing.assert_allclose(
        default.transform([X[shortest]])[0], features[shortest], atol=1e-5
    )


def test_segments_average_contiguous_runs_of_tokens():
    states = torch.randn(2, 1 + 16, 3)  # [CLS] + 16 positions
    weights = _segment_weights(torch.tensor([16, 3]), states)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 8))
    # 16 tokens: segment s averages tokens 2s and 2s + 1.
    expected = torch.zeros(8, 16)
    for s in range(8):
        expected[s, 2 * s : 2 * s + 2] = 0.5
    torch.testing.assert_close(weights[0], expected)
    # 3 tokens: every segment reads one or two of them, never padding, in order.
    assert (weights[1][:, 3:] == 0).all()
    first = [int(row.nonzero()[0]) for row in weights[1]]
    assert first == sorted(first) and set(first) == {0, 1, 2}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mask_ratio": 0.0}, r"'mask_ratio' .* range \(0.0, 1.0\)"),
        ({"mask_ratio": 1.0}, r"'mask_ratio' .* range \(0.0, 1.0\)"),
        ({"mask_ratio": "high"}, r"'mask_ratio' .* range \(0.0, 1.0\)"),
        ({"label_fraction": 0.0}, r"'label_fraction' .* range \(0.0, 1.0\]"),
        ({"label_fraction": 1.5}, r"'label_fraction' .* range \(0.0, 1.0\]"),
        ({"pretrain_epochs": -1}, r"'pretrain_epochs' .* range \[0, inf\)"),
        ({"language_model": "bert"}, r"'language_model' parameter .* among"),
        ({"pooling": "cls"}, r"'pooling' parameter .* among"),
        ({"head": "svm"}, r"'head' parameter .* among"),
        ({"domain": "ecg"}, "not a folder written by CrossTimeNetClassifier.pretrain"),
        ({"backbone": "tiny-llama"}, "needs a BERT-family encoder.*causal_lm"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, message, data):
    X, y = data
    with pytest.raises(ValueError, match=message):
        _clf(**params).fit(X, y)


def test_pretrain_rejects_zero_epochs_and_empty_datasets(data, tmp_path):
    X, _ = data
    with pytest.raises(ValueError, match="set pretrain_epochs to 1 or more"):
        _clf(pretrain_epochs=0).pretrain({"a": X}, tmp_path)
    with pytest.raises(ValueError, match="non-empty dict"):
        _clf().pretrain({}, tmp_path)
