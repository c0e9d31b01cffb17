"""Registry of named estimator factories for the benchmark harness.

A *factory* is a callable ``factory(random_state) -> estimator`` returning an
unfitted, scikit-learn compatible classifier. Each registered name maps to an
:class:`EstimatorSpec` (factory plus a one-line description). Heavy imports
(aeon, torch, model code) happen inside the factory, so importing this module
and listing the names stays cheap.

Adding an estimator is one entry. For a class with keyword parameters use
:func:`lazy_factory`, which imports ``"module:Class"`` only when the factory is
called and passes ``random_state`` when the class accepts it::

    register(
        "vlm-qwen2vl-gaf",
        lazy_factory(
            "vlmtsc.classification:VLMTimeSeriesClassifier",
            backbone="Qwen/Qwen2-VL-2B-Instruct",
            renderer="gaf",
        ),
        "Qwen2-VL-2B with LoRA on GAF images",
    )

On the command line a user can also name their own factory as
``module:callable`` (for example ``mypkg.bench:make_clf``); it is resolved by
:func:`get_spec` like a registered name.
"""

from __future__ import annotations

import functools
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "REGISTRY",
    "EstimatorSpec",
    "build_estimator",
    "flatten_images",
    "get_spec",
    "lazy_factory",
    "list_estimators",
    "register",
    "renderer_probe",
]

Factory = Callable[[int | None], Any]


@dataclass(frozen=True)
class EstimatorSpec:
    """A named way to build an estimator.

    Parameters
    ----------
    name : str
        Short name used on the command line and in the results.
    factory : callable
        ``factory(random_state) -> estimator``; builds a new, unfitted estimator.
    description : str
        One line saying what the estimator is.
    """

    name: str
    factory: Factory
    description: str

    def build(self, random_state: int | None = 0) -> Any:
        """Build a new, unfitted estimator.

        Parameters
        ----------
        random_state : int or None, default=0
            Seed handed to the factory.

        Returns
        -------
        estimator : object
            An unfitted scikit-learn compatible classifier.
        """
        return self.factory(random_state)


REGISTRY: dict[str, EstimatorSpec] = {}


def register(
    name: str, factory: Factory, description: str, *, replace: bool = False
) -> EstimatorSpec:
    """Add a named factory to :data:`REGISTRY`.

    Parameters
    ----------
    name : str
        Short name; must not contain ``":"`` or ``","`` (reserved for
        ``module:callable`` references and command-line lists).
    factory : callable
        ``factory(random_state) -> estimator``.
    description : str
        One-line description shown by ``--list``.
    replace : bool, default=False
        Allow overwriting an existing entry.

    Returns
    -------
    spec : EstimatorSpec
        The registered entry.
    """
    if not name or ":" in name or "," in name:
        raise ValueError(f"Invalid estimator name {name!r}: no ':' or ',' allowed.")
    if name in REGISTRY and not replace:
        raise ValueError(f"Estimator {name!r} is already registered.")
    spec = EstimatorSpec(name=name, factory=factory, description=description)
    REGISTRY[name] = spec
    return spec


def _import_object(reference: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, sep, attr_path = reference.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(
            f"{reference!r} is not of the form 'module:callable', "
            "e.g. 'mypackage.bench:make_classifier'."
        )
    obj: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        obj = getattr(obj, attr)
    return obj


def lazy_factory(target: str, /, **params: Any) -> Factory:
    """A factory that imports ``target`` only when called.

    Parameters
    ----------
    target : str
        ``"module:Class"`` (or any ``"module:callable"`` returning an estimator).
    **params
        Keyword arguments passed to ``target``.

    Returns
    -------
    factory : callable
        ``factory(random_state) -> estimator``. ``random_state`` is passed on
        when the built estimator has a ``random_state`` parameter (checked via
        ``get_params``) and not already fixed in ``params``.
    """

    def factory(random_state: int | None = 0) -> Any:
        estimator = _import_object(target)(**params)
        if (
            "random_state" not in params
            and hasattr(estimator, "get_params")
            and "random_state" in estimator.get_params(deep=False)
        ):
            estimator.set_params(random_state=random_state)
        return estimator

    factory.__name__ = f"lazy_factory[{target}]"
    factory.__qualname__ = factory.__name__
    return factory


def flatten_images(images: np.ndarray) -> np.ndarray:
    """Flatten ``(n, h, w, 3)`` uint8 images to ``(n, h * w * 3)`` floats in [0, 1].

    Parameters
    ----------
    images : ndarray of shape (n_cases, height, width, 3)
        uint8 images from a renderer.

    Returns
    -------
    features : ndarray of shape (n_cases, height * width * 3), dtype float32
    """
    images = np.asarray(images)
    return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)


def renderer_probe(renderer_class: str, image_size: int = 64) -> Factory:
    """Factory for a renderer -> flatten -> scale -> logistic-regression probe.

    The probe is a sanity check of how much class information the images carry,
    not a competitive classifier.

    Parameters
    ----------
    renderer_class : str
        Name of a class in :mod:`vlmtsc.renderers`.
    image_size : int, default=64
        Side of the rendered images in pixels.

    Returns
    -------
    factory : callable
        ``factory(random_state) -> Pipeline``.
    """

    def factory(random_state: int | None = 0) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        from vlmtsc.renderers import make_renderer

        renderer = make_renderer(renderer_class, image_size=image_size)
        return Pipeline(
            [
                ("render", renderer),
                ("flatten", FunctionTransformer(flatten_images)),
                ("scale", StandardScaler()),
                (
                    "logreg",
                    LogisticRegression(max_iter=1000, random_state=random_state),
                ),
            ]
        )

    factory.__name__ = f"renderer_probe[{renderer_class}]"
    factory.__qualname__ = factory.__name__
    return factory


def get_spec(name: str) -> EstimatorSpec:
    """Resolve a registered name or a ``module:callable`` factory reference.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`, or ``"module:callable"`` naming a factory
        ``callable(random_state) -> estimator``.

    Returns
    -------
    spec : EstimatorSpec

    Raises
    ------
    KeyError
        If ``name`` is neither registered nor contains ``":"``; the message
        lists the registered names.
    ValueError
        If a ``module:callable`` reference cannot be imported or is not callable.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" in name:
        try:
            factory = _import_object(name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"Cannot import factory {name!r}: {exc}") from exc
        if not callable(factory):
            raise ValueError(f"Factory {name!r} is not callable.")
        doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
        description = doc[0] if doc else f"user factory {name}"
        return EstimatorSpec(name=name, factory=factory, description=description)
    raise KeyError(
        f"Unknown estimator {name!r}. Registered estimators: "
        f"{', '.join(sorted(REGISTRY))}; or pass 'module:callable' for your own "
        "factory(random_state) -> estimator."
    )


def build_estimator(name: str, random_state: int | None = 0) -> Any:
    """Build the estimator registered (or referenced) as ``name``.

    Parameters
    ----------
    name : str
        See :func:`get_spec`.
    random_state : int or None, default=0
        Seed handed to the factory.

    Returns
    -------
    estimator : object
        A new, unfitted classifier.
    """
    return get_spec(name).build(random_state)


def list_estimators() -> list[str]:
    """Registered estimator names, sorted.

    Returns
    -------
    names : list of str
    """
    return sorted(REGISTRY)


# --- baselines (aeon) --------------------------------------------------------
register(
    "minirocket",
    lazy_factory("aeon.classification.convolution_based:MiniRocketClassifier"),
    "aeon MiniRocketClassifier (10k kernels, ridge CV); the reference",
)
register(
    "hydra",
    lazy_factory("aeon.classification.convolution_based:MultiRocketHydraClassifier"),
    "aeon MultiRocketHydraClassifier (Hydra + MultiRocket features, ridge CV)",
)
register(
    "1nn-dtw",
    lazy_factory(
        "aeon.classification.distance_based:KNeighborsTimeSeriesClassifier",
        n_neighbors=1,
        distance="dtw",
    ),
    "aeon KNeighborsTimeSeriesClassifier, 1-NN with full-window DTW",
)

# --- renderer probes (vlmtsc) ------------------------------------------------
register(
    "gaf-logreg",
    renderer_probe("GramianAngularFieldRenderer"),
    "GAF image (64 px) -> flatten -> StandardScaler -> LogisticRegression",
)
register(
    "mtf-logreg",
    renderer_probe("MarkovTransitionFieldRenderer"),
    "MTF image (64 px) -> flatten -> StandardScaler -> LogisticRegression",
)
register(
    "rp-logreg",
    renderer_probe("RecurrencePlotRenderer"),
    "Recurrence plot (64 px) -> flatten -> StandardScaler -> LogisticRegression",
)
register(
    "lineplot-logreg",
    renderer_probe("LinePlotRenderer"),
    "Line plot (64 px) -> flatten -> StandardScaler -> LogisticRegression",
)

# --- vlmtsc language / vision-language estimators ----------------------------
# One ``register(name, lazy_factory("vlmtsc....:Class", **params), desc)`` each.
register(
    "vlm-linear",
    lazy_factory(
        "vlmtsc:VLMTimeSeriesClassifier",
        backbone="efficientnet-smollm2",
        head="linear",
        verbose=0,
    ),
    "line plot -> frozen EfficientNet-Lite0 features -> logistic regression",
)
register(
    "vlm-lora",
    lazy_factory(
        "vlmtsc:VLMTimeSeriesClassifier",
        backbone="efficientnet-smollm2",
        head="lm",
        n_epochs=4,
        learning_rate=1e-3,
        verbose=0,
    ),
    "line plot -> EfficientNet-Lite0 + projector + SmolLM2 with LoRA, label scoring",
)
register(
    "smollm2-numbers",
    lazy_factory(
        "vlmtsc:VLMTimeSeriesClassifier",
        backbone="smollm2-135m",
        prompt_mode="baseline",
        n_epochs=4,
        learning_rate=1e-3,
        verbose=0,
    ),
    "values as text (2 decimals) -> SmolLM2-135M with LoRA, label scoring",
)


# --- small-data levers on the VLM classifier (each against its plain variant) --
def _lm(estimator: str, **params) -> Factory:
    """Factory of the vlmtsc LM classifier named ``estimator`` with ``params``.

    ``augmentation=True`` becomes a default :class:`SeriesAugmenter` and
    ``renderer="gaf"`` a 224-px GAF renderer (imported at build time, like the
    estimator); ``ensemble`` is a dict for :func:`vlmtsc.ensemble_over`, where
    ``renderer="line+gaf"`` means both renderers.
    """
    ensemble = params.pop("ensemble", None)

    def factory(random_state: int | None) -> Any:
        import vlmtsc
        from vlmtsc.renderers import GramianAngularFieldRenderer, LinePlotRenderer
        from vlmtsc.training import SeriesAugmenter

        kwargs = dict(params)
        if kwargs.get("augmentation") is True:
            kwargs["augmentation"] = SeriesAugmenter()
        if kwargs.get("renderer") == "gaf":
            kwargs["renderer"] = GramianAngularFieldRenderer(image_size=224)
        built = getattr(vlmtsc, estimator)(
            random_state=random_state, verbose=0, **kwargs
        )
        if ensemble is None:
            return built
        members = dict(ensemble)
        if members.get("renderer") == "line+gaf":
            members["renderer"] = [
                LinePlotRenderer(),
                GramianAngularFieldRenderer(image_size=224),
            ]
        return vlmtsc.ensemble_over(built, **members)

    return factory


_LORA = dict(head="lm", n_epochs=4, learning_rate=1e-3)
for _name, _params, _what in [
    ("vlm-linear-gaf", dict(head="linear", renderer="gaf"), "GAF image"),
    (
        "vlm-linear-norm",
        dict(head="linear", normalization="across_channels"),
        "series z-normalised across channels",
    ),
    (
        "vlm-linear-aug",
        dict(head="linear", augmentation=True),
        "+1 augmented copy per series",
    ),
    (
        "vlm-linear-ens",
        dict(head="linear", ensemble={"renderer": "line+gaf"}),
        "soft vote of line-plot and GAF members",
    ),
    (
        "vlm-lora-aug",
        dict(_LORA, augmentation=True),
        "LoRA head, +1 fresh augmented copy per series per epoch",
    ),
    (
        "vlm-lora-aug8",
        dict(_LORA, augmentation=True, n_epochs=8),
        "LoRA head, augmentation, up to 8 epochs",
    ),
    (
        "vlm-lora-kfold",
        dict(_LORA, validation_folds=3),
        "LoRA head, epoch count by stratified 3-fold",
    ),
    (
        "vlm-lora-seeds",
        dict(_LORA, ensemble={"random_state": [0, 1, 2]}),
        "LoRA head, soft vote of 3 seeds",
    ),
]:
    register(
        _name,
        _lm("VLMTimeSeriesClassifier", backbone="efficientnet-smollm2", **_params),
        f"vlm ({_params['head']} head): {_what}",
    )

# --- InstructTime (VQ tokens in SmolLM2) -------------------------------------
register(
    "instructtime",
    lazy_factory("vlmtsc:InstructTimeClassifier", backbone="smollm2-135m", verbose=0),
    "VQ tokens (patch 8, 128 codes) -> SmolLM2-135M with LoRA, label scoring",
)


register(
    "instructtime-aug",
    _lm("InstructTimeClassifier", backbone="smollm2-135m", augmentation=True),
    "as instructtime, + 1 fresh augmented (re-tokenized) copy per series per epoch",
)

# --- CrossTimeNet (VQ tokens in MiniLM) and Time-LlaMA (channel tokens, D-LoRA) -
for _name, _params, _what in [
    ("crosstimenet", {}, "masked-token pre-training on the training series"),
    ("crosstimenet-nopretrain", dict(pretrain_epochs=0), "no masked pre-training"),
    ("crosstimenet-random", dict(init="random"), "random init instead of MiniLM"),
    ("crosstimenet-mask15", dict(mask_ratio=0.15), "mask_ratio 0.15 (BERT's)"),
    ("crosstimenet-mask30", dict(mask_ratio=0.3), "mask_ratio 0.3 (seed code's)"),
    ("crosstimenet-mask80", dict(mask_ratio=0.8), "mask_ratio 0.8"),
]:
    register(
        _name,
        lazy_factory("vlmtsc:CrossTimeNetClassifier", verbose=0, **_params),
        f"VQ tokens -> MiniLM-L6 encoder + head: {_what}",
    )
for _name, _params, _what in [
    ("timellama", {}, "D-LoRA, prompt alignment"),
    ("timellama-lora", dict(adapter="lora"), "plain LoRA instead of D-LoRA"),
    ("timellama-frozen", dict(adapter="none"), "frozen backbone"),
    ("timellama-noalign", dict(alignment=False), "D-LoRA, no alignment"),
]:
    register(
        _name,
        lazy_factory("vlmtsc:TimeLlamaClassifier", verbose=0, **_params),
        f"channel tokens -> SmolLM2-135M (6 blocks) + head: {_what}",
    )

# The training splits a cross-domain CrossTimeNet encoder is pre-trained on (no
# test series; the benchmarked set's own training series are among them,
# unlabelled, as in-fit pre-training uses them too).
CROSS_DOMAIN = (
    "ArrowHead",
    "BasicMotions",
    "Coffee",
    "GunPoint",
    "ItalyPowerDemand",
    "UnitTest",
)


@functools.cache
def _crosstimenet_artifact(random_state: int | None) -> str:
    """Pre-train once per process; the folder of the artifact."""
    from vlmtsc import CrossTimeNetClassifier
    from vlmtsc.datasets import load_dataset

    folder = tempfile.mkdtemp(prefix="vlmtsc-crosstimenet-")
    started = time.perf_counter()
    CrossTimeNetClassifier(random_state=random_state, verbose=0).pretrain(
        {d: load_dataset(d, split="train") for d in CROSS_DOMAIN}, folder
    )
    print(
        f"crosstimenet-crossdomain: pre-trained on {len(CROSS_DOMAIN)} training "
        f"splits in {time.perf_counter() - started:.0f} s (not in any fit time)",
        file=sys.stderr,
    )
    return folder


def _crosstimenet_crossdomain(random_state: int | None) -> Any:
    from vlmtsc import CrossTimeNetClassifier

    return CrossTimeNetClassifier(
        backbone=_crosstimenet_artifact(random_state),
        random_state=random_state,
        verbose=0,
    )


register(
    "crosstimenet-crossdomain",
    _crosstimenet_crossdomain,
    "VQ tokens -> MiniLM-L6 masked-token pre-trained across the training splits "
    "of " + ", ".join(CROSS_DOMAIN) + " (once per run), new tokenizer per set",
)
