"""Faithfulness of explanations: deletion curves for every classifier.

Run from the repository root::

    python -m benchmarks.deletion --threads 1

For every bundled data set asked for and every classifier at its bare
defaults (and the linear probe, ``VLMTimeSeriesClassifier(head="linear")``),
the classifier is fitted on the standard training split; ``--per-class`` test
series of every class (the same ones for every classifier, seed 0) are
explained with each method the fitted classifier offers (``explain``:
occlusion at its defaults, 16 windows per channel; gradient where offered),
and a deletion curve is measured on them
(:func:`vlmtsc.explanation.deletion_curve`): accuracy, agreement with the
intact predictions and the probability of the class predicted intact, after
removing 0, 10, 20, 30 and 50 % of each series' steps, most-attributed first,
against the same numbers of random steps (two draws). Removed steps are
filled by linear interpolation, as occlusion fills them. A curve's area (its
mean over the fractions) is lower the faster it falls; an attribution is
faithful when its area is below the random one. Agreement and probability
measure faithfulness to the model where it is wrong or never changes its
answer.

Fitted classifiers are saved under the results folder (``models/``, ignored
by git: the fine-tuned LMs' folders hold their resized embeddings, ~800 MB in
all) and reused when the command is run again with ``--output`` pointing at it
(a run resumes: finished rows are kept; ``--summarize FOLDER`` only rewrites
the table). Output: ``benchmarks/results/deletion-<UTC timestamp>/``:
``rows.jsonl`` (one row per data set, classifier and method, with the curves
and timings), ``deletion.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vlmtsc.base import take_cases
from vlmtsc.datasets import load_dataset
from vlmtsc.experiments import environment_info, limit_threads, resolve_estimator
from vlmtsc.explanation import choose_cases, deletion_curve

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ESTIMATORS = (
    "VLMTimeSeriesClassifier(head=linear)",
    "MTCSClassifier",
    "TimeLlamaClassifier",
    "CrossTimeNetClassifier",
    "VLMTimeSeriesClassifier",
    "InstructTimeClassifier(head=lm)",  # the published table: label scoring
)
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.5)


def _fitted(name: str, dataset: str, folder: Path):
    """The classifier ``name`` fitted on ``dataset``'s training split (loaded
    from ``folder`` when an earlier run saved it); ``(model, fit seconds)``."""
    spec = resolve_estimator(name)
    saved = folder / "models" / f"{dataset}-{spec.name}"
    if (saved / "manifest.json").exists():
        model = spec.build(random_state=0)
        return type(model).load(saved), None
    X, y = load_dataset(dataset, split="train")
    model = spec.build(random_state=0)
    model.set_params(verbose=0)
    start = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - start
    model.save(saved)
    return model, fit_s


MEASURES = ("accuracy", "agreement", "probability")


def _areas(row: dict) -> str:
    """``attributed / random`` area of each measure, and whether it is lower."""
    cells = []
    for measure in MEASURES:
        ours, chance = row[f"attributed_{measure}_area"], row[f"random_{measure}_area"]
        verdict = "yes" if ours < chance else "NO"
        if round(ours, 3) == round(chance, 3):
            verdict = "tie"
        cells.append(f"{ours:.3f} / {chance:.3f} {verdict}")
    return " | ".join(cells)


def _table(rows: list[dict]) -> str:
    lines = [
        "| data set | classifier | method | accuracy | area (attributed / random,"
        " faster?): accuracy | agreement | probability | explain s / series |",
        "|---|---|---|---:|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['estimator']} | {r['method']} | "
            f"{r['attributed_accuracy'][0]:.3f} | {_areas(r)} | "
            f"{r['explain_s_per_series']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="GunPoint,Coffee,ItalyPowerDemand")
    parser.add_argument("--estimators", default=";".join(ESTIMATORS))
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", help="a results folder to resume")
    parser.add_argument(
        "--summarize", metavar="FOLDER", help="only rewrite FOLDER/deletion.md"
    )
    args = parser.parse_args(argv)
    if args.summarize:
        folder = Path(args.summarize)
        rows = [json.loads(x) for x in (folder / "rows.jsonl").read_text().splitlines()]
        (folder / "deletion.md").write_text(_table(rows) + "\n")
        return folder

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output) if args.output else RESULTS_DIR / f"deletion-{stamp}"
    output.mkdir(parents=True, exist_ok=True)
    (output / "environment.json").write_text(
        json.dumps(environment_info(threads=args.threads), indent=2)
    )
    rows_file = output / "rows.jsonl"
    rows = [json.loads(x) for x in rows_file.read_text().splitlines()] if (
        rows_file.exists()
    ) else []  # fmt: skip
    done = {(r["dataset"], r["estimator"], r["method"]) for r in rows}
    with limit_threads(args.threads):
        for dataset in args.datasets.split(","):
            X_test, y_test = load_dataset(dataset, split="test")
            chosen = choose_cases(y_test, args.per_class, random_state=0)
            X, y = take_cases(X_test, chosen), np.asarray(y_test)[chosen]
            for name in args.estimators.split(";"):
                model, fit_s = _fitted(name, dataset, output)
                for method in model._explanation_methods():
                    if (dataset, name, method) in done:
                        continue
                    start = time.perf_counter()
                    attributions = model.explain(X, method=method)
                    explain_s = time.perf_counter() - start
                    start = time.perf_counter()
                    curve = deletion_curve(
                        model, X, y, attributions, fractions=FRACTIONS,
                        n_random=2, random_state=0,
                    )  # fmt: skip
                    row = {
                        "dataset": dataset, "estimator": name, "method": method,
                        "n_series": len(y), "fit_s": fit_s,
                        "explain_s_per_series": explain_s / len(y),
                        "deletion_s": time.perf_counter() - start, **curve,
                    }  # fmt: skip
                    rows.append(row)
                    with rows_file.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(f"{dataset} {name} {method}", _areas(row), flush=True)
                    (output / "deletion.md").write_text(_table(rows) + "\n")
    (output / "deletion.md").write_text(_table(rows) + "\n")
    print(output)
    return output


if __name__ == "__main__":
    main()
