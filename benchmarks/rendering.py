"""Throughput of the vlmtsc renderers on one CPU thread.

Run from the repository root::

    python -m benchmarks.rendering [--image-size 224] [--repeats 3]

For every renderer class in :mod:`vlmtsc.renderers` and every dataset (default:
univariate GunPoint, train + test = 200 series, and BasicMotions, 80 series of
6 channels), one warm-up ``transform`` on a few series (numba compilation,
matplotlib set-up) is followed by ``--repeats`` timed ``transform`` calls over
the whole set; the best (shortest) is kept. One image is rendered per case, all
channels of a multivariate case go into the same image.

Single thread: every thread pool (BLAS/OpenMP, torch, numba) is capped at one
thread by :func:`vlmtsc.experiments.limit_threads`, so the numbers are per core.
The team's target is at least 300 images/s per core at 224 px; the table says
whether each renderer meets it.

Not a grid (renderers are not classifiers): writes the table to
``benchmarks/results/rendering-<UTC timestamp>.md`` and the raw numbers to the
matching ``.csv`` (:func:`vlmtsc.experiments.write_csv`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from vlmtsc.base import series_shape
from vlmtsc.experiments import environment_info, limit_threads, warm_up, write_csv

DEFAULT_DATASETS = "GunPoint,BasicMotions"
TARGET_IMAGES_PER_S = 300.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"

__all__ = ["build_parser", "discover_renderers", "main", "time_renderer"]


def discover_renderers() -> dict[str, type]:
    """Concrete renderer classes of vlmtsc, by class name."""
    from vlmtsc.renderers import BaseRenderer
    from vlmtsc.testing import all_estimators

    return {
        cls.__name__: cls for cls in all_estimators() if issubclass(cls, BaseRenderer)
    }


def _concat(a: Any, b: Any) -> Any:
    """Concatenate two splits of 2D, 3D or list-of-2D series."""
    if (
        isinstance(a, np.ndarray)
        and isinstance(b, np.ndarray)
        and a.shape[1:] == b.shape[1:]
    ):
        return np.concatenate([a, b])
    return list(a) + list(b)


def time_renderer(
    renderer: Any, X: Any, *, repeats: int = 3
) -> tuple[float, list[float]]:
    """Best wall time of ``renderer.transform(X)`` after a warm-up on 4 series.

    Parameters
    ----------
    renderer : transformer
        A vlmtsc renderer.
    X : array-like or list
        The series to render.
    repeats : int, default=3
        Timed calls; the shortest is returned.

    Returns
    -------
    best : float
        Shortest time in seconds.
    times : list of float
        Every timed call, in seconds.
    """
    warm_up(renderer, X)
    renderer.fit(X[:1])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        images = renderer.transform(X)
        times.append(time.perf_counter() - t0)
        if len(images) != len(X):
            raise RuntimeError(
                f"{type(renderer).__name__} returned {len(images)} images for "
                f"{len(X)} series"
            )
    return min(times), times


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rendering",
        description="Single-thread throughput of every vlmtsc renderer.",
    )
    parser.add_argument("--image-size", type=int, default=224, help="default: 224")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls, best kept (default: 3)"
    )
    parser.add_argument(
        "--datasets",
        default=DEFAULT_DATASETS,
        help=f"comma-separated bundled datasets, train+test each "
        f"(default: {DEFAULT_DATASETS})",
    )
    parser.add_argument(
        "--renderers",
        default="all",
        help="comma-separated renderer class names (default: all)",
    )
    parser.add_argument(
        "--target",
        type=float,
        default=TARGET_IMAGES_PER_S,
        help=f"images/s per core to meet (default: {TARGET_IMAGES_PER_S:g})",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS_DIR,
        help="folder for rendering-<timestamp>.md/.csv (default: benchmarks/results)",
    )
    return parser


def _table(rows: list[dict[str, Any]], target: float, image_size: int) -> str:
    lines = [
        f"| renderer | dataset | images | seconds | images/s | ≥ {target:g}/s |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for r in rows:
        if r["seconds"] is None:
            cells = [r["renderer"], r["dataset"], str(r["images"]), "", "", "error"]
        else:
            cells = [
                r["renderer"],
                r["dataset"],
                str(r["images"]),
                f"{r['seconds']:.3f}",
                f"{r['images_per_s']:.0f}",
                "yes" if r["meets_target"] else "no",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Image size {image_size} px, 1 thread, best of the timed calls after a "
        f"warm-up. Target: ≥ {target:g} images/s per core."
    )
    for name in dict.fromkeys(r["renderer"] for r in rows):
        mine = [r for r in rows if r["renderer"] == name]
        ok = all(r["meets_target"] for r in mine)
        worst = min(
            (r["images_per_s"] for r in mine if r["images_per_s"] is not None),
            default=None,
        )
        worst_s = "n/a" if worst is None else f"{worst:.0f} images/s"
        verdict = "meets" if ok else "does NOT meet"
        lines.append(f"- {name}: {verdict} the target (slowest: {worst_s})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    status : int
        0 when every renderer was timed, 1 if any raised.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.image_size < 8 or args.repeats < 1:
        parser.error("--image-size must be >= 8 and --repeats >= 1")

    from vlmtsc.datasets import list_datasets, load_dataset

    available = discover_renderers()
    if args.renderers == "all":
        renderers = available
    else:
        wanted = [n.strip() for n in args.renderers.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in available]
        if unknown:
            parser.error(
                f"unknown renderer(s): {', '.join(unknown)}. "
                f"Valid names: {', '.join(available)}"
            )
        renderers = {n: available[n] for n in wanted}
    valid = list(list_datasets())
    datasets = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in datasets if n not in valid]
    if unknown:
        parser.error(
            f"unknown dataset(s): {', '.join(unknown)}. Valid names: {', '.join(valid)}"
        )

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rows: list[dict[str, Any]] = []
    failed = False
    with limit_threads(1):
        for dataset in datasets:
            X = _concat(
                load_dataset(dataset, split="train")[0],
                load_dataset(dataset, split="test")[0],
            )
            for name, cls in renderers.items():
                row: dict[str, Any] = {
                    "renderer": name,
                    "dataset": dataset,
                    "images": len(X),
                    "n_channels": series_shape(X)[1],
                    "image_size": args.image_size,
                    "seconds": None,
                    "all_seconds": "",
                    "images_per_s": None,
                    "meets_target": False,
                    "note": "",
                }
                try:
                    best, times = time_renderer(
                        cls(image_size=args.image_size), X, repeats=args.repeats
                    )
                    row["seconds"] = best
                    row["all_seconds"] = " ".join(f"{t:.4f}" for t in times)
                    row["images_per_s"] = len(X) / best
                    row["meets_target"] = row["images_per_s"] >= args.target
                except Exception as exc:
                    failed = True
                    row["note"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                print(
                    f"{name} / {dataset}: "
                    + (row["note"] or f"{row['images_per_s']:.0f} images/s"),
                    file=sys.stderr,
                )
                rows.append(row)

    table = _table(rows, args.target, args.image_size)
    print(table)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    md_path = args.output_dir / f"rendering-{stamp}.md"
    csv_path = md_path.with_suffix(".csv")
    env = environment_info(threads=1)
    header = (
        f"Command: `python -m benchmarks.rendering {' '.join(argv)}`  \n"
        f"UTC: {stamp}; Python {env['python']}; {env['platform']}; numpy "
        f"{env['versions']['numpy']}\n\n"
    )
    md_path.write_text(header + table + "\n", encoding="utf-8")
    write_csv(csv_path, rows, list(rows[0]) if rows else ["renderer"])
    print(f"\nWritten {md_path} and {csv_path.name}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
