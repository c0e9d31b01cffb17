"""InstructTimeClassifier on tiny backbones: VQ tokens in a causal LM."""

import pickle

import numpy as np
import pytest
import torch

from vlmtsc import InstructTimeClassifier
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
    defaults = dict(
        backbone="tiny-llama", tokenizer=_tokenizer(), n_epochs=2, verbose=0
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
        # peft wraps the trained projection; call the active copy directly.
        mlp = projection.modules_to_save["default"].mlps[0]
        np.testing.assert_allclose(got, mlp(codebook[[3, 5]]), atol=1e-6)
    trained = {n for n, p in model.model.named_parameters() if p.requires_grad}
    assert any("series_projection" in n for n in trained)
    assert all("lora_" in n or "series_projection" in n for n in trained)


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
    with pytest.raises(ValueError, match="fine_tuning must be one of"):
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


def test_unequal_lengths_multivariate_and_augmentation():
    from vlmtsc.training import SeriesAugmenter

    X, y = make_example_series(
        n_cases=10, n_channels=2, n_timepoints=24, unequal=True, random_state=3
    )
    clf = _clf(augmentation=SeriesAugmenter(), validation_fraction=0).fit(X, y)
    assert clf.predict_proba(X).shape == (10, 2)
    assert clf.transform(X).shape[0] == 10


def test_generate_returns_text_and_linear_head(fitted, data):
    X, y = data
    texts = fitted.generate(X[:2], max_new_tokens=3)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    linear = _clf(head="linear").fit(X, y)
    assert linear.history_ == []
    assert linear.predict_proba(X).shape == (12, 2)


def test_qlora_4bit_on_cpu(data):
    import bitsandbytes as bnb

    X, y = data
    clf = _clf(quantization="4bit", n_epochs=1, validation_fraction=0).fit(X, y)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in clf.model_.model.modules())
    assert clf.predict_proba(X).shape == (12, 2)
