"""InstructTime: series as VQ tokens in a causal language model that answers labels.

A VQ-VAE tokenizer (fitted on the training series only) turns each series into
codebook indices; the codes become new words of the language model, which is
fine-tuned with LoRA to answer "drawing a gun" or "pointing" and predicts by
scoring both label texts (always a valid class, no free generation).

    python examples/instructtime_tokens.py          # SmolLM2-135M, offline weights
    python examples/instructtime_tokens.py --tiny   # tiny random backbone (CI)
"""

import argparse
import os

import numpy as np

from vlmtsc import InstructTimeClassifier
from vlmtsc.backbones import BACKBONE_ALIASES, prepare_backbone
from vlmtsc.datasets import load_dataset
from vlmtsc.tokenizers import VQTokenizer


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
    # The real settings are the estimator's defaults (128 codes, 60 tokenizer
    # epochs, 10 LM epochs); tiny mode only shrinks them to run in seconds.
    tokenizer = VQTokenizer(patch_length=8, verbose=0)
    if args.tiny:
        tokenizer.set_params(hidden_size=8, n_blocks=1, codebook_size=16, n_epochs=2)

    X_train, y_train = load_dataset("GunPoint", split="train")
    X_test, y_test = load_dataset("GunPoint", split="test")

    tokens = tokenizer.fit(X_train).transform(X_test)
    used = len(np.unique(tokens))
    print(
        f"tokens: {tokens.shape[1]} per series, {used} distinct codes in the test set"
    )

    clf = InstructTimeClassifier(
        tokenizer=tokenizer,
        backbone=backbone,
        domain_description="motion-capture tracks of an actor's hand",
        label_names={"1": "drawing a gun", "2": "pointing"},
        head="lm",  # the paper's label scoring (the default head is a probe)
        n_epochs=1 if args.tiny else 10,
        verbose=0,
    )
    clf.fit(X_train, y_train)
    print("prompt of the first test series:")
    print(clf.prompt(X_test[:1])[0])
    print(f"test accuracy {clf.score(X_test, y_test):.3f} ({backbone})")


if __name__ == "__main__":
    main()
