"""The protocol that chooses the linear probe's defaults, on training splits only.

Run from the repository root::

    python -m benchmarks.probe_protocol --threads 1

For every bundled data set, ONLY its training split is used: each candidate
configuration of ``VLMTimeSeriesClassifier(head="linear")`` (encoder x renderers
x layers x series encoder x head) is scored by stratified k-fold cross-validation
on it (k = min(5, smallest class), the same folds for every candidate, seed 0).
The candidate with the best mean accuracy over all bundled sets becomes the
default; the test splits play no part here (`benchmarks/grids/probe.yaml`
reports them beside MiniRocket, once the defaults are set).

The features of every stage of each encoder are computed once per (encoder,
renderer, data set) with :class:`vlmtsc.VLMFeatureExtractor`, the series
encoders' once per data set (frozen weights: nothing is fitted on labels, so
computing them on the whole training split before splitting leaks nothing), and
the candidates take their columns. The tables go to
``benchmarks/results/probe-protocol-<UTC timestamp>/``:
``cv.csv`` (one row per candidate and data set), ``protocol.md`` (the means,
the choice), ``features.json`` (dimensions and seconds per series).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, RidgeClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vlmtsc import VLMFeatureExtractor
from vlmtsc.backbones import SERIES_ENCODERS, load_backbone, series_features
from vlmtsc.datasets import list_datasets, load_dataset
from vlmtsc.experiments import environment_info, limit_threads
from vlmtsc.renderers import LinePlotRenderer, WindowStackRenderer
from vlmtsc.training import fit_probe, middle_stages

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ENCODERS = {"lite0": "efficientnet-smollm2", "lite2": "efficientnet-lite2-smollm2"}
RENDERERS = {"line": LinePlotRenderer, "windows": WindowStackRenderer}
VIEWS = {"line": ("line",), "windows": ("windows",), "fused": ("line", "windows")}
LAYERS = {
    "head": lambda n: [n - 1],
    "middle": middle_stages,
    "middle+head": lambda n: [*middle_stages(n), n - 1],
}
"""Stage sets compared (n: the CNN's stages, its head last)."""
SERIES = ("none", *SERIES_ENCODERS)
"""Series encoders whose features join the images' (``series_encoder=``)."""


PROBABILISTIC = ("logreg-C1", "logreg-cv")
"""Heads with ``predict_proba``, among which the protocol chooses."""


def _heads(seed: int):
    """The heads compared, each ``(features, y) -> fitted``: C=1 (the earlier
    default), C chosen by inner k-fold (``fit_probe``, the estimator's), ridge
    with its built-in leave-one-out choice of strength."""
    return {
        "logreg-C1": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed)
        ).fit,
        "logreg-cv": lambda F, y: fit_probe(F, y, seed),
        "ridge-cv": make_pipeline(
            StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 7))
        ).fit,
    }


def protocol_folds(y, seed: int = 0) -> StratifiedKFold:
    """The protocols' folds of a training split: stratified k-fold, k = min(5,
    smallest class), shuffled with ``seed``."""
    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    return StratifiedKFold(min(5, smallest), shuffle=True, random_state=seed)


def results_folder(name: str) -> Path:
    """A new ``benchmarks/results/<name>-<UTC timestamp>/`` folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = RESULTS_DIR / f"{name}-{stamp}"
    output.mkdir(parents=True)
    return output


def cv_accuracy(fit, F, y, folds) -> float:
    """Mean held-out accuracy of ``fit`` over ``folds``."""
    scores = [
        fit(F[train], y[train]).score(F[held], y[held])
        for train, held in folds.split(F, y)
    ]
    return float(np.mean(scores))


def stage_extractor(backbone: str) -> VLMFeatureExtractor:
    """A fitted extractor of every stage of ``backbone``'s CNN, for each renderer
    of :data:`RENDERERS` side by side (no normalisation: nothing is learnt in
    ``fit``, so one fit serves every data set)."""
    n_stages = load_backbone(backbone, verbose=0).model.n_vision_stages
    extractor = VLMFeatureExtractor(
        backbone,
        renderer=[make() for make in RENDERERS.values()],
        layers=list(range(n_stages)),
        series_encoder=None,
        verbose=0,
    )
    X, _ = load_dataset("GunPoint", split="train")
    return extractor.fit(X[:1])


def columns(widths: list, stages: list) -> np.ndarray:
    """Column indices of ``stages`` in the side-by-side features."""
    edges = np.cumsum([0, *widths])
    stages = [s % len(widths) for s in stages]
    return np.concatenate([np.arange(edges[s], edges[s + 1]) for s in stages])


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--datasets", default=",".join(list_datasets()))
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--summarize",
        metavar="FOLDER",
        help="rewrite FOLDER/protocol.md from its cv.csv",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        folder = Path(args.summarize)
        (folder / "protocol.md").write_text(summary(pd.read_csv(folder / "cv.csv")))
        return folder
    output = results_folder("probe-protocol")
    seed = args.random_state
    rows, cost, series_cache = [], {}, {}
    with limit_threads(args.threads):
        for encoder in args.encoders.split(","):
            extractor = stage_extractor(ENCODERS[encoder])
            widths = list(extractor.model_.model.vision_stage_channels)
            for dataset in args.datasets.split(","):
                X, y = load_dataset(dataset, split="train")
                start = time.perf_counter()
                features = extractor.transform(X)
                seconds = (time.perf_counter() - start) / len(X)
                cost[f"{encoder}/{dataset}"] = {
                    "widths": widths,
                    "seconds_per_series": round(seconds, 4),
                }
                views = dict(zip(RENDERERS, np.hsplit(features, 2), strict=True))
                if dataset not in series_cache:
                    start = time.perf_counter()
                    series_cache[dataset] = {
                        name: series_features(name, X) for name in SERIES_ENCODERS
                    }
                    cost[f"series/{dataset}"] = {
                        "seconds_per_series": round(
                            (time.perf_counter() - start) / len(X), 4
                        )
                    }
                blocks = {"none": np.empty((len(y), 0)), **series_cache[dataset]}
                folds = protocol_folds(y, seed)
                multivariate = np.ndim(X[0]) == 2 and np.shape(X[0])[0] > 1
                for (view, parts), (layers, choose), series in itertools.product(
                    VIEWS.items(), LAYERS.items(), SERIES
                ):
                    picked = columns(widths, choose(len(widths)))
                    F = np.hstack(
                        [*(views[part][:, picked] for part in parts), blocks[series]]
                    )
                    for head, fit in _heads(seed).items():
                        rows.append(
                            dict(
                                dataset=dataset,
                                multivariate=multivariate,
                                encoder=encoder,
                                view=view,
                                layers=layers,
                                series=series,
                                head=head,
                                dimension=F.shape[1],
                                cv_accuracy=cv_accuracy(fit, F, y, folds),
                                folds=folds.n_splits,
                            )
                        )
                print(f"{encoder} {dataset}: {seconds:.3f} s/series", flush=True)
                pd.DataFrame(rows).to_csv(output / "cv.csv", index=False)
    table = pd.DataFrame(rows)
    table.to_csv(output / "cv.csv", index=False)
    (output / "features.json").write_text(json.dumps(cost, indent=1))
    (output / "environment.json").write_text(
        json.dumps(environment_info(threads=args.threads), indent=1)
    )
    (output / "protocol.md").write_text(summary(table))
    print(summary(table))
    return output


def summary(table: pd.DataFrame) -> str:
    """Mean CV accuracy of each candidate (all sets, univariate, multivariate)
    and the choice: the best mean over all sets among the heads that give
    probabilities (the estimator's ``predict_proba``; ridge is shown beside)."""
    keys = ["encoder", "view", "layers", "series", "head"]
    means = table.groupby(keys).cv_accuracy.mean().rename("all")
    by_kind = table.pivot_table(
        index=keys, columns="multivariate", values="cv_accuracy", aggfunc="mean"
    ).rename(columns={False: "univariate", True: "multivariate"})
    per_set = table.pivot_table(index=keys, columns="dataset", values="cv_accuracy")
    result = pd.concat([means, by_kind, per_set], axis=1).sort_values(
        "all", ascending=False
    )
    probabilistic = result.index.get_level_values("head").isin(PROBABILISTIC)
    best = result.index[probabilistic][0]
    return (
        "# Linear-probe protocol: stratified k-fold on the training splits\n\n"
        f"Choice (best mean over all sets among {', '.join(PROBABILISTIC)}): "
        f"{dict(zip(keys, best, strict=True))}\n\n" + _markdown(result)
    )


def _markdown(frame: pd.DataFrame) -> str:
    header = [*frame.index.names, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, values in frame.iterrows():
        cells = [*map(str, key), *(f"{v:.3f}" for v in values)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
