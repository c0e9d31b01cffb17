"""InstructTime: per-dataset adaptation, cross-domain pre-training, few shots.

Run from the repository root::

    python -m benchmarks.instructtime --part adapt --threads 1
    python -m benchmarks.instructtime --part shots --threads 1
    python -m benchmarks.instructtime --part adapt --datasets GunPoint,Coffee

Every fit uses the standard train split (or ``k`` series per class drawn from
it) and is scored once on the standard test split; the test split chooses
nothing. SmolLM2-135M offline backbone, the paper's label scoring
(``instructtime-lm``: ``head="lm"``) and otherwise default estimator
parameters unless stated.

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

Not a grid: the pre-trained methods share one pre-training across datasets.
Every fit goes through :func:`vlmtsc.experiments.run_estimator` and the rows
through :func:`vlmtsc.experiments.write_results` (``results.csv``, ``report.md``
with its tables and plots, ``environment.json``) into
``benchmarks/results/instructtime-<part>-<UTC timestamp>/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
    write_results,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
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
INSTRUCTTIME = resolve_estimator("instructtime-lm")  # SmolLM2-135M, label scoring
MINIROCKET = resolve_estimator("minirocket")


def _names(dataset: str, y) -> dict | None:
    names = LABEL_NAMES.get(dataset)
    if names is None:
        return None
    return {label: names[str(label)] for label in np.unique(y) if str(label) in names}


class _Runs:
    """The rows of one part: every fit through ``run_estimator``."""

    def __init__(self, random_state: int, threads: int, measure) -> None:
        self.rows: list[dict] = []
        self.options = {"threads": threads, "measure": measure}
        self.random_state = random_state

    def fit(self, dataset, method, estimator, X, y, X_test, y_test, reference=False):
        record = run_estimator(estimator, X, y, X_test, y_test, **self.options)
        spec = "minirocket" if reference else type(estimator).__name__
        keys = {"dataset": dataset, "estimator": method, "seed": self.random_state}
        self.rows.append({**keys, "estimator_spec": spec, **record})
        if record["status"] != "ok":
            print(f"{dataset}, {method}: {record['error']}", file=sys.stderr)


def _pretrain(train: dict, folder: Path, params: dict, random_state: int) -> float:
    started = time.perf_counter()
    INSTRUCTTIME.build(
        **{"n_epochs": PRETRAIN_EPOCHS, **params}, random_state=random_state
    ).pretrain(
        train,
        folder,
        descriptions={d: DESCRIPTIONS[d] for d in train if d in DESCRIPTIONS},
        label_names={d: _names(d, y) for d, (_, y) in train.items()},
    )
    return time.perf_counter() - started


def run_adapt(datasets, params, runs: _Runs, say) -> str:
    """MiniRocket, scratch, linear head and pre-trained per dataset; a note."""
    from vlmtsc.datasets import load_dataset

    random_state = runs.random_state
    train = {d: load_dataset(d, split="train") for d in datasets}
    test = {d: load_dataset(d, split="test") for d in datasets}
    with tempfile.TemporaryDirectory(prefix="vlmtsc-pretrained-") as folder:
        say(f"pre-training on {len(datasets)} datasets")
        pretrain_s = _pretrain(train, Path(folder), params, random_state)
        for d in datasets:
            data = (*train[d], *test[d])
            common = dict(
                random_state=random_state,
                domain_description=DESCRIPTIONS.get(d),
                label_names=_names(d, train[d][1]),
                **params,
            )
            say(f"{d}: MiniRocket")
            reference = MINIROCKET.build(random_state=random_state)
            runs.fit(d, "MiniRocket", reference, *data, reference=True)
            say(f"{d}: scratch")
            runs.fit(d, "scratch", INSTRUCTTIME.build(**common), *data)
            say(f"{d}: linear head")
            linear = INSTRUCTTIME.build(**{**common, "head": "linear"})
            runs.fit(d, "linear head", linear, *data)
            say(f"{d}: adapted from the universal model")
            adapted = INSTRUCTTIME.build(**{**common, "backbone": folder, "domain": d})
            runs.fit(d, "pre-trained", adapted, *data)
    return f"Universal pre-training time: {pretrain_s:.0f} s."


def run_shots(datasets, params, runs: _Runs, say) -> str:
    """0-, 1- and 5-shot per dataset, leave-one-out pre-training; a note."""
    from vlmtsc.datasets import few_shot, load_dataset

    random_state = runs.random_state
    train = {d: load_dataset(d, split="train") for d in datasets}
    test = {d: load_dataset(d, split="test") for d in datasets}
    pretrain_s = {}
    for d in datasets:
        others = {o: train[o] for o in datasets if o != d}
        largest = max(others, key=lambda o: len(others[o][1]))
        with tempfile.TemporaryDirectory(prefix="vlmtsc-loo-") as folder:
            say(f"{d}: pre-training on the other {len(others)} datasets")
            pretrain_s[d] = _pretrain(others, Path(folder), params, random_state)
            common = dict(
                random_state=random_state,
                domain_description=DESCRIPTIONS.get(d),
                label_names=_names(d, train[d][1]),
                **params,
            )
            pretrained = {"backbone": folder, "domain": largest}
            say(f"{d}: zero-shot")
            zero = INSTRUCTTIME.build(**{**common, **pretrained}, fine_tuning="none")
            runs.fit(d, "0-shot pre-trained", zero, *train[d], *test[d])
            for k in SHOTS:
                X, y = few_shot(*train[d], k, random_state=random_state)
                few = dict(common, validation_fraction=0, n_epochs=SHOT_EPOCHS)
                data = (X, y, *test[d])
                say(f"{d}: {k}-shot")
                reference = MINIROCKET.build(random_state=random_state)
                runs.fit(d, f"{k}-shot MiniRocket", reference, *data)
                runs.fit(d, f"{k}-shot scratch", INSTRUCTTIME.build(**few), *data)
                adapted = INSTRUCTTIME.build(**{**few, **pretrained})
                runs.fit(d, f"{k}-shot pre-trained", adapted, *data)
    spent = ", ".join(f"{d} {s:.0f} s" for d, s in pretrain_s.items())
    return f"Leave-one-out pre-training time (target left out): {spent}."


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
    parser.add_argument(
        "--measure", default="all", help="measurements of every fit (default: all)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder (default: benchmarks/results/instructtime-<part>-<UTC time>)",
    )
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
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS_DIR / f"instructtime-{args.part}-{stamp}"
    environment = environment_info(
        threads=args.threads, script="benchmarks.instructtime", params=params
    )

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    run = run_adapt if args.part == "adapt" else run_shots
    runs = _Runs(args.random_state, args.threads, args.measure)
    started = time.perf_counter()
    with limit_threads(args.threads):
        note = run(datasets, params, runs, say)
    environment["wall_s"] = round(time.perf_counter() - started, 1)
    notes = (
        f"InstructTime parameters beyond the `instructtime` configuration: "
        f"{params or 'none'}. {note}"
    )
    write_results(
        runs.rows,
        output,
        name=f"InstructTime, part {args.part}",
        environment=environment,
        notes=notes,
    )
    print((output / "report.md").read_text(encoding="utf-8"))
    print(f"Results written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
