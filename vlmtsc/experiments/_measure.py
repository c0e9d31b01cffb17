"""What a run measures beyond accuracy and time, and the warm-up before it.

Optional measurements (asked for with a grid's ``measure`` key or ``--measure``):

- ``"memory"``: peak resident memory added during fit + predict (``peak_mib``);
- ``"throughput"``: training tokens per second and the FLOP rate as a fraction
  of this machine's matmul peak, for estimators that log them in ``history_``
  (``train_tokens_per_s``, ``train_flop_fraction``, ``matmul_gflops``);
- ``"environment"``: versions, CPU, platform and the command line, written to
  ``environment.json`` and the report.

``threads`` (a grid key or ``--threads``) caps the thread pools of each run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
import shlex
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone

__all__ = [
    "MEASUREMENTS",
    "PeakRSSSampler",
    "check_measure",
    "environment_info",
    "limit_threads",
    "training_throughput",
    "warm_up",
]

#: The optional measurements a run can take (``measure`` in a grid).
MEASUREMENTS = ("memory", "throughput", "environment")
SAMPLE_INTERVAL_S = 0.005
MEMORY_METHOD = (
    "peak of the resident set size (/proc/self/statm) sampled every "
    f"{SAMPLE_INTERVAL_S * 1000:.0f} ms during fit + predict, minus the size "
    "before fit"
)


def check_measure(measure) -> tuple[str, ...]:
    """The measurements asked for, validated, in :data:`MEASUREMENTS` order.

    Parameters
    ----------
    measure : None, bool, str or sequence of str
        ``None``/``False``: none; ``True`` or ``"all"``: every one; otherwise
        names from :data:`MEASUREMENTS` (a list, or one comma-separated string).

    Returns
    -------
    measure : tuple of str

    Examples
    --------
    >>> check_measure("throughput,memory")
    ('memory', 'throughput')
    >>> check_measure(True)
    ('memory', 'throughput', 'environment')
    """
    if measure is None or measure is False:
        return ()
    if measure is True:
        return MEASUREMENTS
    if isinstance(measure, str):
        measure = [m.strip() for m in measure.split(",") if m.strip()]
    names = [str(m).lower() for m in measure]
    if names == ["all"]:
        return MEASUREMENTS
    unknown = [m for m in names if m not in MEASUREMENTS]
    if unknown:
        raise ValueError(
            f"Unknown measurement {unknown[0]!r}. Valid: "
            f"{', '.join(MEASUREMENTS)}, or 'all' (accuracy and fit/predict "
            "seconds are always recorded)."
        )
    return tuple(m for m in MEASUREMENTS if m in names)


# ------------------------------------------------------------------------ memory
def _page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return 4096


_PAGE_SIZE = _page_size()


def current_rss_bytes() -> int | None:
    """Resident set size of this process in bytes; None without ``/proc``."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


class PeakRSSSampler:
    """Peak resident memory added over a block, sampled by a background thread.

    On entry the resident set size (RSS) is read as the baseline and a daemon
    thread reads it every ``interval`` seconds; on exit the thread stops and one
    last sample is taken. It counts memory the process touched, whatever
    allocated it (numpy, torch, numba), but can miss spikes shorter than the
    interval, and memory an earlier run freed and the allocator kept is reused
    without growing the RSS. GPU memory is not included.

    Parameters
    ----------
    interval : float, default=0.005
        Seconds between samples.

    Attributes
    ----------
    peak_mib : float or None
        Highest sample minus the baseline, in MiB (never negative); None where
        the RSS cannot be read (no ``/proc``: macOS, Windows).

    Examples
    --------
    >>> import mmap
    >>> with PeakRSSSampler() as sampler:
    ...     block = mmap.mmap(-1, 2**26)  # 64 MiB of fresh pages (no reuse)
    ...     for page in range(0, 2**26, mmap.PAGESIZE):
    ...         block[page] = 1  # every page touched
    >>> sampler.peak_mib > 40
    True
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
        self._start = self._peak = current_rss_bytes()
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


# ----------------------------------------------------------------------- threads
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def limit_threads(n_threads: int | None) -> Iterator[None]:
    """Cap the BLAS/OpenMP, torch and numba thread pools within the block.

    Several pools live in one process (OpenBLAS, torch's OpenMP, numba) and
    busy-wait for work, so with every core in use they can slow each other down:
    on a shared 2-core machine logistic-regression probes fitted 10-50x faster
    with one thread than with two. This sets ``OMP/OPENBLAS/MKL_NUM_THREADS``
    (for pools started later), applies :func:`threadpoolctl.threadpool_limits`
    to the loaded ones, ``torch.set_num_threads`` (when torch is loaded) and
    numba's ``set_num_threads``; everything is restored on exit.

    Parameters
    ----------
    n_threads : int or None
        Threads per pool; None leaves everything as it is.

    Examples
    --------
    >>> import os
    >>> with limit_threads(1):
    ...     os.environ["OPENBLAS_NUM_THREADS"]
    '1'
    """
    if n_threads is None:
        yield
        return
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(f"threads must be a positive integer, got {n_threads!r}.")
    saved_env = {var: os.environ.get(var) for var in _THREAD_VARIABLES}
    with contextlib.ExitStack() as stack:
        for var in _THREAD_VARIABLES:
            os.environ[var] = str(n_threads)
        stack.callback(_restore_env, saved_env)
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(limits=n_threads))
        torch = sys.modules.get("torch")  # a run that imports torch later is
        if torch is not None:  # covered by OMP_NUM_THREADS
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(n_threads)
        try:
            import numba
        except ImportError:  # pragma: no cover - numba comes with pyts
            numba = None
        if numba is not None:
            stack.callback(numba.set_num_threads, numba.get_num_threads())
            # NUMBA_NUM_THREADS is fixed once numba's pool started: cap below it.
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
        yield


def _restore_env(saved: dict) -> None:
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


def set_n_jobs(estimator, n_jobs: int | None) -> None:
    """Set a top-level ``n_jobs`` parameter (aeon's baselines) to ``n_jobs``."""
    if n_jobs is None:
        return
    with contextlib.suppress(Exception):  # a broken get_params shows in fit
        if "n_jobs" in estimator.get_params(deep=False):
            estimator.set_params(n_jobs=n_jobs)


# -------------------------------------------------------------------- throughput
@functools.lru_cache(maxsize=8)
def _matmul_flops(n_threads: int, size: int = 1024, seconds: float = 0.5) -> float:
    import torch

    rates = []
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        torch.mm(a, b)  # thread pool and allocator
        best, deadline = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        rates.append(2 * size**3 / best)
    return max(rates)


def matmul_flops() -> float:
    """This machine's matmul peak (FLOP/s) with the current torch threads.

    The best of repeated 1024 x 1024 products over half a second per dtype,
    float32 and bfloat16 (which CPUs with AVX512-BF16 or AMX run faster, and
    which the training loop's mixed precision uses there): the higher of the
    two, so a fraction of it is the conservative one. Measured once per
    process and thread count.
    """
    import torch

    return _matmul_flops(torch.get_num_threads())


def training_throughput(estimator) -> dict:
    """Training tokens/s and FLOP fraction of a fitted estimator's ``history_``.

    The language-model estimators log ``seconds``, ``tokens`` and ``flops``
    (forward + backward, counted by torch on the first step and scaled by
    tokens) per epoch. The fraction is of :func:`matmul_flops`, measured in the
    same process with the same threads.

    Parameters
    ----------
    estimator : fitted estimator

    Returns
    -------
    throughput : dict
        ``train_tokens_per_s``, ``train_flop_fraction``, ``matmul_gflops``;
        None where the estimator logs no training tokens.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> training_throughput(SimpleNamespace())["train_tokens_per_s"] is None
    True
    """
    history = getattr(estimator, "history_", None) or []
    seconds = sum(entry.get("seconds", 0.0) for entry in history)
    tokens = sum(entry.get("tokens", 0) for entry in history)
    flops = sum(entry.get("flops", 0.0) for entry in history)
    out = dict.fromkeys(("train_tokens_per_s", "train_flop_fraction", "matmul_gflops"))
    if seconds and tokens:
        out["train_tokens_per_s"] = tokens / seconds
        if flops:
            peak = matmul_flops()
            out["matmul_gflops"] = peak / 1e9
            out["train_flop_fraction"] = flops / seconds / peak
    return out


# ------------------------------------------------------------------- environment
def _versions() -> dict:
    out = {}
    for dist in ("numpy", "scikit-learn", "aeon", "torch", "transformers"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    import vlmtsc

    out["vlmtsc"] = vlmtsc.__version__  # the imported one, even from a checkout
    return out


def _command_line() -> str:
    """This process's command: ``python -m module ...`` or ``vlmtsc ...``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = (
        ["python", "-m", spec.name.removesuffix(".__main__")]
        if spec is not None and spec.name
        else [os.path.basename(sys.argv[0])]
    )
    return shlex.join([*program, *sys.argv[1:]])


def environment_info(**settings) -> dict:
    """Versions, CPU, platform and command line of this process.

    Parameters
    ----------
    **settings
        Settings of the run to record with it (threads, backend, ...).

    Returns
    -------
    info : dict
        JSON-able; what ``environment.json`` holds.

    Examples
    --------
    >>> info = environment_info(threads=1)
    >>> info["threads"], "numpy" in info["versions"]
    (1, True)
    """
    return {
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "python": platform.python_version(),
        "versions": _versions(),
        "cpu_count": os.cpu_count(),
        "cpus_available": available_cpus(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "memory_method": MEMORY_METHOD,
        **settings,
    }


# ------------------------------------------------------------------------ warm-up
def few_per_class(X, y, n: int = 2):
    """The first ``n`` cases of each class (2D, 3D or list input)."""
    import numpy as np

    y = np.asarray(y)
    index = [
        i for label in dict.fromkeys(y.tolist()) for i in np.flatnonzero(y == label)[:n]
    ]
    if isinstance(X, np.ndarray):
        return X[index], y[index]
    return [X[i] for i in index], y[index]


def warm_up(estimator, X, y=None, n_per_class: int = 2) -> float:
    """Fit and predict (or transform) a copy once on a few cases, untimed.

    Pays one-time, per-process costs (lazy imports, numba compilation,
    first-call set-up of matplotlib or torch) so that they do not land in the
    next timed fit: aeon's MiniRocket fits GunPoint in 0.1 s, 18 s on a fresh
    machine when its numba kernels compile. Errors, warnings and progress bars
    are suppressed (the timed fit reports them). Estimators compile separate
    code for univariate, multivariate and unequal-length input: warm up with
    data of the same kind.

    Parameters
    ----------
    estimator : estimator
        Left unfitted: a clone is fitted, then predicts (a transformer such as
        a renderer or tokenizer transforms).
    X : array-like
        Training data.
    y : array-like, optional
        Its labels: the first ``n_per_class`` cases of each class are used;
        without labels, the first ``2 * n_per_class`` cases.
    n_per_class : int, default=2

    Returns
    -------
    seconds : float
        Time the warm-up took.

    Examples
    --------
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from vlmtsc.datasets import load_dataset
    >>> X, y = load_dataset("UnitTest")
    >>> warm_up(KNeighborsClassifier(n_neighbors=1), X, y) >= 0
    True
    """
    from sklearn.base import clone

    start = time.perf_counter()
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        if y is None:
            X_few, y_few = X[: 2 * n_per_class], None
        else:
            X_few, y_few = few_per_class(X, y, n_per_class)
        copy = clone(estimator, safe=False)
        params = copy.get_params(deep=False) if hasattr(copy, "get_params") else {}
        verbose = params.get("verbose")
        if verbose:  # no progress bars for an untimed fit
            copy.set_params(verbose=False if isinstance(verbose, bool) else 0)
        copy.fit(X_few, y_few)
        (copy.predict if hasattr(copy, "predict") else copy.transform)(X_few)
    return time.perf_counter() - start
