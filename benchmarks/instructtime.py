"""InstructTime: per-dataset adaptation, cross-domain pre-training, few shots.

Run from the repository root::

    python -m benchmarks.instructtime --part adapt --threads 1
    python -m benchmarks.instructtime --part shots --threads 1
    python -m benchmarks.instructtime --part adapt --datasets GunPoint,Coffee

Every fit uses the standard train split (or ``k`` series per class drawn from
it) and is scored once on the standard test split; the test split chooses
nothing. SmolLM2-135M offline backbone, default estimator parameters unless
stated.

``--part adapt`` (the issue's a and b), per dataset:

- ``MiniRocket``: aeon's MiniRocketClassifier, the accuracy bar;
- ``scratch``: :class:`~vlmtsc.InstructTimeClassifier` fitted on the dataset
  alone (its own VQ tokenizer, LoRA, label scoring);
- ``linear head``: the same series tokens, logistic regression on the frozen
  model's mean hidden state;
- ``pre-trained``: one universal model pre-trained (``pretrain``) on the
  training splits of all listed datasets together, then adapted to each
  dataset with its pre-trained domain (``domain=name``); seed 000's
  "universal -> adapt" (its Table 2 question).

``--part shots`` (the issue's c), per dataset and ``k`` in 1 and 5 series per
class (the same draw for every method):

- ``MiniRocket`` on the k-shot series;
- ``scratch``: InstructTime fitted on the k-shot series alone (no validation
  split: ``n_epochs`` fixed);
- ``pre-trained``: pre-trained on the *other* listed datasets (leave one out,
  so no series of the target was seen), then fine-tuned on the k-shot series,
  read through the tokenizer of the largest pre-training domain;
- ``zero-shot`` (k = 0): that leave-one-out model scoring the target's
  meaningful label names without any training.

Writes ``benchmarks/results/instructtime-<part>-<UTC timestamp>.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see benchmarks/run.py

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import RESULTS_DIR, limit_threads

DEFAULT_DATASETS = "ArrowHead,Coffee,GunPoint,ItalyPowerDemand,UnitTest"
SHOT_DATASETS = "Coffee,GunPoint,UnitTest"  # one pre-training per set
SHOTS = (1, 5)
SHOT_EPOCHS = 15  # no validation split on k-shot data: a fixed count
PRETRAIN_EPOCHS = 2
# Meaningful class names (dataset descriptions of the UCR archive) for the
# prompts and for zero-shot.
DESCRIPTIONS = {
    "ArrowHead": "outlines of projectile points (arrowheads) as 1-D shape series",
    "Coffee": "infrared spectra of coffee beans",
    "GunPoint": "the x-coordinate of an actor's hand over time",
    "ItalyPowerDemand": "24 hourly values of Italian electricity demand in one day",
    "UnitTest": "24 hourly pedestrian counts in one day",
    "OSULeaf": "outlines of leaves as 1-D shape series",
}
LABEL_NAMES = {
    "ArrowHead": {"0": "Avonlea", "1": "Clovis", "2": "Mix"},
    "Coffee": {"0": "Arabica", "1": "Robusta"},
    "GunPoint": {"1": "drawing a gun", "2": "pointing a finger"},
    "ItalyPowerDemand": {"1": "October to March", "2": "April to September"},
    "UnitTest": {"1": "weekend", "2": "weekday"},
}


def _instructtime(**params: Any):
    from vlmtsc import InstructTimeClassifier

    return InstructTimeClassifier(
        **{"backbone": "smollm2-135m", "verbose": 0, **params}
    )


def _minirocket(random_state: int, n_jobs: int):
    from aeon.classification.convolution_based import MiniRocketClassifier

    return MiniRocketClassifier(random_state=random_state, n_jobs=n_jobs)


def _names(dataset: str, y) -> dict | None:
    names = LABEL_NAMES.get(dataset)
    if names is None:
        return None
    return {label: names[str(label)] for label in np.unique(y) if str(label) in names}


def _timed(estimator, X, y, X_test, y_test) -> tuple[float, float]:
    """(test accuracy, fit seconds) of ``estimator`` fitted on ``X, y``."""
    started = time.perf_counter()
    model = estimator.fit(X, y)
    fit_s = time.perf_counter() - started
    return float(np.mean(model.predict(X_test) == np.asarray(y_test))), fit_s


def _pretrain(train: dict, folder: Path, params: dict, random_state: int) -> float:
    started = time.perf_counter()
    _instructtime(
        **{"n_epochs": PRETRAIN_EPOCHS, **params}, random_state=random_state
    ).pretrain(
        train,
        folder,
        descriptions={d: DESCRIPTIONS[d] for d in train if d in DESCRIPTIONS},
        label_names={d: _names(d, y) for d, (_, y) in train.items()},
    )
    return time.perf_counter() - started


def run_adapt(datasets, params, random_state, n_threads, say) -> dict:
    from vlmtsc.datasets import load_dataset

    train = {d: load_dataset(d, split="train") for d in datasets}
    test = {d: load_dataset(d, split="test") for d in datasets}
    rows: dict[str, dict[str, tuple[float, float]]] = {d: {} for d in datasets}
    with tempfile.TemporaryDirectory(prefix="vlmtsc-pretrained-") as folder:
        say(f"pre-training on {len(datasets)} datasets")
        pretrain_s = _pretrain(train, Path(folder), params, random_state)
        for d in datasets:
            (X, y), (X_test, y_test) = train[d], test[d]
            common = dict(
                random_state=random_state,
                domain_description=DESCRIPTIONS.get(d),
                label_names=_names(d, y),
                **params,
            )
            say(f"{d}: MiniRocket")
            rows[d]["MiniRocket"] = _timed(
                _minirocket(random_state, n_threads), X, y, X_test, y_test
            )
            say(f"{d}: scratch")
            rows[d]["scratch"] = _timed(_instructtime(**common), X, y, X_test, y_test)
            say(f"{d}: linear head")
            rows[d]["linear head"] = _timed(
                _instructtime(**common, head="linear"), X, y, X_test, y_test
            )
            say(f"{d}: adapted from the universal model")
            rows[d]["pre-trained"] = _timed(
                _instructtime(**{**common, "backbone": folder, "domain": d}),
                X,
                y,
                X_test,
                y_test,
            )
    return {"rows": rows, "pretrain_s": pretrain_s}


def run_shots(datasets, params, random_state, n_threads, say) -> dict:
    from vlmtsc.datasets import few_shot, load_dataset

    train = {d: load_dataset(d, split="train") for d in datasets}
    test = {d: load_dataset(d, split="test") for d in datasets}
    rows: dict[str, dict[str, tuple[float, float]]] = {d: {} for d in datasets}
    pretrain_s = {}
    for d in datasets:
        others = {o: train[o] for o in datasets if o != d}
        largest = max(others, key=lambda o: len(others[o][1]))
        X_test, y_test = test[d]
        with tempfile.TemporaryDirectory(prefix="vlmtsc-loo-") as folder:
            say(f"{d}: pre-training on the other {len(others)} datasets")
            pretrain_s[d] = _pretrain(others, Path(folder), params, random_state)
            common = dict(
                random_state=random_state,
                domain_description=DESCRIPTIONS.get(d),
                label_names=_names(d, train[d][1]),
                **params,
            )
            say(f"{d}: zero-shot")
            rows[d]["0-shot pre-trained"] = _timed(
                _instructtime(
                    **{**common, "backbone": folder, "domain": largest},
                    fine_tuning="none",
                ),
                *train[d],
                X_test,
                y_test,
            )
            for k in SHOTS:
                X, y = few_shot(*train[d], k, random_state=random_state)
                few = dict(common, validation_fraction=0, n_epochs=SHOT_EPOCHS)
                say(f"{d}: {k}-shot")
                rows[d][f"{k}-shot MiniRocket"] = _timed(
                    _minirocket(random_state, n_threads), X, y, X_test, y_test
                )
                rows[d][f"{k}-shot scratch"] = _timed(
                    _instructtime(**few), X, y, X_test, y_test
                )
                rows[d][f"{k}-shot pre-trained"] = _timed(
                    _instructtime(**{**few, "backbone": folder, "domain": largest}),
                    X,
                    y,
                    X_test,
                    y_test,
                )
    return {"rows": rows, "pretrain_s": pretrain_s}


def markdown_report(results: dict[str, Any], datasets: Sequence[str]) -> str:
    """Accuracy (fit seconds) per dataset and method, with the mean accuracy."""
    rows = results["rows"]
    methods = list(next(iter(rows.values())))
    lines = [
        "| dataset | " + " | ".join(methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for d in datasets:
        cells = [f"{rows[d][m][0]:.3f} ({rows[d][m][1]:.0f} s)" for m in methods]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    means = [f"**{np.mean([rows[d][m][0] for d in datasets]):.3f}**" for m in methods]
    lines.append("| **mean** | " + " | ".join(means) + " |")
    pretrain_s = results["pretrain_s"]
    if isinstance(pretrain_s, dict):
        spent = ", ".join(f"{d} {s:.0f} s" for d, s in pretrain_s.items())
        lines.append(f"\nLeave-one-out pre-training time (target left out): {spent}.")
    else:
        lines.append(f"\nUniversal pre-training time: {pretrain_s:.0f} s.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructtime",
        description="InstructTime vs MiniRocket: per-dataset adaptation with and "
        "without cross-domain pre-training (--part adapt), or 0/1/5-shot "
        "(--part shots).",
    )
    parser.add_argument("--part", choices=("adapt", "shots"), required=True)
    parser.add_argument(
        "--datasets",
        default=None,
        help=f"comma-separated bundled univariate datasets (default: "
        f"{DEFAULT_DATASETS} for adapt, {SHOT_DATASETS} for shots)",
    )
    parser.add_argument(
        "--params",
        default="{}",
        help="JSON of InstructTimeClassifier parameters for every InstructTime "
        "fit, e.g. '{\"n_epochs\": 6}'",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    names = args.datasets or (
        DEFAULT_DATASETS if args.part == "adapt" else SHOT_DATASETS
    )
    datasets = [d.strip() for d in names.split(",") if d.strip()]
    params = json.loads(args.params)
    started = datetime.now(timezone.utc)
    output = args.output or RESULTS_DIR / (
        f"instructtime-{args.part}-{started.strftime('%Y%m%dT%H%M%SZ')}.md"
    )

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    run = run_adapt if args.part == "adapt" else run_shots
    t0 = time.perf_counter()
    with limit_threads(args.threads):
        results = run(datasets, params, args.random_state, args.threads, say)
    wall = time.perf_counter() - t0
    command = " ".join(
        [Path(sys.executable).name, "-m", "benchmarks.instructtime", *argv]
    )
    header = (
        f"Command: `{command}`  \n"
        f"Started (UTC): {started.isoformat(timespec='seconds')}; threads: "
        f"{args.threads}; random_state: {args.random_state}; InstructTime "
        f"parameters beyond the defaults: {params or 'none'}; wall: {wall:.0f} s\n"
    )
    table = markdown_report(results, datasets)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"{header}\n{table}\n", encoding="utf-8")
    print(header)
    print(table)
    print(f"\nResults written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
