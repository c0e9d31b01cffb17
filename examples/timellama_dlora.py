"""Time-LlaMA: patch tokens per channel in a cut Llama, adapted with dynamic LoRA.

BasicMotions (6 accelerometer/gyroscope channels, 4 activities): each channel
is cut into 10 patches of 10 points, one token each, aligned by cross-attention
to the embeddings of a prompt that names the classes, read by the first blocks
of a Llama-family model. The three adapters are the paper's ablation: D-LoRA (a
router picks LoRA modules per series and block), plain LoRA, and a frozen
backbone.

    python examples/timellama_dlora.py          # SmolLM2-135M, offline weights
    python examples/timellama_dlora.py --tiny   # tiny random backbone (CI)
"""

import argparse
import os

from vlmtsc import TimeLlamaClassifier
from vlmtsc.backbones import BACKBONE_ALIASES, prepare_backbone
from vlmtsc.datasets import load_dataset


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
    backbone = args.backbone or ("tiny-llama" if args.tiny else "smollm2-135m")
    if backbone in BACKBONE_ALIASES:
        prepare_backbone(backbone)
    # Real settings: the estimator's defaults (first 6 blocks, 8 heads, 60 epochs).
    small = dict(n_layers=1, n_heads=4, n_epochs=3) if args.tiny else {}

    X_train, y_train = load_dataset("BasicMotions", split="train")
    X_test, y_test = load_dataset("BasicMotions", split="test")
    for adapter in ("dlora", "lora", "none"):
        clf = TimeLlamaClassifier(
            backbone=backbone,
            prompt="Classify 3-axis accelerometer and gyroscope recordings.",
            adapter=adapter,
            verbose=0,
            **small,
        ).fit(X_train, y_train)
        if adapter == "dlora":
            channels, patch = X_train.shape[1], clf.patch_length_
            patches = -(-clf.series_length_ // patch)
            print(
                f"BasicMotions: {channels} channels x {patches} patches of "
                f"{patch} points -> {channels * patches} tokens"
            )
        print(
            f"adapter={adapter!r}: test accuracy {clf.score(X_test, y_test):.3f}, "
            f"{clf.n_trainable_} trained parameters, epochs {clf.best_epoch_}"
        )
    print(f"aligned to: {clf.prompt_!r}")


if __name__ == "__main__":
    main()
