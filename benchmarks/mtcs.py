"""MTCS against its own ablations and MiniRocket on the bundled univariate sets.

Run from the repository root::

    python -m benchmarks.mtcs --threads 1
    python -m benchmarks.mtcs --datasets GunPoint,Coffee --epochs 5

Five ways to classify each dataset, all fitted on the standard train split and
scored once on the standard test split (the test split chooses nothing):

- ``MTCS``: one :class:`~vlmtsc.classification.MTCSClassifier` trained jointly on
  every dataset's training split (``fit_tasks``), classifier sharing on
  (``alpha=0.1``);
- ``MTCS + augmentation``: the same with a default
  :class:`~vlmtsc.training.SeriesAugmenter` (one fresh jittered, scaled,
  window-sliced copy of every series per epoch);
- ``MTL``: the same joint training with ``alpha=0`` (shared encoder, separate
  heads, no classifier sharing);
- ``single``: the same estimator fitted on each dataset alone;
- ``MiniRocket``: aeon's MiniRocketClassifier, the accuracy bar.

Every MTCS variant keeps the estimator's defaults (the seed paper's encoder, its
own validation split of the training data choosing the epoch count, then a refit
and an SVM) except ``n_epochs`` (``--epochs``). Fit seconds of the joint runs
cover all datasets together. Writes ``benchmarks/results/mtcs-<UTC timestamp>.md``
(and the learnt task-affinity heatmap as a ``.png`` beside it) and prints the
table.
"""

from __future__ import annotations

import os

# aeon's numba kernels and torch share this process; numba's default OpenMP
# layer spins idle workers that starve torch (see benchmarks/run.py). Must be
# set before numba (aeon) or torch is imported.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import RESULTS_DIR, limit_threads

DEFAULT_DATASETS = "ArrowHead,Coffee,GunPoint,ItalyPowerDemand,OSULeaf,UnitTest"
DEFAULT_EPOCHS = 40
METHODS = {
    "mtcs": "MTCS",
    "mtcs_aug": "MTCS + augmentation",
    "mtl": "MTL (alpha=0)",
    "single": "single-task",
    "minirocket": "MiniRocket",
}

__all__ = ["build_parser", "main", "markdown_report", "run_mtcs_benchmark"]


def _mtcs(**params: Any):
    from vlmtsc.classification import MTCSClassifier

    return MTCSClassifier(**params)


def _minirocket(random_state: int, n_jobs: int):
    from aeon.classification.convolution_based import MiniRocketClassifier

    return MiniRocketClassifier(random_state=random_state, n_jobs=n_jobs)


def _accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _warm_up(train: dict, n_threads: int) -> None:
    """Untimed: pay imports and numba compilation before the timed fits."""
    X, y = next(iter(train.values()))
    index = np.concatenate([np.flatnonzero(y == c)[:3] for c in np.unique(y)])
    _minirocket(0, n_threads).fit(X[index], y[index]).predict(X[index])
    tiny = dict(n_blocks=1, hidden_size=4, representation_size=4, n_epochs=1)
    tiny["validation_fraction"] = 0  # a few cases per class: nothing to split
    _mtcs(**tiny, verbose=0).fit(X[index], y[index]).predict(X[index])


def run_mtcs_benchmark(
    datasets: Sequence[str],
    *,
    n_epochs: int = DEFAULT_EPOCHS,
    random_state: int = 0,
    n_threads: int = 1,
    verbose: int = 1,
) -> dict[str, Any]:
    """Fit and score the four methods on ``datasets``.

    Parameters
    ----------
    datasets : sequence of str
        Bundled dataset names (equal-length series; MiniRocket needs them).
    n_epochs : int, default=40
        ``n_epochs`` of every MTCS variant.
    random_state : int, default=0
    n_threads : int, default=1
        ``n_jobs`` of MiniRocket (torch threads are set by the caller).
    verbose : int, default=1
        Progress messages on stderr.

    Returns
    -------
    dict
        ``accuracy`` and ``fit_s`` per method and dataset (``fit_s`` of the
        joint methods under the key ``"joint"``), ``shapes`` per dataset, the
        joint MTCS estimator under ``"mtcs_model"`` and ``params``.
    """
    from vlmtsc.base import series_shape
    from vlmtsc.datasets import load_dataset

    def say(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr, flush=True)

    train = {d: load_dataset(d, split="train") for d in datasets}
    test = {d: load_dataset(d, split="test") for d in datasets}
    shapes = {}
    for d in datasets:
        n_train, _, shortest, longest = series_shape(train[d][0])
        shapes[d] = {
            "n_train": n_train,
            "n_test": len(test[d][1]),
            "length": shortest if shortest == longest else f"{shortest}-{longest}",
            "n_classes": len(np.unique(train[d][1])),
        }
    params = dict(n_epochs=n_epochs, random_state=random_state, verbose=0)
    accuracy = {m: {} for m in METHODS}
    fit_s = {m: {} for m in METHODS}
    say("warming up (untimed)")
    _warm_up(train, n_threads)
    models = {}

    from vlmtsc.training import SeriesAugmenter

    for method, extra in (
        ("mtcs", dict(alpha=0.1)),
        ("mtcs_aug", dict(alpha=0.1, augmentation=SeriesAugmenter())),
        ("mtl", dict(alpha=0.0)),
    ):
        say(f"{METHODS[method]}: joint fit on {len(datasets)} datasets")
        started = time.perf_counter()
        model = _mtcs(**extra, **params).fit_tasks(train)
        fit_s[method]["joint"] = time.perf_counter() - started
        for d in datasets:
            X, y = test[d]
            accuracy[method][d] = _accuracy(y, model.predict(X, task=d))
        models[method] = model

    for d in datasets:
        say(f"single-task and MiniRocket: {d}")
        X, y = train[d]
        started = time.perf_counter()
        model = _mtcs(**params).fit(X, y)
        fit_s["single"][d] = time.perf_counter() - started
        accuracy["single"][d] = _accuracy(test[d][1], model.predict(test[d][0]))
        started = time.perf_counter()
        model = _minirocket(random_state, n_threads).fit(X, y)
        fit_s["minirocket"][d] = time.perf_counter() - started
        accuracy["minirocket"][d] = _accuracy(test[d][1], model.predict(test[d][0]))

    return {
        "accuracy": accuracy,
        "fit_s": fit_s,
        "shapes": shapes,
        "best_epoch": {m: models[m].best_epoch_ for m in models},
        "mtcs_model": models["mtcs"],
        "params": params,
    }


def markdown_report(results: dict[str, Any], datasets: Sequence[str]) -> str:
    """The accuracy table (with means) and the fit-seconds table, in Markdown.

    Parameters
    ----------
    results : dict
        From :func:`run_mtcs_benchmark`.
    datasets : sequence of str

    Returns
    -------
    str
    """
    accuracy, fit_s, shapes = results["accuracy"], results["fit_s"], results["shapes"]
    names = list(METHODS.values())
    lines = [
        "| dataset | train | test | length | classes | " + " | ".join(names) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(names),
    ]
    for d in datasets:
        s = shapes[d]
        cells = [f"{accuracy[m][d]:.3f}" for m in METHODS]
        lines.append(
            f"| {d} | {s['n_train']} | {s['n_test']} | {s['length']} | "
            f"{s['n_classes']} | " + " | ".join(cells) + " |"
        )
    means = [f"**{np.mean([accuracy[m][d] for d in datasets]):.3f}**" for m in METHODS]
    lines.append("| **mean** | | | | | " + " | ".join(means) + " |")
    totals = [
        f"{fit_s[m]['joint']:.1f} (joint)"
        if "joint" in fit_s[m]
        else f"{sum(fit_s[m].values()):.1f} (sum)"
        for m in METHODS
    ]
    lines.append("| fit s | | | | | " + " | ".join(totals) + " |")
    lines += [
        "",
        "| dataset | single-task fit s | MiniRocket fit s |",
        "|---|---:|---:|",
    ]
    for d in datasets:
        lines.append(
            f"| {d} | {fit_s['single'][d]:.1f} | {fit_s['minirocket'][d]:.2f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mtcs",
        description="MTCS vs. MTL (alpha=0) vs. single-task vs. MiniRocket on the "
        "standard train/test splits of bundled univariate datasets.",
    )
    parser.add_argument(
        "--datasets",
        default=DEFAULT_DATASETS,
        help=f"comma-separated bundled equal-length datasets (default: "
        f"{DEFAULT_DATASETS})",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"n_epochs of every MTCS variant (default: {DEFAULT_EPOCHS})",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch/BLAS/numba threads (default 1)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown file (default: benchmarks/results/mtcs-<UTC timestamp>.md)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    started = datetime.now(timezone.utc)
    output = args.output or RESULTS_DIR / (
        f"mtcs-{started.strftime('%Y%m%dT%H%M%SZ')}.md"
    )
    t0 = time.perf_counter()
    with limit_threads(args.threads):
        results = run_mtcs_benchmark(
            datasets,
            n_epochs=args.epochs,
            random_state=args.random_state,
            n_threads=args.threads,
        )
    wall = time.perf_counter() - t0
    table = markdown_report(results, datasets)
    command = " ".join([Path(sys.executable).name, "-m", "benchmarks.mtcs", *argv])
    best = ", ".join(f"{METHODS[m]} {e}" for m, e in results["best_epoch"].items())
    header = (
        f"Command: `{command}`  \n"
        f"Started (UTC): {started.isoformat(timespec='seconds')}; threads: "
        f"{args.threads}; random_state: {args.random_state}; MTCS n_epochs: "
        f"{args.epochs} (epochs kept on validation of the training data: {best}); "
        f"wall: {wall:.0f} s\n"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"{header}\n{table}\n", encoding="utf-8")
    try:
        import matplotlib

        matplotlib.use("Agg")
        ax = results["mtcs_model"].plot_affinity()
        ax.figure.savefig(output.with_suffix(".png"), dpi=120, bbox_inches="tight")
    except Exception as exc:  # the table matters; the figure is a bonus
        print(f"affinity plot not written: {exc}", file=sys.stderr)
    print(header)
    print(table)
    print(f"\nResults written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
