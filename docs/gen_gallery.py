"""Regenerate the gallery images of the documentation (docs/gallery/*.png).

Run from the repository root after a renderer changes, and commit the PNGs:

    python docs/gen_gallery.py

Every renderer image is drawn by :func:`vlmtsc.renderers.save_gallery` on a bundled
dataset (nothing is downloaded); result figures listed in ``COPIES`` are copied from
benchmarks/results. All are stored as palette PNGs so each file stays well under
100 KB. ``--check`` only verifies that every expected file exists and is small
enough (what a CI step can afford), without rendering.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

GALLERY = Path(__file__).resolve().parent / "gallery"
MAX_BYTES = 100_000

# (file stem, dataset, renderer class, renderer parameters, examples per class)
IMAGES = [
    ("gunpoint-lineplot", "GunPoint", "LinePlotRenderer", {}, 3),
    ("gunpoint-gaf", "GunPoint", "GramianAngularFieldRenderer", {}, 3),
    ("gunpoint-mtf", "GunPoint", "MarkovTransitionFieldRenderer", {}, 3),
    ("gunpoint-rp", "GunPoint", "RecurrencePlotRenderer", {}, 3),
    ("gunpoint-windows", "GunPoint", "WindowStackRenderer", {}, 3),
    ("basicmotions-lineplot", "BasicMotions", "LinePlotRenderer", {}, 2),
    (
        "basicmotions-lineplot-grid",
        "BasicMotions",
        "LinePlotRenderer",
        {"layout": "grid"},
        2,
    ),
    ("basicmotions-gaf", "BasicMotions", "GramianAngularFieldRenderer", {}, 2),
    ("basicmotions-heatmap", "BasicMotions", "HeatmapRenderer", {}, 2),
    ("japanesevowels-heatmap", "JapaneseVowels", "HeatmapRenderer", {}, 3),
]

# Result figures copied (shrunk) from benchmarks/results: (file stem, source).
COPIES = [
    ("mtcs-affinity", "benchmarks/results/mtcs-20261123T163616Z.png"),
    (
        "gunpoint-explanation",
        "benchmarks/results/deletion-20261205/GunPoint-explanation.png",
    ),
]
ROOT = GALLERY.parent.parent


def _shrink(source: Path, target: Path) -> int:
    """Save ``source`` as a palette PNG at ``target``; return its size.

    64 colours, or 32 where 64 would leave less than a fifth of the size budget
    free (the busy multichannel field images).
    """
    from PIL import Image

    with Image.open(source) as image:
        rgb = image.convert("RGB")
    for colors in (64, 32):
        rgb.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(
            target, optimize=True
        )
        if target.stat().st_size < 0.8 * MAX_BYTES:
            break
    return target.stat().st_size


def generate(image_size: int = 96) -> list[Path]:
    """Render every gallery image into :data:`GALLERY`; return the paths."""
    from vlmtsc import renderers
    from vlmtsc.datasets import load_dataset

    GALLERY.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for stem, dataset, renderer_name, params, per_class in IMAGES:
            X, y = load_dataset(dataset, split="train")
            renderer = getattr(renderers, renderer_name)(
                image_size=image_size, **params
            )
            title = f"{dataset}: {renderer_name}" + "".join(
                f", {key}={value!r}" for key, value in params.items()
            )
            raw = renderers.save_gallery(
                renderer,
                X,
                y,
                Path(scratch) / f"{stem}.png",
                n_per_class=per_class,
                random_state=0,
                title=title,
            )
            target = GALLERY / f"{stem}.png"
            size = _shrink(Path(raw), target)
            print(f"{target.relative_to(ROOT)}: {size / 1000:.1f} KB")
            written.append(target)
    for stem, source in COPIES:
        target = GALLERY / f"{stem}.png"
        size = _shrink(ROOT / source, target)
        print(f"{target.relative_to(ROOT)}: {size / 1000:.1f} KB (from {source})")
        written.append(target)
    return written


def check() -> list[str]:
    """Problems with the committed gallery (missing or too large files)."""
    problems = []
    for stem, *_ in IMAGES + COPIES:
        path = GALLERY / f"{stem}.png"
        if not path.is_file():
            problems.append(f"{path} is missing: run python docs/gen_gallery.py")
        elif path.stat().st_size >= MAX_BYTES:
            problems.append(f"{path} is {path.stat().st_size} bytes (>= {MAX_BYTES})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check the committed images"
    )
    parser.add_argument("--image-size", type=int, default=96, help="pixels per image")
    args = parser.parse_args(argv)
    if not args.check:
        generate(args.image_size)
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
