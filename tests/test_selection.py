"""The epoch count chosen on validation data carved from the training set."""

import numpy as np
import torch

from vlmtsc.training import TrainingConfig, train_with_validation, validation_score


class _Recorder:
    """A ``run`` that records its calls and moves the network's weights."""

    def __init__(self, network, best_epoch=3):
        self.network, self.best_epoch, self.calls = network, best_epoch, []

    def __call__(self, index, config, evaluate, phase):
        self.calls.append(
            {
                "index": np.array(index),
                "n_epochs": config.n_epochs,
                "phase": phase,
                "weight": self.network.weight.detach().clone(),
                "score": None if evaluate is None else evaluate(self.network),
            }
        )
        with torch.no_grad():
            self.network.weight.add_(1.0)
        return [{"phase": phase, "epoch": 1}], self.best_epoch


def _setup():
    network = torch.nn.Linear(2, 2)
    y = np.array([0, 1] * 10)
    logits = lambda index: np.eye(2)[y[index]]  # noqa: E731 - perfect logits
    return network, y, logits


def test_validation_run_holds_out_a_stratified_part_then_refits_from_the_start():
    network, y, logits = _setup()
    run = _Recorder(network)
    initial = network.weight.detach().clone()
    index = np.arange(2, 20)  # a labelled subset
    history, best = train_with_validation(
        network,
        run,
        logits,
        y,
        index,
        TrainingConfig(n_epochs=10),
        validation_fraction=0.25,
        refit=True,
        random_state=0,
    )
    validation, refit = run.calls
    assert validation["phase"] == "validation" and validation["n_epochs"] == 10
    held_out = np.setdiff1d(index, validation["index"])
    assert len(held_out) == 5 and set(held_out) <= set(index)
    assert sorted(np.bincount(y[held_out])) == [2, 3]  # stratified
    assert validation["score"] > 0.99  # evaluate scores the held-out cases
    # The refit starts again from the initial weights, on every case, best epochs.
    assert refit["phase"] == "refit" and refit["n_epochs"] == best == 3
    np.testing.assert_array_equal(refit["index"], index)
    torch.testing.assert_close(refit["weight"], initial)
    assert [h["phase"] for h in history] == ["validation", "refit"]


def test_without_refit_the_validation_model_is_kept():
    network, y, logits = _setup()
    run = _Recorder(network)
    train_with_validation(
        network, run, logits, y, np.arange(20), TrainingConfig(n_epochs=4),
        validation_fraction=0.2, refit=False, random_state=0,
    )  # fmt: skip
    assert [c["phase"] for c in run.calls] == ["validation"]
    assert len(run.calls[0]["index"]) == 16


def test_no_validation_trains_every_case_for_n_epochs():
    network, y, logits = _setup()
    run = _Recorder(network)
    train_with_validation(
        network, run, logits, y, np.arange(20), TrainingConfig(n_epochs=4),
        validation_fraction=0, refit=True, random_state=0,
    )  # fmt: skip
    (call,) = run.calls
    assert call["phase"] == "train" and call["n_epochs"] == 4
    assert call["score"] is None and len(call["index"]) == 20


def test_validation_score_is_accuracy_with_a_log_loss_tie_break():
    y = np.array([0, 1, 1])
    right = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    one_wrong = np.array([[9.0, 0.0], [0.0, 9.0], [9.0, 0.0]])
    assert abs(validation_score(right, y) - 1.0) < 1e-3
    assert validation_score(right, y) > validation_score(one_wrong, y)
    assert abs(validation_score(one_wrong, y) - 2 / 3) < 1e-2
