"""TimeLlamaClassifier: patch tokens, prompt alignment and D-LoRA (seed 004).

The recipe of Time-LlaMA, adapted from forecasting to classification, in the order
:meth:`TimeLlamaClassifier.fit` runs it:

1. **Tokens.** Every channel of the (normalised) series is cut into patches,
   each one token through one linear map shared by the channels and patches
   (``patch_length=None``: the paper's one token per channel's whole series),
   initialised so that tokens start at the mean and spread of the language
   model's word embeddings (they enter the model at the size of ordinary
   tokens) and keep the channels' amplitudes (no per-token normalisation).
2. **Alignment.** Multi-head cross-attention with the series tokens as queries
   and the token embeddings of a text prompt (the task and the class names) as
   keys and values, added to the tokens (residual). The prompt itself is not run
   through the language model: it only gives the series tokens word-like
   directions to move towards.
3. **Backbone.** A decoder-only language model (Llama family; GPT-2 works too)
   cut to its first ``n_layers`` blocks reads the aligned tokens.
4. **Adaptation.** D-LoRA (:mod:`vlmtsc.adapters.dlora`): LoRA on all seven
   projections of every block, a router per block choosing ``top_n`` of them per
   series from the previous block's last token, and the load-balancing loss
   added to the training loss. ``adapter="lora"`` (plain LoRA, peft) and
   ``"none"`` (frozen backbone) are the paper's ablations.
5. **Classification.** A linear head on the flattened output states of the
   series tokens is trained with cross-entropy (the paper forecasts with a
   linear head on the same states); the epoch is chosen on a stratified
   validation split of the training data.

torch is imported only when a network is built, so importing this module stays
cheap (``import vlmtsc`` must not load torch).
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from numbers import Integral, Real
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from vlmtsc.backbones import LANGUAGE_MODELS, STAND_INS, language_model_stand_in
from vlmtsc.base import resolve_label_names, series_lengths
from vlmtsc.classification._base import (
    BACKBONE_SPEC,
    EPOCHS_OR_AUTO,
    TRAINING_PARAMETERS,
)
from vlmtsc.classification._torch_base import BaseNetworkClassifier
from vlmtsc.training import epochs_within

__all__ = ["TimeLlamaClassifier"]

ADAPTERS = ("dlora", "lora", "none")
HEADS = ("fine-tuned", "lp-ft", "linear")


# --------------------------------------------------------------------------- network
@functools.cache
def _torch_modules() -> SimpleNamespace:
    """The torch classes, defined on first use so torch loads lazily."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from vlmtsc.adapters.dlora import DLoRAModel

    class TimeLlamaNetwork(nn.Module):
        """Channel or patch tokens -> (alignment) -> cut decoder -> linear head.

        ``series`` of shape ``(batch, n_channels, series_length)`` gives
        ``n_channels`` tokens, or ``n_patches`` per channel with
        ``patch_length``; ``prompt`` (``(n_prompt_tokens, hidden)``, frozen
        word embeddings) is what the tokens attend to, or ``None`` for no
        alignment.
        """

        def __init__(
            self,
            decoder,
            series_length,
            n_channels,
            n_classes,
            prompt=None,
            n_heads=8,
            word_embeddings=None,
            patch_length=None,
        ):
            super().__init__()
            hidden = decoder.config.get_text_config().hidden_size
            self.decoder = decoder
            self.patch_length = patch_length
            self.config = dict(
                series_length=int(series_length),
                n_channels=int(n_channels),
                n_classes=int(n_classes),
                n_heads=int(n_heads),
                patch_length=patch_length,
            )
            width = series_length if patch_length is None else patch_length
            self.embed = nn.Linear(width, hidden)
            if word_embeddings is not None:
                # A standardised series (norm ~ sqrt(width)) maps to a vector
                # with the words' per-dimension mean and spread. No LayerNorm
                # after it: that would erase each channel's amplitude.
                words = word_embeddings.detach().float()
                spread = words.std(dim=0)[:, None] / math.sqrt(width)
                self.embed.weight.data.normal_().mul_(spread)
                self.embed.bias.data.copy_(words.mean(dim=0))
            self.align = None
            self.register_buffer("prompt", prompt)
            if prompt is not None:
                self.align = nn.MultiheadAttention(hidden, n_heads, batch_first=True)
                # The aligned part starts at zero (as Flamingo's gated
                # cross-attention): training starts from the plain tokens and
                # lets the prompt in as far as it helps. A random output
                # projection adds a prompt vector as large as the tokens and
                # measured worse on GunPoint (0.81 against 0.96 without
                # alignment at lr 3e-4).
                nn.init.zeros_(self.align.out_proj.weight)
            n_tokens = n_channels * n_patches(series_length, patch_length)
            self.head = nn.Linear(n_tokens * hidden, n_classes)

        def patches(self, series):
            """``(batch, n_channels, length)`` as the token inputs: each channel
            whole, or cut into patches (the end padded with its last value),
            channel by channel."""
            if self.patch_length is None:
                return series
            size = self.patch_length
            short = -series.shape[-1] % size
            if short:
                series = F.pad(series, (0, short), mode="replicate")
            return series.unfold(-1, size, size).flatten(1, 2)

        def tokens(self, series):
            tokens = self.embed(self.patches(series))
            if self.align is not None:
                prompt = self.prompt.to(tokens.dtype).expand(len(series), -1, -1)
                aligned, _ = self.align(tokens, prompt, prompt, need_weights=False)
                tokens = tokens + aligned
            return tokens

        def represent(self, series):
            """The head's input: the tokens' output states, flattened."""
            out = self.decoder(inputs_embeds=self.tokens(series), use_cache=False)
            return out.last_hidden_state.flatten(1)

        def forward(self, series, labels=None):
            logits = self.head(self.represent(series))
            loss = None
            if labels is not None:
                loss = F.cross_entropy(logits.float(), labels)
                if isinstance(self.decoder, DLoRAModel):
                    loss = loss + self.decoder.balance_loss()
            return SimpleNamespace(loss=loss, logits=logits)

    return SimpleNamespace(TimeLlamaNetwork=TimeLlamaNetwork, torch=torch)


def n_patches(length: int, patch_length: int | None) -> int:
    """Tokens per channel: one, or ``ceil(length / patch_length)`` patches."""
    return 1 if patch_length is None else -(-int(length) // int(patch_length))


#: ``patch_length="auto"``: patches per channel, and tokens per series at most.
AUTO_PATCHES, AUTO_TOKENS = 16, 64

#: ``n_epochs="auto"``: 60 epochs, fewer when an epoch's training series hold
#: more than 2,048 tokens, so a training run reads at most 60 x 2,048 tokens
#: (an epoch's cost grows with its tokens).
AUTO_EPOCHS, AUTO_EPOCH_TOKENS = 60, 2048


def patch_length_for(patch_length, length: int, n_channels: int) -> int | None:
    """The patch length a fit uses: ``None`` (one token per channel), the given
    length (at most ``length``), or for ``"auto"`` the length that cuts each
    channel into ``AUTO_PATCHES`` patches, fewer when the channels would then
    make more than ``AUTO_TOKENS`` tokens."""
    if patch_length is None:
        return None
    if patch_length == "auto":
        per_channel = max(1, min(AUTO_PATCHES, AUTO_TOKENS // n_channels))
        return -(-int(length) // per_channel)
    return min(int(patch_length), int(length))


def cut_blocks(model, n_layers: int):
    """Keep the first ``n_layers`` blocks of a decoder (in place); return it.

    The blocks are those :func:`vlmtsc.training.decoder_blocks` finds
    (``layers`` in Llama, ``h`` in GPT-2); the config's layer count follows.
    """
    from vlmtsc.training import decoder_blocks

    found = decoder_blocks(model)
    if found is None:
        raise ValueError(
            f"Cannot find the blocks of {type(model).__name__} (no ModuleList of "
            "num_hidden_layers blocks); TimeLlamaClassifier needs a decoder-only "
            "transformer."
        )
    blocks = getattr(*found)
    if not 1 <= n_layers <= len(blocks):
        raise ValueError(
            f"n_layers={n_layers} but the backbone has {len(blocks)} blocks; "
            f"choose 1 <= n_layers <= {len(blocks)}."
        )
    del blocks[n_layers:]
    config = model.config
    config.num_hidden_layers = n_layers
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:n_layers]
    return model


@functools.lru_cache(maxsize=32)
def interpolation_matrix(length: int, n_timepoints: int) -> np.ndarray:
    """``W`` of shape ``(length, n_timepoints)`` with ``resample_series`` of one
    channel ``x`` equal to ``W @ x`` (read-only, cached)."""
    grid = np.linspace(0.0, 1.0, length)
    points = np.linspace(0.0, 1.0, n_timepoints)
    matrix = np.stack(
        [np.interp(grid, points, unit) for unit in np.eye(n_timepoints)], axis=1
    )
    matrix.setflags(write=False)
    return matrix


def resample_series(X, length: int) -> np.ndarray:
    """Every channel linearly interpolated to ``length`` points, float32 3D array."""
    out = np.empty((len(X), len(X[0]), length), dtype=np.float32)
    grid = np.linspace(0.0, 1.0, length)
    for i, case in enumerate(X):
        case = np.asarray(case, dtype=np.float64)
        if case.shape[1] == length:
            out[i] = case
            continue
        points = np.linspace(0.0, 1.0, case.shape[1])
        for c, channel in enumerate(case):
            out[i, c] = np.interp(grid, points, channel)
    return out


# --------------------------------------------------------------------------- estimator
class TimeLlamaClassifier(BaseNetworkClassifier):
    """Classify series as patch tokens in a cut Llama with dynamic LoRA (Time-LlaMA).

    The recipe of seed 004 (a forecasting method; the classification head is
    vlmtsc's adaptation, as the paper leaves classification open):

    1. Each channel of a series, normalised (``normalization``) and resampled to
       ``series_length_`` points, is cut into patches of ``patch_length_``
       points (by default 16 per channel, at most 64 tokens per series), each
       one token by a linear map shared by all channels and patches (starting
       at the scale of the backbone's word embeddings). ``patch_length=None``
       is the paper's one token per channel.
    2. With ``alignment=True`` the tokens attend (multi-head cross-attention,
       ``n_heads``) to the frozen word embeddings of the ``prompt`` — the task
       and the class names — and the result is added to them.
    3. The backbone, cut to its first ``n_layers`` blocks, reads the tokens.
       ``adapter="dlora"`` adds D-LoRA: a LoRA module on every projection of
       every block and a router per block that switches on ``top_n`` of them per
       series, with the load-balancing loss (``balance_weight``) added to the
       training loss. ``"lora"`` is plain LoRA on the same projections (peft),
       ``"none"`` keeps the backbone frozen.
    4. A linear head on the flattened output states of the tokens is
       trained with cross-entropy, with the token map, the alignment and the
       adapter. The epoch count is chosen on a stratified validation split of
       the training data; with ``refit`` the model is then retrained on all of
       it for that many epochs.

    Parameters
    ----------
    backbone : str or callable, default="smollm2-135m"
        A decoder-only language model: an alias (``"smollm2-135m"``, offline
        weights; ``"tiny-llama"``, random, for tests), a hub id such as
        ``"meta-llama/Llama-3.2-1B"``, a local folder or a factory. See
        :func:`vlmtsc.backbones.load_backbone`.
    n_layers : int, default=6
        Blocks of the backbone kept (the first ones), as Time-LlaMA does with
        Llama-3-1B.
    prompt : str, optional
        Text the series tokens are aligned to; the class names are appended
        (``"... Classes: a, b."``). Default: ``"Classify the time series."``.
        A description of the data (what is measured, what the classes mean)
        gives the alignment more to work with.
    label_names : dict or sequence of str, optional
        Class texts in the prompt; default ``str(label)``.
    alignment : bool, default=True
        Cross-attention of the series tokens to the prompt; ``False`` is the
        paper's "w/o alignment" ablation.
    adapter : {"dlora", "lora", "none"}, default="dlora"
        How the backbone is adapted: dynamic LoRA, plain LoRA, or frozen.
    head : {"fine-tuned", "lp-ft", "linear"}, default="fine-tuned"
        ``"fine-tuned"``: the linear head over the tokens' output states,
        trained with the token map, the alignment and the ``adapter``.
        ``"lp-ft"``: the same, the head started from the linear probe (below)
        instead of at random (LP-FT, Kumar et al. 2022); the probe is fitted on
        the training cases of every run (validation, refit) and scored as
        epoch 0, so it is kept unless training beats it on validation.
        ``"linear"``: the linear probe, nothing trained: standardised logistic
        regression (:func:`vlmtsc.training.fit_probe`, its strength chosen by
        k-fold) on :meth:`transform`'s features of the network as built (the
        token map and alignment at their initialisation, the adapters the
        identity); the training parameters (``n_epochs``...) are unused.
    language_model : {"pretrained", "random", "attention", "none"}, \
default="pretrained"
        The ablations of Tan et al. (2024), to measure what the language model
        contributes: ``"random"`` keeps the architecture (cut, adapted as
        ``adapter`` says) with randomly initialised weights; ``"attention"``
        replaces it by one randomly initialised self-attention layer (``n_heads``
        heads, trained whole); ``"none"`` removes it (the tokens go straight to
        the head). ``adapter`` applies to a language model only: the two
        stand-ins have nothing to adapt. See
        :func:`vlmtsc.backbones.language_model_stand_in`.
    lora_r : int, default=8
        Rank of every LoRA module.
    lora_alpha : float, default=16
        LoRA scaling numerator (``alpha / r``).
    lora_dropout : float, default=0.05
    top_n : int, default=4
        D-LoRA modules switched on per block and series (Time-LlaMA: 4 of 7).
    balance_weight : float, default=0.01
        Weight of D-LoRA's load-balancing loss.
    n_heads : int, default=8
        Heads of the alignment cross-attention (and of the
        ``language_model="attention"`` layer); must divide the backbone's hidden
        size.
    patch_length : int, "auto" or None, default="auto"
        ``None``: one token per channel (the paper's). An int cuts every channel
        into patches of that many points (at most the series length; the last
        patch padded with the channel's last value), each patch one token
        through the shared linear map, channel after channel (as PatchTST and
        GPT4TS tokenise), so the backbone's attention can follow events in
        time. ``"auto"``: the length that gives 16 patches per channel, fewer
        when the channels would make more than 64 tokens. Chosen by the
        protocol (2-fold CV on the bundled sets' training splits; the
        Time-LlaMA guide has the table): mean .731 against .684 for channel
        tokens over the eleven bundled sets, at 1.5-4.5x the fit time.
    normalization : {"global", "per_channel", "across_channels", None}, \
default="global"
        How series are scaled before they are embedded. ``"global"``: every
        channel by the mean and standard deviation of that channel over all
        training series (``normalizer_``), so amplitudes stay comparable
        across series and channels (on BasicMotions a resting and a running
        series differ mostly in amplitude). ``"per_channel"`` and
        ``"across_channels"`` z-normalise each series (shapes only), ``None``
        uses the values as they are.
    augmentation : SeriesAugmenter, optional
        Every training epoch also shows ``n_copies`` freshly varied copies of
        each training series; validation series are never augmented.
    n_epochs : int or "auto", default="auto"
        Maximum training epochs; the best on validation is kept. ``"auto"``:
        60, fewer when one epoch's training series hold more than 2,048 tokens
        in all, so that a training run reads at most 60 x 2,048 tokens
        (``n_epochs_``; of the bundled sets only JapaneseVowels' 270 series of
        60 tokens and OSULeaf's 200 of 16 get fewer, 10 and 48). An epoch's
        cost grows with its tokens; on more series, fewer epochs still make as
        many optimiser steps.
    batch_size : int, default=16
    learning_rate : float, default=3e-4
        Peak AdamW learning rate (warm-up, then cosine decay). 1e-3 measured
        worse on GunPoint (0.79 against 0.90 at 3e-4).
    weight_decay : float, default=0.0
        AdamW weight decay.
    warmup_ratio : float, default=0.05
        Share of the optimiser steps spent warming the learning rate up.
    validation_fraction : float, default=0.2
        Stratified share of the training series held out to choose the epoch
        (accuracy, ties broken by log-loss); ``0`` trains ``n_epochs``. Classes
        too small to split follow the rule of
        :func:`vlmtsc.training.validation_splits` (with a warning).
    validation_folds : int, optional
        Choose the epoch count by stratified k-fold instead (k trainings, then a
        refit on all training series).
    patience : int, optional
        Early stopping: end the validation run after this many epochs without
        a better validation score (the best epoch is kept either way).
        ``None`` trains all ``n_epochs``. k-fold selection
        (``validation_folds``) always trains every epoch, so that the folds'
        curves can be averaged.
    refit : bool, default=True
        After choosing the epoch count, train again from the start on all
        training series for that many epochs.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of the training steps where the device runs it natively.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``.
    random_state : int, RandomState instance or None, default=0
        Seeds tiny backbones, the new layers, the split and the training; an int
        makes CPU runs reproducible.
    verbose : int, default=1
        ``0`` silences progress bars.

    Attributes
    ----------
    classes_ : ndarray
    n_channels_ : int
    n_timepoints_ : int or None
    normalizer_ : SeriesNormalizer
        Fitted on the training series (per-channel mean and standard deviation
        for ``normalization="global"``).
    series_length_ : int
        Points every channel is resampled to: the training length (the longest,
        for unequal lengths). Series of another length are interpolated to it
        (see Notes).
    patch_length_ : int or None
        Points per token (``None``: one token per channel).
    n_epochs_ : int
        The training epochs at most (``n_epochs``, ``"auto"`` resolved).
    prompt_ : str
        The prompt the tokens were aligned to.
    model_ : torch.nn.Module
        The network: ``embed`` (channel or patch tokens), ``align``
        (cross-attention or ``None``), ``decoder`` (the cut backbone, wrapped by
        its adapter, or its ``language_model`` stand-in) and ``head``.
    head_ : Pipeline or None
        ``head="linear"``: the fitted probe (``StandardScaler`` then
        ``LogisticRegression``) on :meth:`transform`'s features.
    history_ : list of dict
        Per epoch: ``phase`` (``"validation"``, ``"refit"`` or ``"train"``),
        ``epoch``, ``loss`` (with D-LoRA's balancing term), ``validation_score``,
        ``learning_rate``, ``seconds``, ``flops``.
    best_epoch_ : int
        Training epochs of the final model.
    n_trainable_ : int
        Parameters trained (token map, alignment, adapter, head; 0 for the
        probe).
    backbone_seed_ : int
        Seed of the backbone's random weights (tiny aliases) and the new layers;
        loading rebuilds the network with it.
    device_ : str

    See Also
    --------
    vlmtsc.adapters.dlora.add_dlora : D-LoRA on any Llama-family or GPT-2 model.
    vlmtsc.CrossTimeNetClassifier : series as VQ tokens in a BERT encoder.

    Notes
    -----
    One token per channel is the paper's design (``patch_length=None``): a
    univariate series is a single token, so the backbone's attention has only
    the token itself to look at and acts as a deep residual network on it, and
    one linear map cannot follow events that shift in time. Patch tokens (as
    PatchTST and GPT4TS tokenise) give the attention positions in time to
    relate; the protocol measured them better on eight of the eleven bundled
    sets and level on one.

    The token map has ``series_length_`` inputs, so every series is linearly
    interpolated to that many points per channel; a series of another length at
    predict time is interpolated too (shorter ones are stretched, longer ones
    sampled), never cut.

    A saved or pickled classifier keeps only what was trained (token map,
    alignment, adapter, head); loading rebuilds the frozen backbone from
    ``backbone``, which must resolve there.

    ``explain(X, method="gradient")`` is gradient x input: the gradient of the
    target class's log-probability (log-softmax of the head's logits) with
    respect to the normalised series at its own length (through the linear
    interpolation to ``series_length_``, whose transpose maps the gradient
    back), times that series. Signed: positive steps raise the class's
    probability relative to a zero (mean-level) series. One backward pass per
    batch of 16 series.

    References
    ----------
    .. [1] "Time-LlaMA: Adapting Large Language Models for Time Series Modeling
       via Dynamic Low-rank Adaptation" (2025), seed 004.

    Examples
    --------
    >>> from vlmtsc import TimeLlamaClassifier
    >>> from vlmtsc.testing import make_example_series
    >>> X, y = make_example_series(n_cases=12, n_channels=2, n_timepoints=24)
    >>> clf = TimeLlamaClassifier(
    ...     backbone="tiny-llama", n_layers=1, n_heads=4, n_epochs=2, verbose=0
    ... ).fit(X, y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.patch_length_  # 24 points: 12 patches of 2 per channel
    2
    >>> clf.transform(X[:3]).shape  # 2 x 12 patch tokens x hidden size 64
    (3, 1536)
    >>> clf.prompt_
    'Classify the time series. Classes: 0, 1.'
    """

    _parameter_constraints: ClassVar[dict] = {
        **TRAINING_PARAMETERS,
        "backbone": BACKBONE_SPEC,
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "prompt": [str, None],
        "label_names": "no_validation",  # resolve_label_names checks them
        "alignment": ["boolean"],
        "adapter": [StrOptions(set(ADAPTERS))],
        "head": [StrOptions(set(HEADS))],
        "language_model": [StrOptions(set(LANGUAGE_MODELS))],
        "lora_r": [Interval(Integral, 1, None, closed="left")],
        "lora_alpha": [Interval(Real, 0, None, closed="neither")],
        "lora_dropout": [Interval(Real, 0, 1, closed="left")],
        "top_n": [Interval(Integral, 1, None, closed="left")],
        "balance_weight": [Interval(Real, 0, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "patch_length": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
        "n_epochs": EPOCHS_OR_AUTO,
    }

    def __init__(
        self,
        backbone="smollm2-135m",
        n_layers=6,
        prompt=None,
        label_names=None,
        alignment=True,
        adapter="dlora",
        head="fine-tuned",
        language_model="pretrained",
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        top_n=4,
        balance_weight=0.01,
        n_heads=8,
        patch_length="auto",
        normalization="global",
        augmentation=None,
        n_epochs="auto",
        batch_size=16,
        learning_rate=3e-4,
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
        self.backbone = backbone
        self.n_layers = n_layers
        self.prompt = prompt
        self.label_names = label_names
        self.alignment = alignment
        self.adapter = adapter
        self.head = head
        self.language_model = language_model
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.top_n = top_n
        self.balance_weight = balance_weight
        self.n_heads = n_heads
        self.patch_length = patch_length
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

    # ----------------------------------------------------------------- network
    def _build_network(self, seed: int):
        """The untrained network: cut backbone with its adapter and new layers."""
        import torch

        from vlmtsc.backbones import load_backbone

        backbone = load_backbone(
            self.backbone,
            kinds=["causal_lm"],
            caller="TimeLlamaClassifier",
            seed=seed,
            verbose=self.verbose,
        )
        decoder = cut_blocks(backbone.model.base_model, self.n_layers)
        if self.language_model == "random":
            decoder = language_model_stand_in(decoder, "random", self.n_heads, seed)
        hidden = decoder.config.get_text_config().hidden_size
        if self.alignment and hidden % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} does not divide the backbone's hidden size "
                f"{hidden}; choose a divisor of {hidden} (e.g. "
                f"{math.gcd(hidden, 8)})."
            )
        words = decoder.get_input_embeddings().weight.detach()
        prompt = None
        if self.alignment:
            ids = backbone.tokenizer(self.prompt_, add_special_tokens=False)
            ids = torch.tensor(ids["input_ids"], dtype=torch.long)
            prompt = words[ids].float().clone()
        decoder.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # new layers start the same every run
            decoder = self._adapt(backbone, decoder)
            network = _torch_modules().TimeLlamaNetwork(
                decoder,
                self.series_length_,
                self.n_channels_,
                len(self.classes_),
                prompt,
                self.n_heads,
                words,
                self.patch_length_,
            )
        return network.to(self.device_)

    def _adapt(self, backbone, decoder):
        """The decoder wrapped by ``adapter`` (only the adapter trains), or the
        ``language_model`` stand-in that replaces it (which trains whole)."""
        if self.language_model in STAND_INS:
            return language_model_stand_in(
                decoder, self.language_model, self.n_heads, self.backbone_seed_
            )
        if self.adapter == "dlora":
            from vlmtsc.adapters.dlora import DLoRAConfig, add_dlora

            return add_dlora(
                decoder,
                DLoRAConfig(
                    r=self.lora_r,
                    alpha=self.lora_alpha,
                    dropout=self.lora_dropout,
                    top_n=self.top_n,
                    balance_weight=float(self.balance_weight),
                    pooling="last",  # the paper's router input
                ),
            )
        if self.adapter == "lora":
            from vlmtsc.adapters import add_lora

            return add_lora(
                backbone,
                model=decoder,
                r=self.lora_r,
                alpha=self.lora_alpha,
                dropout=self.lora_dropout,
            )
        return decoder

    # ----------------------------------------------------------------- recipe
    def _fit_recipe(self, X, y, config, seed):
        splits = self._validation_splits(y, seed) if self.head != "linear" else []
        self.backbone_seed_ = seed
        self.series_length_ = int(series_lengths(X).max())
        self.patch_length_ = patch_length_for(
            self.patch_length, self.series_length_, self.n_channels_
        )
        names = resolve_label_names(self.classes_, self.label_names)
        task = "Classify the time series." if self.prompt is None else self.prompt
        self.prompt_ = f"{task.strip()} Classes: {', '.join(names)}."
        network = self._build_network(seed)
        self.n_trainable_ = sum(
            p.numel() for p in network.parameters() if p.requires_grad
        )
        inputs = self._inputs(self.normalizer_.transform(X))
        self.model_, self.head_ = network, None
        self.n_epochs_ = self._epochs(len(splits[0][0]) if splits else len(y))
        config = replace(config, n_epochs=self.n_epochs_)
        if self.head == "linear":
            self.history_, self.best_epoch_, self.n_trainable_ = [], 0, 0
            self.head_ = self._fit_probe(network, inputs, X, y, seed)
            return
        self.history_, self.best_epoch_ = self._train_with_validation(
            network,
            inputs,
            X,
            y,
            np.arange(len(y)),
            splits,
            config,
            seed,
            from_probe=self.head == "lp-ft",
        )

    def _epochs(self, n_cases: int) -> int:
        """``n_epochs``, or ``"auto"``'s choice for a training run on
        ``n_cases`` series (:data:`AUTO_EPOCH_TOKENS`)."""
        if self.n_epochs != "auto":
            return int(self.n_epochs)
        tokens = self.n_channels_ * n_patches(self.series_length_, self.patch_length_)
        return epochs_within(
            AUTO_EPOCHS * AUTO_EPOCH_TOKENS, n_cases * tokens, AUTO_EPOCHS
        )

    # ----------------------------------------------------------------- hooks
    def _inputs(self, X):
        """Every channel resampled to ``series_length_`` points, float32 3D."""
        return resample_series(X, self.series_length_)

    def _collate(self, inputs):
        return {"series": _torch_modules().torch.from_numpy(inputs)}

    def _gradient_attributions(self, X, targets):
        """Gradient x input of the target's log-probability with respect to the
        normalised series, through the resampling to ``series_length_``."""
        normalised = self.normalizer_.transform(X)
        gradients = self._gradient_x_input(
            self._inputs(normalised), targets, key="series", times_input=False
        )
        attributions = []
        for case, gradient in zip(normalised, gradients, strict=True):
            case = np.asarray(case, dtype=np.float64)
            if case.shape[1] != self.series_length_:
                # d resampled / d original is the interpolation matrix.
                gradient = gradient @ interpolation_matrix(
                    self.series_length_, case.shape[1]
                )
            attributions.append(gradient * case)
        return attributions

    def transform(self, X):
        """The head's input: the tokens' output states, flattened.

        Parameters
        ----------
        X : array-like or list of array-like
            Series with the channels seen in fit.

        Returns
        -------
        ndarray of shape (n_cases, n_tokens * hidden_size)
            ``n_tokens``: ``n_channels_`` times the patches per channel
            (one per channel with ``patch_length=None``).
        """
        return super().transform(X)

    def _trained(self, name: str) -> bool:
        """Whether a network tensor is trained (saved), not the frozen backbone's
        weight (rebuilt from ``backbone``). A stand-in for the language model
        trains whole."""
        return (
            not name.startswith("decoder.")
            or self.language_model in STAND_INS
            or ".lora_" in name
            or name.startswith("decoder.routers.")
        )

    def _saved_weights(self, network):
        # Only what trains travels; the frozen backbone is rebuilt from
        # ``backbone`` (its weights are hundreds of MB for a real model).
        return {k: v for k, v in network.state_dict().items() if self._trained(k)}

    def _rebuild_network(self, saved):
        verbose, self.verbose = self.verbose, 0
        try:
            network = self._build_network(self.backbone_seed_)
        finally:
            self.verbose = verbose
        missing, unexpected = network.load_state_dict(saved["weights"], strict=False)
        missing = [k for k in missing if self._trained(k)]
        if unexpected or missing:
            raise ValueError(
                f"The saved {type(self).__name__} does not fit the network "
                f"rebuilt from backbone={self.backbone!r}: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}. Load it where the "
                "same backbone resolves."
            )
        return network
