"""How label scoring's cost grows with the number of classes.

The prompt prefix is encoded once per case and every class's label text continues
from its key/value cache, so predicting should cost about one forward pass per
case whatever the number of classes. This measures it::

    python -m benchmarks.scoring --backbone smollm2-135m --cases 20

and prints seconds per case for 2 and 10 classes (and the naive alternative,
one full forward per class, for comparison). Not a grid: it times label scoring
itself, not a classifier.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vlmtsc.experiments import limit_threads


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    with limit_threads(args.threads):
        _measure(args)
    return 0


def _measure(args) -> None:
    import torch

    from vlmtsc.backbones import load_backbone
    from vlmtsc.datasets import load_dataset
    from vlmtsc.prompts import TimeSeriesPrompt
    from vlmtsc.training import (
        collate,
        encode_answer,
        encode_prefix,
        score_labels,
        training_example,
    )

    backbone = load_backbone(args.backbone, verbose=0)
    X, _ = load_dataset("GunPoint")
    names = [f"class {k}" for k in range(1, 11)]
    prompts = TimeSeriesPrompt(decimals=1, context_length=256).build(
        X[: args.cases], classes=np.arange(10), label_names=names
    )
    prefixes = [encode_prefix(backbone, p.prompt) for p in prompts]
    length = np.mean([len(p["input_ids"]) for p in prefixes])
    print(f"{args.backbone}: {args.cases} cases, prompts of {length:.0f} tokens")
    print("| classes | cached scoring s/case | one forward per class s/case |")
    print("|---:|---:|---:|")
    for k in (2, 10):
        labels = [encode_answer(backbone, f" {name}") for name in names[:k]]
        start = time.perf_counter()
        score_labels(backbone.model, prefixes, labels)
        cached = (time.perf_counter() - start) / args.cases
        start = time.perf_counter()
        with torch.no_grad():
            for prefix in prefixes:
                for ids in labels:
                    batch = collate([training_example(prefix, ids)], 0)
                    batch.pop("labels")
                    backbone.model(**batch)
        naive = (time.perf_counter() - start) / args.cases
        print(f"| {k} | {cached:.3f} | {naive:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
