"""The probe's images for multivariate series, chosen on training splits only.

Run from the repository root::

    python -m benchmarks.heatmap_protocol --threads 2

For every bundled multivariate data set, ONLY its training split is used: the
probe's features of each image type (``VLMFeatureExtractor`` at its defaults:
EfficientNet-Lite0, the CNN's middle blocks) and Fracast-0's features of the
values are computed once, and each candidate (images x series encoder) is
scored by stratified k-fold cross-validation of the probe's head
(:func:`vlmtsc.training.fit_probe`; k = min(5, smallest class), seed 0: the
folds of ``benchmarks/probe_protocol.py``). The candidate with the best mean
becomes the multivariate default of ``default_renderer``; the test splits play
no part (``benchmarks/grids/probe.yaml`` reports them). Writes ``cv.csv`` and
``protocol.md`` to ``benchmarks/results/heatmap-protocol-<UTC timestamp>/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.probe_protocol import (
    _markdown,
    cv_accuracy,
    protocol_folds,
    results_folder,
)
from vlmtsc import VLMFeatureExtractor
from vlmtsc.backbones import series_features
from vlmtsc.datasets import load_dataset
from vlmtsc.experiments import environment_info, limit_threads
from vlmtsc.renderers import HeatmapRenderer, LinePlotRenderer, WindowStackRenderer
from vlmtsc.training import fit_probe

MULTIVARIATE = ("BasicMotions", "JapaneseVowels")
IMAGES = {
    "line": (LinePlotRenderer(), None),
    "windows": (WindowStackRenderer(), None),
    "heatmap": (HeatmapRenderer(), None),
    "heatmap-grey": (HeatmapRenderer(cmap="gray"), None),
    "heatmap-per-channel": (HeatmapRenderer(), "per_channel"),
}
"""Image name -> (renderer, the extractor's ``normalization``)."""
CANDIDATES = [
    *[
        (images, series)
        for images in (
            "line+windows",
            "line+heatmap",
            "line+windows+heatmap",
            "heatmap",
            "windows",
            "line",
        )
        for series in ("fracast", "none")
    ],
    ("heatmap-grey", "none"),
    ("heatmap-per-channel", "none"),
]


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--datasets", default=",".join(MULTIVARIATE))
    args = parser.parse_args(argv)
    output = results_folder("heatmap-protocol")
    rows = []
    with limit_threads(args.threads):
        for dataset in args.datasets.split(","):
            X, y = load_dataset(dataset, split="train")
            blocks = {
                name: VLMFeatureExtractor(
                    renderer=renderer,
                    normalization=normalization,
                    series_encoder=None,
                    verbose=0,
                ).fit_transform(X)
                for name, (renderer, normalization) in IMAGES.items()
            }
            blocks["fracast"] = series_features("fracast", X)
            blocks["none"] = np.empty((len(y), 0))
            folds = protocol_folds(y)
            for images, series in CANDIDATES:
                F = np.hstack([*(blocks[b] for b in images.split("+")), blocks[series]])
                accuracy = cv_accuracy(lambda F, y: fit_probe(F, y, 0), F, y, folds)
                rows.append(
                    dict(
                        dataset=dataset,
                        images=images,
                        series=series,
                        dimension=F.shape[1],
                        cv_accuracy=accuracy,
                    )
                )
                print(f"{dataset} {images} {series}: {accuracy:.3f}", flush=True)
                pd.DataFrame(rows).to_csv(output / "cv.csv", index=False)
    table = pd.DataFrame(rows)
    means = (
        table.pivot_table(
            index=["images", "series"], columns="dataset", values="cv_accuracy"
        )
        .assign(mean=lambda t: t.mean(axis=1))
        .sort_values("mean", ascending=False)
    )
    (output / "protocol.md").write_text(
        "# Multivariate images: stratified k-fold CV on the training splits\n\n"
        + _markdown(means)
    )
    (output / "environment.json").write_text(
        json.dumps(environment_info(threads=args.threads), indent=1)
    )
    print(means.round(3).to_string())
    return output


if __name__ == "__main__":
    main()
