"""Scenario grids, the experiment launcher, tables and reports: the benchmark engine.

A grid names datasets, estimators and the axes to vary (renderers, prompt modes,
context budgets, epochs, seeds). :func:`run_experiment` expands it into runs, fits
each on the standard train split, scores it once on the test split, saves every
finished run at once (so an interrupted experiment resumes), and writes one tidy
table, ``results.csv``, and a report, ``report.md``, with tables and two plots:
accuracy per scenario, and accuracy against fit time with MiniRocket on the same
axes. Runs go serially by default, or through joblib (loky, Dask or Ray) when
asked. On request a run also measures its peak memory, training throughput
(FLOP/s against the machine's matmul peak) and environment, under a thread cap.

Every published benchmark of vlmtsc is a grid file under ``benchmarks/grids/``
built from the :data:`NAMED_ESTIMATORS` (``minirocket``, ``vlm-lora``,
``timellama-frozen``, ...); the few that are not a grid are small scripts on
:func:`run_estimator` and :func:`write_results`.

From the shell::

    vlmtsc experiment examples/grid.yaml --output results/grid
    vlmtsc experiment examples/grid.yaml --output results/grid --backend dask --n-jobs 4
    vlmtsc bench --datasets GunPoint --estimators hydra,1nn-dtw --measure all

A grid file (YAML; TOML and JSON work the same way)::

    name: seed-001 on two datasets
    datasets: [GunPoint, ItalyPowerDemand]
    estimators:
      - minirocket
      - vlm-lora(n_epochs=2)
      - name: vlm-linear
        estimator: VLMTimeSeriesClassifier
        params: {head: linear}
    renderers: [lineplot, gaf]
    seeds: [0]
    threads: 1
    measure: [memory, throughput]

See :func:`load_grid` for every key and for which axes apply to which estimator.
"""

from vlmtsc.experiments._baselines import minirocket, nearest_neighbors, renderer_probe
from vlmtsc.experiments._grid import (
    AXES,
    ESTIMATOR_NAMES,
    GRID_KEYS,
    NAMED_ESTIMATORS,
    RENDERER_NAMES,
    EstimatorSpec,
    ExperimentGrid,
    Scenario,
    load_grid,
    parse_estimator,
    parse_values,
    resolve_estimator,
)
from vlmtsc.experiments._measure import (
    MEASUREMENTS,
    PeakRSSSampler,
    check_measure,
    environment_info,
    limit_threads,
    training_throughput,
    warm_up,
)
from vlmtsc.experiments._report import (
    accuracy_table,
    scenario_table,
    summarize,
    summary_table,
    write_report,
    write_results,
)
from vlmtsc.experiments._results import (
    MEASURE_COLUMNS,
    RESULT_COLUMNS,
    read_results,
    write_csv,
)
from vlmtsc.experiments._runner import (
    BACKENDS,
    run_estimator,
    run_experiment,
    run_scenario,
)

__all__ = [
    "AXES",
    "BACKENDS",
    "ESTIMATOR_NAMES",
    "GRID_KEYS",
    "MEASUREMENTS",
    "MEASURE_COLUMNS",
    "NAMED_ESTIMATORS",
    "RENDERER_NAMES",
    "RESULT_COLUMNS",
    "EstimatorSpec",
    "ExperimentGrid",
    "PeakRSSSampler",
    "Scenario",
    "accuracy_table",
    "check_measure",
    "environment_info",
    "limit_threads",
    "load_grid",
    "minirocket",
    "nearest_neighbors",
    "parse_estimator",
    "parse_values",
    "read_results",
    "renderer_probe",
    "resolve_estimator",
    "run_estimator",
    "run_experiment",
    "run_scenario",
    "scenario_table",
    "summarize",
    "summary_table",
    "training_throughput",
    "warm_up",
    "write_csv",
    "write_report",
    "write_results",
]
