"""Accuracy, time and memory of classifiers on the bundled UCR/UEA datasets.

Run from the repository root::

    python -m benchmarks.run --datasets GunPoint,ArrowHead \\
        --estimators minirocket,hydra,1nn-dtw

Every dataset x estimator pair runs in this one process, one after the other:
the estimator is fitted on the standard train split and scored once on the
standard test split (the test split is never used for any selection). MiniRocket
is always run as the reference for the relative columns. A pair that raises
gives a row with a blank accuracy and the error in ``note``; the run goes on.

Peak memory is sampled, not traced: a background thread reads the resident set
size (RSS) from ``/proc/self/statm`` every ~5 ms during fit + predict, and the
reported value is the highest sample minus the RSS just before ``fit``, in MiB.
It therefore counts memory the process actually touched (numpy, torch and numba
allocations alike) but can miss spikes shorter than the sampling interval, and
memory freed by an earlier run and reused is not counted again.

Training throughput of the language-model estimators comes from their
``history_``: training tokens per second of training time, and the FLOP rate
(forward + backward FLOPs counted by torch on the first step, scaled by tokens)
as a fraction of the machine's matmul peak measured at the start of the same run
with the same thread count: the higher of float32 and bfloat16
(``matmul_gflops`` in ``environment.json``).

Writes ``results.csv`` (raw numbers), ``results.md`` (the printed table) and
``environment.json`` (versions, CPU, command line) to ``--output``.
"""

from __future__ import annotations

import os

# aeon's numba kernels and torch share this process. With numba's default OpenMP
# threading layer its idle workers spin, and a LoRA step on 2 cores measured 6x
# slower after a MiniRocket fit (12.5 s instead of 1.9 s); numba's own
# "workqueue" pool does not spin. Must be set before numba is imported.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse
import contextlib
import csv
import gc
import importlib.metadata
import json
import platform
import shlex
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.estimators import EstimatorSpec, get_spec, list_estimators
from vlmtsc.base import series_shape

REFERENCE = "minirocket"
DEFAULT_DATASETS = "GunPoint,ItalyPowerDemand,ArrowHead,BasicMotions"
DEFAULT_ESTIMATORS = "minirocket,hydra,1nn-dtw"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLE_INTERVAL_S = 0.005

CSV_COLUMNS = (
    "dataset",
    "estimator",
    "accuracy",
    "fit_s",
    "predict_s",
    "peak_mib",
    "train_tokens_per_s",
    "train_flop_fraction",
    "acc_minus_minirocket",
    "fit_time_ratio_minirocket",
    "n_train",
    "n_test",
    "n_channels",
    "n_timepoints",
    "random_state",
    "threads",
    "note",
)

__all__ = [
    "PeakRSSSampler",
    "build_parser",
    "limit_threads",
    "main",
    "run_benchmark",
    "warm_up",
]


# --------------------------------------------------------------------------- memory
def _page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return 4096


_PAGE_SIZE = _page_size()


def current_rss_bytes() -> int | None:
    """Resident set size of this process in bytes, from ``/proc/self/statm``.

    Returns
    -------
    rss : int or None
        ``None`` where ``/proc`` is not available (e.g. macOS, Windows).
    """
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


class PeakRSSSampler:
    """Peak RSS increase over a block, sampled by a background thread.

    Use as a context manager. On entry the RSS is read as the baseline and a
    daemon thread starts reading it every ``interval`` seconds; on exit the
    thread stops and one last sample is taken.

    Parameters
    ----------
    interval : float, default=0.005
        Seconds between samples.

    Attributes
    ----------
    peak_mib : float or None
        Highest sampled RSS minus the baseline, in MiB (never negative);
        ``None`` where RSS cannot be read.
    """

    def __init__(self, interval: float = SAMPLE_INTERVAL_S) -> None:
        self.interval = interval
        self._start: int | None = None
        self._peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        rss = current_rss_bytes()
        if rss is not None and (self._peak is None or rss > self._peak):
            self._peak = rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRSSSampler:
        self._start = current_rss_bytes()
        self._peak = self._start
        if self._start is not None:
            self._thread = threading.Thread(
                target=self._loop, name="peak-rss-sampler", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    @property
    def peak_mib(self) -> float | None:
        """Peak RSS minus the RSS at entry, in MiB."""
        if self._start is None or self._peak is None:
            return None
        return max(self._peak - self._start, 0) / 2**20


# --------------------------------------------------------------------------- helpers
def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def limit_threads(n_threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP and torch intra-op threads within the block.

    Sets ``OMP/OPENBLAS/MKL_NUM_THREADS`` (for libraries imported or processes
    spawned later), applies :func:`threadpoolctl.threadpool_limits` to the
    BLAS/OpenMP pools already loaded, ``torch.set_num_threads`` and numba's
    ``set_num_threads``. Everything is restored on exit. ``NUMBA_NUM_THREADS`` is
    left alone: numba refuses a changed value once its pool has started.

    Parameters
    ----------
    n_threads : int
        Number of threads.
    """
    env_vars = (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    )
    saved_env = {var: os.environ.get(var) for var in env_vars}
    for var in env_vars:
        os.environ[var] = str(n_threads)
    torch = None
    saved_torch = None
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=n_threads))
        except ImportError:  # pragma: no cover - threadpoolctl ships with sklearn
            pass
        try:
            import torch

            saved_torch = torch.get_num_threads()
            torch.set_num_threads(n_threads)
        except ImportError:  # pragma: no cover - torch is a vlmtsc dependency
            torch = None
        import numba

        saved_numba = numba.get_num_threads()
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
        stack.callback(numba.set_num_threads, saved_numba)
        try:
            yield
        finally:
            if torch is not None and saved_torch is not None:
                torch.set_num_threads(saved_torch)
            for var, value in saved_env.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value


def measure_matmul_flops(size: int = 1024, seconds: float = 0.5) -> float:
    """This machine's matmul peak (FLOP/s) with the current threads.

    The best of repeated ``size x size`` products over about ``seconds`` per
    dtype, float32 and bfloat16 (which CPUs with AVX512-BF16 or AMX run faster,
    and which the training loop's mixed precision uses there): the higher of the
    two, so the reported fraction is the conservative one.
    """
    import torch

    rates = []
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        torch.mm(a, b)  # warm-up: thread pool and allocator
        best, deadline = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        rates.append(2 * size**3 / best)
    return max(rates)


def training_throughput(estimator: Any, matmul_flops: float | None) -> dict:
    """Tokens/s and FLOP fraction of a fitted estimator's training epochs."""
    history = getattr(estimator, "history_", None) or []
    seconds = sum(entry.get("seconds", 0.0) for entry in history)
    tokens = sum(entry.get("tokens", 0) for entry in history)
    flops = sum(entry.get("flops", 0.0) for entry in history)
    if not seconds or not tokens:
        return {"train_tokens_per_s": None, "train_flop_fraction": None}
    return {
        "train_tokens_per_s": tokens / seconds,
        "train_flop_fraction": flops / seconds / matmul_flops if matmul_flops else None,
    }


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _shape_info(X: Any) -> tuple[int, int, str]:
    """``(n_cases, n_channels, length)`` of 2D, 3D or list-of-2D input."""
    n_cases, n_channels, shortest, longest = series_shape(X)
    length = str(shortest) if shortest == longest else f"{shortest}-{longest}"
    return n_cases, n_channels, length


def _input_kind(X: Any) -> str:
    """``"univariate"``, ``"multivariate"`` or ``"unequal-length"``."""
    if isinstance(X, np.ndarray):
        return "univariate" if X.ndim == 2 or X.shape[1] == 1 else "multivariate"
    return "unequal-length"


def _apply_n_jobs(estimator: Any, n_threads: int) -> None:
    """Set a top-level ``n_jobs`` parameter (aeon baselines) to ``n_threads``."""
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return
    try:
        if "n_jobs" in get_params(deep=False):
            estimator.set_params(n_jobs=n_threads)
    except Exception:  # a broken get_params is reported by fit, not here
        return


def run_one(
    spec: EstimatorSpec,
    data: tuple[Any, np.ndarray, Any, np.ndarray],
    *,
    random_state: int,
    n_threads: int,
    matmul_flops: float | None = None,
) -> dict[str, Any]:
    """Fit, predict and score one estimator on one train/test split.

    Parameters
    ----------
    spec : EstimatorSpec
        Which estimator to build.
    data : tuple
        ``(X_train, y_train, X_test, y_test)``.
    random_state : int
        Seed handed to the factory.
    n_threads : int
        Value for the estimator's ``n_jobs`` if it has one.
    matmul_flops : float, optional
        This machine's matmul FLOP/s, for ``train_flop_fraction``.

    Returns
    -------
    row : dict
        ``accuracy``, ``fit_s``, ``predict_s``, ``peak_mib``,
        ``train_tokens_per_s``, ``train_flop_fraction`` and ``note``; the numbers
        are ``None`` where that step did not complete or does not apply.
    """
    from sklearn.metrics import accuracy_score

    X_train, y_train, X_test, y_test = data
    row: dict[str, Any] = {
        "accuracy": None,
        "fit_s": None,
        "predict_s": None,
        "peak_mib": None,
        "train_tokens_per_s": None,
        "train_flop_fraction": None,
        "note": "",
    }
    sampler = PeakRSSSampler()
    try:
        estimator = spec.build(random_state)
        _apply_n_jobs(estimator, n_threads)
        gc.collect()
        with sampler:
            t0 = time.perf_counter()
            estimator.fit(X_train, y_train)
            row["fit_s"] = time.perf_counter() - t0
            row.update(training_throughput(estimator, matmul_flops))
            t0 = time.perf_counter()
            y_pred = estimator.predict(X_test)
            row["predict_s"] = time.perf_counter() - t0
        row["accuracy"] = float(accuracy_score(y_test, y_pred))
    except Exception as exc:
        row["note"] = _first_line(exc)
    finally:
        row["peak_mib"] = sampler.peak_mib
        estimator = None
        gc.collect()
    return row


def _warm_subset(data: tuple[Any, np.ndarray, Any, np.ndarray]) -> tuple[Any, Any]:
    """Up to two training cases per class (train split only)."""
    X_train, y_train = data[0], data[1]
    index = [
        i
        for label in dict.fromkeys(y_train.tolist())
        for i in np.flatnonzero(y_train == label)[:2]
    ]
    if isinstance(X_train, np.ndarray):
        return X_train[index], y_train[index]
    return [X_train[i] for i in index], y_train[index]


def warm_up(
    spec: EstimatorSpec,
    data: tuple[Any, np.ndarray, Any, np.ndarray],
    *,
    random_state: int,
    n_threads: int,
) -> float:
    """Fit and predict once on a few training cases, untimed, errors ignored.

    This pays one-time, per-process costs (lazy imports, numba compilation,
    first-call set-up) before the timed runs, so they do not inflate the first
    dataset's ``fit s``. Only training cases are used.

    Parameters
    ----------
    spec : EstimatorSpec
        Which estimator to build.
    data : tuple
        ``(X_train, y_train, X_test, y_test)``; only the train part is used.
    random_state : int
        Seed handed to the factory.
    n_threads : int
        Value for the estimator's ``n_jobs`` if it has one.

    Returns
    -------
    seconds : float
        Time the warm-up took.
    """
    t0 = time.perf_counter()
    X, y = _warm_subset(data)
    try:
        estimator = spec.build(random_state)
        _apply_n_jobs(estimator, n_threads)
        estimator.fit(X, y)
        estimator.predict(X)
    except Exception:  # the timed run reports the error
        pass
    finally:
        estimator = None
        gc.collect()
    return time.perf_counter() - t0


def _add_relative_columns(rows: list[dict[str, Any]]) -> None:
    """Fill ``acc_minus_minirocket`` and ``fit_time_ratio_minirocket`` in place."""
    reference = {
        r["dataset"]: r
        for r in rows
        if r["estimator"] == REFERENCE and r["accuracy"] is not None
    }
    for r in rows:
        ref = reference.get(r["dataset"])
        r["acc_minus_minirocket"] = None
        r["fit_time_ratio_minirocket"] = None
        if ref is None:
            continue
        if r["accuracy"] is not None:
            r["acc_minus_minirocket"] = r["accuracy"] - ref["accuracy"]
        if r["fit_s"] is not None and ref["fit_s"]:
            r["fit_time_ratio_minirocket"] = r["fit_s"] / ref["fit_s"]


def mean_accuracy_line(rows: list[dict[str, Any]], estimators: Sequence[str]) -> str:
    """One line: mean accuracy per estimator over datasets all of them scored.

    Parameters
    ----------
    rows : list of dict
        Result rows.
    estimators : sequence of str
        Estimator names, in display order.

    Returns
    -------
    line : str
    """
    by_dataset: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["accuracy"] is not None:
            by_dataset.setdefault(r["dataset"], {})[r["estimator"]] = r["accuracy"]
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    common = [d for d in datasets if set(estimators) <= set(by_dataset.get(d, {}))]
    if not common:
        return "Mean accuracy: no dataset on which every estimator has a score."
    means = ", ".join(
        f"{e} {np.mean([by_dataset[d][e] for d in common]):.3f}" for e in estimators
    )
    return (
        f"Mean accuracy over the {len(common)} dataset(s) on which every estimator "
        f"has a score ({', '.join(common)}): {means}"
    )


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}x" if value >= 0.1 else f"{value:.2g}x"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table.

    Parameters
    ----------
    rows : list of dict
        Result rows with the relative columns filled.

    Returns
    -------
    table : str
    """
    header = (
        "| dataset | estimator | accuracy | fit s | predict s | peak MiB "
        "| train tok/s | FLOP/s / matmul peak "
        "| acc − MiniRocket | fit time / MiniRocket | note |"
    )
    align = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    lines = [header, align]
    for r in rows:
        note = r["note"].replace("|", "\\|")
        if len(note) > 120:
            note = note[:117] + "..."
        cells = [
            r["dataset"],
            r["estimator"],
            _fmt(r["accuracy"], ".3f"),
            _fmt(r["fit_s"], ".3f"),
            _fmt(r["predict_s"], ".3f"),
            _fmt(r["peak_mib"], ".1f"),
            _fmt(r["train_tokens_per_s"], ".0f"),
            _fmt(r["train_flop_fraction"], ".0%"),
            _fmt(r["acc_minus_minirocket"], "+.3f"),
            _fmt_ratio(r["fit_time_ratio_minirocket"]),
            note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("numpy", "scikit-learn", "aeon", "torch", "vlmtsc"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    if out["vlmtsc"] is None:  # running from a checkout that is not installed
        try:
            import vlmtsc

            out["vlmtsc"] = vlmtsc.__version__
        except ImportError:  # pragma: no cover
            pass
    return out


def environment_info(
    command: list[str], args: argparse.Namespace, timestamp: str
) -> dict[str, Any]:
    """Versions, CPU and command line of this run, for ``environment.json``.

    Parameters
    ----------
    command : list of str
        The command line that started the run.
    args : argparse.Namespace
        Parsed arguments.
    timestamp : str
        UTC start time, ISO 8601.

    Returns
    -------
    info : dict
    """
    versions = _versions()
    return {
        "timestamp_utc": timestamp,
        "command": shlex.join(command),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "numpy": versions["numpy"],
        "sklearn": versions["scikit-learn"],
        "aeon": versions["aeon"],
        "torch": versions["torch"],
        "vlmtsc": versions["vlmtsc"],
        "cpu_count": os.cpu_count(),
        "cpus_available": _available_cpus(),
        "threads": args.threads,
        "random_state": args.random_state,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "memory_method": (
            "peak of /proc/self/statm RSS sampled every "
            f"{SAMPLE_INTERVAL_S * 1000:.0f} ms during fit+predict, minus RSS "
            "before fit"
        ),
    }


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The command-line parser.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=(
            "Fit on the standard train split, score on the standard test split, "
            "for every dataset x estimator; MiniRocket is always included as the "
            "reference."
        ),
    )
    parser.add_argument(
        "--datasets",
        default=DEFAULT_DATASETS,
        help=f"comma-separated bundled dataset names, or 'all' "
        f"(default: {DEFAULT_DATASETS})",
    )
    parser.add_argument(
        "--estimators",
        default=DEFAULT_ESTIMATORS,
        help="comma-separated registered names or 'module:callable' factories "
        f"(default: {DEFAULT_ESTIMATORS}); see --list",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed handed to every factory (default: 0)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="output folder (default: benchmarks/results/<UTC timestamp>)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=_available_cpus(),
        help="torch/BLAS/OpenMP threads, also the n_jobs of estimators that have "
        "one (default: all available cores)",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the untimed warm-up fit of each estimator on a few training "
        "cases of the first dataset of each input kind (then imports and JIT "
        "compilation count in that dataset's fit time)",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the registered estimators and bundled datasets, then exit",
    )
    return parser


def _split_names(value: str) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))


def _resolve_datasets(parser: argparse.ArgumentParser, value: str) -> list[str]:
    from vlmtsc.datasets import list_datasets

    valid = list(list_datasets())
    canonical = {n.lower(): n for n in valid}
    names = _split_names(value)
    if [n.lower() for n in names] == ["all"]:
        return valid
    if not names:
        parser.error("--datasets is empty; valid names: " + ", ".join(valid))
    unknown = [n for n in names if n.lower() not in canonical]
    if unknown:
        parser.error(
            f"unknown dataset(s): {', '.join(unknown)}. "
            f"Valid names: {', '.join(valid)}, or 'all'."
        )
    return list(dict.fromkeys(canonical[n.lower()] for n in names))


def _resolve_estimators(
    parser: argparse.ArgumentParser, value: str
) -> list[EstimatorSpec]:
    names = _split_names(value)
    if REFERENCE not in names:
        names.insert(0, REFERENCE)
    specs = []
    for name in names:
        try:
            specs.append(get_spec(name))
        except KeyError:
            parser.error(
                f"unknown estimator {name!r}. Valid names: "
                f"{', '.join(list_estimators())}, or 'module:callable' for your "
                "own factory(random_state) -> estimator."
            )
        except ValueError as exc:
            parser.error(str(exc))
    return specs


def _print_listing() -> None:
    from benchmarks.estimators import REGISTRY

    print("Estimators:")
    width = max(len(n) for n in REGISTRY)
    for name in list_estimators():
        print(f"  {name:<{width}}  {REGISTRY[name].description}")
    try:
        from vlmtsc.datasets import list_datasets

        print("Datasets:")
        print("  " + ", ".join(list_datasets()))
    except ImportError as exc:  # pragma: no cover
        print(f"Datasets: unavailable ({exc})")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {k: ("" if r.get(k) is None else r[k]) for k in CSV_COLUMNS}
            )


def run_benchmark(
    datasets: Sequence[str],
    specs: Sequence[EstimatorSpec],
    *,
    random_state: int = 0,
    n_threads: int = 1,
    warmup: bool = True,
    progress: bool = True,
    warmup_times: dict[str, float] | None = None,
    matmul_flops: float | None = None,
) -> list[dict[str, Any]]:
    """Run every dataset x estimator pair in this process.

    Parameters
    ----------
    datasets : sequence of str
        Bundled dataset names.
    specs : sequence of EstimatorSpec
        Estimators to run; put the reference first.
    random_state : int, default=0
        Seed handed to every factory.
    n_threads : int, default=1
        ``n_jobs`` for estimators that have one.
    warmup : bool, default=True
        Call :func:`warm_up` for every estimator on the first dataset of each
        input kind (univariate, multivariate, unequal-length) before timing it,
        as estimators compile separate code paths for each.
    progress : bool, default=True
        Show a tqdm progress bar on stderr.
    warmup_times : dict, optional
        Filled with the warm-up seconds per estimator name.
    matmul_flops : float, optional
        This machine's matmul FLOP/s (see :func:`measure_matmul_flops`).

    Returns
    -------
    rows : list of dict
        One per dataset x estimator, with the columns of ``results.csv``.
    """
    from tqdm.auto import tqdm

    from vlmtsc.datasets import load_dataset

    rows: list[dict[str, Any]] = []
    warmed_kinds: set[str | None] = set()
    bar = tqdm(
        total=len(datasets) * len(specs),
        desc="benchmark",
        unit="run",
        file=sys.stderr,
        disable=not progress,
    )
    try:
        for dataset in datasets:
            base = {
                "dataset": dataset,
                "random_state": random_state,
                "threads": n_threads,
            }
            try:
                X_train, y_train = load_dataset(dataset, split="train")
                X_test, y_test = load_dataset(dataset, split="test")
                n_train, n_channels, length = _shape_info(X_train)
                base.update(
                    n_train=n_train,
                    n_test=_shape_info(X_test)[0],
                    n_channels=n_channels,
                    n_timepoints=length,
                )
                data = (X_train, np.asarray(y_train), X_test, np.asarray(y_test))
                load_error = ""
            except Exception as exc:
                data, load_error = None, "loading failed: " + _first_line(exc)
            kind = _input_kind(data[0]) if data is not None else None
            if warmup and data is not None and kind not in warmed_kinds:
                warmed_kinds.add(kind)
                for spec in specs:
                    bar.set_postfix_str(f"warm-up {spec.name} ({kind})")
                    seconds = warm_up(
                        spec, data, random_state=random_state, n_threads=n_threads
                    )
                    if warmup_times is not None:
                        key = f"{spec.name} ({kind})"
                        warmup_times[key] = seconds
            for spec in specs:
                bar.set_postfix_str(f"{dataset} / {spec.name}")
                if data is None:
                    result = {
                        "accuracy": None,
                        "fit_s": None,
                        "predict_s": None,
                        "peak_mib": None,
                        "train_tokens_per_s": None,
                        "train_flop_fraction": None,
                        "note": load_error,
                    }
                else:
                    result = run_one(
                        spec,
                        data,
                        random_state=random_state,
                        n_threads=n_threads,
                        matmul_flops=matmul_flops,
                    )
                rows.append({**base, "estimator": spec.name, **result})
                bar.update(1)
    finally:
        bar.close()
    _add_relative_columns(rows)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    status : int
        0 when the benchmark completed (individual runs may have failed; see
        the ``note`` column).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        _print_listing()
        return 0
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    datasets = _resolve_datasets(parser, args.datasets)
    specs = _resolve_estimators(parser, args.estimators)

    t_start = time.perf_counter()
    started = datetime.now(timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    output = args.output if args.output is not None else RESULTS_DIR / stamp
    output.mkdir(parents=True, exist_ok=True)
    command = [Path(sys.executable).name, "-m", "benchmarks.run", *argv]
    env = environment_info(command, args, started.isoformat(timespec="seconds"))

    warmup_times: dict[str, float] = {}
    with limit_threads(args.threads):
        env["matmul_gflops"] = round(measure_matmul_flops() / 1e9, 1)
        rows = run_benchmark(
            datasets,
            specs,
            random_state=args.random_state,
            n_threads=args.threads,
            warmup=args.warmup,
            warmup_times=warmup_times,
            matmul_flops=env["matmul_gflops"] * 1e9,
        )

    table = markdown_table(rows)
    mean_line = mean_accuracy_line(rows, [s.name for s in specs])
    print(table)
    print()
    print(mean_line)

    env["warmup"] = args.warmup
    env["warmup_s"] = {k: round(v, 3) for k, v in warmup_times.items()}
    env["wall_s"] = round(time.perf_counter() - t_start, 3)
    _write_csv(output / "results.csv", rows)
    (output / "results.md").write_text(
        f"Command: `{env['command']}`  \n"
        f"Started (UTC): {env['timestamp_utc']}; threads: {args.threads}; "
        f"random_state: {args.random_state}; warm-up: {args.warmup}; "
        f"matmul peak (max of fp32, bf16): {env['matmul_gflops']} GFLOP/s\n\n"
        f"{table}\n\n{mean_line}\n",
        encoding="utf-8",
    )
    (output / "environment.json").write_text(
        json.dumps(env, indent=2) + "\n", encoding="utf-8"
    )
    print(f"\nResults written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
