"""The protocol that compares VLMTimeSeriesClassifier's heads, on training splits only.

Run from the repository root::

    python -m benchmarks.head_protocol --threads 2

For every bundled data set, ONLY its training split is used: each head of
``VLMTimeSeriesClassifier`` at otherwise bare defaults (``head="linear"``: the
probe; ``head="pooled"``: LP-FT from it; ``head="lm"``: LoRA and label scoring)
is scored by stratified 2-fold cross-validation on it (the same folds for every
head, seed 0; 2 folds because PigCVP has two training series per class and a
fine-tuned fit costs minutes). The estimator's own validation split is carved
from each fold's training half. The test splits play no part here.
``--lm-datasets`` limits the costly ``"lm"`` head to some sets.

Writes ``benchmarks/results/head-protocol-<UTC timestamp>/``: ``rows.jsonl``
(one row per head, data set and fold: accuracy, fit and predict seconds, the
epochs kept), ``protocol.md`` (means per head over the sets every head ran).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.base import take_cases
from vlmtsc.datasets import list_datasets, load_dataset
from vlmtsc.experiments import environment_info, limit_threads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HEADS = ("linear", "pooled", "lm")


def _n_train(name: str) -> int:
    return len(load_dataset(name, "train")[1])


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--heads", nargs="*", default=list(HEADS), choices=HEADS)
    parser.add_argument("--lm-datasets", nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.output or RESULTS_DIR / f"head-protocol-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "environment.json").write_text(json.dumps(environment_info(), indent=2))
    names = sorted(args.datasets or list_datasets(), key=_n_train)
    rows = out / "rows.jsonl"
    # Cheap heads on every set first, the costly label scoring last.
    plan = [(h, n) for h in args.heads if h != "lm" for n in names]
    if "lm" in args.heads:
        plan += [("lm", n) for n in (args.lm_datasets or names)]
    for head, name in plan:
        X, y = load_dataset(name, "train")
        folds = StratifiedKFold(2, shuffle=True, random_state=0)
        for fold, (fit, held) in enumerate(folds.split(np.zeros(len(y)), y)):
            clf = VLMTimeSeriesClassifier(head=head, verbose=0)
            started = time.perf_counter()
            clf.fit(take_cases(X, fit), y[fit])
            fitted = time.perf_counter()
            accuracy = clf.score(take_cases(X, held), y[held])
            row = {
                "dataset": name,
                "head": head,
                "fold": fold,
                "accuracy": float(accuracy),
                "fit_s": fitted - started,
                "predict_s": time.perf_counter() - fitted,
                "n_fit": len(fit),
                "n_held_out": len(held),
                "best_epoch": int(clf.best_epoch_),
            }
            with rows.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    summarise(out)
    return out


def _markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A frame with one index level as a markdown table (blank: not run)."""
    header = [frame.index.name or "", *map(str, frame.columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---" + "|---:" * len(frame.columns) + "|",
    ]
    for key, values in frame.iterrows():
        cells = [
            ""
            if isinstance(v, float) and np.isnan(v)
            else f"{v:.{digits}f}"
            if isinstance(v, float)
            else str(v)
            for v in values
        ]
        lines.append("| " + " | ".join([str(key), *cells]) + " |")
    return "\n".join(lines) + "\n"


def summarise(out: Path) -> None:
    """``protocol.md``: mean CV accuracy and cost per head and data set."""
    frame = pd.read_json(out / "rows.jsonl", lines=True)
    grouped = frame.groupby(["dataset", "head"])
    accuracy = grouped["accuracy"].mean().unstack("head")
    fit_s = grouped["fit_s"].mean().unstack("head")
    rate = (grouped["n_held_out"].sum() / grouped["predict_s"].sum()).unstack("head")
    epochs = grouped["best_epoch"].agg(lambda e: "/".join(map(str, e))).unstack("head")
    every = accuracy.dropna()
    means = pd.DataFrame(
        {
            f"all {len(every)} sets every head ran": every.mean(),
            "all sets the head ran": accuracy.mean(),
        }
    ).T
    lines = [
        "# VLMTimeSeriesClassifier heads: 2-fold CV on the training splits",
        "",
        "Mean held-out accuracy per data set (training splits only; blank: not",
        "run), then the means.",
        "",
        _markdown(accuracy),
        _markdown(means),
        "Fit seconds per fold (mean):",
        "",
        _markdown(fit_s, 1),
        "Predicted cases per second:",
        "",
        _markdown(rate, 1),
        "Epochs kept per fold (0: the starting point; the probe trains none):",
        "",
        _markdown(epochs.fillna("")),
    ]
    (out / "protocol.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
