"""Fit a tiny estimator and save its predictions: run alone or on several processes.

Used by ``tests/test_distributed.py``::

    python tests/distributed_fit.py out.npz VLMTimeSeriesClassifier
    accelerate launch --multi_gpu --num_processes 2 \\
        tests/distributed_fit.py out.npz VLMTimeSeriesClassifier CrossTimeNetClassifier

(``torchrun --standalone --nproc_per_node 2`` works the same way.)

Every process fits (that is data parallelism: each trains on its share of every
batch) and writes ``out.rank<R>.<estimator>.npz`` with the predictions, the
probabilities, the chosen epoch and the training losses, so the test can check
that the processes agree with each other and with a single-process fit.
"""

from __future__ import annotations

import os
import sys

import numpy as np

# Small enough for seconds on one core; the settings exercise what data
# parallelism must keep equal: a validation split choosing the epoch, gradient
# accumulation, and batches of 4, 4 and 1 examples (13 cases, 9 of them fitting:
# the last batch is smaller than the number of processes).
SETTINGS = {
    "VLMTimeSeriesClassifier": {
        "backbone": "tiny-llava",
        "n_epochs": 3,
        "batch_size": 4,
        "gradient_accumulation_steps": 2,
        "learning_rate": 1e-2,
        # Every process draws the same dropout masks for its own rows, which
        # one process would draw differently: no dropout, for exact agreement.
        "lora_dropout": 0.0,
        "validation_fraction": 0.25,
        # The model of the chosen epoch is kept: it trained on batches of 4, 4
        # and 1.
        "refit": False,
        # bf16 autocast would add rounding on CPUs that have it.
        "mixed_precision": "no",
        "verbose": 0,
    },
    # Three trainings of one network (tokenizer, masked pre-training with
    # "task": "masked" batches, fine-tuning); BERT's dropout makes the
    # processes' shares draw other masks than one process would.
    "CrossTimeNetClassifier": {
        "backbone": "tiny-bert",
        "pretrain_epochs": 1,
        "n_epochs": 3,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "validation_fraction": 0.25,
        "mixed_precision": "no",
        "verbose": 0,
    },
}


def fit_and_predict(name: str) -> dict[str, np.ndarray]:
    """Fit ``name`` with :data:`SETTINGS` on example series; what it predicts."""
    from sklearn.base import clone

    import vlmtsc.classification
    from vlmtsc.testing import TEST_PARAMS, make_example_series

    X, y = make_example_series(n_cases=13, random_state=0)
    estimator = getattr(vlmtsc.classification, name)(
        **{**TEST_PARAMS[name], **SETTINGS[name]}
    )
    estimator = clone(estimator).fit(X, y)
    return {
        "predictions": estimator.predict(X),
        "probabilities": estimator.predict_proba(X),
        "best_epoch": np.asarray(estimator.best_epoch_),
        "losses": np.asarray([entry["loss"] for entry in estimator.history_]),
    }


def main(path: str, *names: str) -> None:
    import torch

    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    root, extension = os.path.splitext(path)
    for name in names:
        np.savez(f"{root}.rank{rank}.{name}{extension}", **fit_and_predict(name))


if __name__ == "__main__":
    main(*sys.argv[1:])
