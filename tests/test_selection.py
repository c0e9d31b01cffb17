"""The epoch count chosen on validation data carved from the training set."""

import warnings

import numpy as np
import pytest
import torch

from vlmtsc.training import (
    TrainingConfig,
    ValidationWarning,
    train_with_validation,
    validation_score,
    validation_splits,
)


class _Recorder:
    """A ``run`` that records its calls and moves the network's weights."""

    def __init__(self, network, y, best_epoch=3, curves=None):
        self.network, self.y, self.best_epoch, self.calls = network, y, best_epoch, []
        self.curves = curves or {}

    def __call__(self, fit, validation, config, phase):
        self.calls.append(
            {
                "fit": np.array(fit),
                "validation": None if validation is None else np.array(validation),
                "n_epochs": config.n_epochs,
                "phase": phase,
                "weight": self.network.weight.detach().clone(),
            }
        )
        with torch.no_grad():
            self.network.weight.add_(1.0)
        curve = self.curves.get(phase, [0.5] * config.n_epochs)
        history = [
            {"phase": phase, "epoch": e + 1, "validation_score": curve[e]}
            for e in range(config.n_epochs)
        ]
        return history, self.best_epoch


def _setup():
    network = torch.nn.Linear(2, 2)
    initial = network.weight.detach().clone()

    def reset():
        with torch.no_grad():
            network.weight.copy_(initial)

    return network, initial, reset


def test_validation_run_holds_out_a_stratified_part_then_refits_from_the_start():
    network, initial, reset = _setup()
    y = np.array([0, 1] * 10)
    splits = validation_splits(y, 0.25, random_state=0)
    run = _Recorder(network, y)
    history, best = train_with_validation(
        run, splits, np.arange(20), TrainingConfig(n_epochs=10), refit=True,
        reset=reset,
    )  # fmt: skip
    validation, refit = run.calls
    assert validation["phase"] == "validation" and validation["n_epochs"] == 10
    held_out = validation["validation"]
    assert len(held_out) == 5 and sorted(np.bincount(y[held_out])) == [2, 3]
    assert not set(held_out) & set(validation["fit"])
    # The refit starts again from the initial weights, on every case, best epochs.
    assert refit["phase"] == "refit" and refit["n_epochs"] == best == 3
    np.testing.assert_array_equal(refit["fit"], np.arange(20))
    torch.testing.assert_close(refit["weight"], initial)
    assert {h["phase"] for h in history} == {"validation", "refit"}


def test_without_refit_the_validation_model_is_kept():
    network, _, reset = _setup()
    y = np.array([0, 1] * 10)
    run = _Recorder(network, y)
    train_with_validation(
        run, validation_splits(y, 0.2), np.arange(20), TrainingConfig(n_epochs=4),
        refit=False, reset=reset,
    )  # fmt: skip
    assert [c["phase"] for c in run.calls] == ["validation"]
    assert len(run.calls[0]["fit"]) == 16


def test_no_validation_trains_every_case_for_n_epochs():
    network, _, reset = _setup()
    y = np.array([0, 1] * 10)
    assert validation_splits(y, 0) == []
    run = _Recorder(network, y)
    train_with_validation(
        run, [], np.arange(20), TrainingConfig(n_epochs=4), refit=True, reset=reset
    )
    (call,) = run.calls
    assert call["phase"] == "train" and call["n_epochs"] == 4
    assert call["validation"] is None and len(call["fit"]) == 20


def test_k_fold_chooses_the_best_mean_epoch_then_refits():
    network, initial, reset = _setup()
    y = np.array([0, 1, 2] * 6)
    splits = validation_splits(y, 0.2, 3, random_state=0)
    assert len(splits) == 3
    held_out = np.concatenate([val for _, val in splits])
    assert sorted(held_out) == list(range(18))  # every case validated once
    curves = {  # epoch 2 is best on average, though not in every fold
        "fold 1": [0.1, 0.6, 0.5],
        "fold 2": [0.9, 0.7, 0.1],
        "fold 3": [0.1, 0.8, 0.2],
    }
    run = _Recorder(network, y, best_epoch=99, curves=curves)
    _, best = train_with_validation(
        run, splits, np.arange(18), TrainingConfig(n_epochs=3, patience=1),
        refit=False, reset=reset,
    )  # fmt: skip
    assert best == 2
    assert [c["phase"] for c in run.calls] == ["fold 1", "fold 2", "fold 3", "refit"]
    assert [c["n_epochs"] for c in run.calls] == [3, 3, 3, 2]  # no early stop
    for call in run.calls[1:]:  # each fold and the refit start from the start
        torch.testing.assert_close(call["weight"], initial)


def test_tiny_classes_hold_out_one_case_each_with_a_warning():
    y = np.repeat(np.arange(52), 2)  # 52 classes, 2 training series each
    with pytest.warns(ValidationWarning, match="holding out 52 cases") as record:
        ((fit, val),) = validation_splits(y, 0.2, random_state=0)
    assert record[0].filename == __file__
    assert sorted(y[val]) == sorted(y[fit]) == list(range(52))


def test_single_case_classes_always_train():
    y = np.array([0, 0, 0, 1, 1, 1, 2])  # class 2 has one case
    with pytest.warns(ValidationWarning, match="Classes 2 .* single case"):
        ((fit, val),) = validation_splits(y, 0.3, random_state=0)
    assert 6 in fit and 6 not in val
    assert set(y[val]) == {0, 1}
    with pytest.warns(ValidationWarning, match="without validation"):
        assert validation_splits(np.array([0, 1, 2]), 0.3) == []


def test_too_many_folds_for_the_smallest_class_use_fewer():
    y = np.array([0] * 10 + [1] * 3)
    with pytest.warns(ValidationWarning, match="by 3-fold instead"):
        splits = validation_splits(y, 0.2, 5, random_state=0)
    assert len(splits) == 3


def test_a_feasible_split_warns_nothing_and_is_sklearns():
    from sklearn.model_selection import train_test_split

    y = np.array([0, 1] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ((fit, val),) = validation_splits(y, 0.2, random_state=7)
    expected = train_test_split(
        np.arange(20), test_size=0.2, stratify=y, random_state=7
    )
    np.testing.assert_array_equal(fit, expected[0])
    np.testing.assert_array_equal(val, expected[1])


def test_validation_score_is_accuracy_with_a_log_loss_tie_break():
    y = np.array([0, 1, 1])
    right = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    one_wrong = np.array([[9.0, 0.0], [0.0, 9.0], [9.0, 0.0]])
    assert abs(validation_score(right, y) - 1.0) < 1e-3
    assert validation_score(right, y) > validation_score(one_wrong, y)
    assert abs(validation_score(one_wrong, y) - 2 / 3) < 1e-2


def test_k_fold_may_choose_the_starting_model_and_refit_nothing():
    # Runs that score their start (epoch 0, LP-FT) may find it best: the refit
    # is then asked for zero epochs.
    network, _, reset = _setup()
    y = np.array([0, 1] * 6)
    splits = validation_splits(y, 0.2, 2, random_state=0)

    class FromZero(_Recorder):
        def __call__(self, fit, validation, config, phase):
            history, best = super().__call__(fit, validation, config, phase)
            start = {"phase": phase, "epoch": 0, "validation_score": 0.9}
            return ([start] if validation is not None else []) + history, best

    run = FromZero(network, y, best_epoch=0)
    _, best = train_with_validation(
        run, splits, np.arange(12), TrainingConfig(n_epochs=2),
        refit=True, reset=reset,
    )  # fmt: skip
    assert best == 0
    assert [c["n_epochs"] for c in run.calls] == [2, 2, 0]


@pytest.mark.parametrize(
    "name",
    [
        "VLMTimeSeriesClassifier",
        "InstructTimeClassifier",
        "CrossTimeNetClassifier",
        "MTCSClassifier",
        "TimeLlamaClassifier",
    ],
)
def test_every_trained_classifier_takes_patience(name):
    from sklearn.utils._param_validation import InvalidParameterError

    import vlmtsc

    cls = getattr(vlmtsc, name)
    assert cls().patience is None  # every epoch up to n_epochs by default
    assert cls(patience=3)._training_config().patience == 3
    with pytest.raises(InvalidParameterError, match="patience"):
        cls(patience=0)._begin_fit()
