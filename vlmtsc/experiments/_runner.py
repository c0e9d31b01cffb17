"""Run the scenarios of a grid, resumably, serially or through joblib."""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from vlmtsc.experiments._grid import Scenario, canonical, load_grid

__all__ = [
    "BACKENDS",
    "RESULT_COLUMNS",
    "read_results",
    "run_experiment",
    "run_scenario",
]

#: Columns of ``results.csv``, one row per finished run.
RESULT_COLUMNS = (
    "run_id",
    "dataset",
    "estimator",
    "renderer",
    "prompt_mode",
    "context_budget",
    "n_epochs",
    "seed",
    "status",
    "accuracy",
    "fit_s",
    "predict_s",
    "n_train",
    "n_test",
    "estimator_spec",
    "params",
    "error",
    "warnings",
    "finished_utc",
)
_FLOATS = ("accuracy", "fit_s", "predict_s")
_INTS = ("context_budget", "n_epochs", "seed", "n_train", "n_test")

#: joblib backends ``run_experiment`` accepts (``None``: serial, in this process).
#: No "threading": runs in one process take turns (see ``_RUN_LOCK``).
BACKENDS = ("loky", "multiprocessing", "dask", "ray")


# ------------------------------------------------------------------------ one run
_DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
# Runs in one process take turns. Numba's workqueue layer (which vlmtsc selects,
# see vlmtsc/__init__.py) aborts the process when two threads run parallel
# kernels at once (MiniRocket under a threaded dask worker did), torch's thread
# pool is process-wide, and concurrent fits would blur each other's timings.
# Parallel runs therefore come from worker processes.
_RUN_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_split(dataset: str, path: str | None):
    from vlmtsc.datasets import load_dataset

    source = path if path is not None else dataset
    X_train, y_train = load_dataset(source, split="train")
    X_test, y_test = load_dataset(source, split="test")
    return X_train, y_train, X_test, y_test


def _few_per_class(X, y, n: int = 2):
    import numpy as np

    index = [
        i for label in dict.fromkeys(y.tolist()) for i in np.flatnonzero(y == label)[:n]
    ]
    if isinstance(X, np.ndarray):
        return X[index], y[index]
    return [X[i] for i in index], y[index]


# (estimator name, input kind) pairs already warmed up in this process.
_WARMED: set = set()


def _warm_up(scenario: Scenario, X, y) -> None:
    """Fit once on two cases per class, untimed, errors ignored.

    Pays per-process one-time costs (imports, numba compilation) before the
    timed fit, so they do not count as the first run's fit time.
    """
    import numpy as np

    kind = getattr(X, "ndim", "list") if isinstance(X, np.ndarray) else "list"
    key = (scenario.estimator.name, scenario.estimator.reference_name, kind)
    if key in _WARMED:
        return
    _WARMED.add(key)
    X_few, y_few = _few_per_class(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Errors are ignored here: the timed run reports them.
        with contextlib.suppress(Exception):
            scenario.build().fit(X_few, y_few).predict(X_few)


def _first_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0][:500]


def run_scenario(scenario: Scenario, warm_up: bool = True) -> dict:
    """Fit on the train split, predict the test split, record the outcome.

    An exception becomes a row with ``status="error"`` and the message in
    ``error``; it is never raised (``KeyboardInterrupt`` still stops).

    Parameters
    ----------
    scenario : Scenario
    warm_up : bool, default=True
        First fit once on two training cases per class, untimed, the first time
        this process meets this estimator and input kind.

    Returns
    -------
    record : dict
        The :data:`RESULT_COLUMNS` plus ``traceback`` (for failed runs).
        ``warnings`` holds the distinct warnings of the run (deprecation
        notices left out), e.g. that prompts were downsampled to the budget.

    Examples
    --------
    >>> from vlmtsc.experiments import load_grid, run_scenario
    >>> grid = load_grid({"datasets": ["GunPoint"],
    ...                   "estimators": ["vlmtsc.experiments:nearest_neighbors"]})
    >>> record = run_scenario(grid.scenarios[0])
    >>> record["status"], round(record["accuracy"], 3), record["n_test"]
    ('ok', 0.913, 150)
    """
    record = {"run_id": scenario.run_id, **scenario.keys()}
    record.update(
        status="error", accuracy=None, fit_s=None, predict_s=None, n_train=None,
        n_test=None, error="", warnings="", traceback="",
    )  # fmt: skip
    with _RUN_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit_and_score(scenario, record, warm_up)
    # What a reader of the results needs (e.g. DownsamplingWarning: prompts were
    # shortened to the context budget), not libraries' deprecation notices.
    messages = dict.fromkeys(
        f"{w.category.__name__}: {(str(w.message).splitlines() or [''])[0]}"
        for w in caught
        if not issubclass(w.category, _DEPRECATIONS)
    )
    record["warnings"] = " | ".join(messages)[:2000]
    record["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def _fit_and_score(scenario: Scenario, record: dict, warm_up: bool) -> None:
    import numpy as np

    try:
        X_train, y_train, X_test, y_test = _load_split(
            scenario.dataset, scenario.dataset_path
        )
        record["n_train"], record["n_test"] = len(y_train), len(y_test)
        if warm_up:
            _warm_up(scenario, X_train, y_train)
        estimator = scenario.build()
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        record["fit_s"] = time.perf_counter() - start
        start = time.perf_counter()
        y_pred = estimator.predict(X_test)
        record["predict_s"] = time.perf_counter() - start
        record["accuracy"] = float(np.mean(np.asarray(y_pred) == np.asarray(y_test)))
        record["status"] = "ok"
    except Exception as error:
        record["error"] = _first_line(error)
        record["traceback"] = traceback.format_exc()


# ------------------------------------------------------------------ run storage
def _write_json(path: Path, data) -> None:
    """Write atomically: an interruption never leaves half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=repr), encoding="utf-8")
    os.replace(tmp, path)


def _finished_runs(runs_dir: Path, retry_errors: bool) -> dict[str, dict]:
    records = {}
    for path in runs_dir.glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            status = record["status"]
        except (OSError, ValueError, KeyError, TypeError):
            warnings.warn(
                f"{path} is unreadable; its run will be done again.", stacklevel=3
            )
            continue
        if status == "error" and retry_errors:
            continue
        records[path.stem] = record
    return records


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: "" if row.get(k) is None else row[k] for k in RESULT_COLUMNS}
            )


def read_results(path) -> list[dict]:
    """Read a ``results.csv`` back, with numbers as numbers and blanks as None.

    Parameters
    ----------
    path : str or os.PathLike
        The file, or the experiment's output folder.

    Returns
    -------
    rows : list of dict
        One dict per run, keyed by :data:`RESULT_COLUMNS`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row = {k: (v if v != "" else None) for k, v in raw.items()}
            for key in _FLOATS:
                if row.get(key) is not None:
                    row[key] = float(row[key])
            for key in _INTS:
                if row.get(key) is not None:
                    row[key] = int(row[key])
            rows.append(row)
    return rows


# ---------------------------------------------------------------------- engines
@contextlib.contextmanager
def _dask_client(n_jobs, backend_params: dict) -> Iterator[None]:
    """Use the current dask Client, or start a local cluster for the run."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            'backend="dask" needs dask.distributed: pip install "vlmtsc[experiments]"'
        ) from error
    if "client" in backend_params or "scheduler_host" in backend_params:
        yield
        return
    try:
        distributed.get_client()
    except ValueError:  # no client: start a local cluster of worker processes
        n_workers = n_jobs if n_jobs is not None and n_jobs > 0 else None
        with (
            distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster),
        ):
            yield
        return
    yield


def _register_ray() -> None:
    try:
        from ray.util.joblib import register_ray
    except ImportError as error:
        raise ImportError(
            'backend="ray" needs Ray: pip install "ray[default]" (connect to a '
            "cluster with ray.init(address=...) first, or Ray starts a local one)."
        ) from error
    register_ray()


def _run_parallel(todo, backend, n_jobs, backend_params, warm_up) -> Iterator[dict]:
    """Records of ``todo`` as they finish, through joblib's ``backend``."""
    import joblib

    backend_params = dict(backend_params or {})
    n_jobs = -1 if n_jobs is None else n_jobs
    with contextlib.ExitStack() as stack:
        if backend == "dask":
            stack.enter_context(_dask_client(n_jobs, backend_params))
        elif backend == "ray":
            _register_ray()
        stack.enter_context(
            joblib.parallel_config(backend=backend, n_jobs=n_jobs, **backend_params)
        )
        tasks = (joblib.delayed(run_scenario)(s, warm_up=warm_up) for s in todo)
        # Records come back as each run finishes and are saved here, so workers
        # need no shared file system and an interruption keeps finished runs.
        yield from joblib.Parallel(return_as="generator_unordered")(tasks)


def _check_engine(backend, n_jobs):
    if backend is not None and backend not in BACKENDS:
        raise ValueError(
            f"Unknown backend {backend!r}. Use None (serial, the default) or one of "
            f"{', '.join(BACKENDS)} (joblib backends; dask and ray spread runs over "
            "a cluster)."
        )
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0
    ):
        raise ValueError(
            f"n_jobs must be a non-zero integer (-1: all workers), got {n_jobs!r}."
        )
    if backend is None and n_jobs not in (None, 1):
        backend = "loky"  # joblib's own default for process parallelism
    return backend


# ------------------------------------------------------------------ experiment
def run_experiment(
    grid,
    output,
    *,
    backend=None,
    n_jobs=None,
    backend_params=None,
    retry_errors=False,
    warm_up=True,
    report=True,
    run=True,
    verbose=1,
):
    """Run every scenario of a grid and write a tidy table and a report.

    Each run fits on the dataset's standard train split and is scored once on
    its test split. Every finished run is saved at once as
    ``output/runs/<run_id>.json``; a run whose file exists is skipped, so an
    interrupted experiment resumes where it stopped when started again with the
    same output folder (a changed scenario has a new id and runs). A run that
    raises is recorded with its error and the grid goes on.

    Parameters
    ----------
    grid : dict, str, os.PathLike or ExperimentGrid
        The grid (see :func:`load_grid`) or its YAML/TOML/JSON file.
    output : str or os.PathLike
        Folder for ``runs/``, ``results.csv``, ``report.md`` and the plots.
    backend : {None, "loky", "multiprocessing", "dask", "ray"}
        ``None`` runs serially in this process (or with ``loky`` if ``n_jobs``
        is set). Otherwise the runs go through :class:`joblib.Parallel` under
        :func:`joblib.parallel_config`. ``"dask"`` uses the current
        ``distributed.Client`` (connect one to your cluster first), or starts a
        local cluster of ``n_jobs`` single-threaded worker processes for this
        call; ``"ray"`` registers Ray's joblib backend. No scheduler of vlmtsc's
        own. Runs that share a process take turns (numba and torch thread pools
        are process-wide), so parallelism comes from worker processes: give
        dask workers one thread each (``threads_per_worker=1``).
    n_jobs : int, optional
        Concurrent runs (``-1``: all cores or workers, the default with a
        backend).
    backend_params : dict, optional
        Extra keyword arguments for :func:`joblib.parallel_config`, e.g.
        ``{"scheduler_host": "tcp://10.0.0.5:8786"}`` for dask.
    retry_errors : bool, default=False
        Run again the runs that failed before (default: keep their error rows).
    warm_up : bool, default=True
        Pay each process's one-time costs (imports, JIT compilation) with an
        untimed fit on a few training cases before an estimator's first timed
        fit.
    report : bool, default=True
        Write ``report.md`` and the plots (needs matplotlib).
    run : bool, default=True
        ``False`` runs nothing: the table and the report are rebuilt from the
        runs already finished (``vlmtsc experiment --report-only``).
    verbose : int, default=1
        ``0`` prints nothing; ``1`` a summary line and a progress bar.

    Returns
    -------
    rows : list of dict
        One dict per finished run of the grid, in grid order, keyed by
        :data:`RESULT_COLUMNS` (the rows of ``output/results.csv``).

    Examples
    --------
    >>> import tempfile
    >>> from vlmtsc.experiments import run_experiment
    >>> grid = {
    ...     "datasets": ["GunPoint", "ItalyPowerDemand"],
    ...     "estimators": [
    ...         {"name": "1nn", "estimator": "vlmtsc.experiments:nearest_neighbors"},
    ...         {"name": "3nn", "estimator": "vlmtsc.experiments:nearest_neighbors",
    ...          "params": {"n_neighbors": 3}},
    ...     ],
    ... }
    >>> output = tempfile.mkdtemp()
    >>> rows = run_experiment(grid, output, verbose=0)
    >>> for row in rows:
    ...     print(row["dataset"], row["estimator"], round(row["accuracy"], 3))
    GunPoint 1nn 0.913
    GunPoint 3nn 0.873
    ItalyPowerDemand 1nn 0.955
    ItalyPowerDemand 3nn 0.956
    >>> rows = run_experiment(grid, output, verbose=0)  # resumed: nothing to run
    >>> from pathlib import Path
    >>> print(*sorted(path.name for path in Path(output).iterdir()), sep="\\n")
    accuracy_per_scenario.png
    accuracy_vs_fit_time.png
    grid.json
    report.md
    results.csv
    runs
    """
    from tqdm.auto import tqdm

    from vlmtsc.experiments._report import write_report

    grid = load_grid(grid)
    backend = _check_engine(backend, n_jobs)
    output = Path(output)
    runs_dir = output / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        output / "grid.json", {"name": grid.name, "grid": canonical(grid.source)}
    )
    scenarios = grid.scenarios
    finished = _finished_runs(runs_dir, retry_errors)
    todo = [s for s in scenarios if s.run_id not in finished]
    if verbose:
        done = len(scenarios) - len(todo)
        print(
            f"{grid.name}: {len(scenarios)} runs; {done} finished before"
            + (" (skipped)" if done else "")
            + (f", {len(todo)} to run" if run else ", none run (report only)")
            + (f" on joblib backend {backend!r}" if run and todo and backend else "")
        )
    if run and todo:
        if backend is None:
            records = (run_scenario(s, warm_up=warm_up) for s in todo)
        else:
            records = _run_parallel(todo, backend, n_jobs, backend_params, warm_up)
        with tqdm(
            total=len(todo), disable=not verbose, unit="run", desc=grid.name
        ) as progress:
            for record in records:
                _write_json(runs_dir / f"{record['run_id']}.json", record)
                finished[record["run_id"]] = record
                if record["status"] != "ok":
                    progress.write(
                        f"run {record['run_id']} ({record['dataset']}, "
                        f"{record['estimator']}) failed: {record['error']}"
                    )
                progress.update()
    rows = [
        {k: finished[s.run_id].get(k) for k in RESULT_COLUMNS}
        for s in scenarios
        if s.run_id in finished
    ]
    _write_csv(output / "results.csv", rows)
    if report:
        write_report(rows, output, name=grid.name, pending=len(scenarios) - len(rows))
    return rows
