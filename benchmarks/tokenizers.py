"""Fit time, reconstruction error and codebook usage of the VQ tokenizer.

Run from the repository root::

    python -m benchmarks.tokenizers [--datasets GunPoint,BasicMotions]
        [--patch-lengths 8,16] [--codebook-sizes 64,256] [--n-epochs 60]

For every dataset and every (``patch_length``, ``codebook_size``) pair a
:class:`vlmtsc.tokenizers.VQTokenizer` with its other defaults is fitted on the
train split (its own random 10% validation split chooses the epoch) on one
thread. The table gives the fit time, tokens per series, the validation MSE
(``reconstruction_error_``, in normalised units), the same error on the test
split (never used for any choice), and how many codes the training series use.

Not a grid (a tokenizer is not a classifier): writes the table to
``benchmarks/results/tokenizers-<UTC timestamp>.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vlmtsc.experiments import environment_info, limit_threads, warm_up

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATASETS = "GunPoint,BasicMotions"

__all__ = ["build_parser", "main", "normalised_mse"]


def normalised_mse(tokenizer, X) -> float:
    """Mean squared reconstruction error of ``X`` in the tokenizer's units.

    The difference between ``X`` and its reconstruction is divided by the
    scale the tokenizer normalises by, so the number compares with
    ``reconstruction_error_`` (for ``normalization=None``: raw units).
    """
    from vlmtsc.base import check_series

    X = check_series(X)
    _, scale = tokenizer.normalization_stats(X)
    reconstruction = tokenizer.reconstruct(X)
    total = count = 0.0
    for x, r, s in zip(X, reconstruction, scale, strict=True):
        total += float((((x - r) / s[:, None]) ** 2).sum())
        count += x.size
    return total / count


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tokenizers",
        description="Fit time, reconstruction error and codebook usage of "
        "VQTokenizer on one thread.",
    )
    parser.add_argument("--datasets", default=DEFAULT_DATASETS)
    parser.add_argument("--patch-lengths", type=_ints, default=[8, 16])
    parser.add_argument("--codebook-sizes", type=_ints, default=[64, 256])
    parser.add_argument(
        "--n-epochs", type=int, default=None, help="default: the tokenizer's"
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    return parser


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | n_train | channels | length | patch | codebook | tokens/series "
        "| fit s | best epoch | val MSE | test MSE | codes used | usage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['n_train']} | {r['n_channels']} | {r['length']} "
            f"| {r['patch_length']} | {r['codebook_size']} | {r['n_tokens']} "
            f"| {r['fit_seconds']:.1f} | {r['best_epoch']} | {r['val_mse']:.4f} "
            f"| {r['test_mse']:.4f} | {r['codes_used']} | {r['usage']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)

    from vlmtsc.base import series_shape
    from vlmtsc.datasets import load_dataset
    from vlmtsc.tokenizers import VQTokenizer

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rows = []
    with limit_threads(1):
        # The first fit imports the training stack (transformers), which is not
        # the tokenizer's cost.
        warm, _ = load_dataset("GunPoint", split="train")
        warm_up(VQTokenizer(n_epochs=1, n_blocks=1, verbose=0), warm)
        for dataset in [d.strip() for d in args.datasets.split(",") if d]:
            X, _ = load_dataset(dataset, split="train")
            X_test, _ = load_dataset(dataset, split="test")
            n_cases, n_channels, _, max_length = series_shape(X)
            for patch_length in args.patch_lengths:
                for codebook_size in args.codebook_sizes:
                    params = dict(
                        patch_length=patch_length,
                        codebook_size=codebook_size,
                        random_state=args.random_state,
                        device="cpu",
                        verbose=0,
                    )
                    if args.n_epochs is not None:
                        params["n_epochs"] = args.n_epochs
                    tokenizer = VQTokenizer(**params)
                    started = time.perf_counter()
                    tokenizer.fit(X)
                    seconds = time.perf_counter() - started
                    row = {
                        "dataset": dataset,
                        "n_train": n_cases,
                        "n_channels": n_channels,
                        "length": max_length,
                        "patch_length": patch_length,
                        "codebook_size": codebook_size,
                        "n_tokens": tokenizer.n_tokens(max_length),
                        "fit_seconds": seconds,
                        "best_epoch": tokenizer.best_epoch_,
                        "val_mse": tokenizer.reconstruction_error_,
                        "test_mse": normalised_mse(tokenizer, X_test),
                        "codes_used": int((tokenizer.code_counts_ > 0).sum()),
                        "usage": tokenizer.codebook_usage_,
                    }
                    print(
                        f"{dataset} patch={patch_length} K={codebook_size}: "
                        f"{seconds:.1f} s, val MSE {row['val_mse']:.4f}, "
                        f"usage {row['usage']:.2f}",
                        file=sys.stderr,
                        flush=True,
                    )
                    rows.append(row)

    table = _table(rows)
    print(table)
    defaults = VQTokenizer()
    env = environment_info(threads=1)
    header = (
        f"Command: `python -m benchmarks.tokenizers {' '.join(argv)}`  \n"
        f"UTC: {stamp}; Python {env['python']}; {env['platform']}; "
        f"torch {env['versions']['torch']}; 1 thread  \n"
        f"VQTokenizer defaults otherwise: n_epochs={args.n_epochs or defaults.n_epochs}"
        f", embedding_dim={defaults.embedding_dim}, hidden_size="
        f"{defaults.hidden_size}, n_blocks={defaults.n_blocks}, decay="
        f"{defaults.decay}, normalization={defaults.normalization!r}, batch_size="
        f"{defaults.batch_size}, learning_rate={defaults.learning_rate}. "
        "MSE in normalised units (z-normalised per series); val = the tokenizer's "
        "own 10% validation split of the train split, test = the test split; "
        "usage = share of the codes occurring in the train split's tokens.\n\n"
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"tokenizers-{stamp}.md"
    path.write_text(header + table + "\n", encoding="utf-8")
    print(f"\nWritten {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
