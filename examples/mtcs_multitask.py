"""MTCS: one encoder shared by several datasets, with classifier sharing.

Four small UCR sets train one dilated-CNN encoder jointly, each with its own
linear head; label-affinity soft weight sharing pulls together the head rows of
labels the data relates. An SVM on the frozen representations is each task's
final classifier. The learnt task affinity is saved as a heatmap.

    python examples/mtcs_multitask.py          # the paper's sizes (a few minutes)
    python examples/mtcs_multitask.py --tiny   # a small encoder (CI)
"""

import argparse
import os
import tempfile

import numpy as np

from vlmtsc import MTCSClassifier
from vlmtsc.datasets import load_dataset

DATASETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "UnitTest")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny",
        action="store_true",
        default=os.environ.get("VLMTSC_EXAMPLES_TINY", "0") not in ("", "0"),
        help="a small encoder and few epochs (what CI runs); "
        "also set by VLMTSC_EXAMPLES_TINY=1",
    )
    parser.add_argument(
        "--output", default=None, help="PNG for the affinity heatmap (default: temp)"
    )
    return parser.parse_args()


def main():
    args = parse_args()
    # Real settings are the defaults: TS2Vec's encoder (10 blocks, 64 channels,
    # 320-d output), 80 epochs at most (fewer on long series).
    size = dict(n_blocks=2, hidden_size=8, representation_size=16, n_epochs=2)
    clf = MTCSClassifier(alpha=0.1, tau=2.0, verbose=0, **(size if args.tiny else {}))
    train = {name: load_dataset(name, split="train") for name in DATASETS}
    test = {name: load_dataset(name, split="test") for name in DATASETS}

    clf.fit_tasks(train)
    for name in DATASETS:
        X_test, y_test = test[name]
        print(f"{name:<18} test accuracy {clf.score(X_test, y_test, task=name):.3f}")

    tasks = clf.affinity_["tasks"]
    matrix = np.nan_to_num(clf.affinity_["task_matrix"], nan=-np.inf)
    i, j = np.unravel_index(np.argmax(matrix), matrix.shape)
    print(f"most related tasks: {tasks[i]} and {tasks[j]} ({matrix[i, j]:.4f} nats)")

    output = args.output or os.path.join(tempfile.mkdtemp(), "mtcs-affinity.png")
    ax = clf.plot_affinity()
    ax.figure.savefig(output, bbox_inches="tight")
    print(f"affinity heatmap: {output}")


if __name__ == "__main__":
    main()
