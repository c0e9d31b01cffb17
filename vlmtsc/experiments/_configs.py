"""Named estimator configurations: the entries the benchmark grids are made of.

Each name stands for a class (or factory) with fixed parameters, so a grid, the
``--estimators`` of ``vlmtsc bench`` and the published benchmark tables use the
same words: ``vlmtsc bench --estimators minirocket,vlm-lora``. A grid entry can
build on one and change some parameters: ``"vlm-lora(n_epochs=8)"``.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time

from vlmtsc.classification import CrossTimeNetClassifier
from vlmtsc.experiments._baselines import renderer_probe

__all__ = ["CONFIGURATIONS", "CROSS_DOMAIN", "CrossDomainCrossTimeNet"]

#: The training splits the ``crosstimenet-crossdomain`` encoder is pre-trained on
#: (no test series; the benchmarked set's own training series are among them,
#: unlabelled, as in-fit pre-training uses them too).
CROSS_DOMAIN = (
    "ArrowHead",
    "BasicMotions",
    "Coffee",
    "GunPoint",
    "ItalyPowerDemand",
    "UnitTest",
)


@functools.cache
def _pretrained(backbone, random_state) -> str:
    """Pre-train once per process; the folder lives until the process ends."""
    from vlmtsc.datasets import load_dataset

    folder = tempfile.TemporaryDirectory(prefix="vlmtsc-crosstimenet-")
    _FOLDERS.append(folder)  # removed when the interpreter exits
    started = time.perf_counter()
    CrossTimeNetClassifier(
        backbone=backbone, random_state=random_state, verbose=0
    ).pretrain({d: load_dataset(d, split="train") for d in CROSS_DOMAIN}, folder.name)
    print(
        f"crosstimenet-crossdomain: pre-trained on {len(CROSS_DOMAIN)} training "
        f"splits in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return folder.name


_FOLDERS: list = []


class CrossDomainCrossTimeNet(CrossTimeNetClassifier):
    """CrossTimeNet fine-tuned from an encoder pre-trained across several sets.

    The named configuration ``crosstimenet-crossdomain``. Before its first fit
    in a process (for each ``backbone`` and ``random_state``), ``backbone`` is
    pre-trained with :meth:`~vlmtsc.CrossTimeNetClassifier.pretrain` on the
    training splits of :data:`CROSS_DOMAIN` (no test series) into a temporary
    folder removed when the process ends; every fit then fine-tunes from that
    folder, with a new tokenizer for its own set. An experiment's untimed
    warm-up pays the pre-training, so it is in no fit time. Parameters are
    those of :class:`~vlmtsc.CrossTimeNetClassifier`.
    """

    def fit(self, X, y):
        """Pre-train (once per process), then fit as CrossTimeNetClassifier.

        Parameters
        ----------
        X : array-like
            Training series.
        y : array-like
            Labels.

        Returns
        -------
        self
        """
        backbone = self.backbone
        self.backbone = _pretrained(backbone, self.random_state)
        try:
            return super().fit(X, y)
        finally:
            self.backbone = backbone  # parameters stay as given


_VLM = "VLMTimeSeriesClassifier"
_EFFICIENTNET = {"backbone": "efficientnet-smollm2"}
_LINEAR = {"head": "linear"}  # the probe: the bare default (head protocol)
_LORA = {**_EFFICIENTNET, "head": "lm", "n_epochs": 4, "learning_rate": 1e-3}
_INSTRUCT_LM = {"backbone": "smollm2-135m", "head": "lm"}
_LINE_AND_GAF = {"renderer": ["lineplot", "gaf"]}

_SPECS = [
    # Classical baselines (aeon).
    ("minirocket", "minirocket", {}, None,
     "aeon MiniRocketClassifier (10k kernels, ridge CV); the reference"),
    ("hydra", "aeon.classification.convolution_based:MultiRocketHydraClassifier",
     {}, None,
     "aeon MultiRocketHydraClassifier (Hydra + MultiRocket features, ridge CV)"),
    ("1nn-dtw", "aeon.classification.distance_based:KNeighborsTimeSeriesClassifier",
     {"n_neighbors": 1, "distance": "dtw"}, None,
     "aeon KNeighborsTimeSeriesClassifier, 1-NN with full-window DTW"),
    # Renderer probes: how much class information each image type carries.
    *[
        (f"{name}-logreg", renderer_probe, {"renderer": f"{name}(image_size=64)"},
         None, f"{what} (64 px) -> flatten -> StandardScaler -> LogisticRegression")
        for name, what in [("gaf", "GAF image"), ("mtf", "MTF image"),
                           ("rp", "Recurrence plot"),
                           ("windows", "TiViT window stack"),
                           ("heatmap", "Heatmap"),
                           ("lineplot", "Line plot")]
    ],
    # VLMTimeSeriesClassifier on EfficientNet-Lite0 + SmolLM2-135M, and levers.
    ("vlm-linear", _VLM, _LINEAR, None,
     "VLMTimeSeriesClassifier(head='linear'): line plot + window stack -> frozen "
     "EfficientNet-Lite0 middle blocks, + Fracast-0 series features -> logistic "
     "regression (C by k-fold)"),
    ("vlm-lora", _VLM, _LORA, None,
     "line plot -> EfficientNet-Lite0 + projector + SmolLM2 with LoRA, label "
     "scoring"),
    ("vlm-pooled", _VLM, {"head": "pooled"}, None,
     "LP-FT: the vlm-linear probe, then with SmolLM2's pooled hidden states "
     "(weighted 0 at the start) fine-tuned with LoRA; the probe kept unless an "
     "epoch beats it on validation"),
    ("smollm2-numbers", _VLM,
     {"backbone": "smollm2-135m", "head": "lm", "prompt_mode": "baseline",
      "n_epochs": 4, "learning_rate": 1e-3}, None,
     "values as text (2 decimals) -> SmolLM2-135M with LoRA, label scoring"),
    ("vlm-linear-gaf", _VLM, {**_LINEAR, "renderer": "gaf"}, None,
     "vlm (linear head): GAF image"),
    ("vlm-linear-norm", _VLM, {**_LINEAR, "normalization": "across_channels"},
     None, "vlm (linear head): series z-normalised across channels"),
    ("vlm-linear-aug", _VLM, {**_LINEAR, "augmentation": True}, None,
     "vlm (linear head): +1 augmented copy per series"),
    ("vlm-linear-ens", _VLM, _LINEAR, _LINE_AND_GAF,
     "vlm (linear head): soft vote of line-plot and GAF members"),
    ("vlm-lora-aug", _VLM, {**_LORA, "augmentation": True}, None,
     "vlm (lm head): LoRA, +1 fresh augmented copy per series per epoch"),
    ("vlm-lora-aug8", _VLM, {**_LORA, "augmentation": True, "n_epochs": 8}, None,
     "vlm (lm head): LoRA, augmentation, up to 8 epochs"),
    ("vlm-lora-kfold", _VLM, {**_LORA, "validation_folds": 3}, None,
     "vlm (lm head): LoRA, epoch count by stratified 3-fold"),
    ("vlm-lora-seeds", _VLM, _LORA, {"random_state": [0, 1, 2]},
     "vlm (lm head): LoRA, soft vote of 3 seeds"),
    # InstructTime: VQ tokens in SmolLM2.
    ("instructtime", "InstructTimeClassifier", {"backbone": "smollm2-135m"}, None,
     "VQ tokens (patch 8, 128 codes) -> frozen SmolLM2-135M, logistic regression "
     "on the mean hidden state (the default head)"),
    ("instructtime-lm", "InstructTimeClassifier", _INSTRUCT_LM, None,
     "VQ tokens -> SmolLM2-135M with LoRA, label scoring (the paper's head)"),
    ("instructtime-random", "InstructTimeClassifier",
     {**_INSTRUCT_LM, "language_model": "random"}, None,
     "as instructtime-lm, SmolLM2's architecture with random weights"),
    ("instructtime-aug", "InstructTimeClassifier",
     {**_INSTRUCT_LM, "augmentation": True}, None,
     "as instructtime-lm, + 1 fresh augmented (re-tokenized) copy per series per "
     "epoch"),
    # CrossTimeNet: VQ tokens in a MiniLM-L6 encoder (random weights by default).
    *[
        (f"crosstimenet{suffix}", "CrossTimeNetClassifier", params, None,
         f"VQ tokens -> MiniLM-L6-shaped encoder + head: {what}")
        for suffix, params, what in [
            ("", {}, "random init, masked-token pre-training on the training "
             "series, linear probe (the default)"),
            ("-pretrained", {"language_model": "pretrained"},
             "MiniLM-L6's pretrained weights instead of a random init"),
            ("-mlp", {"head": "mlp", "pooling": "flatten"},
             "the seed's head fine-tuned on the flattened token states"),
            ("-nopretrain", {"pretrain_epochs": 0}, "no masked pre-training"),
            ("-random", {"language_model": "random"},
             "random init (the default since 2026-12-06, named for older grids)"),
            ("-attention", {"language_model": "attention"},
             "one attention layer instead of MiniLM (Tan et al.)"),
            ("-nolm", {"language_model": "none"},
             "no language model: token embeddings -> head (Tan et al.)"),
            ("-mask15", {"mask_ratio": 0.15}, "mask_ratio 0.15 (BERT's)"),
            ("-mask30", {"mask_ratio": 0.3}, "mask_ratio 0.3 (seed code's)"),
            ("-mask80", {"mask_ratio": 0.8}, "mask_ratio 0.8"),
        ]
    ],
    ("crosstimenet-crossdomain", CrossDomainCrossTimeNet, {}, None,
     "VQ tokens -> MiniLM-L6 masked-token pre-trained across the training splits "
     f"of {', '.join(CROSS_DOMAIN)} (once per process, in the warm-up), new "
     "tokenizer per set"),
    # MTCS: the TS2Vec encoder, single-task unless given related datasets.
    ("mtcs", "MTCSClassifier", {}, None,
     "TS2Vec dilated-CNN encoder trained on the set (80 epochs at most, fewer "
     "on long series), "
     "logistic regression on its representations (the default)"),
    # Time-LlaMA: patch tokens per channel, SmolLM2-135M cut to 6 blocks.
    *[
        (f"timellama{suffix}", "TimeLlamaClassifier", params, None,
         f"patch tokens -> SmolLM2-135M (6 blocks) + head: {what}")
        for suffix, params, what in [
            ("", {}, "D-LoRA, prompt alignment"),
            ("-lora", {"adapter": "lora"}, "plain LoRA instead of D-LoRA"),
            ("-frozen", {"adapter": "none"}, "frozen backbone"),
            ("-noalign", {"alignment": False}, "D-LoRA, no alignment"),
            ("-random", {"language_model": "random"},
             "randomly initialised SmolLM2 blocks, D-LoRA"),
            ("-attention", {"language_model": "attention"},
             "one attention layer instead of SmolLM2 (Tan et al.)"),
            ("-nolm", {"language_model": "none"},
             "no language model: tokens -> head (Tan et al.)"),
        ]
    ],
]  # fmt: skip

#: Named estimator configurations a grid (or ``vlmtsc bench --estimators``) can
#: use by name: name -> ``(reference, params, ensemble, description)``; the grid
#: module makes them :class:`EstimatorSpec` objects (``NAMED_ESTIMATORS``).
CONFIGURATIONS = {
    name: (reference, params, ensemble, description)
    for name, reference, params, ensemble, description in _SPECS
}
