"""Every classifier's bare default on long, multivariate, unequal-length series.

Run from the repository root::

    python -m benchmarks.long_series --threads 1

No bundled set is long, multivariate and of unequal lengths at once
(JapaneseVowels and PickupGestureWiimoteZ are unequal but short), so the data
are synthetic and generated here, the same every run (``--random-state``):
3 channels, 1,500-3,000 points per series, 3 classes, 40 training and 40 test
series. A class is a waveform (sine, square, sawtooth) of random frequency and
phase per channel, with channel amplitudes 1, 2 and 3 and noise; lengths vary
within every class, so the length tells nothing.

Each vlmtsc classifier runs with its defaults (real offline weights: `vlmtsc
models prepare efficientnet-smollm2 minilm-l6` once), fitted on the training
series and scored once on the test series, through
:func:`vlmtsc.experiments.run_estimator`. MiniRocket (aeon) needs equal
lengths: it gets every series linearly resampled to 3,000 points. Rows are
written by :func:`vlmtsc.experiments.write_results` into
``benchmarks/results/long-series-<UTC timestamp>/``.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vlmtsc.experiments import (
    environment_info,
    resolve_estimator,
    run_estimator,
    warm_up,
    write_results,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ESTIMATORS = (
    "VLMTimeSeriesClassifier",
    "InstructTimeClassifier",
    "CrossTimeNetClassifier",
    "MTCSClassifier",
    "TimeLlamaClassifier",
)
LONGEST = 3000


def make_long_series(n_cases: int, random_state: int):
    """``(X, y)``: a list of ``(3, n_i)`` arrays, ``n_i`` in [1500, 3000)."""
    rng = np.random.default_rng(random_state)
    y = np.arange(n_cases) % 3
    X = []
    for label in y:
        length = int(rng.integers(1500, LONGEST))
        t = np.linspace(0, 1, length)
        channels = []
        for amplitude in (1.0, 2.0, 3.0):
            phase = 2 * np.pi * (rng.uniform(5, 9) * t + rng.uniform())
            wave = (np.sin(phase), np.sign(np.sin(phase)), (phase / np.pi) % 2 - 1)
            channels.append(amplitude * wave[label] + rng.normal(0, 0.3, length))
        X.append(np.stack(channels))
    return X, y


def resample(X, length: int = LONGEST) -> np.ndarray:
    grid = np.linspace(0, 1, length)
    return np.stack(
        [[np.interp(grid, np.linspace(0, 1, x.shape[1]), c) for c in x] for x in X]
    )


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--estimators", default=",".join(ESTIMATORS))
    args = parser.parse_args(argv)

    X_train, y_train = make_long_series(40, args.random_state)
    X_test, y_test = make_long_series(40, args.random_state + 1)
    rows = []
    minirocket = resolve_estimator("minirocket").build()
    warm_up(minirocket, resample(X_train), y_train)
    record = run_estimator(
        minirocket,
        resample(X_train),
        y_train,
        resample(X_test),
        y_test,
        measure="memory",
        threads=args.threads,
    )
    rows.append({"dataset": "long-series", "estimator": "minirocket",
                 "estimator_spec": "minirocket", **record})  # fmt: skip
    for name in args.estimators.split(","):
        record = run_estimator(
            resolve_estimator(name).build(),
            X_train,
            y_train,
            X_test,
            y_test,
            measure="memory",
            threads=args.threads,
        )
        rows.append({"dataset": "long-series", "estimator": name, **record})
        print(
            f"{name}: {record['status']} accuracy {record.get('accuracy')} "
            f"fit {record.get('fit_s', 0):.0f} s predict "
            f"{record.get('predict_s', 0):.0f} s",
            flush=True,
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = RESULTS_DIR / f"long-series-{stamp}"
    write_results(
        rows,
        output,
        name="Long multivariate unequal-length series, bare defaults",
        environment=environment_info(threads=args.threads),
        notes=(
            "Synthetic: 3 channels, 1,500-3,000 points, 3 classes, 40 train / "
            "40 test series (benchmarks/long_series.py). MiniRocket on series "
            "resampled to 3,000 points."
        ),
    )
    print(output)
    return output


if __name__ == "__main__":
    main()
