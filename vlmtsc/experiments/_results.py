"""The results files: one row per run, written atomically, read back typed."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "MEASURE_COLUMNS",
    "RESULT_COLUMNS",
    "atomic_write",
    "read_results",
    "write_csv",
    "write_json",
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
#: Optional columns, written after :data:`RESULT_COLUMNS` when some run has them:
#: the thread cap and the ``memory`` and ``throughput`` measurements.
MEASURE_COLUMNS = (
    "threads",
    "peak_mib",
    "train_tokens_per_s",
    "train_flop_fraction",
    "matmul_gflops",
)
_FLOATS = ("accuracy", "fit_s", "predict_s", *MEASURE_COLUMNS[1:])
_INTS = ("context_budget", "n_epochs", "seed", "n_train", "n_test", "threads")
_TMP_SUFFIX = ".tmp"


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """Write a file so that an interruption never leaves half of it.

    ``write(tmp)`` writes a hidden temporary file beside ``path``, which then
    replaces ``path`` in one step. If anything interrupts (an error, Ctrl-C, a
    SIGTERM turned into an exception) the temporary file is removed; only a
    SIGKILL in the middle can leave one, which :func:`remove_temporary_files`
    clears on the next run.

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        ``write(tmp_path)`` writes the content.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def remove_temporary_files(folder) -> None:
    """Remove what :func:`atomic_write` left in ``folder`` when killed."""
    for stale in Path(folder).glob(f".*{_TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            stale.unlink()


def write_json(path, data) -> Path:
    """Write ``data`` as JSON, atomically."""
    text = json.dumps(data, indent=1, default=repr)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(path, rows: list[dict], columns=None) -> Path:
    """Write rows as CSV, atomically; None is an empty cell.

    Parameters
    ----------
    path : str or os.PathLike
    rows : list of dict
    columns : sequence of str, optional
        Default: :data:`RESULT_COLUMNS`, then the :data:`MEASURE_COLUMNS` that
        some row has a value for.

    Returns
    -------
    path : pathlib.Path
    """
    if columns is None:
        columns = [*RESULT_COLUMNS] + [
            c for c in MEASURE_COLUMNS if any(r.get(c) is not None for r in rows)
        ]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: "" if row.get(k) is None else row[k] for k in columns}
                )

    return atomic_write(path, write)


def read_results(path) -> list[dict]:
    """Read a ``results.csv`` back, with numbers as numbers and blanks as None.

    Parameters
    ----------
    path : str or os.PathLike
        The file, or the experiment's output folder.

    Returns
    -------
    rows : list of dict
        One dict per run, keyed by the file's columns (:data:`RESULT_COLUMNS`
        and any :data:`MEASURE_COLUMNS`).
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
