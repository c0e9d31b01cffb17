"""Load what a resolved backbone spec names: model and processor.

:func:`load_backbone` resolves the spec first (:func:`~vlmtsc.backbones.
resolve_backbone`: no weights loaded, the kind checked where known, offline
weights prepared) and then loads it with the right classes: a factory's model, a
tiny random model, a model folder (prepared offline weights, a local folder, a
``pretrain()`` artifact), a ``.gguf`` file, a composed VLM, or a hub id.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from vlmtsc.backbones._families import family_of
from vlmtsc.backbones._offline import OFFLINE_WEIGHTS
from vlmtsc.backbones._quantization import (
    QUANTIZATIONS,
    prepare_quantized,
    quantization_config,
)
from vlmtsc.backbones._quiet import progress_bars
from vlmtsc.backbones._resolve import (
    Backbone,
    BackboneSpec,
    _ensure_prepared,
    _missing,
    check_kind,
    resolve_backbone,
)

__all__ = ["build_composed", "load_backbone"]


def _ready(model, family) -> None:
    """What every freshly loaded model gets, whatever its origin."""
    if family.kind == "causal_lm" and getattr(model, "loss_type", "") is None:
        # GPT-2's head class is not named "...ForCausalLM", so transformers
        # guesses no loss type and warns on the first loss; it is that one.
        model.loss_type = "ForCausalLM"
    model.eval()


def _load_folder(
    path: str | Path,
    quantization: str | None,
    device: str,
    source: str,
    processor=None,
    verbose: int = 0,
    **kwargs,
) -> Backbone:
    """Load a model folder (or hub id) with the right auto classes.

    ``processor`` skips loading the processor (the model was saved without it).
    """
    import transformers

    config = transformers.AutoConfig.from_pretrained(path, **kwargs)
    family = family_of(config)
    load = dict(kwargs)
    if quantization is not None:
        load["quantization_config"] = quantization_config(
            quantization, family, device, verbose=verbose
        )
    if device != "cpu":
        load["device_map"] = "auto" if device == "auto" else device
    model_class = getattr(transformers, family.auto_class)
    model = model_class.from_pretrained(path, **load)
    if quantization is not None:
        prepare_quantized(model)
    if processor is not None:
        pass
    elif family.kind == "vlm":
        from vlmtsc.backbones._processors import make_processor

        tokenizer = transformers.AutoTokenizer.from_pretrained(path, **kwargs)
        image_processor = transformers.AutoImageProcessor.from_pretrained(
            path, **kwargs
        )
        processor = make_processor(
            family.name, tokenizer, image_processor, source=str(path)
        )
    else:
        processor = transformers.AutoTokenizer.from_pretrained(path, **kwargs)
    _ready(model, family)
    return Backbone(model, processor, family, source)


def _from_memory(model, processor, quantization, device, source, verbose) -> Backbone:
    if quantization is None:
        if device not in ("cpu", "auto"):
            model = model.to(device)
        family = family_of(model.config)
        _ready(model, family)
        return Backbone(model, processor, family, source)
    # bitsandbytes quantises while loading: go through a folder.
    with tempfile.TemporaryDirectory(prefix="vlmtsc-") as folder:
        model.save_pretrained(folder)
        return _load_folder(folder, quantization, device, source, processor, verbose)


def load_backbone(
    spec: str | os.PathLike | Callable | BackboneSpec,
    *,
    kinds: Iterable[str] | None = None,
    caller: str | None = None,
    quantization: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    verbose: int = 1,
) -> Backbone:
    """Load a backbone from an alias, folder, ``.gguf`` file, hub id or factory.

    The spec is resolved first (:func:`~vlmtsc.backbones.resolve_backbone`):
    weights that cannot be had, or a model of the wrong kind, fail before
    anything loads.

    Parameters
    ----------
    spec : str, path, callable or BackboneSpec
        An alias of :data:`BACKBONE_ALIASES`; a local model folder (also one
        written by an estimator's ``pretrain()``); a ``.gguf`` file; a Hugging
        Face hub id; or a callable returning a :class:`Backbone` or a
        ``(model, processor)`` pair.
    kinds : iterable of {"causal_lm", "encoder", "vlm"}, optional
        The kinds of model the caller can use; another kind raises a ValueError
        (before loading where the kind is known without loading).
    caller : str, optional
        Who needs the backbone, for messages.
    quantization : {None, "8bit", "4bit"}, default=None
        Load the weights quantised with bitsandbytes (QLoRA).
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (accelerate's device map).
    seed : int, default=0
        Seed of the random weights of tiny aliases.
    verbose : int, default=1
        ``0`` hides transformers' loading progress bars and the one-line
        message of a first-use preparation.

    Returns
    -------
    Backbone

    Raises
    ------
    OSError
        When the weights are not available here; the message names the command
        that makes them available.
    ValueError
        When the model is not of one of ``kinds``.

    Examples
    --------
    >>> from vlmtsc.backbones import load_backbone
    >>> backbone = load_backbone("tiny-gpt2", kinds=["causal_lm"])
    >>> backbone.family.kind
    'causal_lm'
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}."
        )
    resolved = resolve_backbone(spec, kinds=kinds, caller=caller, verbose=verbose)
    with progress_bars(verbose):
        backbone = _load(resolved, quantization, device, seed, verbose)
    if resolved.family is None:  # known only now
        check_kind(backbone.family, resolved.source, kinds, caller)
    return backbone


def _load(resolved: BackboneSpec, quantization, device, seed, verbose) -> Backbone:
    origin, location, source = resolved.origin, resolved.location, resolved.source
    if origin == "factory":
        built = location()
        if isinstance(built, Backbone):
            return built
        model, processor = built
        return _from_memory(model, processor, quantization, device, source, verbose)
    if origin == "tiny":
        from vlmtsc.backbones._tiny import build_tiny

        model, processor = build_tiny(location, seed=seed)
        return _from_memory(model, processor, quantization, device, source, verbose)
    if origin == "composed":
        vision, language = location
        return build_composed(
            vision,
            language,
            quantization=quantization,
            device=device,
            seed=seed,
            verbose=verbose,
        )
    if origin == "gguf":
        return _load_folder(
            location.parent,
            quantization,
            device,
            source,
            verbose=verbose,
            gguf_file=location.name,
        )
    if origin != "hub":  # offline, folder, pretraining
        return _load_folder(location, quantization, device, source, verbose=verbose)
    try:
        return _load_folder(location, quantization, device, source, verbose=verbose)
    except OSError as error:
        raise _missing(source, f"loading it from the hub failed ({error}).") from None


def build_composed(
    vision: str = "efficientnet-lite0",
    language: str | os.PathLike | Callable = "smollm2-135m",
    *,
    quantization: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    verbose: int = 1,
    image_size: int | None = None,
    n_image_tokens: int | None = None,
) -> Backbone:
    """A LLaVA-style VLM: frozen CNN, trainable projector, causal LM.

    Loads the language model (:func:`load_backbone`) and joins it to the CNN
    (:func:`vlmtsc.backbones._composed.compose`, where the parts are described).

    Parameters
    ----------
    vision : {"efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", \
"tiny"}, default="efficientnet-lite0"
        ``"efficientnet-lite0"``, ``"efficientnet-lite1"``,
        ``"efficientnet-lite2"``: the ImageNet CNNs, their weights prepared
        offline (on first use, like an alias); ``"tiny"``: a random CNN for tests.
    language : str or callable, default="smollm2-135m"
        Any :func:`load_backbone` spec of a causal LM.
    quantization : {None, "8bit", "4bit"}, default=None
        Quantises the language model only; CNN and projector stay float32.
    device : str, default="cpu"
    seed : int, default=0
        Seeds the projector, the ``<image>`` embedding and the tiny parts.
    verbose : int, default=1
    image_size : int, optional
        Side of the square input images; 224 for EfficientNet-Lite (also Lite1
        and Lite2, trained at 240 and 260 px), 32 for ``"tiny"``.
    n_image_tokens : int, optional
        Image tokens per image, a square number (default: the full feature map).

    Returns
    -------
    Backbone
        ``model`` is a :class:`~vlmtsc.backbones._composed.ComposedVLM` in eval
        mode, ``processor`` a :class:`~vlmtsc.backbones._composed.ComposedProcessor`.

    Examples
    --------
    >>> backbone = build_composed("tiny", "tiny-llama")
    >>> backbone.model.config.n_image_tokens
    16
    """
    from vlmtsc.backbones._composed import COMPOSED_VISION, compose

    if vision not in COMPOSED_VISION:
        raise ValueError(
            f"Unknown vision encoder {vision!r}; choose one of {COMPOSED_VISION}."
        )
    if vision in OFFLINE_WEIGHTS:
        _ensure_prepared(vision, [vision], verbose)
    text = load_backbone(
        language,
        kinds=["causal_lm"],
        caller="The language model of a composed VLM",
        quantization=quantization,
        device=device,
        seed=seed,
        verbose=verbose,
    )
    return compose(
        vision,
        text,
        seed=seed,
        image_size=image_size,
        n_image_tokens=n_image_tokens,
        language=language if isinstance(language, str) else None,
    )
