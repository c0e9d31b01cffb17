"""CrossTimeNetClassifier: masked VQ-token pre-training of a BERT encoder (seed 002).

The recipe of CrossTimeNet, in the order :meth:`CrossTimeNetClassifier.fit` runs it:

1. **Tokens.** A VQ-VAE tokenizer (:class:`~vlmtsc.tokenizers.VQTokenizer`), fitted
   on the training series only (or taken from a pre-trained domain), turns every
   series into a sequence of codebook indices.
2. **Encoder.** A BERT-family language model reads the codes as new input
   tokens: a fresh embedding table with one row per code plus ``[MASK]`` and
   ``[CLS]``, whose rows start as randomly chosen rows of the language model's
   word-embedding matrix, fed as ``inputs_embeds`` (the model adds its position
   embeddings as usual). By default (``language_model="auto"``) the encoder is
   re-initialised from its config: a random encoder measured better than
   MiniLM's pretrained weights (the paper's PLM-versus-random comparison; the
   CrossTimeNet guide); a :meth:`~CrossTimeNetClassifier.pretrain` folder's
   encoder is used as saved. ``"attention"`` and ``"none"`` replace it by one
   attention layer or by nothing (the ablations of Tan et al., 2024).
3. **Masked-token pre-training.** A high share (``mask_ratio``) of each series'
   tokens is replaced by ``[MASK]`` and an output layer over the codebook predicts
   them; the loss is the cross-entropy on the masked positions only. It runs on
   the training series inside ``fit`` and, across several datasets (one
   tokenizer per domain, domains interleaved by batch), in
   :meth:`CrossTimeNetClassifier.pretrain`, whose artifact folder ``backbone=``
   accepts.
4. **Classification.** The pooled token states (by default ``[CLS]`` and the
   means of 8 runs of tokens) feed a linear probe on the frozen encoder (the
   default, shared with every estimator through ``BaseNetworkClassifier``) or,
   ``head="mlp"``, the seed's head GELU -> LayerNorm -> Linear fine-tuned with
   cross-entropy; its epoch count is chosen on a stratified validation split of
   the training data (never the test set, unlike the seed's code), then the
   model is retrained on all of it.

torch is imported only when a network is built, so importing this module stays
cheap (``import vlmtsc`` must not load torch).
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from numbers import Integral, Real
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.backbones import (
    LANGUAGE_MODELS,
    STAND_INS,
    language_model_stand_in,
    read_pretraining,
    refuse_to_discard,
    write_pretraining,
)
from vlmtsc.base import check_datasets, series_lengths, take_cases
from vlmtsc.classification._base import BACKBONE_SPEC, TRAINING_PARAMETERS
from vlmtsc.classification._torch_base import BaseNetworkClassifier, take
from vlmtsc.persistence import write_folder
from vlmtsc.tokenizers import VQTokenizer
from vlmtsc.training import SeriesNormalizer, resolve_device

__all__ = ["CrossTimeNetClassifier"]

POOLINGS = ("flatten", "mean", "segments")
N_SEGMENTS = 8
"""Segments of ``pooling="segments"``: the tokens of a series in this many
contiguous runs of (nearly) equal length, each averaged."""
HEADS = ("mlp", "linear")
IGNORE_INDEX = -100


# --------------------------------------------------------------------------- network
@functools.cache
def _torch_modules() -> SimpleNamespace:
    """The torch classes, defined on first use so torch loads lazily."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class CrossTimeNetNetwork(nn.Module):
        """A BERT-family encoder reading VQ codes, with two output layers.

        Code ``k`` of the (union of the) codebook(s) is input id ``k``; id
        ``n_codes`` is ``[MASK]`` and ``n_codes + 1`` is ``[CLS]``, which starts
        every sequence. ``token_head`` predicts masked codes (pre-training);
        ``head`` (GELU -> LayerNorm -> Linear) classifies the token states,
        flattened over ``1 + max_tokens`` positions or averaged.
        """

        def __init__(
            self, encoder, n_codes, n_classes=0, max_tokens=0, pooling="flatten"
        ):
            super().__init__()
            self.encoder = encoder
            hidden = encoder.config.hidden_size
            self.config = dict(
                n_codes=int(n_codes),
                n_classes=int(n_classes),
                max_tokens=int(max_tokens),
                pooling=pooling,
            )
            self.n_codes, self.max_tokens, self.pooling = n_codes, max_tokens, pooling
            self.mask_id, self.cls_id = n_codes, n_codes + 1
            self.code_embeddings = nn.Embedding(n_codes + 2, hidden)
            self.token_head = nn.Linear(hidden, n_codes)
            self.head = None
            if n_classes:
                width = (
                    hidden
                    * {
                        "flatten": 1 + max_tokens,
                        "mean": 1,
                        "segments": 1 + N_SEGMENTS,
                    }[pooling]
                )
                self.head = nn.Sequential(
                    nn.GELU(), nn.LayerNorm(width), nn.Linear(width, n_classes)
                )
            _freeze_word_embeddings(encoder)

        def states(self, codes, attention_mask):
            embeds = self.code_embeddings(codes)
            out = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask)
            return out.last_hidden_state

        def represent(self, codes, attention_mask):
            """What the head reads: flattened (zero-padded), mean or segment-mean
            token states."""
            states = self.states(codes, attention_mask)
            mask = attention_mask[..., None].to(states.dtype)
            if self.pooling == "mean":
                return (states * mask).sum(dim=1) / mask.sum(dim=1)
            if self.pooling == "segments":
                segments = _segment_weights(attention_mask[:, 1:].sum(dim=1), states)
                pooled = segments @ states[:, 1:]
                return torch.cat([states[:, :1], pooled], dim=1).flatten(1)
            missing = 1 + self.max_tokens - states.shape[1]
            if missing < 0:  # F.pad would crop: never drop tokens silently
                raise ValueError(
                    f"{states.shape[1] - 1} tokens exceed the flattened head's "
                    f"{self.max_tokens}."
                )
            return F.pad(states * mask, (0, 0, 0, missing)).flatten(1)

        def forward(self, codes, attention_mask, labels=None, task="classify"):
            if task == "masked":
                logits = self.token_head(self.states(codes, attention_mask))
                loss = F.cross_entropy(
                    logits.flatten(0, 1).float(),
                    labels.flatten(),
                    ignore_index=IGNORE_INDEX,
                )
                return SimpleNamespace(loss=loss, logits=logits)
            logits = self.head(self.represent(codes, attention_mask))
            loss = None if labels is None else F.cross_entropy(logits.float(), labels)
            return SimpleNamespace(loss=loss, logits=logits)

    return SimpleNamespace(CrossTimeNetNetwork=CrossTimeNetNetwork, torch=torch)


def _segment_weights(lengths, states):
    """``(rows, N_SEGMENTS, positions)`` averaging weights: segment ``s`` of a
    series of ``n`` tokens averages tokens ``floor(s n / S)`` to
    ``ceil((s + 1) n / S) - 1`` (adaptive average pooling, so a series of fewer
    than ``S`` tokens repeats them and padding gets no weight)."""
    import torch

    n = lengths[:, None, None].to(states.dtype)
    s = torch.arange(N_SEGMENTS, device=states.device, dtype=states.dtype)[:, None]
    t = torch.arange(states.shape[1] - 1, device=states.device, dtype=states.dtype)
    start = torch.floor(s * n / N_SEGMENTS)
    end = torch.ceil((s + 1) * n / N_SEGMENTS)
    chosen = ((t >= start) & (t < end)).to(states.dtype)
    return chosen / chosen.sum(dim=-1, keepdim=True)


def _set_stage(network, stage: str, freeze_encoder: bool = False) -> None:
    """Which parameters train: ``"masked"`` pre-training or ``"classify"``."""
    network.requires_grad_(False)
    network.code_embeddings.requires_grad_(True)
    if stage == "masked":
        network.encoder.requires_grad_(True)
        network.token_head.requires_grad_(True)
    else:
        network.head.requires_grad_(True)
        network.encoder.requires_grad_(not freeze_encoder)
    _freeze_word_embeddings(network.encoder)


def _freeze_word_embeddings(encoder) -> None:
    """The inputs come as ``inputs_embeds``: the word-embedding matrix is only
    the source of the code rows' initial values, never trained (a stand-in for
    the language model has none)."""
    if hasattr(encoder, "get_input_embeddings"):
        encoder.get_input_embeddings().requires_grad_(False)


# --------------------------------------------------------------------------- tokens
def _pad_codes(code_lists, cls_id: int, pad_id: int):
    """``[CLS]`` + codes of every series, right-padded; ``(ids, attention_mask)``."""
    width = 1 + max(len(c) for c in code_lists)
    ids = np.full((len(code_lists), width), pad_id, dtype=np.int64)
    attention = np.zeros((len(code_lists), width), dtype=np.int64)
    ids[:, 0], attention[:, 0] = cls_id, 1
    for row, codes in enumerate(code_lists):
        ids[row, 1 : 1 + len(codes)] = codes
        attention[row, 1 : 1 + len(codes)] = 1
    return ids, attention


def _mask_tokens(ids, attention_mask, mask_ratio, mask_id, rng):
    """Corrupt a ``mask_ratio`` share of each sequence's code tokens.

    In every row, ``max(1, round(mask_ratio * n))`` of its ``n`` code positions,
    drawn without replacement, are replaced by ``mask_id``; ``[CLS]`` (position
    0) and padding are never chosen. Returns ``(inputs, labels)``: ``labels``
    holds the original code at the masked positions and -100 elsewhere, so the
    loss is on the masked positions only.
    """
    inputs = ids.copy()
    labels = np.full_like(ids, IGNORE_INDEX)
    for row in range(len(ids)):
        n = int(attention_mask[row].sum()) - 1
        chosen = 1 + rng.choice(n, size=max(1, round(mask_ratio * n)), replace=False)
        labels[row, chosen] = ids[row, chosen]
        inputs[row, chosen] = mask_id
    return inputs, labels


def _initial_embeddings(encoder, text_tokenizer, n_codes, rng):
    """CrossTimeNet's start: rows of the pretrained word-embedding matrix.

    Returns the ``(n_codes + 2, hidden)`` table (codes, ``[MASK]``, ``[CLS]``) and
    the row indices the codes were copied from. ``[MASK]`` and ``[CLS]`` start as
    the language model's own ``[MASK]`` and ``[CLS]`` rows when its tokenizer has
    them, else as random rows too.
    """
    import torch

    words = encoder.get_input_embeddings().weight.detach()
    vocabulary = words.shape[0]
    rows = rng.choice(vocabulary, size=n_codes, replace=n_codes > vocabulary)
    special = [
        getattr(text_tokenizer, f"{name}_token_id", None) for name in ("mask", "cls")
    ]
    special = [
        int(i)
        if i is not None and 0 <= i < vocabulary
        else int(rng.integers(vocabulary))
        for i in special
    ]
    index = np.concatenate([rows, special])
    table = words[words.new_tensor(index, dtype=torch.long)].float().cpu().clone()
    return table, rows.astype(np.int64)


# --------------------------------------------------------------------------- estimator
class CrossTimeNetClassifier(BaseNetworkClassifier):
    """Classify VQ tokens of series with a masked-token pre-trained BERT (CrossTimeNet).

    The recipe of seed 002, without its faults (the epoch is chosen on a
    validation split of the training data, not on the test set), with defaults
    chosen by measurement (a linear probe; a randomly initialised encoder,
    which measured better than the pretrained one):

    1. A VQ-VAE ``tokenizer`` is fitted on the training series (unlabelled) and
       turns every series into codes, ``n_tokens(length)`` per series.
    2. The ``backbone``, a BERT-family encoder, reads ``[CLS]`` followed by the
       codes through a new embedding table (one row per code, plus ``[MASK]`` and
       ``[CLS]``). Code rows start as randomly chosen rows of the pretrained
       word-embedding matrix (indices in ``code_init_rows_``); ``[MASK]`` and
       ``[CLS]`` as the model's own ``[MASK]`` and ``[CLS]`` rows. The table is fed
       as ``inputs_embeds``, so the model's position embeddings apply; the
       word-embedding matrix itself is left untouched. By default
       (``language_model="auto"``) the encoder and its word embeddings are
       first re-initialised from the config (``"pretrained"`` keeps the
       weights).
    3. Masked-token pre-training for ``pretrain_epochs`` on all training series:
       in every series ``round(mask_ratio * n_tokens)`` (at least one) tokens,
       drawn afresh each epoch, become ``[MASK]``; an output layer over the
       codebook predicts them, with the cross-entropy on masked positions only.
       :meth:`pretrain` does the same across several datasets and saves an
       artifact to start from (``backbone=path``, ``domain=name``).
    4. The token states, pooled (``pooling``), are classified. By default
       (``head="linear"``) a linear probe reads them from the encoder as step 3
       left it: standardised logistic regression on the labelled series
       (``label_fraction`` of them), nothing fine-tuned. With ``head="mlp"``
       (the seed's) a head GELU -> LayerNorm -> Linear is fine-tuned with
       cross-entropy, with the encoder (or, ``freeze_encoder=True``, only the
       head and the code embeddings); the epoch count is chosen on a
       stratified validation split, then, with ``refit``, training restarts
       from the pre-trained state on all labelled series for that many epochs.
       The defaults were chosen by 2-fold CV on the training splits of the
       bundled sets (the CrossTimeNet guide, *Which head*).

    Parameters
    ----------
    tokenizer : VQTokenizer, optional
        How series become codes; default :class:`vlmtsc.tokenizers.VQTokenizer`
        with its defaults. Cloned and fitted on the training series in ``fit``
        (not used with ``domain``, whose tokenizer was fitted in :meth:`pretrain`).
    backbone : str or callable, default="minilm-l6"
        A BERT-family encoder: an alias (``"minilm-l6"``, offline weights;
        ``"tiny-bert"``, random, for tests), a hub id such as
        ``"bert-base-uncased"``, a local folder, a factory, or a folder written
        by :meth:`pretrain`. See :func:`vlmtsc.backbones.load_backbone`.
    domain : str, optional
        With ``backbone`` a :meth:`pretrain` folder: the pre-trained domain whose
        tokenizer, code embeddings and masked-token output layer to use. ``None``
        fits a new tokenizer and makes new code embeddings (the folder's
        pre-trained encoder and ``[MASK]``/``[CLS]`` rows are still used).
    language_model : {"auto", "pretrained", "random", "attention", "none"}, \
default="auto"
        What the language model contributes, measured. ``"auto"``:
        ``"random"``, unless ``backbone`` is a :meth:`pretrain` folder, whose
        encoder is then used as saved (``"pretrained"``); resolved in
        ``language_model_``. A random encoder is the default because it
        measured better than MiniLM's pretrained weights, with the probe (2-fold
        CV on eight training splits: .779 against .729) and with the fine-tuned
        head (the CrossTimeNet guide, *Which encoder*).
        ``"pretrained"``: the weights as loaded. ``"random"``
        re-initialises the encoder from its config (the code rows then come from
        the random word-embedding matrix; the paper's comparison);
        ``"attention"`` replaces the encoder by one randomly initialised
        self-attention layer with the encoder's head count, and ``"none"``
        removes it (the token embeddings go straight to the head): the
        ablations of Tan et al. (2024). With the two stand-ins the code rows
        still start from the pretrained word embeddings, and masked-token
        pre-training trains the stand-in. See
        :func:`vlmtsc.backbones.language_model_stand_in`.
    mask_ratio : float, default=0.5
        Share of each series' tokens masked in pre-training, in (0, 1). The
        paper finds a high ratio helps (the seed's code used 0.3).
    pretrain_epochs : int, default=10
        Masked-token pre-training epochs inside ``fit`` (on all training series,
        labelled or not) and in :meth:`pretrain`; ``0`` skips it in ``fit``.
    pooling : {"segments", "flatten", "mean"}, default="segments"
        What the head reads. ``"segments"`` (the default): ``[CLS]``'s state
        and the mean states of 8 contiguous runs of the tokens (of nearly equal
        length; a series of fewer tokens repeats them), concatenated: the order
        of events survives, for any length. ``"flatten"`` (the seed's): the states of
        ``[CLS]`` and every token concatenated, zero-padded to the most tokens
        of a training series (``max_tokens_``); a series with more tokens is
        refused at predict time, never truncated. ``"mean"``: the mean state over
        ``[CLS]`` and the tokens, for any length.
    head : {"linear", "mlp"}, default="linear"
        What classifies the ``pooling`` representation. ``"linear"``: the
        linear probe, nothing fine-tuned: standardised logistic regression
        (:func:`vlmtsc.training.fit_probe`, its strength chosen by k-fold on
        the labelled series) on the representation of the encoder as step 3
        left it; no validation split, the fine-tuning parameters
        (``n_epochs``, ``freeze_encoder``...) unused. ``"mlp"`` (the seed's):
        GELU -> LayerNorm -> Linear, fine-tuned with the encoder on the
        labelled series (step 4).
    freeze_encoder : bool, default=False
        Fine-tune only the head and the code embeddings, keeping the (pre-trained)
        encoder fixed. In-``fit`` pre-training still trains the encoder.
    label_fraction : float, default=1.0
        Share of the labelled training series the supervised stage uses, in
        (0, 1]: ``round(label_fraction * n_c)`` (at least one) random series of
        every class ``c`` (indices in ``labelled_index_``). All series still
        serve pre-training.
    normalization : {"across_channels", "per_channel", "global", None}, \
default="across_channels"
        How series are scaled before the tokenizer (``normalizer_``, see
        :class:`vlmtsc.training.SeriesNormalizer`). ``"across_channels"``: one
        mean and standard deviation per series over all its channels, so a
        multivariate series keeps its channels' relative levels (a univariate
        series is z-normalised, as with ``"per_channel"``). Chosen by 2-fold
        CV on the bundled training splits: JapaneseVowels .863 against .541
        for ``"per_channel"``, BasicMotions .950 against .875 (the
        CrossTimeNet guide). The tokenizer does not normalise them again
        unless its own ``normalization`` is set to something else than its
        default.
    augmentation : SeriesAugmenter, optional
        In the supervised stage every epoch also shows ``n_copies`` freshly
        varied copies of each labelled series, re-tokenized; validation series
        are never augmented.
    n_epochs : int, default=30
        Maximum fine-tuning epochs; the best on validation is kept.
    batch_size : int, default=16
        Series per batch, in pre-training and fine-tuning.
    learning_rate : float, default=1e-4
        Peak AdamW learning rate of both stages (the seed's Adam rate).
    weight_decay : float, default=0.0
        AdamW weight decay.
    warmup_ratio : float, default=0.05
        Share of the optimiser steps spent warming the learning rate up.
    validation_fraction : float, default=0.2
        Stratified share of the labelled series held out to choose the epoch
        (accuracy, ties broken by log-loss); ``0`` trains ``n_epochs`` without
        validation. Classes too small to split follow the rule of
        :func:`vlmtsc.training.validation_splits` (with a warning).
    validation_folds : int, optional
        Choose the epoch count by stratified k-fold instead (k trainings, then
        a refit on all labelled series).
    patience : int, optional
        Early stopping: end the validation run after this many epochs without
        a better validation score (the best epoch is kept either way).
        ``None`` trains all ``n_epochs``. k-fold selection
        (``validation_folds``) always trains every epoch, so that the folds'
        curves can be averaged.
    refit : bool, default=True
        After choosing the epoch count, train again from the pre-trained state on
        all labelled series for that many epochs.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of the training steps where the device runs it natively.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``.
    random_state : int, RandomState instance or None, default=0
        Seeds the tokenizer (when its own ``random_state`` is None), tiny
        backbones, the embedding rows, the masks, the splits and the training;
        an int makes CPU runs reproducible.
    verbose : int, default=1
        ``0`` silences progress bars.

    Attributes
    ----------
    classes_ : ndarray
    n_channels_ : int
    n_timepoints_ : int or None
    normalizer_ : SeriesNormalizer
        Fitted on the training series; scales series before the tokenizer.
    tokenizer_ : VQTokenizer
        Fitted on the training series, or the pre-trained ``domain``'s.
    domain_ : str or None
        The pre-trained domain used, if any.
    language_model_ : str
        ``language_model`` resolved (``"auto"`` becomes ``"random"`` or
        ``"pretrained"``).
    code_init_rows_ : ndarray of int or None
        Rows of the word-embedding matrix the code embeddings started from
        (``None`` for a pre-trained domain's embeddings).
    max_tokens_ : int
        Most tokens of a training series (the flattened head's width is
        ``(1 + max_tokens_) * hidden_size``).
    labelled_index_ : ndarray of int
        The training series of the supervised stage.
    model_ : torch.nn.Module
        The network: ``encoder`` (the transformers model), ``code_embeddings``,
        ``token_head`` (masked-token output layer) and ``head`` (``None`` for
        ``head="linear"``).
    head_ : Pipeline or None
        ``head="linear"``: the fitted probe (``StandardScaler`` then
        ``LogisticRegression``) on :meth:`transform`'s features.
    history_ : list of dict
        Per epoch: ``phase`` (``"pretraining"``, ``"validation"``, ``"refit"`` or
        ``"train"``), ``epoch``, ``loss`` (masked-token cross-entropy in
        pre-training), ``validation_score``, ``learning_rate``, ``seconds``,
        ``tokens``, ``flops``.
    best_epoch_ : int
        Fine-tuning epochs of the final model (0 for the probe).
    device_ : str

    See Also
    --------
    vlmtsc.InstructTimeClassifier : the same tokens in a causal LM answering labels.

    Notes
    -----
    The pre-training artifact (:meth:`pretrain`) is an ordinary transformers
    model folder (``save_pretrained`` of the encoder and its text tokenizer) plus
    ``vlmtsc_crosstimenet.json`` (domains in order with their code counts, the
    base backbone, settings, history), ``vlmtsc_crosstimenet_embeddings.npz``
    (``codes_i`` and ``output_weight_i``/``output_bias_i`` of the ``i``-th
    domain; ``mask`` and ``cls`` rows) and ``vlmtsc_crosstimenet_tokenizers.pkl``
    (domain -> fitted VQTokenizer; a pickle, so load only folders you trust).

    ``explain(X, method="gradient")`` works on the tokens: each code token's
    score is gradient x input embedding (summed over the embedding dimension)
    of the target class's log-probability (log-softmax of the head's logits),
    spread evenly over the steps and channels of the patch the token encodes
    (overlapping patches add up). Signed: positive tokens raise the class's
    probability relative to a zero embedding. The VQ quantisation has no
    gradient, so nothing finer than a patch is resolved. One backward pass per
    batch of 16 series.

    References
    ----------
    .. [1] Cheng et al., "Learning Transferable Time Series Classifier with
       Cross-Domain Pre-training from Language Model", 2024 (seed 002).

    Examples
    --------
    >>> from vlmtsc import CrossTimeNetClassifier
    >>> from vlmtsc.testing import make_example_series
    >>> from vlmtsc.tokenizers import VQTokenizer
    >>> X, y = make_example_series(n_cases=8, n_timepoints=24)
    >>> clf = CrossTimeNetClassifier(
    ...     backbone="tiny-bert", pretrain_epochs=2, n_epochs=2, verbose=0,
    ...     tokenizer=VQTokenizer(patch_length=4, hidden_size=8, n_epochs=2, verbose=0),
    ... ).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.transform(X[:2]).shape  # [CLS] and 8 segments, x 64
    (2, 576)
    >>> [h["phase"] for h in clf.history_]  # then the probe
    ['pretraining', 'pretraining']
    >>> mlp = clf.set_params(head="mlp", pooling="flatten").fit(X, y)
    >>> mlp.max_tokens_, mlp.transform(X[:2]).shape  # (1 + 6 tokens) x 64
    (6, (2, 448))
    >>> [h["phase"] for h in mlp.history_][:3]
    ['pretraining', 'pretraining', 'validation']
    """

    _parameter_constraints: ClassVar[dict] = {
        **TRAINING_PARAMETERS,
        "tokenizer": [VQTokenizer, None],
        "backbone": BACKBONE_SPEC,
        "domain": [str, None],
        "language_model": [StrOptions({"auto", *LANGUAGE_MODELS})],
        "mask_ratio": [Interval(Real, 0, 1, closed="neither")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pooling": [StrOptions(set(POOLINGS))],
        "head": [StrOptions(set(HEADS))],
        "freeze_encoder": ["boolean"],
        "label_fraction": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(
        self,
        tokenizer=None,
        backbone="minilm-l6",
        domain=None,
        language_model="auto",
        mask_ratio=0.5,
        pretrain_epochs=10,
        pooling="segments",
        head="linear",
        freeze_encoder=False,
        label_fraction=1.0,
        normalization="across_channels",
        augmentation=None,
        n_epochs=30,
        batch_size=16,
        learning_rate=1e-4,
        weight_decay=0.0,
        warmup_ratio=0.05,
        validation_fraction=0.2,
        validation_folds=None,
        patience=None,
        refit=True,
        mixed_precision="auto",
        device="auto",
        random_state=0,
        verbose=1,
    ):
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.domain = domain
        self.language_model = language_model
        self.mask_ratio = mask_ratio
        self.pretrain_epochs = pretrain_epochs
        self.pooling = pooling
        self.head = head
        self.freeze_encoder = freeze_encoder
        self.label_fraction = label_fraction
        self.normalization = normalization
        self.augmentation = augmentation
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.validation_folds = validation_folds
        self.patience = patience
        self.refit = refit
        self.mixed_precision = mixed_precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- building
    def _fit_tokenizer(self, X, seed):
        """A tokenizer fitted on normalised series ``X``."""
        from vlmtsc.tokenizers import fit_tokenizer

        return fit_tokenizer(self.tokenizer, X, random_state=seed, verbose=self.verbose)

    def _language_model(self, pretrained) -> str:
        """``language_model`` resolved: ``"auto"`` is ``"random"`` unless
        ``pretrained`` (the :meth:`pretrain` artifact ``backbone`` names, or
        ``None``) holds an encoder to use as saved."""
        if self.language_model != "auto":
            return self.language_model
        return "random" if pretrained is None else "pretrained"

    def _load_encoder(self, seed, language_model):
        """``(encoder, text tokenizer)`` of ``backbone``, re-initialised for
        ``language_model="random"``."""
        from vlmtsc.backbones import load_backbone

        backbone = load_backbone(
            self.backbone,
            kinds=["encoder"],
            caller="CrossTimeNetClassifier",
            seed=seed,
            verbose=self.verbose,
        )
        encoder = backbone.model
        if language_model == "random":
            encoder = language_model_stand_in(encoder, "random", 1, seed)
        return encoder, backbone.tokenizer

    def _reader(self, encoder, seed):
        """What reads the code embeddings: ``encoder``, or the
        ``language_model`` stand-in (``"attention"``, ``"none"``) replacing it."""
        if self.language_model not in STAND_INS:
            return encoder
        heads = encoder.config.num_attention_heads
        return language_model_stand_in(encoder, self.language_model, heads, seed)

    def _check_positions(self, encoder, n_tokens: int) -> None:
        limit = getattr(encoder.config, "max_position_embeddings", None)
        if limit is not None and n_tokens + 1 > limit:
            raise ValueError(
                f"A series gives {n_tokens} tokens, but the encoder reads at most "
                f"{limit} positions ([CLS] + tokens). Use a tokenizer with a larger "
                "patch_length (or stride; patch_length='auto' keeps series at 64 "
                "tokens), or shorter series."
            )

    def _pretrained(self) -> dict | None:
        """The :meth:`pretrain` artifact ``backbone`` names, checked against
        ``domain`` and ``language_model`` (``None``: ``backbone`` is no such
        folder)."""
        pretrained = read_pretraining(self.backbone, "CrossTimeNetClassifier")
        if self.domain is not None and pretrained is None:
            raise ValueError(
                f"domain={self.domain!r} names a pre-trained domain, but backbone="
                f"{self.backbone!r} is not a folder written by "
                "CrossTimeNetClassifier.pretrain()."
            )
        refuse_to_discard(pretrained, self._language_model(pretrained), self.backbone)
        domains = [] if pretrained is None else _domains(pretrained)
        if self.domain is not None and self.domain not in domains:
            raise ValueError(
                f"domain={self.domain!r} is not in the pre-training artifact "
                f"{self.backbone!r}; its domains are {domains}."
            )
        return pretrained

    # ----------------------------------------------------------------- training
    def _pretrain_network(self, network, domains, config, seed, description):
        """Masked-token pre-training on ``domains`` (lists of global code ids).

        Each batch holds series of one domain; the batches of all domains are
        shuffled together (domains interleaved). Returns the history.
        """
        torch = _torch_modules().torch
        _set_stage(network, "masked")
        batch_size, mask_ratio = config.batch_size, float(self.mask_ratio)

        def batches(rng):
            order = []
            for codes in domains:
                shuffled = rng.permutation(len(codes))
                order += [
                    [codes[i] for i in shuffled[start : start + batch_size]]
                    for start in range(0, len(codes), batch_size)
                ]
            for k in rng.permutation(len(order)):
                ids, attention = _pad_codes(order[k], network.cls_id, network.mask_id)
                inputs, labels = _mask_tokens(
                    ids, attention, mask_ratio, network.mask_id, rng
                )
                yield {
                    "codes": torch.from_numpy(inputs),
                    "attention_mask": torch.from_numpy(attention),
                    "labels": torch.from_numpy(labels),
                    "task": "masked",
                }

        n_batches = sum(math.ceil(len(codes) / batch_size) for codes in domains)
        history, _ = self._train(
            network,
            batches,
            n_batches,
            replace(config, n_epochs=int(self.pretrain_epochs)),
            None,
            seed,
            "pretraining",
            description=description,
        )
        return history

    def _labelled_subset(self, y, seed) -> np.ndarray:
        """``round(label_fraction * n_c)`` (>= 1) random series of every class."""
        if self.label_fraction == 1:
            return np.arange(len(y))
        rng = np.random.default_rng(seed)
        chosen = []
        for label in np.unique(y):
            members = np.flatnonzero(y == label)
            n = max(1, round(float(self.label_fraction) * len(members)))
            chosen.append(rng.choice(members, size=n, replace=False))
        return np.sort(np.concatenate(chosen))

    def _fit_recipe(self, X, y, config, seed):
        torch = _torch_modules().torch
        self.labelled_index_ = self._labelled_subset(y, seed)
        labelled = self.labelled_index_
        splits = []
        if self.head == "mlp":
            splits = self._validation_splits(
                y[labelled], seed, what="the labelled training series"
            )
        pretrained = self._pretrained()
        self.language_model_ = self._language_model(pretrained)

        # The encoder first: whether it can read this many tokens is known
        # before the tokenizer trains.
        encoder, text_tokenizer = self._load_encoder(seed, self.language_model_)
        tokenizer = (
            pretrained["tokenizers"][self.domain]
            if self.domain is not None
            else self.tokenizer or VQTokenizer()
        )
        self._check_positions(encoder, tokenizer.n_tokens(series_lengths(X)).max())

        # 1. Tokens.
        self.domain_ = self.domain
        normalized = self.normalizer_.transform(X)
        if self.domain is not None:
            self.tokenizer_ = tokenizer
        else:
            self.tokenizer_ = self._fit_tokenizer(normalized, seed)
        codes = self._inputs(normalized)
        n_codes = int(self.tokenizer_.codebook_.shape[0])
        self.max_tokens_ = max(len(c) for c in codes)

        # 2. Code embeddings.
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the heads start the same every run
            network = _torch_modules().CrossTimeNetNetwork(
                self._reader(encoder, seed),
                n_codes,
                len(self.classes_) if self.head == "mlp" else 0,
                self.max_tokens_,
                self.pooling,
            )
            if self.domain is not None:
                self.code_init_rows_ = None
                network.code_embeddings.weight.copy_(
                    torch.from_numpy(_domain_table(pretrained, self.domain))
                )
                position = _domains(pretrained).index(self.domain)
                arrays = pretrained["arrays"]
                network.token_head.weight.copy_(
                    torch.from_numpy(arrays[f"output_weight_{position}"])
                )
                network.token_head.bias.copy_(
                    torch.from_numpy(arrays[f"output_bias_{position}"])
                )
            else:
                table, self.code_init_rows_ = _initial_embeddings(
                    encoder, text_tokenizer, n_codes, np.random.default_rng(seed)
                )
                if pretrained is not None:  # the artifact's learnt [MASK], [CLS]
                    table[n_codes] = torch.from_numpy(pretrained["arrays"]["mask"])
                    table[n_codes + 1] = torch.from_numpy(pretrained["arrays"]["cls"])
                network.code_embeddings.weight.copy_(table)
        network.to(self.device_)

        # 3. Masked-token pre-training on every training series.
        self.history_ = []
        if self.pretrain_epochs > 0:
            self.history_ += self._pretrain_network(
                network, [codes], config, seed, "masked-token pre-training"
            )

        # 4. The linear probe on the frozen network, or fine-tuning with the
        # epoch count chosen on validation.
        self.model_, self.head_, self.best_epoch_ = network, None, 0
        if self.head == "linear":
            self.head_ = self._fit_probe(
                network,
                take(codes, labelled),
                take_cases(X, labelled),
                y[labelled],
                seed,
            )
            return
        _set_stage(network, "classify", bool(self.freeze_encoder))
        history, self.best_epoch_ = self._train_with_validation(
            network, codes, X, y, labelled, splits, config, seed
        )
        self.history_ += history

    def pretrain(self, datasets, path):
        """Cross-domain masked-token pre-training; writes a folder ``backbone=`` takes.

        One tokenizer (a clone of ``tokenizer``) is fitted per dataset (domain)
        on its series, normalised by ``normalization`` with that domain's own
        statistics; each domain gets its own code embeddings (random rows of
        the word-embedding matrix, as in ``fit``) and output rows, and the
        encoder is trained for ``pretrain_epochs`` with ``mask_ratio``,
        ``batch_size`` and ``learning_rate`` on all domains, every batch holding
        one domain's series and the batches of all domains shuffled together.
        Labels are ignored; no validation split is used (the epoch count is a
        parameter, and no test data is involved).

        Use the folder as ``CrossTimeNetClassifier(backbone=path, domain=name)``
        to fine-tune on a pre-trained domain (its tokenizer and embeddings), or
        ``backbone=path`` alone for a new domain (a new tokenizer and new code
        embeddings on the pre-trained encoder). Its layout is in the class Notes.

        Parameters
        ----------
        datasets : dict
            ``{name: X or (X, y)}``; ``y`` is ignored. Domains may differ in
            channels and lengths.
        path : str or path-like
            Output folder (created; existing files are overwritten).

        Returns
        -------
        pathlib.Path
            ``path``.

        Examples
        --------
        >>> import tempfile
        >>> from vlmtsc import CrossTimeNetClassifier
        >>> from vlmtsc.testing import make_example_series
        >>> from vlmtsc.tokenizers import VQTokenizer
        >>> X, y = make_example_series(n_cases=8, n_timepoints=24)
        >>> X2, _ = make_example_series(n_cases=8, n_channels=2, random_state=1)
        >>> clf = CrossTimeNetClassifier(
        ...     backbone="tiny-bert", pretrain_epochs=2, n_epochs=2, verbose=0,
        ...     tokenizer=VQTokenizer(patch_length=4, hidden_size=8, n_epochs=2,
        ...                           verbose=0),
        ... )
        >>> folder = clf.pretrain({"a": (X, y), "b": X2}, tempfile.mkdtemp())
        >>> adapted = clf.set_params(backbone=folder, domain="a").fit(X, y)
        >>> adapted.domain_, adapted.predict(X[:3]).shape
        ('a', (3,))
        """
        self._validate_params()
        config = self._training_config()
        torch = _torch_modules().torch
        if self.pretrain_epochs < 1:
            raise ValueError("pretrain() trains: set pretrain_epochs to 1 or more.")
        if self.language_model in STAND_INS:
            raise ValueError(
                f"pretrain() writes a pre-trained encoder; language_model="
                f"{self.language_model!r} has none. Use language_model="
                "'auto', 'pretrained' or 'random'."
            )
        base = read_pretraining(self.backbone, "CrossTimeNetClassifier")
        language_model = self._language_model(base)
        refuse_to_discard(base, language_model, self.backbone)
        datasets = {
            name: SeriesNormalizer(self.normalization).fit_transform(X)
            for name, (X, _) in check_datasets(datasets, labels=False).items()
        }
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        encoder, text_tokenizer = self._load_encoder(seed, language_model)
        tokenizer = self.tokenizer or VQTokenizer()
        self._check_positions(
            encoder,
            max(tokenizer.n_tokens(series_lengths(X)).max() for X in datasets.values()),
        )
        tokenizers = {
            name: self._fit_tokenizer(X, seed) for name, X in datasets.items()
        }
        sizes = [int(t.codebook_.shape[0]) for t in tokenizers.values()]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        domains = []
        for k, (name, X) in enumerate(datasets.items()):
            domains.append([c + offsets[k] for c in _codes(tokenizers[name], X)])
        n_codes = int(offsets[-1])
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = _torch_modules().CrossTimeNetNetwork(encoder, n_codes)
            table, _ = _initial_embeddings(
                encoder, text_tokenizer, n_codes, np.random.default_rng(seed)
            )
            if base is not None:  # continue from the artifact's [MASK], [CLS]
                table[n_codes] = torch.from_numpy(base["arrays"]["mask"])
                table[n_codes + 1] = torch.from_numpy(base["arrays"]["cls"])
            network.code_embeddings.weight.copy_(table)
        network.to(device)
        history = self._pretrain_network(
            network, domains, config, seed, "cross-domain pre-training"
        )

        path = Path(path)
        table = network.code_embeddings.weight.detach().float().cpu().numpy()
        weight = network.token_head.weight.detach().float().cpu().numpy()
        bias = network.token_head.bias.detach().float().cpu().numpy()
        arrays = {"mask": table[n_codes], "cls": table[n_codes + 1]}
        for k in range(len(sizes)):
            rows = slice(offsets[k], offsets[k + 1])
            arrays[f"codes_{k}"] = table[rows]
            arrays[f"output_weight_{k}"] = weight[rows]
            arrays[f"output_bias_{k}"] = bias[rows]
        source = self.backbone
        record = {
            "format": 1,
            "base_backbone": getattr(source, "__name__", None)
            if callable(source)
            else str(source),
            "domains": [
                {"name": name, "n_codes": size, "n_series": len(datasets[name])}
                for name, size in zip(datasets, sizes, strict=True)
            ],
            "mask_ratio": float(self.mask_ratio),
            "pretrain_epochs": int(self.pretrain_epochs),
            "language_model": language_model,
            "history": history,
        }

        def write(path):  # a temporary folder, moved to path when complete
            write_pretraining(
                path,
                "CrossTimeNetClassifier",
                model=network.encoder,
                tokenizer=text_tokenizer,
                record=record,
                tokenizers=tokenizers,
                arrays=arrays,
            )

        write_folder(path, write)  # atomically, by the main process of a run
        return path

    # ----------------------------------------------------------------- hooks
    def _inputs(self, X):
        """Codes of every (normalised) series, a list of int arrays."""
        return _codes(self.tokenizer_, X)

    def _input_lengths(self, inputs):
        return np.array([len(c) for c in inputs])

    def _collate(self, inputs):
        torch = _torch_modules().torch
        n_codes = int(self.tokenizer_.codebook_.shape[0])  # [MASK] pads, then [CLS]
        ids, attention = _pad_codes(inputs, n_codes + 1, n_codes)
        return {
            "codes": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(attention),
        }

    def _gradient_attributions(self, X, targets):
        """Gradient x input embedding of every code token (summed over the
        embedding), spread evenly over the patch of steps the token covers."""
        codes = self._inputs(self.normalizer_.transform(X))
        # Position 0 of every row is [CLS]; the codes follow, then padding.
        rows = self._gradient_x_input(
            codes, targets, module=self.model_.code_embeddings
        )
        scores = [row[1 : 1 + len(c)] for row, c in zip(rows, codes, strict=True)]
        return self.tokenizer_.token_attributions(scores, series_lengths(X))

    def _check_predict_X(self, X, **params):
        X = super()._check_predict_X(X, **params)
        longest = int(self.tokenizer_.n_tokens(series_lengths(X)).max())
        if self.pooling == "flatten" and longest > self.max_tokens_:
            raise ValueError(
                f"X has a series of {longest} tokens, but the flattened head of "
                f"{type(self).__name__} was fitted for at most {self.max_tokens_} "
                "tokens (the longest training series); series are not truncated. "
                "Pass series no longer than in fit, or use pooling='segments' "
                "or 'mean'."
            )
        self._check_positions(self.model_.encoder, longest)
        return X

    def transform(self, X):
        """The representation the head reads: flattened, mean or segment-mean
        token states.

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit.

        Returns
        -------
        ndarray of shape (n_cases, n_features)
            ``(1 + max_tokens_) * hidden_size`` features for
            ``pooling="flatten"``, ``hidden_size`` for ``"mean"``,
            ``9 * hidden_size`` for ``"segments"``.
        """
        return super().transform(X)

    def _network_config(self, network):
        # A plain dict: a pretrained encoder's config holds a torch.dtype, which
        # only pickle could store (to_dict writes it as text).
        return {"encoder": network.encoder.config.to_dict(), "network": network.config}

    def _rebuild_network(self, saved):
        import transformers

        config = transformers.AutoConfig.for_model(**saved["config"]["encoder"])
        encoder = self._reader(transformers.AutoModel.from_config(config), 0)
        network = _torch_modules().CrossTimeNetNetwork(
            encoder, **saved["config"]["network"]
        )
        network.load_state_dict(saved["weights"])
        return network


def _codes(tokenizer, X) -> list[np.ndarray]:
    """A fitted tokenizer's codes of (normalised) series, one int array each."""
    return [np.asarray(t, dtype=np.int64) for t in tokenizer.transform(X)]


def _domains(record: dict) -> list[str]:
    return [d["name"] for d in record["domains"]]


def _domain_table(record: dict, domain: str) -> np.ndarray:
    """A pre-trained domain's embedding table: its codes, then [MASK], [CLS]."""
    position = _domains(record).index(domain)
    arrays = record["arrays"]
    return np.concatenate(
        [arrays[f"codes_{position}"], arrays["mask"][None], arrays["cls"][None]]
    ).astype(np.float32)
