"""The protocol that chooses defaults: cross-validation on the training splits only.

Run from the repository root::

    python -m benchmarks.protocol --threads 2 --heads linear pooled lm
    python -m benchmarks.protocol --threads 2 \
        --estimators "TimeLlamaClassifier()" "TimeLlamaClassifier(patch_length=16)"

For every bundled data set, ONLY its training split is used: each
configuration is scored by stratified 2-fold cross-validation on it (the same
folds for every configuration, seed 0; 2 folds because PigCVP has two training
series per class and a fine-tuned fit costs minutes; ``--folds probe`` uses the
probe protocol's k = min(5, smallest class) instead, as for MiniRocket's
reference scores in the features guide). The estimator's own
validation split is carved from each fold's training half. The test splits play
no part here.

Configurations are estimator entries as a grid names them
(:func:`vlmtsc.experiments.resolve_estimator`: ``"TimeLlamaClassifier()"``,
``"timellama(patch_length=16)"``, or a JSON mapping such as ``'{"estimator":
"CrossTimeNetClassifier", "params": {"tokenizer": {"patch_length": 4}}, "name":
"patch 4"}'``, labelled by its name); ``--heads`` is the shortcut for
``VLMTimeSeriesClassifier(head=...)`` at otherwise bare defaults, labelled by
the head. ``--costly`` names configurations run only on ``--costly-datasets``
(after the others).

Writes ``benchmarks/results/protocol-<UTC timestamp>/``: ``rows.jsonl``
(one row per configuration, data set and fold: accuracy, fit and predict
seconds, the epochs kept, the validation run's score at every epoch),
``protocol.md`` (means per configuration over the
sets every configuration ran).
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

from benchmarks.probe_protocol import protocol_folds
from vlmtsc.base import take_cases
from vlmtsc.datasets import list_datasets, load_dataset
from vlmtsc.experiments import environment_info, limit_threads, resolve_estimator

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HEADS = ("linear", "pooled", "lm")


def _n_train(name: str) -> int:
    return len(load_dataset(name, "train")[1])


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--heads", nargs="*", default=[], choices=HEADS)
    parser.add_argument("--estimators", nargs="*", default=[])
    parser.add_argument("--costly", nargs="*", default=[])
    parser.add_argument("--costly-datasets", nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--folds",
        default="2",
        help="k of the stratified k-fold, or 'probe': min(5, smallest class)",
    )
    args = parser.parse_args(argv)
    if args.folds != "probe" and not args.folds.isdigit():
        parser.error(f"--folds takes an integer or 'probe', not {args.folds!r}")
    configurations = {
        head: resolve_estimator(f"VLMTimeSeriesClassifier(head={head})")
        for head in args.heads
    }
    specs = [
        resolve_estimator(json.loads(entry) if entry[:1] == "{" else entry)
        for entry in args.estimators
    ]
    configurations |= {spec.name: spec for spec in specs}
    if not configurations:
        parser.error("name at least one configuration (--heads or --estimators)")
    unknown = set(args.costly) - set(configurations)
    if unknown:
        parser.error(f"--costly names no configuration: {sorted(unknown)}")
    limit_threads(args.threads)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.output or RESULTS_DIR / f"protocol-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "environment.json").write_text(json.dumps(environment_info(), indent=2))
    names = sorted(args.datasets or list_datasets(), key=_n_train)
    rows = out / "rows.jsonl"
    # Cheap configurations on every set first, the costly ones last.
    plan = [(c, n) for c in configurations if c not in args.costly for n in names]
    plan += [(c, n) for c in args.costly for n in (args.costly_datasets or names)]
    for label, name in plan:
        X, y = load_dataset(name, "train")
        folds = (
            protocol_folds(y)
            if args.folds == "probe"
            else StratifiedKFold(int(args.folds), shuffle=True, random_state=0)
        )
        for fold, (fit, held) in enumerate(folds.split(np.zeros(len(y)), y)):
            clf = configurations[label].build()
            started = time.perf_counter()
            clf.fit(take_cases(X, fit), y[fit])
            fitted = time.perf_counter()
            accuracy = clf.score(take_cases(X, held), y[held])
            row = {
                "dataset": name,
                "configuration": label,
                "fold": fold,
                "accuracy": float(accuracy),
                "fit_s": fitted - started,
                "predict_s": time.perf_counter() - fitted,
                "n_fit": len(fit),
                "n_held_out": len(held),
                "best_epoch": int(getattr(clf, "best_epoch_", 0)),
                # Every epoch's validation score: early stopping or an epoch
                # cap can be judged from the curve without training again.
                "validation_curve": [
                    entry["validation_score"]
                    for entry in getattr(clf, "history_", [])
                    if entry.get("phase") == "validation"
                ],
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
    """``protocol.md``: mean CV accuracy and cost per configuration and data set."""
    frame = pd.read_json(out / "rows.jsonl", lines=True)
    # The first runs (the VLM's heads) labelled their rows "head".
    frame = frame.rename(columns={"head": "configuration"})
    grouped = frame.groupby(["dataset", "configuration"])
    order = list(dict.fromkeys(frame["configuration"]))  # as they ran

    def table(series):
        return series.unstack()[order]

    accuracy = table(grouped["accuracy"].mean())
    fit_s = table(grouped["fit_s"].mean())
    rate = table(grouped["n_held_out"].sum() / grouped["predict_s"].sum())
    epochs = table(grouped["best_epoch"].agg(lambda e: "/".join(map(str, e))))
    every = accuracy.dropna()
    means = pd.DataFrame(
        {
            f"all {len(every)} sets every configuration ran": every.mean(),
            "all sets the configuration ran": accuracy.mean(),
        }
    ).T
    lines = [
        "# Stratified k-fold CV on the training splits",
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
        "Epochs kept per fold (0: the starting point; a probe trains none):",
        "",
        _markdown(epochs.fillna("")),
    ]
    (out / "protocol.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
