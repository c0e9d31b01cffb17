"""Scenario grids, the experiment launcher, tables and reports (seed 001's pipeline).

A grid names datasets, estimators and the axes to vary (renderers, prompt modes,
context budgets, epochs, seeds). :func:`run_experiment` expands it into runs, fits
each on the standard train split, scores it once on the test split, saves every
finished run at once (so an interrupted experiment resumes), and writes one tidy
table, ``results.csv``, and a report, ``report.md``, with two plots: accuracy per
scenario, and accuracy against fit time with MiniRocket on the same axes. Runs go
serially by default, or through joblib (loky, Dask or Ray) when asked.

From the shell::

    vlmtsc experiment examples/grid.yaml --output results/grid
    vlmtsc experiment examples/grid.yaml --output results/grid --backend dask --n-jobs 4

A grid file (YAML; TOML and JSON work the same way)::

    name: seed-001 on two datasets
    datasets: [GunPoint, ItalyPowerDemand]
    estimators:
      - minirocket
      - name: vlm-linear
        estimator: VLMTimeSeriesClassifier
        params: {head: linear}
    renderers: [lineplot, gaf]
    seeds: [0]

See :func:`load_grid` for every key and for which axes apply to which estimator.
"""

from vlmtsc.experiments._baselines import nearest_neighbors
from vlmtsc.experiments._grid import (
    AXES,
    ESTIMATOR_NAMES,
    GRID_KEYS,
    RENDERER_NAMES,
    EstimatorSpec,
    ExperimentGrid,
    Scenario,
    load_grid,
    parse_estimator,
)
from vlmtsc.experiments._report import summarize, write_report
from vlmtsc.experiments._runner import (
    BACKENDS,
    RESULT_COLUMNS,
    read_results,
    run_experiment,
    run_scenario,
)

__all__ = [
    "AXES",
    "BACKENDS",
    "ESTIMATOR_NAMES",
    "GRID_KEYS",
    "RENDERER_NAMES",
    "RESULT_COLUMNS",
    "EstimatorSpec",
    "ExperimentGrid",
    "Scenario",
    "load_grid",
    "nearest_neighbors",
    "parse_estimator",
    "read_results",
    "run_experiment",
    "run_scenario",
    "summarize",
    "write_report",
]
