"""Choose the image type of a VLM classifier by grid search on the training data.

Renderers are nested parameters, so scikit-learn's ``GridSearchCV`` compares
line plots, Gramian angular fields and recurrence plots (and their settings) by
cross-validation on the training split; the test split is scored once, at the
end. The linear head (logistic regression on frozen vision features) keeps the
search to seconds per candidate.

    python examples/grid_search_renderers.py          # real offline weights
    python examples/grid_search_renderers.py --tiny   # tiny random backbone (CI)
"""

import argparse
import os

from sklearn.model_selection import GridSearchCV

from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.backbones import BACKBONE_ALIASES, prepare_backbone
from vlmtsc.datasets import load_dataset
from vlmtsc.renderers import (
    GramianAngularFieldRenderer,
    LinePlotRenderer,
    RecurrencePlotRenderer,
)


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
        prepare_backbone(backbone)
    size = 32 if args.tiny else 224

    X_train, y_train = load_dataset("GunPoint", split="train")
    X_test, y_test = load_dataset("GunPoint", split="test")

    # A list of grids: nested parameters (renderer__method) apply to one type only.
    grid = GridSearchCV(
        VLMTimeSeriesClassifier(backbone=backbone, head="linear", verbose=0),
        [
            {
                "renderer": [
                    LinePlotRenderer(image_size=size),
                    RecurrencePlotRenderer(image_size=size),
                ]
            },
            {
                "renderer": [GramianAngularFieldRenderer(image_size=size)],
                "renderer__method": ["summation", "difference"],
            },
        ],
        cv=3,
    )
    grid.fit(X_train, y_train)
    for params, score in zip(
        grid.cv_results_["params"], grid.cv_results_["mean_test_score"], strict=True
    ):
        method = params.get("renderer__method", "")
        print(f"{type(params['renderer']).__name__:<28} {method:<11} cv {score:.3f}")
    best = grid.best_estimator_.renderer
    print(f"best: {best!r}; test accuracy {grid.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
