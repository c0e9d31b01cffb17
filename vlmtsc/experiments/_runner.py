"""Run the scenarios of a grid, resumably, serially or through joblib."""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from vlmtsc.experiments._grid import Scenario, canonical, check_threads, load_grid
from vlmtsc.experiments._measure import (
    PeakRSSSampler,
    check_measure,
    environment_info,
    limit_threads,
    set_n_jobs,
    training_throughput,
)
from vlmtsc.experiments._measure import (
    warm_up as warm_up_estimator,
)
from vlmtsc.experiments._results import (
    RESULT_COLUMNS,
    read_results,
    remove_temporary_files,
    write_json,
)

__all__ = [
    "BACKENDS",
    "RESULT_COLUMNS",
    "read_results",
    "run_estimator",
    "run_experiment",
    "run_scenario",
]

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


def _first_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0][:500]


def _failed(record: dict, error: BaseException) -> None:
    record["status"] = "error"
    record["error"] = _first_line(error)
    record["traceback"] = traceback.format_exc()


def run_estimator(
    estimator, X_train, y_train, X_test, y_test, *, measure=(), threads=None
) -> dict:
    """Fit on the training data, predict the test data, record what happened.

    The one place a benchmark times a fit: experiments call it for every run,
    and the per-paper scripts under ``benchmarks/`` for the fits a grid cannot
    express. An exception becomes ``status="error"`` with its message in
    ``error``; it is never raised (``KeyboardInterrupt`` still stops).

    Parameters
    ----------
    estimator : classifier
        Unfitted; it is fitted in place.
    X_train, y_train, X_test, y_test : array-like
    measure : str or sequence of str, default=()
        Optional measurements (see :func:`check_measure`): ``"memory"`` adds
        ``peak_mib``; ``"throughput"`` adds ``train_tokens_per_s``,
        ``train_flop_fraction`` and ``matmul_gflops`` for estimators that log
        training tokens.
    threads : int, optional
        Cap the thread pools at this many threads during fit and predict and
        set the estimator's ``n_jobs`` (if it has one) to it; recorded as
        ``threads``.

    Returns
    -------
    record : dict
        ``status`` (``"ok"`` or ``"error"``), ``accuracy``, ``fit_s``,
        ``predict_s``, ``n_train``, ``n_test``, ``error``, ``traceback``,
        ``warnings`` (the distinct warnings, deprecation notices left out) and
        the measurements asked for.

    Examples
    --------
    >>> from vlmtsc.datasets import load_dataset
    >>> from vlmtsc.experiments import nearest_neighbors, run_estimator
    >>> data = load_dataset("GunPoint") + load_dataset("GunPoint", split="test")
    >>> record = run_estimator(nearest_neighbors(), *data, measure="memory")
    >>> record["status"], round(record["accuracy"], 3), record["peak_mib"] >= 0
    ('ok', 0.913, True)
    """
    measure = check_measure(measure)
    threads = check_threads(threads)
    record = {
        "status": "error", "accuracy": None, "fit_s": None, "predict_s": None,
        "n_train": len(y_train), "n_test": len(y_test), "error": "",
        "warnings": "", "traceback": "",
    }  # fmt: skip
    if threads is not None:
        record["threads"] = threads
    with warnings.catch_warnings(record=True) as caught, limit_threads(threads):
        warnings.simplefilter("always")
        sampler = PeakRSSSampler() if "memory" in measure else None
        try:
            data = (X_train, y_train, X_test, y_test)
            _fit_and_score(estimator, data, record, sampler, threads)
            if "throughput" in measure:
                record.update(training_throughput(estimator))
        except Exception as error:
            _failed(record, error)
        if sampler is not None:
            record["peak_mib"] = sampler.peak_mib
    # What a reader of the results needs (e.g. DownsamplingWarning: prompts were
    # shortened to the context budget), not libraries' deprecation notices.
    messages = dict.fromkeys(
        f"{w.category.__name__}: {(str(w.message).splitlines() or [''])[0]}"
        for w in caught
        if not issubclass(w.category, _DEPRECATIONS)
    )
    record["warnings"] = " | ".join(messages)[:2000]
    return record


def _fit_and_score(estimator, data, record, sampler, threads) -> None:
    import numpy as np

    X_train, y_train, X_test, y_test = data
    set_n_jobs(estimator, threads)
    with sampler if sampler is not None else contextlib.nullcontext():
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        record["fit_s"] = time.perf_counter() - start
        start = time.perf_counter()
        y_pred = estimator.predict(X_test)
        record["predict_s"] = time.perf_counter() - start
    record["accuracy"] = float(np.mean(np.asarray(y_pred) == np.asarray(y_test)))
    record["status"] = "ok"


# (estimator name, reference, input kind) already warmed up in this process.
_WARMED: set = set()


def _input_kind(X) -> str:
    import numpy as np

    if not isinstance(X, np.ndarray):
        return "unequal-length"
    return "univariate" if X.ndim == 2 or X.shape[1] == 1 else "multivariate"


def run_scenario(scenario: Scenario, warm_up=True, *, measure=(), threads=None):
    """Fit on the train split, predict the test split, record the outcome.

    An exception becomes a row with ``status="error"`` and the message in
    ``error``; it is never raised (``KeyboardInterrupt`` still stops).

    Parameters
    ----------
    scenario : Scenario
    warm_up : bool, default=True
        First fit once on two training cases per class, untimed
        (:func:`warm_up`), the first time this process meets this estimator and
        input kind (univariate, multivariate, unequal-length).
    measure : str or sequence of str, default=()
        Optional measurements, see :func:`run_estimator`.
    threads : int, optional
        Thread cap of the warm-up and the run, see :func:`run_estimator`.

    Returns
    -------
    record : dict
        The :data:`RESULT_COLUMNS`, the measurements asked for, ``traceback``
        (for failed runs) and ``warmup_s`` (when this run paid the warm-up).
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
    with _RUN_LOCK, limit_threads(threads):
        try:
            X_train, y_train, X_test, y_test = _load_split(
                scenario.dataset, scenario.dataset_path
            )
            record["n_train"], record["n_test"] = len(y_train), len(y_test)
            spec = scenario.estimator
            key = (spec.name, spec.reference_name, _input_kind(X_train))
            if warm_up and key not in _WARMED:
                _WARMED.add(key)
                with contextlib.suppress(Exception):  # the timed run reports it
                    record["warmup_s"] = warm_up_estimator(
                        scenario.build(), X_train, y_train
                    )
            estimator = scenario.build()
        except Exception as error:
            _failed(record, error)
        else:
            data = (X_train, y_train, X_test, y_test)
            options = {"measure": measure, "threads": threads}
            record.update(run_estimator(estimator, *data, **options))
    record["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


# ------------------------------------------------------------------ run storage
def _finished_runs(runs_dir: Path, retry_errors: bool) -> dict[str, dict]:
    import json

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


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit(143)`` so cleanup code runs.

    Python's default SIGTERM ends the process at once, which could leave a
    half-written file; as an exception, every ``finally`` and atomic write
    cleans up. Only in the main thread (where signal handlers live).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


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


def _run_parallel(todo, backend, n_jobs, backend_params, options) -> Iterator[dict]:
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
        tasks = (joblib.delayed(run_scenario)(s, **options) for s in todo)
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
    threads=None,
    measure=None,
    report=True,
    run=True,
    verbose=1,
):
    """Run every scenario of a grid and write a tidy table and a report.

    Each run fits on the dataset's standard train split and is scored once on
    its test split. Every finished run is saved at once, atomically, as
    ``output/runs/<run_id>.json``; a run whose file exists is skipped, so an
    interrupted experiment (Ctrl-C, SIGTERM, even SIGKILL or a power cut) resumes
    where it stopped when started again with the same output folder (a changed
    scenario has a new id and runs). Ctrl-C and SIGTERM leave no partial or
    temporary file behind. A run that raises is recorded with its error and the
    grid goes on.

    Parameters
    ----------
    grid : dict, str, os.PathLike or ExperimentGrid
        The grid (see :func:`load_grid`) or its YAML/TOML/JSON file.
    output : str or os.PathLike
        Folder for ``runs/``, ``results.csv``, ``report.md``, the plots and
        ``environment.json``.
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
        fit on each kind of input (see :func:`warm_up`).
    threads : int, optional
        Thread cap of every run (default: the grid's ``threads``), see
        :func:`run_estimator`.
    measure : str or sequence of str, optional
        Optional measurements (default: the grid's ``measure``): ``"memory"``,
        ``"throughput"``, ``"environment"`` or ``"all"``; see
        :func:`load_grid`. Their columns follow :data:`RESULT_COLUMNS` in
        ``results.csv``.
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
        One dict per finished run of the grid, in grid order, keyed by the
        columns of ``output/results.csv``.

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

    from vlmtsc.experiments._report import write_results

    grid = load_grid(grid)
    backend = _check_engine(backend, n_jobs)
    threads = check_threads(grid.threads if threads is None else threads)
    measure = check_measure(grid.measure if measure is None else measure)
    output = Path(output)
    runs_dir = output / "runs"
    started = time.perf_counter()
    with _sigterm_as_exit():
        runs_dir.mkdir(parents=True, exist_ok=True)
        for folder in (output, runs_dir):  # what a SIGKILL may have left
            remove_temporary_files(folder)
        write_json(
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
                + (
                    f" on joblib backend {backend!r}"
                    if run and todo and backend
                    else ""
                )
            )
        if run and todo:
            options = {"warm_up": warm_up, "measure": measure, "threads": threads}
            if backend is None:
                records = (run_scenario(s, **options) for s in todo)
            else:
                records = _run_parallel(todo, backend, n_jobs, backend_params, options)
            with tqdm(
                total=len(todo), disable=not verbose, unit="run", desc=grid.name
            ) as progress:
                for record in records:
                    write_json(runs_dir / f"{record['run_id']}.json", record)
                    finished[record["run_id"]] = record
                    if record["status"] != "ok":
                        progress.write(
                            f"run {record['run_id']} ({record['dataset']}, "
                            f"{record['estimator']}) failed: {record['error']}"
                        )
                    progress.update()
        rows = [finished[s.run_id] for s in scenarios if s.run_id in finished]
        environment = None
        if "environment" in measure:
            environment = environment_info(
                grid=grid.name, threads=threads, backend=backend, n_jobs=n_jobs,
                warmup_s={f"{r['estimator']} ({r['dataset']})": round(r["warmup_s"], 3)
                          for r in rows if r.get("warmup_s") is not None},
                wall_s=round(time.perf_counter() - started, 3),
            )  # fmt: skip
        return write_results(
            rows,
            output,
            name=grid.name,
            pending=len(scenarios) - len(rows),
            environment=environment,
            report=report,
        )
