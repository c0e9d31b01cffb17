"""MTCS against its own ablations and MiniRocket on the bundled univariate sets.

Run from the repository root::

    python -m benchmarks.mtcs --threads 2
    python -m benchmarks.mtcs --datasets GunPoint,Coffee --epochs 5

Not a grid: three of the five methods train one model on every dataset at once
(``fit_tasks``). All are fitted on the standard train split and scored once on
the standard test split (the test split chooses nothing):

- ``MTCS``: one :class:`~vlmtsc.MTCSClassifier` trained jointly on every
  dataset's training split, classifier sharing on (``alpha=0.1``);
- ``MTCS + augmentation``: the same with a default
  :class:`~vlmtsc.training.SeriesAugmenter` (one fresh jittered, scaled,
  window-sliced copy of every series per epoch);
- ``MTL (alpha=0)``: the same joint training without classifier sharing;
- ``single-task``: the same estimator fitted on each dataset alone;
- ``MiniRocket``: aeon's MiniRocketClassifier, the accuracy bar.

Every MTCS variant keeps the estimator's defaults (the seed paper's encoder, its
own validation split of the training data choosing the epoch count, then a refit
and the logistic-regression head on the representations), so the ``MTCS`` column
is what ``MTCSClassifier().fit_tasks(...)`` gives; ``--epochs`` and ``--params``
change them for every variant. The fit seconds of a joint
method are those of the one joint fit, on every row. The single-task and
MiniRocket fits go through :func:`vlmtsc.experiments.run_estimator`, and the
rows through :func:`vlmtsc.experiments.write_results` (``results.csv``,
``report.md`` with its tables and plots, ``environment.json``), into
``benchmarks/results/mtcs-<UTC timestamp>/`` with the learnt task-affinity
heatmap as ``affinity.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vlmtsc.experiments import (
    environment_info,
    limit_threads,
    resolve_estimator,
    run_estimator,
    warm_up,
    write_results,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATASETS = "ArrowHead,Coffee,GunPoint,ItalyPowerDemand,OSULeaf,UnitTest"
JOINT = {
    "MTCS": {"alpha": 0.1},
    "MTCS + augmentation": {"alpha": 0.1, "augmentation": True},
    "MTL (alpha=0)": {"alpha": 0.0},
}

__all__ = ["build_parser", "main", "run_mtcs_benchmark"]


def run_mtcs_benchmark(
    datasets: Sequence[str],
    *,
    n_epochs: int | None = None,
    params: dict | None = None,
    random_state: int = 0,
    threads: int | None = 1,
    measure=(),
    verbose: int = 1,
) -> tuple[list[dict], dict]:
    """Fit and score the five methods on ``datasets``.

    Parameters
    ----------
    datasets : sequence of str
        Bundled dataset names (equal-length series; MiniRocket needs them).
    n_epochs : int, optional
        ``n_epochs`` of every MTCS variant; ``None`` keeps the estimator's
        default.
    params : dict, optional
        Further MTCSClassifier parameters of every variant.
    random_state : int, default=0
    threads : int or None, default=1
        Thread cap (and MiniRocket's ``n_jobs``).
    measure : sequence of str, default=()
        Optional measurements of the single-task and MiniRocket fits.
    verbose : int, default=1
        Progress messages on stderr.

    Returns
    -------
    rows : list of dict
        One per dataset and method, for :func:`write_results`.
    models : dict
        The fitted joint models by method.
    """
    from vlmtsc.datasets import load_dataset

    def say(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr, flush=True)

    train = {d: load_dataset(d, split="train") for d in datasets}
    test = {d: load_dataset(d, split="test") for d in datasets}
    mtcs = resolve_estimator({
        "name": "MTCS", "estimator": "MTCSClassifier",
        "params": {**(params or {}),
                   **({} if n_epochs is None else {"n_epochs": n_epochs}),
                   "random_state": random_state},
    })  # fmt: skip
    minirocket = resolve_estimator("minirocket")
    rows, models = [], {}

    def add(dataset, method, spec, record):
        rows.append({"dataset": dataset, "estimator": method, "seed": random_state,
                     "estimator_spec": spec, **record})  # fmt: skip

    with limit_threads(threads):
        say("warming up (untimed)")
        X, y = next(iter(train.values()))
        warm_up(minirocket.build(), X, y)
        tiny = dict(n_blocks=1, hidden_size=4, representation_size=4, n_epochs=1)
        warm_up(mtcs.build(**tiny, validation_fraction=0), X, y, n_per_class=3)
        for method, extra in JOINT.items():
            say(f"{method}: joint fit on {len(datasets)} datasets")
            model = mtcs.build(**extra)
            started = time.perf_counter()
            model.fit_tasks(train)
            fit_s = time.perf_counter() - started
            for d in datasets:
                started = time.perf_counter()
                y_pred = model.predict(test[d][0], task=d)
                accuracy = float(np.mean(y_pred == np.asarray(test[d][1])))
                add(d, method, mtcs.reference_name, {
                    "status": "ok", "accuracy": accuracy, "fit_s": fit_s,
                    "predict_s": time.perf_counter() - started,
                    "n_train": len(train[d][1]), "n_test": len(test[d][1]),
                    "params": repr(extra), "threads": threads,
                })  # fmt: skip
            models[method] = model
        for d in datasets:
            say(f"single-task and MiniRocket: {d}")
            data = (*train[d], *test[d])
            options = {"measure": measure, "threads": threads}
            add(d, "single-task", mtcs.reference_name,
                run_estimator(mtcs.build(), *data, **options))  # fmt: skip
            add(d, "MiniRocket", "minirocket",
                run_estimator(minirocket.build(random_state=random_state), *data,
                              **options))  # fmt: skip
    return rows, models


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
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
        default=None,
        help="n_epochs of every MTCS variant (default: the estimator's)",
    )
    parser.add_argument(
        "--params",
        default="{}",
        help="JSON of further MTCSClassifier parameters of every variant, e.g. "
        "'{\"hidden_size\": 32}'",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch/BLAS/numba threads (default 1)"
    )
    parser.add_argument(
        "--measure",
        default="all",
        help="measurements of the single-task and MiniRocket fits (default: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder (default: benchmarks/results/mtcs-<UTC timestamp>)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS_DIR / f"mtcs-{stamp}"
    environment = environment_info(threads=args.threads, script="benchmarks.mtcs")
    started = time.perf_counter()
    rows, models = run_mtcs_benchmark(
        datasets,
        n_epochs=args.epochs,
        params=json.loads(args.params),
        random_state=args.random_state,
        threads=args.threads,
        measure=args.measure,
    )
    environment["wall_s"] = round(time.perf_counter() - started, 1)
    best = ", ".join(f"{m} {model.best_epoch_}" for m, model in models.items())
    epochs = "the default" if args.epochs is None else args.epochs
    notes = (
        f"MTCS `n_epochs`: {epochs}, other parameters beyond the defaults: "
        f"{args.params}; epochs kept on validation of the training "
        f"data: {best}. The fit seconds of a joint method (MTCS, MTCS + "
        "augmentation, MTL) are those of its one fit on every dataset together."
    )
    write_results(
        rows, output, name="MTCS benchmark", environment=environment, notes=notes
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        ax = models["MTCS"].plot_affinity()
        ax.figure.savefig(output / "affinity.png", dpi=120, bbox_inches="tight")
    except Exception as exc:  # the table matters; the figure is a bonus
        print(f"affinity plot not written: {exc}", file=sys.stderr)
    print((output / "report.md").read_text(encoding="utf-8"))
    print(f"Results written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
