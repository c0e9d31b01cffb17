"""VQTokenizer and its torch modules: tokens, reconstruction, codebook, plots."""

import pickle

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from vlmtsc.testing import make_example_series
from vlmtsc.tokenizers import (
    VQVAE,
    EMAVectorQuantizer,
    VQTokenizer,
    plot_reconstruction,
    plot_token_usage,
)

matplotlib.use("Agg")

TINY = dict(
    patch_length=8,
    codebook_size=16,
    embedding_dim=8,
    hidden_size=8,
    n_blocks=2,
    n_epochs=2,
    random_state=0,
    verbose=0,
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sines(n_cases=40, n_timepoints=32, n_channels=1, random_state=0):
    """Sines of random frequency and phase: easy to reconstruct, not constant."""
    rng = np.random.default_rng(random_state)
    t = np.arange(n_timepoints)
    freq = rng.uniform(0.1, 0.4, size=(n_cases, n_channels, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_cases, n_channels, 1))
    return np.sin(freq * t + phase)


@pytest.fixture(scope="module")
def sines():
    return _sines()


@pytest.fixture(scope="module")
def trained(sines):
    """A tokenizer that learned the sines (about a second on one thread)."""
    params = dict(TINY, codebook_size=32, n_epochs=40, batch_size=8)
    params["learning_rate"] = 5e-3
    params["decay"] = 0.8
    return VQTokenizer(**params).fit(sines)


# ----------------------------------------------------------------- shapes


def test_univariate_and_multivariate_token_shapes():
    X, _ = make_example_series(n_cases=6, n_timepoints=32)
    tokenizer = VQTokenizer(**TINY).fit(X[:, 0])  # 2D input
    tokens = tokenizer.transform(X[:, 0])
    assert tokens.shape == (6, 4)
    assert tokens.dtype == np.int64
    assert tokens.min() >= 0 and tokens.max() < 16
    np.testing.assert_array_equal(tokenizer.transform(X), tokens)  # 3D, 1 channel

    Xm, _ = make_example_series(n_cases=6, n_channels=3, n_timepoints=32)
    multivariate = VQTokenizer(**TINY).fit(Xm)
    assert multivariate.n_channels_ == 3
    # One token per patch spanning all channels, not one per channel.
    assert multivariate.transform(Xm).shape == (6, 4)
    assert multivariate.codebook_.shape == (16, 8)
    assert multivariate.reconstruct(Xm).shape == Xm.shape


def test_non_multiple_lengths_are_padded_not_dropped():
    X = _sines(n_cases=6, n_timepoints=30)
    tokenizer = VQTokenizer(**TINY).fit(X)
    assert tokenizer.n_tokens(30) == 4  # 3 full patches + 6 points padded by 2
    assert tokenizer.padded_length(30) == 32
    tokens = tokenizer.transform(X)
    assert tokens.shape == (6, 4)
    # Decoding gives the padded length; the original length on request.
    assert tokenizer.inverse_transform(tokens).shape == (6, 1, 32)
    assert tokenizer.inverse_transform(tokens, lengths=30).shape == (6, 1, 30)
    assert tokenizer.reconstruct(X).shape == (6, 1, 30)
    # The last token sees the last real points: change them, it may change;
    # earlier tokens (causal encoder) must not.
    changed = X.copy()
    changed[:, :, 25:] += 5.0
    new = VQTokenizer(**dict(TINY, normalization=None)).fit(X)
    np.testing.assert_array_equal(
        new.transform(changed)[:, :3], new.transform(X)[:, :3]
    )


def test_unequal_lengths_give_token_lists():
    X, _ = make_example_series(n_cases=6, n_channels=2, n_timepoints=40, unequal=True)
    lengths = [x.shape[1] for x in X]
    tokenizer = VQTokenizer(**TINY).fit(X)
    assert tokenizer.n_timepoints_ is None
    tokens = tokenizer.transform(X)
    assert isinstance(tokens, list) and len(tokens) == 6
    assert [len(t) for t in tokens] == list(tokenizer.n_tokens(lengths))
    assert [len(t) for t in tokens] == [-(-n // 8) for n in lengths]
    # Causal convolutions: a series has the same tokens alone as in a batch.
    for i in (0, 3):
        np.testing.assert_array_equal(tokenizer.transform([X[i]])[0], tokens[i])
    reconstructed = tokenizer.reconstruct(X)
    assert [r.shape for r in reconstructed] == [x.shape for x in X]
    decoded = tokenizer.inverse_transform(tokens)
    assert [d.shape[1] for d in decoded] == list(tokenizer.padded_length(lengths))


def test_tokens_of_a_prefix_are_a_prefix_of_the_tokens():
    X = _sines(n_cases=5, n_timepoints=48)
    tokenizer = VQTokenizer(**dict(TINY, normalization=None)).fit(X)
    np.testing.assert_array_equal(
        tokenizer.transform(X[:, :, :24]), tokenizer.transform(X)[:, :3]
    )


def test_series_shorter_than_a_patch_warn_and_get_one_token():
    X = _sines(n_cases=6, n_timepoints=32)
    tokenizer = VQTokenizer(**TINY).fit(X)
    with pytest.warns(UserWarning, match="shorter than patch_length=8"):
        tokens = tokenizer.transform(X[:, :, :5])
    assert tokens.shape == (6, 1)
    with pytest.warns(UserWarning, match="padded"):
        assert tokenizer.reconstruct(X[:2, :, :5]).shape == (2, 1, 5)


def test_stride_below_patch_length_gives_overlapping_patches():
    X = _sines(n_cases=6, n_timepoints=32)
    overlapping = VQTokenizer(**dict(TINY, stride=4)).fit(X)
    assert overlapping.n_tokens(32) == 7  # starts 0, 4, ..., 24
    assert overlapping.transform(X).shape == (6, 7)
    assert overlapping.transform(X).shape[1] > VQTokenizer(**TINY).n_tokens(32)
    assert overlapping.n_tokens(30) == 7 and overlapping.padded_length(30) == 32
    assert overlapping.reconstruct(X[:, :, :30]).shape == (6, 1, 30)
    assert VQTokenizer(patch_length=8, stride=1).n_tokens([8, 9, 20]).tolist() == [
        1,
        2,
        13,
    ]


# ------------------------------------------------------- learning and scale


def test_training_lowers_the_reconstruction_error(sines, trained):
    untrained = VQTokenizer(**dict(trained.get_params(), n_epochs=0)).fit(sines)
    assert untrained.best_epoch_ == 0 and untrained.history_ == []
    assert trained.reconstruction_error_ < 0.5 * untrained.reconstruction_error_
    history = [entry["validation_mse"] for entry in trained.history_]
    assert len(history) == 40
    assert min(history) == pytest.approx(trained.reconstruction_error_)
    assert history[-1] < history[0]


def test_reconstruction_beats_predicting_the_mean(sines, trained):
    X = _sines(n_cases=10, random_state=1)  # unseen series
    error = np.mean((trained.reconstruct(X) - X) ** 2)
    mean_baseline = np.mean((X - X.mean(axis=2, keepdims=True)) ** 2)
    assert error < 0.5 * mean_baseline
    # Per-series normalisation: decoded tokens come back z-normalised unless
    # the statistics are passed.
    tokens = trained.transform(X)
    z = trained.inverse_transform(tokens)
    loc, scale = trained.normalization_stats(X)
    np.testing.assert_allclose(
        trained.inverse_transform(tokens, loc=loc, scale=scale),
        z * scale[:, :, None] + loc[:, :, None],
    )
    np.testing.assert_allclose(
        trained.inverse_transform(tokens, loc=loc, scale=scale),
        trained.reconstruct(X),
    )


def test_the_kept_epoch_has_a_matching_codebook(sines, monkeypatch):
    # Scramble the EMA codebook during the last epoch: that epoch validates
    # worst, so an earlier one is kept, and its codebook (buffers, which the
    # loop's checkpoint of trainable parameters does not hold) must come back
    # with its encoder.
    update = EMAVectorQuantizer._ema_update
    calls = []

    def scrambling_update(self, flat, indices):
        update(self, flat, indices)
        calls.append(1)
        if len(calls) > 5 * 5:  # 36 training series / batch 8 = 5 per epoch
            # Collapse every code onto one: all series get the same tokens.
            self.embed.copy_(self.embed[:1].expand_as(self.embed))
            self.embed_avg.copy_(self.embed * self.cluster_size[:, None])

    monkeypatch.setattr(EMAVectorQuantizer, "_ema_update", scrambling_update)
    params = dict(TINY, n_epochs=6, batch_size=8, learning_rate=1e-2, decay=0.8)
    tokenizer = VQTokenizer(**params).fit(sines)
    history = [entry["validation_mse"] for entry in tokenizer.history_]
    assert len(calls) == 30
    assert tokenizer.best_epoch_ == int(np.argmin(history)) + 1 < 6
    assert tokenizer.reconstruction_error_ == pytest.approx(min(history))
    np.testing.assert_array_equal(
        tokenizer.codebook_, tokenizer.model_.quantizer.embed.numpy()
    )
    # Recompute the validation error (normalised units) with what was kept.
    validation = sines[tokenizer._validation_index]
    z = (validation - validation.mean(axis=2, keepdims=True)) / validation.std(
        axis=2, keepdims=True
    )
    decoded = tokenizer.inverse_transform(tokenizer.transform(validation))
    assert tokenizer.reconstruction_error_ == pytest.approx(
        np.mean((decoded - z) ** 2), rel=1e-4
    )


def test_codebook_usage_and_counts(sines, trained):
    counts = trained.code_counts_
    assert counts.shape == (32,)
    assert counts.sum() == 40 * 4  # every token of the training series
    np.testing.assert_array_equal(
        counts, np.bincount(trained.transform(sines).ravel(), minlength=32)
    )
    assert trained.codebook_usage_ == pytest.approx((counts > 0).mean())
    assert trained.codebook_usage_ > 0.25


def test_same_random_state_same_tokens_other_state_other_codebook(sines):
    first = VQTokenizer(**TINY).fit(sines)
    again = VQTokenizer(**TINY).fit(sines)
    np.testing.assert_array_equal(first.codebook_, again.codebook_)
    np.testing.assert_array_equal(first.transform(sines), again.transform(sines))
    other = VQTokenizer(**dict(TINY, random_state=1)).fit(sines)
    assert not np.allclose(first.codebook_, other.codebook_)


def test_normalization_modes():
    X = _sines(n_cases=8, n_channels=2)
    shifted = 3.0 * X + 10.0
    per_channel = VQTokenizer(**TINY).fit(X)
    assert per_channel.normalizer_.loc_ is None
    # Only the shape matters: an affine change of the values keeps the tokens.
    np.testing.assert_array_equal(
        per_channel.transform(shifted), per_channel.transform(X)
    )

    across_channels = VQTokenizer(**dict(TINY, normalization="across_channels")).fit(X)
    np.testing.assert_array_equal(
        across_channels.transform(shifted), across_channels.transform(X)
    )
    loc, scale = across_channels.normalization_stats(X)
    np.testing.assert_allclose(loc[:, 0], X.mean(axis=(1, 2)))
    np.testing.assert_allclose(loc[:, 0], loc[:, 1])
    np.testing.assert_allclose(scale[:, 0], X.std(axis=(1, 2)))

    training = np.concatenate([X, shifted])
    global_ = VQTokenizer(**dict(TINY, normalization="global")).fit(training)
    np.testing.assert_allclose(global_.normalizer_.loc_, training.mean(axis=(0, 2)))
    np.testing.assert_allclose(global_.normalizer_.scale_, training.std(axis=(0, 2)))
    # Amplitude and offset now matter, and decoding returns original units.
    assert not np.array_equal(global_.transform(shifted), global_.transform(X))
    tokens = global_.transform(shifted)
    decoded = global_.inverse_transform(tokens)
    np.testing.assert_allclose(decoded, global_.reconstruct(shifted), atol=1e-10)
    normalised = global_.model_.decode(torch.as_tensor(tokens)).detach().numpy()
    np.testing.assert_allclose(
        decoded,
        normalised * global_.normalizer_.scale_[None, :, None]
        + global_.normalizer_.loc_[None, :, None],
        rtol=1e-5,
    )

    raw = VQTokenizer(**dict(TINY, normalization=None)).fit(X)
    loc, scale = raw.normalization_stats(shifted)
    assert (loc == 0).all() and (scale == 1).all()
    assert not np.array_equal(raw.transform(shifted), raw.transform(X))


def test_constant_series_do_not_divide_by_zero():
    X = np.vstack([_sines(n_cases=4)[:, 0], np.full((2, 32), 7.0)])
    tokenizer = VQTokenizer(**TINY).fit(X)
    reconstruction = tokenizer.reconstruct(X)
    assert np.isfinite(reconstruction).all()
    assert tokenizer.normalization_stats(X)[1][4:].tolist() == [[1.0], [1.0]]


# ------------------------------------------------------ the torch modules


def test_ema_update_moves_codes_to_the_mean_of_their_vectors():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(
        dim=2,
        codebook_size=2,
        decay=0.5,
        commitment_weight=0.25,
        eps=0.0,
        dead_code_threshold=0.0,
    )
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
        vq.embed_avg.copy_(vq.embed * 2)
        vq.cluster_size.fill_(2.0)
    x = torch.tensor([[[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]]])
    vq.train()
    quantized, indices, loss = vq(x)
    assert indices.tolist() == [[0, 0, 1]]
    # counts 0.5 * 2 + 0.5 * [2, 1] = [2, 1.5]; sums 0.5 * [[0, 0], [20, 20]]
    # + 0.5 * [[4, 2], [9, 9]]; each code = sum / count.
    expected = torch.tensor([[1.0, 0.5], [14.5 / 1.5, 14.5 / 1.5]])
    np.testing.assert_allclose(vq.embed.numpy(), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(vq.cluster_size.numpy(), [2.0, 1.5])
    np.testing.assert_allclose(quantized.detach().numpy(), expected[[0, 0, 1]][None])
    assert loss.item() == pytest.approx(
        0.25 * ((x - expected[[0, 0, 1]]) ** 2).mean().item()
    )
    # In eval mode nothing moves.
    vq.eval()
    before = vq.embed.clone()
    vq(x + 5)
    assert torch.equal(vq.embed, before)


def test_straight_through_gradient_reaches_the_input():
    vq = EMAVectorQuantizer(dim=3, codebook_size=4)
    vq.init_codebook(torch.randn(20, 3))
    vq.eval()
    x = torch.randn(2, 5, 3, requires_grad=True)
    quantized, indices, loss = vq(x)
    (quantized.sum() + loss).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    torch.testing.assert_close(quantized.detach(), vq.get_codes_from_indices(indices))


def test_dead_codes_are_reseeded_from_the_batch():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(dim=2, codebook_size=4, decay=0.9, dead_code_threshold=1.0)
    live = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    far = torch.tensor([[1e3, 1e3], [-1e3, 1e3]])
    with torch.no_grad():
        vq.embed.copy_(torch.cat([live, far]))
        vq.cluster_size.copy_(torch.tensor([50.0, 50.0, 0.5, 0.5]))
        vq.embed_avg.copy_(vq.embed * vq.cluster_size[:, None])
    x = torch.randn(1, 64, 2) * 0.1 + torch.tensor([0.5, 0.5])
    vq.train()
    vq(x)
    codes = vq.embed
    # The far codes were never chosen: they are now vectors of the batch.
    for code in codes[2:]:
        assert torch.isclose(x[0], code).all(dim=1).any()
    assert (vq.cluster_size[2:] == 1.0).all()
    # Codes in use are only moved by the EMA, not replaced.
    assert (codes[:2].abs() < 2).all()
    assert not any(torch.isclose(x[0], c).all(dim=1).any() for c in codes[:2])
    # With the reset off, dead codes stay where they are.
    still = EMAVectorQuantizer(dim=2, codebook_size=4, dead_code_threshold=0.0)
    still.load_state_dict(
        {
            "embed": torch.cat([live, far]),
            "embed_avg": torch.cat([live, far]),
            "cluster_size": torch.tensor([1.0, 1.0, 1.0, 1.0]),
        }
    )
    still.train()
    still(x)
    np.testing.assert_allclose(still.embed[2:].numpy(), far.numpy(), rtol=1e-4)


def test_dead_code_reset_raises_codebook_usage(sines):
    params = dict(TINY, codebook_size=32, n_epochs=10, batch_size=8, decay=0.8)
    with_reset = VQTokenizer(**params).fit(sines)
    without = VQTokenizer(**dict(params, dead_code_threshold=0.0)).fit(sines)
    assert with_reset.codebook_usage_ > without.codebook_usage_


def test_vqvae_decodes_indices_to_series_of_the_padded_length():
    model = VQVAE(
        n_channels=2,
        patch_length=4,
        stride=2,
        codebook_size=8,
        embedding_dim=4,
        hidden_size=8,
        n_blocks=1,
    ).eval()
    x = torch.randn(3, 2, 10)  # 4 + 3 * 2
    output = model(x)
    assert output.indices.shape == (3, 4)
    assert output.reconstruction.shape == (3, 2, 10)
    torch.testing.assert_close(model.decode(output.indices), output.reconstruction)
    assert output.loss.item() == pytest.approx(
        (output.reconstruction_loss + output.commitment_loss).item()
    )


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "params, match",
    [
        ({"patch_length": 0}, r"'patch_length' .* among \{'auto'\} or an int"),
        ({"codebook_size": 2.5}, r"'codebook_size' .* int in the range \[1, inf\)"),
        ({"stride": 9}, r"stride must be None or an integer in \[1, patch_length=8\]"),
        ({"normalization": "minmax"}, "'normalization' parameter .* among"),
        ({"decay": 1.0}, r"'decay' .* range \[0.0, 1.0\)"),
        ({"validation_fraction": -0.1}, "validation_fraction"),
        ({"n_epochs": -1}, r"'n_epochs' .* range \[0, inf\)"),
        ({"crop_length": 0}, r"'crop_length' .* range \[1, inf\) or None"),
        ({"learning_rate": 0}, r"'learning_rate' .* range \(0.0, inf\)"),
        ({"dead_code_threshold": -1}, r"'dead_code_threshold' .* \[0.0, inf\)"),
    ],
)
def test_bad_parameters_are_named(params, match):
    X = _sines(n_cases=4)
    with pytest.raises(ValueError, match=match):
        VQTokenizer(**dict(TINY, **params)).fit(X)


def test_input_errors():
    X = _sines(n_cases=6, n_channels=2)
    tokenizer = VQTokenizer(**TINY)
    with pytest.raises(NotFittedError):
        tokenizer.transform(X)
    with pytest.raises(NotFittedError):
        tokenizer.inverse_transform(np.zeros((2, 4), dtype=int))
    tokenizer.fit(X)
    with pytest.raises(ValueError, match="X has 1 channels, but VQTokenizer was"):
        tokenizer.transform(X[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        tokenizer.transform(np.where(X > 0.9, np.nan, X))
    with pytest.raises(ValueError, match=r"Token ids must be in \[0, 16\)"):
        tokenizer.inverse_transform(np.array([[0, 16]]))
    with pytest.raises(TypeError, match="Token ids must be integers"):
        tokenizer.inverse_transform(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="lengths do not match"):
        tokenizer.inverse_transform(np.zeros((1, 4), dtype=int), lengths=8)
    with pytest.raises(ValueError, match="1 sample"):
        clone(tokenizer).fit(X[:1])
    assert VQTokenizer(**dict(TINY, validation_fraction=0)).fit(X[:1]).history_


def test_pickle_round_trip_gives_identical_tokens_and_series(trained, sines):
    restored = pickle.loads(pickle.dumps(trained))
    np.testing.assert_array_equal(restored.transform(sines), trained.transform(sines))
    np.testing.assert_array_equal(
        restored.reconstruct(sines), trained.reconstruct(sines)
    )


# ------------------------------------------------------------------ plots


def test_plot_reconstruction_overlays_original_and_reconstruction(trained, sines):
    import matplotlib.pyplot as plt

    ax = plot_reconstruction(trained, sines, index=2)
    original, reconstruction = ax.get_lines()[:2]
    np.testing.assert_array_equal(original.get_ydata(), sines[2, 0])
    np.testing.assert_allclose(
        reconstruction.get_ydata(), trained.reconstruct(sines[2:3])[0, 0]
    )
    assert "4 tokens" in ax.get_title()
    with pytest.raises(IndexError):
        trained.plot_reconstruction(sines, index=40)
    plt.close("all")


def test_plot_token_usage_rows_are_class_frequencies(trained, sines):
    import matplotlib.pyplot as plt

    y = np.where(np.arange(40) % 2, "b", "a")
    _, ax = plt.subplots()
    assert trained.plot_token_usage(sines, y, ax=ax) is ax
    table = ax.images[0].get_array()
    assert table.shape == (2, 32)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    tokens = trained.transform(sines[y == "b"]).ravel()
    np.testing.assert_allclose(
        table[1], np.bincount(tokens, minlength=32) / tokens.size
    )
    counts = plot_token_usage(trained, sines, y, normalize=False).images[0].get_array()
    assert counts.sum() == 160
    plt.close("all")


def test_auto_patch_length_follows_the_longest_training_series():
    tokenizer = VQTokenizer(**dict(TINY, patch_length="auto", n_epochs=1))
    # Before fit, n_tokens resolves "auto" as fit will for these lengths.
    assert tokenizer.n_tokens(150) == 19 and tokenizer.n_tokens(2000) == 63
    short = tokenizer.fit(_sines(n_cases=4, n_timepoints=150))
    assert short.patch_length_ == 8
    assert short.transform(_sines(n_cases=2, n_timepoints=150)).shape == (2, 19)
    long = tokenizer.fit(_sines(n_cases=4, n_timepoints=2000))  # refit: chosen anew
    assert long.patch_length_ == 32
    assert long.transform(_sines(n_cases=2, n_timepoints=2000)).shape == (2, 63)
    with pytest.raises(ValueError, match=r"stride must be None .* patch_length=8\]"):
        VQTokenizer(**dict(TINY, patch_length="auto", stride=9)).fit(_sines(4, 150))


def test_auto_epochs_cap_the_timepoints_trained_on(monkeypatch):
    import vlmtsc.tokenizers._tokenizer as module

    monkeypatch.setattr(module, "AUTO_EPOCHS", 6)
    monkeypatch.setattr(module, "AUTO_TIMEPOINTS", 1000)
    X = _sines(n_cases=20, n_timepoints=64)  # 18 series train, 2 validate
    params = dict(TINY, n_epochs="auto", batch_size=8)
    # Windows of 64, 16 and 8 timepoints: 1152, 288 and 144 per epoch, so
    # 1000 timepoints in all give 1, 4 and 7 epochs, the last capped at 6.
    fits = [VQTokenizer(**params, crop_length=c).fit(X) for c in (None, 16, 8)]
    assert [fit.n_epochs_ for fit in fits] == [1, 4, 6]
    assert [len(fit.history_) for fit in fits] == [1, 4, 6]
    assert VQTokenizer(**dict(TINY, n_epochs=3)).fit(X).n_epochs_ == 3


def test_crops_are_whole_tokens_of_the_case():
    from vlmtsc.tokenizers._tokenizer import _crops

    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(2, n)) for n in (40, 16, 40)]
    lengths = np.array([40, 16, 37])  # the last was padded from 37 points
    for _ in range(20):
        windows, real = _crops(cases, lengths, [0, 1, 2], 16, 4, rng)
        assert [w.shape for w in windows] == [(2, 16)] * 3
        pairs = zip(windows, cases, real, lengths, strict=True)
        for window, case, n, length in pairs:
            # a slice of the case starting on the stride grid
            slices = {b: case[:, b : b + 16] for b in range(0, 40, 4)}
            begin = next(b for b, s in slices.items() if np.array_equal(s, window))
            assert n == min(16, length - begin)
        assert windows[1] is cases[1]  # not longer than a crop: whole


def test_training_crops_long_series_and_validation_reads_them_whole(monkeypatch):
    seen = []
    forward = VQVAE.forward

    def recording(self, x, mask=None):
        seen.append((self.training, x.shape[-1]))
        return forward(self, x, mask)

    monkeypatch.setattr(VQVAE, "forward", recording)
    X = _sines(n_cases=20, n_timepoints=64)
    params = dict(TINY, n_epochs=3, batch_size=8)
    cropped = VQTokenizer(**params, crop_length=13).fit(X)  # 13 -> 2 tokens of 8
    assert {width for training, width in seen if training} == {16}
    assert {width for training, width in seen if not training} == {64}
    assert cropped.transform(X).shape == (20, 8)  # tokens of whole series
    seen.clear()
    VQTokenizer(**params, crop_length=None).fit(X)
    assert {width for training, width in seen if training} == {64}


def test_training_on_crops_learns_the_series(sines):
    X = _sines(n_cases=40, n_timepoints=96)
    params = dict(TINY, codebook_size=32, n_epochs=40, batch_size=8, decay=0.8)
    params["learning_rate"] = 5e-3
    cropped = VQTokenizer(**params, crop_length=32).fit(X)
    untrained = VQTokenizer(**dict(params, n_epochs=0), crop_length=32).fit(X)
    assert cropped.reconstruction_error_ < 0.5 * untrained.reconstruction_error_
