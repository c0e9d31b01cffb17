"""CrossTimeNet: masked-token pre-training across datasets, then fine-tuning.

Three unlabelled training sets (GunPoint, ArrowHead, ItalyPowerDemand) each get
a VQ tokenizer; a BERT-family encoder, started from its language-model weights,
learns to fill in a high share of masked tokens across all of them. The saved
folder is then fine-tuned on GunPoint's labels, with the epoch count chosen on a
validation split of the training data (the seed's code chose it on the test set).

    python examples/crosstimenet_pretrain.py          # all-MiniLM-L6, offline weights
    python examples/crosstimenet_pretrain.py --tiny   # tiny random backbone (CI)
"""

import argparse
import os
import tempfile

from vlmtsc import CrossTimeNetClassifier
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
    backbone = args.backbone or ("tiny-bert" if args.tiny else "minilm-l6")
    if backbone in BACKBONE_ALIASES:
        prepare_backbone(backbone)
    tokenizer = VQTokenizer(patch_length=8, verbose=0)
    settings = dict(pretrain_epochs=10, n_epochs=30)  # the estimator's defaults
    if args.tiny:
        tokenizer.set_params(hidden_size=8, n_blocks=1, codebook_size=16, n_epochs=2)
        settings = dict(pretrain_epochs=1, n_epochs=2)

    unlabelled = {
        name: load_dataset(name, split="train")[0]
        for name in ("GunPoint", "ArrowHead", "ItalyPowerDemand")
    }
    X_train, y_train = load_dataset("GunPoint", split="train")
    X_test, y_test = load_dataset("GunPoint", split="test")

    template = CrossTimeNetClassifier(
        backbone=backbone, tokenizer=tokenizer, mask_ratio=0.5, verbose=0, **settings
    )
    with tempfile.TemporaryDirectory() as folder:
        template.pretrain(unlabelled, folder)
        print(f"pre-trained on {', '.join(unlabelled)} (mask ratio 0.5)")
        adapted = CrossTimeNetClassifier(
            backbone=folder, domain="GunPoint", verbose=0, **settings
        ).fit(X_train, y_train)
        accuracy = adapted.score(X_test, y_test)
        print(f"pre-trained, fine-tuned: test accuracy {accuracy:.3f}")

    # The same estimator without the cross-domain stage (in-fit pre-training only).
    alone = template.fit(X_train, y_train)
    print(f"GunPoint only:          test accuracy {alone.score(X_test, y_test):.3f}")
    phases = [h["phase"] for h in alone.history_]
    print(f"epochs per phase: { {p: phases.count(p) for p in dict.fromkeys(phases)} }")


if __name__ == "__main__":
    main()
