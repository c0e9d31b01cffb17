"""Scenario grids: parse, validate and expand a grid into runs."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmtsc.experiments._configs import CONFIGURATIONS
from vlmtsc.experiments._measure import check_measure
from vlmtsc.renderers import RENDERERS, make_renderer, renderer_name

__all__ = [
    "AXES",
    "ESTIMATOR_NAMES",
    "GRID_KEYS",
    "NAMED_ESTIMATORS",
    "RENDERER_NAMES",
    "EstimatorSpec",
    "ExperimentGrid",
    "Scenario",
    "load_grid",
    "parse_estimator",
    "parse_values",
    "resolve_estimator",
]

#: The vlmtsc estimators a grid can name (resolved lazily on :mod:`vlmtsc`).
ESTIMATOR_NAMES = (
    "VLMTimeSeriesClassifier",
    "InstructTimeClassifier",
    "CrossTimeNetClassifier",
    "MTCSClassifier",
    "TimeLlamaClassifier",
)
MINIROCKET = "minirocket"

#: Short renderer names (as in ``vlmtsc render --renderer``) -> class names.
RENDERER_NAMES = {name: cls.__name__ for name, cls in RENDERERS.items()}

#: Grid axis -> (scenario column, estimator parameter it sets).
AXES = {
    "renderers": ("renderer", "renderer"),
    "prompt_modes": ("prompt_mode", "prompt_mode"),
    "context_budgets": ("context_budget", "prompt"),
    "n_epochs": ("n_epochs", "n_epochs"),
    "seeds": ("seed", "random_state"),
}
#: Settings of how runs are measured (not part of a run's identity).
SETTINGS = ("threads", "measure")
#: Every key a grid may hold.
GRID_KEYS = ("name", "datasets", "estimators", *AXES, *SETTINGS)

_GRID_HELP = (
    "A grid holds 'datasets' and 'estimators' and optionally the axes "
    f"{', '.join(repr(a) for a in AXES)}, the settings 'threads' and 'measure', "
    "and a 'name'; see help(vlmtsc.experiments.load_grid)."
)


# --------------------------------------------------------------------- helpers
def _did_you_mean(word: str, options) -> str:
    matches = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def _as_list(key: str, value) -> list:
    """An axis value as a list: a scalar is a one-value axis; empty is an error."""
    if isinstance(value, (list, tuple)):
        values = list(value)
    elif isinstance(value, str) and key == "datasets":
        values = [v.strip() for v in value.split(",") if v.strip()]
    else:
        values = [value]
    if not values:
        raise ValueError(
            f"Grid axis {key!r} is empty. Give it at least one value, or remove "
            "the key to keep each estimator's own default."
        )
    return values


def _none(value):
    """TOML has no null: the string "none" (any case) stands for None."""
    if isinstance(value, str) and value.strip().lower() in ("none", "null"):
        return None
    return value


def _reference_name(reference) -> str:
    if isinstance(reference, str):
        return reference
    module = getattr(reference, "__module__", None) or "?"
    return f"{module}:{getattr(reference, '__qualname__', repr(reference))}"


def canonical(value) -> Any:
    """A JSON-able, deterministic form of a parameter value (for run ids)."""
    from sklearn.base import BaseEstimator

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()  # numpy scalar
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, BaseEstimator):
        return {
            "class": _reference_name(type(value)),
            "params": canonical(value.get_params(deep=False)),
        }
    if callable(value):
        return _reference_name(value)
    return repr(value)


def _format_value(value) -> str:
    if isinstance(value, str):
        return value
    if callable(value) and not hasattr(value, "get_params"):
        return _reference_name(value)
    return repr(value)


def _format_params(params: Mapping) -> str:
    return ",".join(f"{k}={_format_value(v)}" for k, v in params.items())


# ----------------------------------------------------------- estimator entries
def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _literal(text: str):
    """A value written in ``Name(key=value)``: int, float, bool, None, str, or
    a ``[...]`` list of those."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        return [_literal(item) for item in _split_top_level(text[1:-1])]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


_SHORT_FORM = re.compile(r"^\s*([\w.:-]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_estimator(text: str) -> tuple[str, dict]:
    """``"Name(key=value, ...)"`` -> ``("Name", {key: value})``.

    Parameters
    ----------
    text : str
        An estimator reference, optionally with fixed parameters in parentheses;
        values are numbers, ``true``/``false``, ``none``, text or ``[...]``
        lists of these.

    Returns
    -------
    reference : str
    params : dict

    Examples
    --------
    >>> parse_estimator("VLMTimeSeriesClassifier(head=linear, n_epochs=2)")
    ('VLMTimeSeriesClassifier', {'head': 'linear', 'n_epochs': 2})
    >>> parse_estimator("vlm-lora(n_epochs=8)")
    ('vlm-lora', {'n_epochs': 8})
    >>> parse_estimator("InstructTimeClassifier(head=linear, layers=[10, 20])")
    ('InstructTimeClassifier', {'head': 'linear', 'layers': [10, 20]})
    """
    match = _SHORT_FORM.match(text)
    if not match:
        raise ValueError(
            f"Cannot read the estimator {text!r}. Write a name such as "
            "'minirocket' or 'VLMTimeSeriesClassifier', optionally with fixed "
            "parameters: 'VLMTimeSeriesClassifier(head=linear, n_epochs=2)'."
        )
    reference, arguments = match.group(1), match.group(2) or ""
    params = {}
    for item in _split_top_level(arguments):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(
                f"Cannot read {item!r} in the estimator {text!r}: write "
                "parameters as key=value, e.g. 'VLMTimeSeriesClassifier(head=linear)'."
            )
        params[key.strip()] = _literal(value)
    return reference, params


def parse_values(text: str) -> list:
    """A comma-separated list (brackets and quotes respected) of literals.

    Parameters
    ----------
    text : str
        E.g. a command-line flag: ``"lineplot,gaf(image_size=64)"``.

    Returns
    -------
    values : list
        Numbers, ``True``/``False``, ``None`` or text, as in
        :func:`parse_estimator`.

    Examples
    --------
    >>> parse_values("none, 512")
    [None, 512]
    >>> parse_values("lineplot,gaf(image_size=64)")
    ['lineplot', 'gaf(image_size=64)']
    """
    return [_literal(item) for item in _split_top_level(text)]


def _import_object(reference: str):
    module_name, _, qualname = reference.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_factory(reference) -> Callable[..., Any]:
    """The callable that builds the estimator ``reference`` names.

    Parameters
    ----------
    reference : str or callable
        ``"minirocket"``, one of :data:`ESTIMATOR_NAMES`, a named configuration
        (:data:`NAMED_ESTIMATORS`), ``"module:callable"`` (a class or a factory
        returning an unfitted estimator) or a callable.

    Returns
    -------
    factory : callable
        ``factory(**params) -> estimator``.
    """
    if callable(reference):
        return reference
    if not isinstance(reference, str):
        raise TypeError(
            f"An estimator must be a name or a callable, got {reference!r}."
        )
    if reference.lower() == MINIROCKET:
        from vlmtsc.experiments._baselines import minirocket

        return minirocket
    if reference in NAMED_ESTIMATORS:  # its parameters under the given ones
        return NAMED_ESTIMATORS[reference].build
    if reference in ESTIMATOR_NAMES:
        import vlmtsc

        try:
            return getattr(vlmtsc, reference)
        except AttributeError:
            raise ValueError(
                f"{reference} is not available in the installed vlmtsc "
                f"{vlmtsc.__version__}; upgrade vlmtsc or remove it from the grid."
            ) from None
    if ":" in reference:
        try:
            factory = _import_object(reference)
        except (ImportError, AttributeError, ValueError) as error:
            raise ValueError(
                f"Cannot import the estimator factory {reference!r} ({error}). "
                "Write 'package.module:callable' for a callable importable on "
                "every worker."
            ) from error
        if not callable(factory):
            raise ValueError(f"The estimator factory {reference!r} is not callable.")
        return factory
    valid = [*ESTIMATOR_NAMES, *NAMED_ESTIMATORS]
    raise ValueError(
        f"Unknown estimator {reference!r}.{_did_you_mean(reference, valid)} Valid "
        f"names: a vlmtsc class ({', '.join(ESTIMATOR_NAMES)}), a named "
        f"configuration ({', '.join(NAMED_ESTIMATORS)}; `vlmtsc bench --list` "
        "says what each is), or 'package.module:callable' for your own "
        "factory(**params) -> estimator."
    )


@dataclass(frozen=True, eq=False)
class EstimatorSpec:
    """One estimator configuration of a grid: what to build, with fixed params.

    Parameters
    ----------
    name : str
        Label in tables and plots; unique within a grid.
    reference : str or callable
        ``"minirocket"``, a vlmtsc class name, ``"module:callable"`` or a
        callable; see :func:`resolve_factory`.
    params : dict
        Fixed keyword arguments of the estimator (or factory). A parameter fixed
        here is not varied by an axis. A ``renderer`` given as text
        (``"gaf(image_size=224)"``) becomes that renderer, ``augmentation=True``
        (or a mapping of its parameters) a :class:`~vlmtsc.training.SeriesAugmenter`,
        a ``tokenizer`` mapping a :class:`~vlmtsc.tokenizers.VQTokenizer`.
    ensemble : dict, optional
        Parameter -> values: the estimator becomes a soft-voting ensemble over
        them (:func:`vlmtsc.ensemble_over`), e.g. ``{"random_state": [0, 1, 2]}``
        or ``{"renderer": ["lineplot", "gaf"]}``. The axes do not vary an
        ensemble.
    description : str, default=""
        One line saying what the configuration is (``vlmtsc bench --list``).
    """

    name: str
    reference: Any
    params: dict = field(default_factory=dict)
    ensemble: dict | None = None
    description: str = ""

    @property
    def reference_name(self) -> str:
        """``reference`` as text (``"module:qualname"`` for a callable)."""
        return _reference_name(self.reference)

    def build(self, **overrides):
        """A new estimator with the fixed parameters.

        Estimators with a ``verbose`` parameter are built quiet (the experiment
        shows its own progress) unless the parameters set it.

        Parameters
        ----------
        **overrides
            Parameters to set beyond (or instead of) the fixed ones.

        Returns
        -------
        estimator : object
        """
        params = {**self.params, **overrides}
        factory = resolve_factory(self.reference)
        try:
            estimator = factory(**_materialize(params))
        except TypeError as error:
            accepted = ""
            try:
                names = list(inspect.signature(factory).parameters)
                accepted = f" It accepts: {', '.join(names)}."
            except (TypeError, ValueError):
                pass
            raise ValueError(
                f"Estimator {self.name!r}: {self.reference_name} rejected the "
                f"parameters {sorted(params)} ({error}).{accepted}"
            ) from error
        verbose = _parameters(estimator).get("verbose")
        if verbose and "verbose" not in params:
            # Keep the value's type (sklearn's Pipeline takes only a bool).
            estimator.set_params(verbose=False if isinstance(verbose, bool) else 0)
        if self.ensemble:
            from vlmtsc.ensemble import ensemble_over

            members = _materialize(self.ensemble, many=True)
            try:
                estimator = ensemble_over(estimator, **members)
            except ValueError as error:
                raise ValueError(f"Estimator {self.name!r}: {error}") from error
        return estimator


#: Named estimator configurations a grid (or ``vlmtsc bench --estimators``) can
#: use by name: name -> :class:`EstimatorSpec` (with a ``description``).
NAMED_ESTIMATORS = {
    name: EstimatorSpec(name, *configuration)
    for name, configuration in CONFIGURATIONS.items()
}


def _materialize(params: Mapping, many: bool = False) -> dict:
    """Grid-file values that stand for objects, as new objects.

    ``renderer``: a renderer name (``"gaf(image_size=224)"``) or mapping, or
    a list of them (renderers fused by the probe); ``augmentation``: ``True``
    or a mapping of SeriesAugmenter parameters; ``tokenizer``: a mapping of
    VQTokenizer parameters. With ``many``, each value is a list of such values
    (an ensemble's members).
    """

    def renderer(value):
        if isinstance(value, (list, tuple)):
            return [renderer(v) for v in value]
        if not isinstance(value, (str, Mapping)):
            return value
        parsed = _renderer_value(value)
        return None if parsed is None else parsed.renderer

    def augmentation(value):
        if value is not True and not isinstance(value, Mapping):
            return value
        from vlmtsc.training import SeriesAugmenter

        return SeriesAugmenter(**({} if value is True else dict(value)))

    def tokenizer(value):
        if not isinstance(value, Mapping):
            return value
        from vlmtsc.tokenizers import VQTokenizer

        return VQTokenizer(**value)

    out = dict(params)
    converters = (
        ("renderer", renderer),
        ("augmentation", augmentation),
        ("tokenizer", tokenizer),
    )
    for key, convert in converters:
        if key in out:
            value = out[key]
            if many and isinstance(value, (list, tuple)):
                out[key] = [convert(v) for v in value]
            elif not many:
                out[key] = convert(value)
    return out


_ENTRY_KEYS = ("name", "estimator", "params", "ensemble")


def resolve_estimator(entry) -> EstimatorSpec:
    """The :class:`EstimatorSpec` a grid's estimator entry describes.

    Parameters
    ----------
    entry : str, mapping, callable or EstimatorSpec
        A name with optional fixed parameters (``"minirocket"``,
        ``"vlm-lora(n_epochs=8)"``, ``"VLMTimeSeriesClassifier(head=linear)"``,
        ``"package.module:callable"``), a mapping ``{name, estimator, params,
        ensemble}`` or a callable. A named configuration (see
        :data:`NAMED_ESTIMATORS`) expands to its class and parameters, with the
        entry's parameters on top.

    Returns
    -------
    spec : EstimatorSpec

    Examples
    --------
    >>> spec = resolve_estimator("vlm-lora(n_epochs=8)")
    >>> spec.name, spec.reference, spec.params["n_epochs"], spec.params["head"]
    ('vlm-lora(n_epochs=8)', 'VLMTimeSeriesClassifier', 8, 'lm')
    >>> type(resolve_estimator("1nn-dtw").build()).__name__
    'KNeighborsTimeSeriesClassifier'
    """
    if isinstance(entry, EstimatorSpec):
        return entry
    if isinstance(entry, str):
        reference, params = parse_estimator(entry)
        return _named(entry.strip(), reference, params, None)
    if callable(entry):
        return EstimatorSpec(_reference_name(entry), entry, {})
    if isinstance(entry, Mapping):
        unknown = set(entry) - set(_ENTRY_KEYS)
        if unknown or "estimator" not in entry:
            raise ValueError(
                f"An estimator entry holds 'estimator' (a name or "
                f"'module:callable'), optionally 'params' (a mapping), 'ensemble' "
                f"(parameter -> values to vote over) and 'name' (a label); got "
                f"keys {sorted(entry)}."
            )
        reference = entry["estimator"]
        params = dict(entry.get("params") or {})
        if isinstance(reference, str):
            reference, inline = parse_estimator(reference)
            params = {**inline, **params}
        name = entry.get("name")
        if name is None:
            name = _reference_name(reference)
            name += f"({_format_params(params)})" if params else ""
        ensemble = entry.get("ensemble")
        if ensemble is not None and not isinstance(ensemble, Mapping):
            raise ValueError(
                f"'ensemble' of {name!r} maps parameters to the values to vote "
                f"over, e.g. {{random_state: [0, 1, 2]}}; got {ensemble!r}."
            )
        return _named(str(name), reference, params, ensemble)
    raise ValueError(
        f"Cannot read the estimator entry {entry!r}: give a name "
        "('minirocket', 'VLMTimeSeriesClassifier(head=linear)') or a mapping with "
        "'estimator', 'params' and 'name'."
    )


def _named(name: str, reference, params: dict, ensemble) -> EstimatorSpec:
    """Expand a named configuration; other references are kept as they are."""
    base = NAMED_ESTIMATORS.get(reference) if isinstance(reference, str) else None
    if base is None:
        return EstimatorSpec(name, reference, params, ensemble or None)
    return EstimatorSpec(
        name,
        base.reference,
        {**base.params, **params},
        dict(ensemble) if ensemble else base.ensemble,
        base.description,
    )


# ------------------------------------------------------------------- renderers
@dataclass(frozen=True, eq=False)
class _Renderer:
    label: str
    renderer: Any  # an unfitted renderer, cloned for every run


def _renderer_value(value) -> _Renderer | None:
    from sklearn.base import BaseEstimator

    value = _none(value)
    if value is None:
        return None
    if isinstance(value, BaseEstimator):
        name = renderer_name(value)
        defaults = type(value)().get_params(deep=False)
        changed = {
            k: v
            for k, v in value.get_params(deep=False).items()
            if canonical(v) != canonical(defaults.get(k))
        }
        label = f"{name}({_format_params(changed)})" if changed else name
        return _Renderer(label, value)
    if isinstance(value, str):
        name, params = parse_estimator(value)
    elif isinstance(value, Mapping) and "name" in value:
        params = {k: v for k, v in value.items() if k != "name"}
        name = value["name"]
    else:
        raise ValueError(
            f"Cannot read the renderer {value!r}: give a name "
            f"({', '.join(RENDERER_NAMES)}), e.g. 'gaf(image_size=64)', or a "
            "mapping {name: gaf, image_size: 64}."
        )
    renderer = make_renderer(name, **params)
    label = f"{name}({_format_params(params)})" if params else str(name)
    return _Renderer(label, renderer)


# --------------------------------------------------------------------- datasets
def _dataset_value(value, base_dir: Path | None) -> tuple[str, str | None]:
    """``(label, path)``: a bundled name (path None) or a dataset directory."""
    from vlmtsc.datasets import list_datasets

    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"A dataset is a name or a folder, got {value!r}.")
    text = os.fspath(value)
    names = list_datasets()
    canonical_names = {n.lower(): n for n in names}
    if text.lower() in canonical_names:
        return canonical_names[text.lower()], None
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_dir():
        return text, str(path.resolve())
    raise ValueError(
        f"Unknown dataset {text!r}.{_did_you_mean(text, names)} Bundled datasets: "
        f"{', '.join(names)} (see `vlmtsc datasets`), or a folder holding "
        "NAME_TRAIN and NAME_TEST files."
    )


# -------------------------------------------------------------------- axis values
def _check_axis_value(key: str, value):
    value = _none(value)
    if key == "prompt_modes":
        from vlmtsc.classification import PROMPT_MODES

        if value is not None and value not in PROMPT_MODES:
            raise ValueError(
                f"Unknown prompt mode {value!r} in 'prompt_modes'."
                f"{_did_you_mean(value, PROMPT_MODES)} Valid: "
                f"{', '.join(PROMPT_MODES)} (or none: the prompt unchanged)."
            )
    elif key == "context_budgets":
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                f"'context_budgets' takes token counts (positive integers) or none "
                f"(no budget), got {value!r}."
            )
    elif key == "n_epochs":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"'n_epochs' takes positive integers, got {value!r}.")
    elif key == "seeds" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"'seeds' takes integers, got {value!r}.")
    return value


# --------------------------------------------------------------------- scenarios
@dataclass(frozen=True, eq=False)
class Scenario:
    """One run of a grid: a dataset, an estimator configuration, axis values.

    Parameters
    ----------
    dataset : str
        Bundled dataset name (or folder as written in the grid).
    estimator : EstimatorSpec
    settings : dict
        The axis values that apply to this estimator, keyed by scenario column
        (``renderer``, ``prompt_mode``, ``context_budget``, ``n_epochs``,
        ``seed``); an axis that does not apply is absent.
    dataset_path : str, optional
        Folder to load for a dataset that is not bundled.
    """

    dataset: str
    estimator: EstimatorSpec
    settings: dict
    dataset_path: str | None = None

    @property
    def run_id(self) -> str:
        """Stable id: a hash of the dataset, estimator and axis values."""
        content = {
            "dataset": self.dataset,
            "estimator": self.estimator.name,
            "reference": self.estimator.reference_name,
            "params": canonical(self.estimator.params),
            **(
                {"ensemble": canonical(self.estimator.ensemble)}
                if self.estimator.ensemble
                else {}
            ),
            "settings": canonical(
                {
                    k: (v.renderer if isinstance(v, _Renderer) else v)
                    for k, v in self.settings.items()
                }
            ),
        }
        text = json.dumps(content, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def keys(self) -> dict:
        """The scenario's columns; ``None`` where an axis does not apply.

        Returns
        -------
        keys : dict
        """
        out = {
            "dataset": self.dataset,
            "estimator": self.estimator.name,
            "estimator_spec": self.estimator.reference_name,
        }
        for column, _ in AXES.values():
            value = self.settings.get(column)
            out[column] = value.label if isinstance(value, _Renderer) else value
        out["params"] = json.dumps(canonical(self.estimator.params), sort_keys=True)
        return out

    def label(self) -> str:
        """Short text: estimator and axis values (without dataset and seed)."""
        return config_label(self.keys())

    def build(self):
        """A new, unfitted estimator with this scenario's parameters.

        Returns
        -------
        estimator : object
        """
        from sklearn.base import clone

        estimator = self.estimator.build()
        updates = {}
        settings = self.settings
        if "renderer" in settings:
            renderer = settings["renderer"]
            updates["renderer"] = None if renderer is None else clone(renderer.renderer)
        if "prompt_mode" in settings:
            updates["prompt_mode"] = settings["prompt_mode"]
        if settings.get("context_budget") is not None:
            from vlmtsc.prompts import TimeSeriesPrompt

            updates["prompt"] = TimeSeriesPrompt(
                context_length=settings["context_budget"]
            )
        if "n_epochs" in settings:
            updates["n_epochs"] = settings["n_epochs"]
        if "seed" in settings:
            updates["random_state"] = settings["seed"]
        if updates:
            estimator.set_params(**updates)
        return estimator

    def __repr__(self) -> str:
        keys = ", ".join(
            f"{k}={v!r}"
            for k, v in self.keys().items()
            if v is not None and k not in ("estimator_spec", "params")
        )
        return f"Scenario({keys})"


def config_label(keys: Mapping) -> str:
    """``"name · renderer · prompt mode · budget N · N ep"`` of a scenario or row.

    Parameters
    ----------
    keys : mapping
        A scenario's :meth:`Scenario.keys` or a results row.

    Returns
    -------
    label : str
    """
    parts = [str(keys["estimator"])]
    for column in ("renderer", "prompt_mode"):
        if keys.get(column) is not None:
            parts.append(str(keys[column]))
    if keys.get("context_budget") is not None:
        parts.append(f"budget {keys['context_budget']}")
    if keys.get("n_epochs") is not None:
        parts.append(f"{keys['n_epochs']} ep")
    return " · ".join(parts)


def _parameters(estimator) -> dict:
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    try:
        return get_params(deep=False)
    except Exception:  # a broken get_params is reported when the run fits
        return {}


def _applicable(axis: str, spec: EstimatorSpec, parameters: dict, chosen: dict):
    """Whether ``axis`` varies ``spec`` (see :func:`load_grid`, "Which axes apply").

    ``chosen`` holds the values of the axes already decided for this scenario.
    """
    _, parameter = AXES[axis]
    if parameter not in parameters or parameter in spec.params:
        return False
    if axis == "n_epochs":
        return parameters.get("head") != "linear"  # a linear probe trains no epochs
    if axis == "context_budgets":
        if "prompt_mode" not in parameters:  # not a TimeSeriesPrompt estimator
            return False
        mode = chosen.get("prompt_mode", parameters["prompt_mode"])
        return mode != "image_only"  # no values written, nothing to shorten
    return True


# ------------------------------------------------------------------------- grid
@dataclass(eq=False)
class ExperimentGrid:
    """A validated scenario grid; :attr:`scenarios` expands it into runs.

    Build one with :func:`load_grid`.

    Attributes
    ----------
    name : str
    datasets : list of (str, str or None)
        ``(label, folder)`` pairs; ``folder`` is None for bundled data.
    estimators : list of EstimatorSpec
    axes : dict
        Axis key -> list of values (renderers already parsed).
    source : dict
        The grid as given (JSON-able where the input was).
    threads : int or None
        Thread cap of every run (None: leave the thread pools alone).
    measure : tuple of str
        The optional measurements (see :data:`MEASUREMENTS`).
    """

    name: str
    datasets: list
    estimators: list
    axes: dict
    source: dict = field(default_factory=dict)
    threads: int | None = None
    measure: tuple = ()
    # Estimator name -> its parameters (from one instance), to decide which axes
    # apply; filled by load_grid, which builds each estimator once to check it.
    parameters: dict = field(default_factory=dict, repr=False)

    @property
    def scenarios(self) -> list[Scenario]:
        """Every run: datasets x estimators x the axes that apply to each.

        Returns
        -------
        scenarios : list of Scenario
            In grid order: dataset, then estimator, then axis values.
        """
        out: dict[str, Scenario] = {}
        for dataset, path in self.datasets:
            for spec in self.estimators:
                if spec.name not in self.parameters:
                    self.parameters[spec.name] = _parameters(spec.build())
                parameters = self.parameters[spec.name]
                for scenario in _expand(spec, parameters, self.axes):
                    scenario = Scenario(dataset, spec, scenario, path)
                    out.setdefault(scenario.run_id, scenario)
        return list(out.values())

    def __len__(self) -> int:
        return len(self.scenarios)


def _expand(spec: EstimatorSpec, parameters: dict, axes: dict) -> list[dict]:
    """The settings dicts of one estimator over the axes that apply to it."""
    settings: list[dict] = [{}]
    for axis, values in axes.items():
        column, _ = AXES[axis]
        grown = []
        for chosen in settings:
            if _applicable(axis, spec, parameters, chosen):
                grown += [{**chosen, column: value} for value in values]
            else:
                grown.append(chosen)
        settings = grown
    return settings


def _read_file(path: Path) -> dict:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"Grid file {path} does not exist.")
    if suffix in (".yaml", ".yml"):
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    elif suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError as error:
                raise ImportError(
                    "Reading a .toml grid on Python 3.10 needs tomli: pip install "
                    "tomli (or write the grid as YAML)."
                ) from error
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    elif suffix == ".json":
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    else:
        raise ValueError(
            f"Cannot read the grid {path}: use a .yaml/.yml, .toml or .json file."
        )
    if not isinstance(data, Mapping):
        raise ValueError(f"The grid file {path} must hold a mapping. {_GRID_HELP}")
    return dict(data)


def load_grid(source) -> ExperimentGrid:
    """Read and validate a scenario grid.

    A grid is a mapping (a Python dict, or a YAML, TOML or JSON file) with

    ``datasets`` (required)
        Bundled dataset names (see ``vlmtsc datasets``) or folders holding
        ``NAME_TRAIN``/``NAME_TEST`` files (relative to the grid file). Each run
        fits on the standard train split and is scored once on the test split.
    ``estimators`` (required)
        Each entry is ``"minirocket"`` (aeon's MiniRocketClassifier, the
        reference), a vlmtsc class name (``VLMTimeSeriesClassifier``,
        ``InstructTimeClassifier``, ``CrossTimeNetClassifier``,
        ``MTCSClassifier``, ``TimeLlamaClassifier``), a named configuration of
        :data:`NAMED_ESTIMATORS` (``vlm-lora``, ``timellama-frozen``, ``hydra``,
        ...; ``vlmtsc bench --list``) or ``"package.module:callable"`` (a class
        or factory ``callable(**params) -> estimator``), with fixed parameters
        either inline, ``"VLMTimeSeriesClassifier(head=linear)"``, or as a
        mapping ``{name: label, estimator: ..., params: {...}}``; a named
        configuration's parameters are the base, the entry's go on top. A
        mapping may also hold ``ensemble`` (see :class:`EstimatorSpec`).
    ``renderers``, ``prompt_modes``, ``context_budgets``, ``n_epochs``, ``seeds``
        Optional axes. Renderers are ``lineplot``, ``gaf``, ``mtf``, ``rp``,
        ``windows`` (optionally with parameters: ``"gaf(image_size=64)"``); prompt
        modes are those of :class:`~vlmtsc.VLMTimeSeriesClassifier`; a context
        budget is the token count of :class:`~vlmtsc.prompts.TimeSeriesPrompt`'s
        ``context_length`` (values are downsampled to fit); ``seeds`` set
        ``random_state`` (default: the estimator's own). In TOML, write
        ``"none"`` for a null value.
    ``name``
        Title of the report (default: the file name).
    ``threads``
        Cap every run's BLAS/OpenMP, torch and numba thread pools, and the
        ``n_jobs`` of estimators that have one, at this many threads (default:
        leave them alone). Recorded in the ``threads`` column.
    ``measure``
        Optional measurements, ``all`` or a list from ``memory`` (peak resident
        memory of fit + predict, ``peak_mib``), ``throughput`` (training
        tokens/s and FLOP/s as a fraction of the machine's matmul peak, for
        estimators that log them) and ``environment`` (versions, CPU and command
        line in ``environment.json`` and the report); default none.
        ``threads`` and ``measure`` are not part of a run's identity: a
        finished run is not run again because they changed.

    Which axes apply
        An axis multiplies the runs of an estimator only if the estimator has the
        parameter it sets (``renderer``, ``prompt_mode``, ``prompt``,
        ``n_epochs``, ``random_state``) and its entry does not fix that
        parameter. So MiniRocket is run once per dataset and seed, whatever the
        renderers. Two refinements: ``n_epochs`` does not apply to
        ``head="linear"`` (a linear probe trains no epochs), and
        ``context_budgets`` applies only to estimators with a ``prompt_mode``
        whose prompt writes values (not ``"image_only"``). An axis that does not
        apply is blank in the results. The vlmtsc estimators run with
        ``verbose=0`` unless their parameters say otherwise.

    Parameters
    ----------
    source : dict, str, os.PathLike or ExperimentGrid
        The grid, or the path of a ``.yaml``/``.yml``, ``.toml`` or ``.json``
        file holding it.

    Returns
    -------
    grid : ExperimentGrid

    Raises
    ------
    ValueError
        For an unknown key, estimator, dataset, renderer, prompt mode or
        measurement, an empty axis or a duplicate estimator name; the message
        names the fix.

    Examples
    --------
    >>> from vlmtsc.experiments import load_grid
    >>> grid = load_grid({
    ...     "datasets": ["GunPoint", "ItalyPowerDemand"],
    ...     "estimators": [
    ...         "vlmtsc.experiments:nearest_neighbors",
    ...         {"name": "vlm", "estimator": "VLMTimeSeriesClassifier",
    ...          "params": {"backbone": "tiny-llava", "head": "linear"}},
    ...     ],
    ...     "renderers": ["lineplot", "gaf(image_size=64)"],
    ...     "n_epochs": [1, 2],
    ...     "seeds": [0, 1],
    ... })
    >>> len(grid.scenarios)  # 2 datasets x (1 + 2 renderers x 2 seeds)
    10
    >>> for scenario in grid.scenarios[:4]:
    ...     print(scenario.dataset, "|", scenario.label(), "|", scenario.keys()["seed"])
    GunPoint | vlmtsc.experiments:nearest_neighbors | None
    GunPoint | vlm · lineplot | 0
    GunPoint | vlm · lineplot | 1
    GunPoint | vlm · gaf(image_size=64) | 0

    The nearest-neighbour factory has none of the axes' parameters, so it runs
    once per dataset; a linear probe trains no epochs, so ``n_epochs`` does not
    multiply the VLM's runs.
    """
    if isinstance(source, ExperimentGrid):
        return source
    base_dir = None
    default_name = "experiment"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = _read_file(path)
        base_dir = path.resolve().parent
        default_name = path.stem
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        raise TypeError(
            f"A grid is a dict or the path of a YAML/TOML/JSON file, got "
            f"{type(source).__name__}."
        )
    unknown = [k for k in data if k not in GRID_KEYS]
    if unknown:
        key = unknown[0]
        raise ValueError(
            f"Unknown grid key {key!r}.{_did_you_mean(key, GRID_KEYS)} {_GRID_HELP}"
        )
    for required in ("datasets", "estimators"):
        if required not in data:
            raise ValueError(f"The grid has no {required!r}. {_GRID_HELP}")
    datasets = list(
        dict.fromkeys(
            _dataset_value(d, base_dir) for d in _as_list("datasets", data["datasets"])
        )
    )
    estimators = [
        resolve_estimator(e) for e in _as_list("estimators", data["estimators"])
    ]
    names = [spec.name for spec in estimators]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"Estimator name {duplicates[0]!r} is used twice; give each entry its "
            "own 'name'."
        )
    # Unknown names and rejected parameters fail here, not in the middle of a run.
    parameters = {spec.name: _parameters(spec.build()) for spec in estimators}
    axes = {}
    for axis in AXES:
        if axis not in data:
            continue
        values = [_check_axis_value(axis, v) for v in _as_list(axis, data[axis])]
        if axis == "renderers":
            values = [_renderer_value(v) for v in values]
        axes[axis] = values
    return ExperimentGrid(
        name=str(data.get("name", default_name)),
        datasets=datasets,
        estimators=estimators,
        axes=axes,
        source=data,
        threads=check_threads(_none(data.get("threads"))),
        measure=check_measure(data.get("measure")),
        parameters=parameters,
    )


def check_threads(threads) -> int | None:
    """``threads`` validated: a positive integer or None."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(
            f"'threads' takes a positive integer (threads per run), got {threads!r}."
        )
    return threads
