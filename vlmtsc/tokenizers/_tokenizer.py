"""VQTokenizer: time series -> discrete tokens with a VQ-VAE (seeds 000 and 002)."""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from vlmtsc.base import check_series, n_channels_of, series_lengths
from vlmtsc.persistence import module_from_state, module_state
from vlmtsc.training import (
    NORMALIZATIONS,
    SeriesNormalizer,
    epochs_within,
    resolve_device,
)

__all__ = ["VQTokenizer", "fit_tokenizer"]

DEFAULT_NORMALIZATION = "per_channel"
# patch_length="auto": 8 timepoints per token, and longer patches for series
# over 512 points, so that the longest training series gives at most 64 tokens
# (the cost of a language model grows with the tokens it reads).
AUTO_PATCH_LENGTH = 8
AUTO_MAX_TOKENS = 64
# n_epochs="auto": 60 epochs, and at most 60 epochs of two batches of 32
# windows of 1,024 timepoints in all (an epoch's cost grows with its timepoints).
AUTO_EPOCHS = 60
AUTO_TIMEPOINTS = AUTO_EPOCHS * 64 * 1024


def auto_patch_length(length: int) -> int:
    """``patch_length="auto"``'s choice for series of at most ``length`` points.

    Examples
    --------
    >>> auto_patch_length(150), auto_patch_length(2000)
    (8, 32)
    """
    return max(AUTO_PATCH_LENGTH, math.ceil(length / AUTO_MAX_TOKENS))


_INFERENCE_BATCH = 256


class VQTokenizer(TransformerMixin, BaseEstimator):
    """Turn time series into sequences of discrete tokens with a VQ-VAE.

    The tokenizer of InstructTime (seed 000), which CrossTimeNet (seed 002)
    shares: a TCN encoder maps every patch of ``patch_length`` timepoints,
    spanning all channels, to one vector; an EMA codebook of ``codebook_size``
    codes replaces it by the nearest code, whose index is the token; a TCN
    decoder reconstructs the series from the codes. The network is trained
    without labels to reconstruct the (normalised) series, and the epoch with the
    lowest reconstruction error on a random validation split of the training
    data is kept (seed 000 chose its checkpoint on the test set).

    Series whose length is not ``patch_length + k * stride`` are padded at the
    end by repeating their last value, so no timepoint is dropped; the padding is
    excluded from the training loss and :meth:`reconstruct` cuts it off again. A
    series shorter than one patch is padded the same way, with a warning.
    Convolutions are causal, so a series gets the same tokens alone or in a
    batch.

    Parameters
    ----------
    patch_length : int or "auto", default="auto"
        Timepoints per token. A series of length ``n`` gives
        :meth:`n_tokens` ``(n)`` tokens. ``"auto"``: 8, or longer patches for
        series over 512 points so that the longest training series gives at
        most 64 tokens (``patch_length_``).
    codebook_size : int, default=128
        Number of codes (the vocabulary size).
    embedding_dim : int, default=64
        Size of a code vector.
    stride : int, optional
        Step between patch starts, ``1 <= stride <= patch_length``; default
        ``patch_length`` (non-overlapping patches). A smaller stride gives
        overlapping patches and more tokens.
    normalization : {"per_channel", "across_channels", "global", None}, \
default="per_channel"
        How series are scaled before tokenizing (``normalizer_``, a
        :class:`vlmtsc.training.SeriesNormalizer`). ``"per_channel"``: z-normalise
        every channel of every case on its own (shape only).
        ``"across_channels"``: one mean and standard deviation per case over all
        its channels (keeps the channels' relative amplitudes). ``"global"``:
        per-channel mean and standard deviation of the whole training set
        (keeps amplitude differences between cases). ``None``: raw values.
        Inside an estimator, which normalises the series itself, a tokenizer
        left at the default does not normalise again.
    hidden_size : int, default=64
        Channels of the encoder and decoder TCNs.
    n_blocks : int, default=8
        Residual blocks (two causal dilated convolutions each) in the encoder
        and in the decoder.
    dropout : float, default=0.1
    decay : float, default=0.9
        EMA decay of the codebook: each update averages over about
        ``1 / (1 - decay)`` batches. Seed 000 used 0.99 on datasets of
        thousands of series; on UCR-sized training sets (a few batches per
        epoch) 0.99 moves the codes too slowly (GunPoint: validation MSE 0.027
        and 21% of 128 codes used, against 0.008 and 100% with 0.9).
    commitment_weight : float, default=0.25
        Weight of the commitment loss.
    dead_code_threshold : float, default=1.0
        Codes whose moving-average usage drops below this many vectors per batch
        are re-seeded from the batch's encoder outputs; ``0`` disables it.
    n_epochs : int or "auto", default="auto"
        Training epochs; ``0`` keeps the untrained network (with a codebook
        seeded from encoder outputs), a baseline. ``"auto"``: 60 epochs, fewer
        when an epoch's training windows hold more than 64 x 1,024 timepoints
        (two batches of whole windows), so that a fit trains on at most
        60 x 64 x 1,024 timepoints (``n_epochs_``). Of the bundled sets only
        the three longest with many cases reach the cap on their whole
        training splits (ACSF1 43 epochs, PigCVP 41, OSULeaf 52), none on half
        of one: the token estimators' cross-validation on the training splits
        scores it as 60 epochs, and a fit on a whole split trains on more
        timepoints than each of those halves did.
    batch_size : int, default=32
    crop_length : int or None, default=1024
        Training batches show a random window of about this many timepoints
        (rounded up to whole tokens, starting on a patch boundary) of every
        longer series, drawn afresh each epoch; ``None`` trains on whole
        series. The encoder reads about 120 steps back (``n_blocks=8``), so
        most of a window is far from its cut. Validation, the codebook's start
        and tokenizing always use whole series. Chosen by cross-validation on
        the bundled training splits: on the two longer than 1024 points
        (ACSF1, PigCVP; InstructTime's probe) half a point below whole series
        (.346 vs .351) in 55-71% of the fit time; windows of 512 cost 3.5
        points.
    learning_rate : float, default=5e-4
        Peak AdamW learning rate (warm-up then cosine decay).
    validation_fraction : float, default=0.1
        Random share of the training series used to choose the epoch and to
        measure ``reconstruction_error_``; ``0`` keeps the last epoch and
        measures on the training series.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the split and the shuffling; an int makes CPU
        runs reproducible.
    device : str, default="auto"
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
    verbose : int, default=1
        ``0`` silences the progress bar.

    Attributes
    ----------
    model_ : VQVAE
        The trained torch module (see :mod:`vlmtsc.tokenizers`).
    codebook_ : ndarray of shape (codebook_size, embedding_dim)
        The code vectors; row ``i`` is the embedding of token ``i``.
    n_channels_ : int
    n_timepoints_ : int or None
        Training length, ``None`` if the training series had unequal lengths.
    patch_length_ : int
        The patch length in use (``patch_length``, or ``"auto"``'s choice).
    normalizer_ : SeriesNormalizer
        Fitted on the training series (statistics for ``"global"``).
    reconstruction_error_ : float
        Mean squared reconstruction error, in normalised units, on the
        validation split (on the training series if there is none).
    code_counts_ : ndarray of shape (codebook_size,)
        How often each token occurs in the tokens of the training series.
    codebook_usage_ : float
        Fraction of the codes that occur at least once in the training series.
    history_ : list of dict
        Per epoch: ``loss``, ``validation_score`` (minus the validation MSE),
        ``validation_mse``, ``learning_rate``, ``seconds``.
    n_epochs_ : int
        Epochs trained (``n_epochs``, or ``"auto"``'s choice).
    best_epoch_ : int
        Epoch whose weights and codebook are kept (0 for ``n_epochs=0``).
    device_ : str

    See Also
    --------
    plot_reconstruction, plot_token_usage : The seed's Figures 4 and 5.

    References
    ----------
    .. [1] Cheng et al., "InstructTime: Advancing Time Series Classification with
       Multimodal Language Modeling", WSDM 2025 (seed 000).
    .. [2] Cheng et al., "Learning Transferable Time Series Classifier with
       Cross-Domain Pre-training from Language Model", 2024 (seed 002).

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.tokenizers import VQTokenizer
    >>> X, _ = load_dataset("GunPoint")
    >>> tokenizer = VQTokenizer(patch_length=16, codebook_size=16, hidden_size=8,
    ...     n_blocks=1, n_epochs=2, random_state=0, verbose=0).fit(X[:20])
    >>> tokens = tokenizer.transform(X[:3])
    >>> tokens.shape, tokenizer.n_tokens(150)
    ((3, 10), 10)
    >>> bool(tokens.min() >= 0 and tokens.max() < 16)
    True
    >>> tokenizer.reconstruct(X[:3]).shape
    (3, 1, 150)
    """

    def __init__(
        self,
        patch_length="auto",
        codebook_size=128,
        embedding_dim=64,
        stride=None,
        normalization="per_channel",
        hidden_size=64,
        n_blocks=8,
        dropout=0.1,
        decay=0.9,
        commitment_weight=0.25,
        dead_code_threshold=1.0,
        n_epochs="auto",
        batch_size=32,
        crop_length=1024,
        learning_rate=5e-4,
        validation_fraction=0.1,
        random_state=None,
        device="auto",
        verbose=1,
    ):
        self.patch_length = patch_length
        self.codebook_size = codebook_size
        self.embedding_dim = embedding_dim
        self.stride = stride
        self.normalization = normalization
        self.hidden_size = hidden_size
        self.n_blocks = n_blocks
        self.dropout = dropout
        self.decay = decay
        self.commitment_weight = commitment_weight
        self.dead_code_threshold = dead_code_threshold
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.crop_length = crop_length
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = []  # tokens are integers
        return tags

    # ------------------------------------------------------------------ params

    _parameter_constraints: ClassVar[dict] = {
        "patch_length": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "codebook_size": [Interval(Integral, 1, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left"), None],
        "normalization": [StrOptions({n for n in NORMALIZATIONS if n}), None],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "n_blocks": [Interval(Integral, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "decay": [Interval(Real, 0, 1, closed="left")],
        "commitment_weight": [Interval(Real, 0, None, closed="left")],
        "dead_code_threshold": [Interval(Real, 0, None, closed="left")],
        "n_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "crop_length": [Interval(Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
    }

    def _check_stride(self, patch: int) -> None:
        if self.stride is not None and self.stride > patch:
            raise ValueError(
                f"stride must be None or an integer in [1, patch_length={patch}], got "
                f"{self.stride!r}; a stride larger than the patch would skip "
                "timepoints."
            )

    def _chosen_patch(self, lengths) -> int:
        """``patch_length``, or ``"auto"``'s choice for series of ``lengths``."""
        if self.patch_length != "auto":
            return int(self.patch_length)
        return auto_patch_length(int(np.max(lengths)))

    def _patch(self, lengths=None) -> int:
        """The patch length in use: the fitted one, or the one fit would choose."""
        if hasattr(self, "patch_length_"):
            return self.patch_length_
        return self._chosen_patch(lengths)

    def _strides(self, patch: int) -> int:
        return patch if self.stride is None else int(self.stride)

    @property
    def _stride(self) -> int:
        return self._strides(self.patch_length_)

    def n_tokens(self, length):
        """Number of tokens of a series of ``length`` timepoints.

        ``1`` for a series up to one patch long, otherwise
        ``ceil((length - patch_length) / stride) + 1``. Needs no fitting: before
        ``fit``, ``patch_length="auto"`` is resolved from the longest of the
        given lengths, as ``fit`` resolves it from the longest training series.

        Parameters
        ----------
        length : int or array-like of int

        Returns
        -------
        int or ndarray of int
        """
        lengths = np.asarray(length)
        if lengths.dtype.kind not in "iu" or (lengths < 1).any():
            raise ValueError(f"length must be a positive integer, got {length!r}.")
        self._validate_params()
        patch = self._patch(lengths)
        self._check_stride(patch)
        extra = np.maximum(lengths - patch, 0)
        counts = -(-extra // self._strides(patch)) + 1
        return int(counts) if counts.ndim == 0 else counts.astype(np.int64)

    def padded_length(self, length):
        """Length a series is edge-padded to before tokenizing (and decoded to).

        Parameters
        ----------
        length : int or array-like of int

        Returns
        -------
        int or ndarray of int
        """
        patch = self._patch(length)
        return (self.n_tokens(length) - 1) * self._strides(patch) + patch

    def token_attributions(self, token_scores, lengths) -> list[np.ndarray]:
        """Per-token scores as per-step attributions, one array per series.

        Token ``k`` encodes steps ``[k * stride, k * stride + patch_length)`` of
        every channel; its score is spread evenly over the ``(channel, step)``
        cells of that patch inside the series (the end padding is cut off), so
        the steps' attributions sum to the tokens' scores and overlapping
        patches add up. What the token estimators' gradient explanations use.

        Parameters
        ----------
        token_scores : sequence of array-like of shape (n_tokens_i,)
        lengths : array-like of int of shape (n_cases,)

        Returns
        -------
        list of ndarray of shape (n_channels, length_i)

        Examples
        --------
        >>> import numpy as np
        >>> from vlmtsc.tokenizers import VQTokenizer
        >>> tok = VQTokenizer(patch_length=2, codebook_size=4, n_epochs=1,
        ...     verbose=0).fit(np.zeros((4, 3)))
        >>> tok.token_attributions([[2.0, 4.0]], [3])[0].tolist()
        [[1.0, 1.0, 4.0]]
        """
        check_is_fitted(self)
        patch, stride = int(self.patch_length_), self._stride
        attributions = []
        for scores, length in zip(token_scores, lengths, strict=True):
            out = np.zeros((self.n_channels_, int(length)))
            for k, score in enumerate(np.asarray(scores, dtype=np.float64)):
                a = k * stride
                b = min(a + patch, int(length))
                if b > a:
                    out[:, a:b] += score / (self.n_channels_ * (b - a))
            attributions.append(out)
        return attributions

    # ----------------------------------------------------------- normalisation

    def normalization_stats(self, X):
        """The shift and scale that :meth:`transform` removes from each case.

        ``transform`` tokenizes ``(X - loc) / scale``; pass these to
        :meth:`inverse_transform` to get reconstructions in the original units.

        Parameters
        ----------
        X : array-like or list of array-like

        Returns
        -------
        loc, scale : ndarray of shape (n_cases, n_channels)
        """
        X = self._check_transform_X(X)
        return self._stats(X)

    def _stats(self, X):
        return self.normalizer_.stats(X)

    def _normalize(self, X):
        """Normalised, edge-padded cases and their original lengths."""
        loc, scale = self._stats(X)
        lengths = series_lengths(X)
        short = lengths < self.patch_length_
        if short.any():
            warnings.warn(
                f"{int(short.sum())} of {len(X)} series are shorter than "
                f"patch_length={self.patch_length_} (shortest: {lengths.min()}); "
                f"they were padded to one patch by repeating their last value.",
                UserWarning,
                stacklevel=3,
            )
        padded = self.padded_length(lengths)
        cases = []
        for x, shift, factor, n in zip(X, loc, scale, padded, strict=True):
            x = (x - shift[:, None]) / factor[:, None]
            cases.append(np.pad(x, ((0, 0), (0, n - x.shape[1])), mode="edge"))
        return cases, lengths

    # --------------------------------------------------------------------- fit

    def _crop_points(self) -> int | None:
        """Timepoints of a training crop: ``crop_length`` rounded up to whole
        tokens (``None``: train on whole series)."""
        if self.crop_length is None:
            return None
        return self.padded_length(max(int(self.crop_length), self.patch_length_))

    def _epochs(self, lengths) -> int:
        """``n_epochs``, or ``"auto"``'s choice for training series of
        ``lengths``: at most ``AUTO_EPOCHS``, and at most ``AUTO_TIMEPOINTS``
        timepoints of training windows in all."""
        if self.n_epochs != "auto":
            return int(self.n_epochs)
        crop = self._crop_points()
        per_epoch = float(np.sum(np.minimum(lengths, crop or np.inf)))
        return epochs_within(AUTO_TIMEPOINTS, per_epoch, AUTO_EPOCHS)

    def _check_transform_X(self, X):
        check_is_fitted(self)
        X = check_series(X, estimator_name=type(self).__name__)
        if n_channels_of(X) != self.n_channels_:
            raise ValueError(
                f"X has {n_channels_of(X)} channels, but {type(self).__name__} was "
                f"fitted on series with {self.n_channels_} channels; pass series "
                "with the same channels as in fit."
            )
        return X

    def fit(self, X, y=None):
        """Train the VQ-VAE to reconstruct ``X``.

        Parameters
        ----------
        X : array-like or list of array-like
            Training series: 2D ``(n_cases, n_timepoints)``, 3D ``(n_cases,
            n_channels, n_timepoints)``, or a list of 2D ``(n_channels,
            n_timepoints_i)`` arrays of unequal length.
        y : ignored
            The tokenizer learns without labels.

        Returns
        -------
        self
        """
        import torch

        from vlmtsc.tokenizers._modules import VQVAE
        from vlmtsc.training import TrainingConfig, seed_everything, train

        self._validate_params()
        name = type(self).__name__
        X = check_series(X, estimator_name=name)
        n_cases = len(X)
        if self.validation_fraction > 0 and n_cases < 2:
            raise ValueError(
                f"{name} got 1 sample; a validation split (validation_fraction="
                f"{self.validation_fraction}) needs at least 2 series. Pass more "
                "series or set validation_fraction=0."
            )
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.device_ = resolve_device(self.device)
        self.n_channels_ = n_channels_of(X)
        lengths = series_lengths(X)
        self.n_timepoints_ = int(lengths[0]) if (lengths == lengths[0]).all() else None
        self.patch_length_ = self._chosen_patch(lengths)
        self._check_stride(self.patch_length_)
        self.normalizer_ = SeriesNormalizer(self.normalization).fit(X)

        cases, lengths = self._normalize(X)
        rng = np.random.default_rng(seed)
        order = rng.permutation(n_cases)
        n_val = 0
        if self.validation_fraction > 0:
            n_val = min(max(1, round(self.validation_fraction * n_cases)), n_cases - 1)
        val_index, train_index = np.sort(order[:n_val]), np.sort(order[n_val:])
        self._validation_index = val_index

        seed_everything(seed)
        self._network_config = {
            "n_channels": self.n_channels_,
            "patch_length": self.patch_length_,
            "stride": self._stride,
            "codebook_size": self.codebook_size,
            "embedding_dim": self.embedding_dim,
            "hidden_size": self.hidden_size,
            "n_blocks": self.n_blocks,
            "dropout": self.dropout,
            "decay": self.decay,
            "commitment_weight": self.commitment_weight,
            "dead_code_threshold": self.dead_code_threshold,
        }
        model = VQVAE(**self._network_config).to(self.device_)
        model.eval()
        device = self.device_

        def collate(index):
            return _collate([cases[i] for i in index], lengths[index], device)

        # Data-dependent codebook start: random encoder outputs of training data.
        with torch.no_grad():
            first = rng.permutation(train_index)[: max(self.batch_size, 256)]
            x, mask = collate(first)
            vectors = model.encode(x)
            valid = _token_mask(mask, self.patch_length_, self._stride)
            model.quantizer.init_codebook(vectors[valid])

        eval_index = val_index if n_val else train_index

        def mse(model) -> float:
            total, count = 0.0, 0.0
            for start in range(0, len(eval_index), _INFERENCE_BATCH):
                x, mask = collate(eval_index[start : start + _INFERENCE_BATCH])
                output = model(x, mask)
                n = float(mask.sum()) * x.shape[1]
                total += float(output.reconstruction_loss) * n
                count += n
            return total / count

        # The codebook lives in buffers that train()'s checkpoint of trainable
        # parameters does not hold: keep a full copy of the best epoch here, so
        # the restored encoder and codebook belong together.
        best = {"mse": math.inf, "state": None, "epoch": 0, "calls": 0}

        def evaluate(model) -> float:
            # Same rule as train(): the first epoch with the best score wins.
            error = mse(model)
            best["calls"] += 1
            if error < best["mse"]:
                state = copy.deepcopy(model.state_dict())
                best.update(mse=error, state=state, epoch=best["calls"])
            return -error

        crop = self._crop_points()

        def batches(batch_rng):
            shuffled = batch_rng.permutation(train_index)
            for start in range(0, len(shuffled), self.batch_size):
                index = shuffled[start : start + self.batch_size]
                windows = _crops(cases, lengths, index, crop, self._stride, batch_rng)
                x, mask = _collate(*windows, device)
                yield {"x": x, "mask": mask}

        history = []
        self.n_epochs_ = self._epochs(lengths[train_index])
        if self.n_epochs_ > 0:
            config = TrainingConfig(
                n_epochs=self.n_epochs_,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
            )
            result = train(
                model,
                batches,
                math.ceil(len(train_index) / self.batch_size),
                config,
                evaluate=evaluate if n_val else None,
                random_state=seed,
                verbose=self.verbose,
                description="VQ tokenizer",
            )
            history = result.history
            for entry in history:
                if "validation_score" in entry:
                    entry["validation_mse"] = -entry["validation_score"]
            if best["state"] is not None:
                model.load_state_dict(best["state"])
            self.best_epoch_ = best["epoch"] if n_val else result.best_epoch
        else:
            self.best_epoch_ = 0
        model.eval()
        self.model_ = model
        self.history_ = history
        with torch.no_grad():
            self.reconstruction_error_ = float(
                best["mse"] if best["state"] is not None else mse(model)
            )
        self.codebook_ = model.quantizer.embed.detach().cpu().numpy().copy()
        tokens = self._tokenize(cases, lengths)
        self.code_counts_ = np.bincount(
            np.concatenate(tokens), minlength=self.codebook_size
        ).astype(np.int64)
        self.codebook_usage_ = float((self.code_counts_ > 0).mean())
        return self

    # ---------------------------------------------------------------- pickling

    def __getstate__(self):
        state = dict(super().__getstate__())  # may be the live __dict__
        model = state.get("model_")
        if model is not None and not isinstance(model, dict):
            # The torch module travels as its configuration and weights (a
            # safetensors file inside vlmtsc.persistence.save).
            state["model_"] = module_state(model, self._network_config, "tokenizer")
        return state

    def __setstate__(self, state):
        model = state.get("model_")
        if isinstance(model, dict):
            from vlmtsc.tokenizers._modules import VQVAE

            network, device = module_from_state(
                model, lambda config: VQVAE(**config), state.get("device_", "cpu")
            )
            state = {**state, "model_": network, "device_": device}
        super().__setstate__(state)

    # --------------------------------------------------------------- transform

    def _tokenize(self, cases, lengths) -> list[np.ndarray]:
        """Token ids of normalised padded ``cases``, batched by padded length."""
        import torch

        n_tokens = self.n_tokens(lengths)
        tokens: list[np.ndarray] = [None] * len(cases)
        # Causal convolutions: padding a batch to its longest case changes no
        # token of the shorter ones, so cases of any lengths can share a batch.
        order = np.argsort(n_tokens, kind="stable")
        with torch.no_grad():
            for start in range(0, len(order), _INFERENCE_BATCH):
                index = order[start : start + _INFERENCE_BATCH]
                x, _ = _collate([cases[i] for i in index], lengths[index], self.device_)
                ids = self.model_.tokenize(x).cpu().numpy().astype(np.int64)
                for row, i in enumerate(index):
                    tokens[i] = ids[row, : n_tokens[i]]
        return tokens

    def transform(self, X):
        """Token ids of every series.

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit, of any length.

        Returns
        -------
        tokens : ndarray of shape (n_cases, n_tokens) or list of ndarray
            Integers in ``[0, codebook_size)``; for a list of series of unequal
            lengths, a list of 1D arrays of ``n_tokens(length_i)`` ids.
        """
        X = self._check_transform_X(X)
        cases, lengths = self._normalize(X)
        tokens = self._tokenize(cases, lengths)
        if isinstance(X, np.ndarray):
            return np.stack(tokens)
        return tokens

    def inverse_transform(self, X, lengths=None, loc=None, scale=None):
        """Decode token ids back into series.

        Parameters
        ----------
        X : array-like of int of shape (n_cases, n_tokens) or list of 1D arrays
            Token ids, as returned by :meth:`transform`.
        lengths : int or array-like of shape (n_cases,), optional
            Original lengths, to cut the end padding off; default: keep the
            padded length ``padded_length`` of each case.
        loc, scale : array-like broadcastable to (n_cases, n_channels), optional
            Statistics from :meth:`normalization_stats`. Default: the fitted
            ``loc_`` and ``scale_`` for ``normalization="global"`` (original
            units) and none for ``None``; for ``"per_channel"`` and
            ``"across_channels"`` the series then come back **z-normalised**, since the
            tokens do not carry the scale of each case.

        Returns
        -------
        X : ndarray of shape (n_cases, n_channels, n_timepoints) or list of ndarray
            A list of 2D arrays when the cases have different lengths.
        """
        import torch

        check_is_fitted(self)
        token_lists = _check_tokens(X, self.codebook_size)
        n_cases = len(token_lists)
        counts = np.array([len(t) for t in token_lists])
        padded = (counts - 1) * self._stride + self.patch_length_
        if lengths is None:
            lengths = padded
        else:
            lengths = np.broadcast_to(np.asarray(lengths), (n_cases,))
            if lengths.dtype.kind not in "iu" or (lengths < 1).any():
                raise ValueError("lengths must be positive integers.")
            if (self.n_tokens(lengths) != counts).any():
                raise ValueError(
                    "lengths do not match the number of tokens: a series of length "
                    "n has n_tokens(n) tokens."
                )
        if loc is None and scale is None and self.normalization == "global":
            loc, scale = self.normalizer_.loc_, self.normalizer_.scale_
        shape = (n_cases, self.n_channels_)
        loc = np.broadcast_to(np.zeros(1) if loc is None else np.asarray(loc), shape)
        scale = np.broadcast_to(
            np.ones(1) if scale is None else np.asarray(scale), shape
        )
        series = [None] * n_cases
        order = np.argsort(counts, kind="stable")
        with torch.no_grad():
            for start in range(0, n_cases, _INFERENCE_BATCH):
                index = order[start : start + _INFERENCE_BATCH]
                width = counts[index].max()
                ids = np.stack(
                    [
                        np.pad(token_lists[i], (0, width - counts[i]), "edge")
                        for i in index
                    ]
                )
                decoded = self.model_.decode(torch.as_tensor(ids, device=self.device_))
                decoded = decoded.float().cpu().numpy().astype(np.float64)
                for row, i in enumerate(index):
                    x = decoded[row, :, : lengths[i]]
                    series[i] = x * scale[i][:, None] + loc[i][:, None]
        if len(set(int(n) for n in lengths)) == 1:
            return np.stack(series)
        return series

    def reconstruct(self, X):
        """Tokenize and decode ``X``, in its original units and lengths.

        Parameters
        ----------
        X : array-like or list of array-like

        Returns
        -------
        ndarray of shape (n_cases, n_channels, n_timepoints) or list of ndarray
            The same form as the validated ``X``.
        """
        X = self._check_transform_X(X)
        loc, scale = self._stats(X)
        cases, lengths = self._normalize(X)
        return self.inverse_transform(
            self._tokenize(cases, lengths), lengths=lengths, loc=loc, scale=scale
        )

    # ------------------------------------------------------------------- plots

    def plot_reconstruction(self, X, index=0, ax=None):
        """Overlay a series and its reconstruction (seed 000, Figure 4).

        See :func:`vlmtsc.tokenizers.plot_reconstruction`.
        """
        from vlmtsc.tokenizers._plots import plot_reconstruction

        return plot_reconstruction(self, X, index=index, ax=ax)

    def plot_token_usage(self, X, y, ax=None):
        """Heatmap of token frequencies per class (seed 000, Figure 5).

        See :func:`vlmtsc.tokenizers.plot_token_usage`.
        """
        from vlmtsc.tokenizers._plots import plot_token_usage

        return plot_token_usage(self, X, y, ax=ax)


def _collate(cases, lengths, device):
    """Stack padded cases into ``(batch, n_channels, n_timepoints)`` + mask.

    Cases shorter than the longest are edge-padded further; the mask marks the
    original timepoints (not the padding) with 1.
    """
    import torch

    width = max(c.shape[1] for c in cases)
    x = np.stack(
        [np.pad(c, ((0, 0), (0, width - c.shape[1])), mode="edge") for c in cases]
    )
    mask = (np.arange(width)[None, :] < np.asarray(lengths)[:, None]).astype(np.float32)
    return (
        torch.as_tensor(x, dtype=torch.float32, device=device),
        torch.as_tensor(mask, device=device),
    )


def _crops(cases, lengths, index, crop, stride, rng):
    """A random window of ``crop`` padded timepoints of each case in ``index``
    (starting on the patch grid, so the window holds whole tokens), and the
    number of original timepoints in it; shorter cases (all, for ``crop=None``)
    stay whole."""
    windows, real = [], []
    for i in index:
        case, length = cases[i], int(lengths[i])
        if crop is None or case.shape[1] <= crop:
            windows.append(case)
            real.append(length)
            continue
        begin = stride * int(rng.integers((case.shape[1] - crop) // stride + 1))
        windows.append(case[:, begin : begin + crop])
        real.append(min(crop, length - begin))
    return windows, np.asarray(real)


def _token_mask(mask, patch_length, stride):
    """Which token positions of a collated batch start inside the real series."""
    import torch

    n_tokens = (mask.shape[1] - patch_length) // stride + 1
    starts = torch.arange(n_tokens, device=mask.device) * stride
    return mask[:, starts] > 0


def _check_tokens(X, codebook_size) -> list[np.ndarray]:
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 2:
            raise ValueError(
                f"Expected token ids of shape (n_cases, n_tokens), got shape "
                f"{X.shape}; pass the output of transform."
            )
        rows = list(X)
    elif isinstance(X, (list, tuple, np.ndarray)):
        rows = [np.asarray(t) for t in X]
    else:
        raise TypeError(
            f"Expected token ids (an array or a list of arrays), got "
            f"{type(X).__name__}."
        )
    if not rows:
        raise ValueError("Got no token sequences to decode.")
    checked = []
    for i, row in enumerate(rows):
        row = np.asarray(row)
        if row.ndim != 1 or row.size == 0:
            raise ValueError(
                f"Token sequence {i} must be a non-empty 1D array, got shape "
                f"{row.shape}."
            )
        if row.dtype.kind not in "iu":
            if row.dtype.kind == "f" and np.array_equal(row, np.round(row)):
                row = row.astype(np.int64)
            else:
                raise TypeError(
                    f"Token ids must be integers, got dtype {row.dtype} in sequence "
                    f"{i}."
                )
        if row.min() < 0 or row.max() >= codebook_size:
            raise ValueError(
                f"Token ids must be in [0, {codebook_size}), got values from "
                f"{row.min()} to {row.max()} in sequence {i}."
            )
        checked.append(row.astype(np.int64))
    return checked


def fit_tokenizer(tokenizer, X, *, random_state, verbose):
    """A clone of ``tokenizer`` (default :class:`VQTokenizer`) fitted on ``X``.

    How the language-model estimators fit their tokenizer, unsupervised on
    training series only (the tokenizer's own validation split chooses its
    epoch): ``random_state`` fills an unset seed and ``verbose`` applies to the
    default tokenizer. ``X`` is already normalised by the estimator, which owns
    the normalisation: a tokenizer left at its default ``normalization`` does
    not normalise again (one set to another value does, as asked).
    """
    fitted = clone(tokenizer) if tokenizer is not None else VQTokenizer()
    if fitted.get_params().get("random_state") is None:
        fitted.set_params(random_state=random_state)
    if tokenizer is None:
        fitted.set_params(verbose=verbose)
    if fitted.normalization == DEFAULT_NORMALIZATION:
        fitted.set_params(normalization=None)
    return fitted.fit(X)
