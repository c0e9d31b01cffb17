"""MTCSClassifier: shared encoder, per-task heads, classifier sharing, final
classifiers (logistic regression, SVM, linear head)."""

import pickle

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

from vlmtsc.classification import MTCSClassifier
from vlmtsc.classification._mtcs import SVM_C_GRID, SVM_DEFAULT_C
from vlmtsc.testing import make_example_series
from vlmtsc.training import SeriesAugmenter, ValidationWarning

TINY = dict(n_blocks=2, hidden_size=8, representation_size=16, n_epochs=2, verbose=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _clf(**params):
    return MTCSClassifier(**{**TINY, **params})


@pytest.fixture(scope="module")
def target():
    return make_example_series(n_cases=12, n_timepoints=30)


@pytest.fixture(scope="module")
def related():
    # Three classes and another length than the target.
    return make_example_series(n_cases=12, n_timepoints=40, n_classes=3, random_state=1)


@pytest.fixture(scope="module")
def fitted(target, related):
    X, y = target
    return _clf(related_datasets={"other": related}).fit(X, y)


@pytest.fixture(scope="module")
def mixed_tasks(target):
    """Tasks of different lengths and channels; one of unequal lengths."""
    multi = make_example_series(n_cases=10, n_channels=3, n_timepoints=25)
    unequal = make_example_series(
        n_cases=12, n_channels=2, n_timepoints=40, unequal=True, random_state=2
    )
    return {"uni": target, "multi": multi, "unequal": unequal}


@pytest.fixture(scope="module")
def joint(mixed_tasks):
    return _clf().fit_tasks(mixed_tasks)


# ----------------------------------------------------------------- target task
def test_fit_predict_proba_on_the_target_task(fitted, target):
    X, _ = target
    proba = fitted.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(1)])
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert list(fitted.tasks_) == ["target", "other"]
    assert fitted.tasks_["other"]["n_timepoints"] == 40
    assert fitted.n_timepoints_ == 30
    # The related task has a classifier of its own too.
    assert fitted.predict_proba(
        make_example_series(n_timepoints=40)[0], task="other"
    ).shape == (12, 3)


def test_string_labels_and_learning_on_easy_data():
    X, y = make_example_series(n_cases=20, n_timepoints=30)
    labels = np.array(["sine", "fast"])[y]
    clf = _clf(n_epochs=3, validation_fraction=0).fit(X, labels)
    assert set(clf.predict(X)) <= {"sine", "fast"}
    assert clf.score(X, labels) >= 0.9


def test_transform_gives_representations(fitted, target):
    X, _ = target
    representation = fitted.transform(X)
    assert representation.shape == (12, 16)
    assert fitted.transform(X, task="target").shape == (12, 16)
    assert np.isfinite(representation).all()


def test_same_random_state_same_predictions(target, related):
    X, y = target
    params = dict(related_datasets={"other": related}, random_state=3)
    first = _clf(**params).fit(X, y)
    second = _clf(**params).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    other = _clf(**{**params, "random_state": 4}).fit(X, y)
    assert not np.allclose(first.transform(X), other.transform(X))


def test_single_task_without_related_datasets(target):
    X, y = target
    clf = _clf().fit(X, y)
    assert list(clf.tasks_) == ["target"]
    assert clf.affinity_["task_matrix"].shape == (1, 1)
    assert np.isnan(clf.affinity_["task_matrix"]).all()
    # No partner task: the sharing loss never applies.
    assert all(h["sharing_loss"] == 0 and h["n_related"] == 0 for h in clf.history_)


def test_linear_head_probabilities(target):
    X, y = target
    clf = _clf(classifier="linear").fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.classifiers_ == {"target": None}
    logits = clf.model_.head_logits(torch.from_numpy(clf.transform(X)), 0)
    np.testing.assert_allclose(proba, logits.softmax(-1).detach().numpy(), atol=1e-5)


def test_default_classifier_is_the_probe_head_on_the_representations(target):
    X, y = target
    clf = _clf().fit(X, y)
    head = clf.classifiers_["target"]
    assert [type(step).__name__ for step in head] == [
        "StandardScaler",
        "LogisticRegression",
    ]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, head.predict_proba(clf.transform(X)))
    assert (clf.predict(X) == clf.classes_[head.predict(clf.transform(X))]).all()


def test_svm_c_chosen_by_cv_only_when_every_class_allows():
    X, y = make_example_series(n_cases=20, n_timepoints=30)  # 10 per class
    grid = _clf(classifier="svm", validation_fraction=0).fit(X, y)
    assert grid.classifiers_["target"].C in SVM_C_GRID
    few = _clf(classifier="svm", validation_fraction=0).fit(X[:8], y[:8])
    assert few.classifiers_["target"].C == SVM_DEFAULT_C == np.inf  # 4 per class
    fixed = _clf(classifier="svm", validation_fraction=0, svm_C=123.0).fit(X, y)
    assert fixed.classifiers_["target"].C == 123.0


# ----------------------------------------------------------------- validation
def test_validation_then_refit_history(fitted):
    phases = [h["phase"] for h in fitted.history_]
    assert phases == ["validation"] * 2 + ["refit"] * fitted.best_epoch_
    assert all("validation_score" in h for h in fitted.history_[:2])
    assert {"loss", "ce_loss", "sharing_loss", "n_related"} <= set(fitted.history_[0])


def test_no_validation_when_fraction_is_zero(target):
    X, y = target
    clf = _clf(validation_fraction=0).fit(X, y)
    assert [h["phase"] for h in clf.history_] == ["train", "train"]


def test_auto_epochs_capped_by_the_timepoints_a_run_reads(target, monkeypatch):
    import vlmtsc.classification._mtcs as mtcs

    X, y = target  # 12 series of 30 steps: the validation run trains on 9
    auto = {**TINY, "n_epochs": "auto"}
    short = _clf(**auto, patience=1).fit(X, y)
    assert short.n_epochs_ == mtcs.AUTO_EPOCHS
    # A budget of 3 epochs of the validation run's 9 x 30 timepoints.
    monkeypatch.setattr(mtcs, "AUTO_TIMEPOINTS", 3 * 9 * 30)
    capped = _clf(**auto).fit(X, y)
    assert capped.n_epochs_ == 3
    assert [h["phase"] for h in capped.history_].count("validation") == 3
    # One augmented copy doubles what an epoch reads.
    copy = SeriesAugmenter(n_copies=1)
    assert _clf(**auto, augmentation=copy).fit(X, y).n_epochs_ == 2
    # A task's chosen cases count, channels x steps, unequal lengths too, and
    # the largest task bounds a joint run: 3 cases x 2 channels x 10 steps =
    # 60 an epoch, beside 5 + 9 steps of the other (74 in all would give 5).
    inputs = [np.zeros((4, 2, 10)), [np.zeros((1, n)) for n in (5, 7, 9)]]
    monkeypatch.setattr(mtcs, "AUTO_TIMEPOINTS", 6 * 60)
    assert _clf(**auto)._epochs(inputs, [np.arange(3), np.array([0, 2])]) == 6
    assert _clf(n_epochs=5).fit(X, y).n_epochs_ == 5


def test_too_small_classes_follow_the_shared_validation_rule():
    X, y = make_example_series(n_cases=4, n_timepoints=20)  # 2 per class
    # 20% of 4 cases is 1 validation case for 2 classes: one of each is held out.
    with pytest.warns(ValidationWarning, match="holding out 2 cases") as record:
        clf = _clf(validation_fraction=0.2).fit(X, y)
    assert record[0].filename == __file__  # points at the caller's line
    assert [h["phase"] for h in clf.history_][:2] == ["validation"] * 2
    with pytest.warns(ValidationWarning, match="holding out 2 cases") as record:
        clf = _clf(validation_fraction=0.2).fit_tasks({"only": (X, y)})
    assert record[0].filename == __file__
    # One task: predict needs no task name.
    np.testing.assert_array_equal(clf.predict(X), clf.predict(X, task="only"))
    assert clf.target_task_ == "only"
    # Every class a single case: nothing can be validated.
    one_each = [np.flatnonzero(y == label)[0] for label in np.unique(y)]
    with pytest.warns(ValidationWarning, match="without validation"):
        clf = _clf(validation_fraction=0.2).fit(X[one_each], y[one_each])
    assert [h["phase"] for h in clf.history_] == ["train", "train"]


# ----------------------------------------------------------------- joint tasks
def test_fit_tasks_different_lengths_channels_and_unequal(joint, mixed_tasks):
    assert list(joint.tasks_) == ["uni", "multi", "unequal"]
    assert joint.tasks_["multi"]["n_channels"] == 3
    assert joint.tasks_["unequal"]["n_timepoints"] is None
    assert not hasattr(joint, "classes_")
    for name, (X, y) in mixed_tasks.items():
        proba = joint.predict_proba(X, task=name)
        assert proba.shape == (len(y), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert joint.predict(X, task=name).shape == (len(y),)
        assert joint.transform(X, task=name).shape == (len(y), 16)


def test_padding_never_changes_a_representation(joint, mixed_tasks):
    X, _ = mixed_tasks["unequal"]
    assert len({x.shape[1] for x in X}) > 1
    together = joint.transform(X, task="unequal")
    alone = np.concatenate([joint.transform([x], task="unequal") for x in X])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # Lengths never seen in fit work too (no truncation, no fixed size).
    longer = [np.tile(x, 3) for x in X[:2]]
    assert joint.transform(longer, task="unequal").shape == (2, 16)


def test_every_task_holds_out_validation_in_fit_tasks(joint):
    assert [h["phase"] for h in joint.history_][:2] == ["validation"] * 2


def test_affinity_blocks_and_labels(joint):
    affinity = joint.affinity_
    assert affinity["tasks"] == ["uni", "multi", "unequal"]
    assert affinity["labels"] == [
        (task, label) for task in ("uni", "multi", "unequal") for label in (0, 1)
    ]
    matrix = affinity["label_matrix"]
    assert matrix.shape == (6, 6)
    for k in range(3):  # a task with itself: undefined
        assert np.isnan(matrix[2 * k : 2 * k + 2, 2 * k : 2 * k + 2]).all()
    off_diagonal = matrix[~np.isnan(matrix)]
    assert off_diagonal.size == 24 and (off_diagonal >= 0).all()
    # Each block is M*N*A/sum(A): its mean over the M*N pairs is 1.
    np.testing.assert_allclose(matrix[0:2, 2:4].mean(), 1.0)
    np.testing.assert_array_equal(affinity["related"], np.nan_to_num(matrix) > 2.0)
    tasks = affinity["task_matrix"]
    assert tasks.shape == (3, 3)
    np.testing.assert_allclose(tasks, tasks.T)
    assert (tasks[~np.eye(3, dtype=bool)] >= 0).all()


def test_sharing_pulls_related_head_rows_together():
    # Two tasks whose classes have the same shapes; a strong alpha makes the
    # effect clear within a few epochs.
    a = make_example_series(n_cases=24, n_timepoints=30, n_classes=3)
    b = make_example_series(n_cases=24, n_timepoints=40, n_classes=3, random_state=1)
    params = dict(
        n_epochs=10,
        batch_size=8,
        learning_rate=1e-2,
        validation_fraction=0,
        classifier="linear",
    )
    distances, related = {}, np.zeros((3, 3), dtype=bool)
    for alpha in (0.0, 10.0):
        clf = _clf(alpha=alpha, **params).fit_tasks({"a": a, "b": b})
        rows_a = clf.model_.heads["t0"].weight.detach().numpy()
        rows_b = clf.model_.heads["t1"].weight.detach().numpy()
        distances[alpha] = ((rows_a[:, None] - rows_b[None]) ** 2).sum(-1)
        flags = clf.affinity_["related"]
        related |= flags[:3, 3:] | flags[3:, :3].T
        if alpha:
            assert max(h["sharing_loss"] for h in clf.history_) > 0
        else:
            assert all(h["sharing_loss"] == 0 for h in clf.history_)
    assert related.any()
    assert distances[10.0][related].mean() < 0.5 * distances[0.0][related].mean()
    # Unrelated rows are not pulled: the effect is specific to related labels.
    shrink_related = distances[10.0][related].mean() / distances[0.0][related].mean()
    shrink_other = distances[10.0][~related].mean() / distances[0.0][~related].mean()
    assert shrink_related < shrink_other


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("related_datasets", "match"),
    [
        ([1, 2], r"'related_datasets' parameter .*Mapping' or None"),
        ({"r": np.zeros((4, 10))}, r"related_datasets\['r'\] must be a pair \(X, y\)"),
        (
            {"r": (np.zeros((4, 10)), [1, 1, 1, 1])},
            r"related_datasets\['r'\] needs at least 2 classes.*1 class",
        ),
        (
            {"r": (np.zeros((4, 10)), [0, 1, 0])},
            r"related_datasets\['r'\] got 4 series but 3 labels",
        ),
        (
            {"r": (np.full((4, 10), np.nan), [0, 1, 0, 1])},
            r"related_datasets\['r'\] X contains NaN",
        ),
        ({"target": make_example_series(n_cases=4)}, "named 'target'.*rename it"),
    ],
)
def test_bad_related_datasets_are_named(related_datasets, match, target):
    X, y = target
    with pytest.raises(ValueError, match=match):
        _clf(related_datasets=related_datasets).fit(X, y)


def test_inference_errors_name_the_task(joint, fitted, mixed_tasks, target):
    X, _ = mixed_tasks["uni"]
    with pytest.raises(ValueError, match=r"say which with task=, one of \['uni'"):
        joint.predict(X)
    with pytest.raises(ValueError, match=r"Unknown task 'nope'.*Pass one of them"):
        joint.predict_proba(X, task="nope")
    with pytest.raises(ValueError, match=r"Unknown task 'nope'"):
        fitted.transform(target[0], task="nope")
    with pytest.raises(
        ValueError, match=r"\(task='multi'\) was fitted on series with 3"
    ):
        joint.predict(X, task="multi")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": -1}, r"'alpha' .* range \[0.0, inf\)"),
        ({"tau": 0}, r"'tau' .* range \(0.0, inf\)"),
        ({"classifier": "knn"}, r"'classifier' parameter .* among"),
        ({"n_blocks": 0}, r"'n_blocks' .* range \[1, inf\)"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' .* \[0.0, 1.0\)"),
        ({"device": "tpu"}, "device must be 'auto', 'cpu' or 'cuda'"),
    ],
)
def test_bad_parameters(params, match, target):
    with pytest.raises(ValueError, match=match):
        _clf(**params).fit(*target)


def test_fit_tasks_rejects_non_dicts_and_duplicates(target):
    with pytest.raises(ValueError, match=r"expects a non-empty dict \{task name"):
        _clf().fit_tasks([target])
    with pytest.raises(ValueError, match=r"\['a'\] are both in fit_tasks"):
        _clf(related_datasets={"a": target}).fit_tasks({"a": target})


# ----------------------------------------------------------------- sklearn tools
def test_clone_grid_search_and_cross_val_score(target, related):
    X, y = target
    clf = _clf(n_epochs=1, validation_fraction=0, related_datasets={"r": related})
    copy = clone(clf)
    assert copy.get_params()["related_datasets"].keys() == {"r"}
    np.testing.assert_array_equal(copy.related_datasets["r"][0], related[0])
    scores = cross_val_score(clf, X, y, cv=2)
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    grid = GridSearchCV(clf, {"alpha": [0.0, 0.1]}, cv=2).fit(X, y)
    assert grid.best_params_["alpha"] in (0.0, 0.1)
    assert grid.predict(X).shape == (12,)
    assert list(grid.best_estimator_.tasks_) == ["target", "r"]


def test_pickle_round_trip_gives_the_same_predictions(joint, fitted, mixed_tasks):
    X, _ = mixed_tasks["unequal"]
    again = pickle.loads(pickle.dumps(joint))
    np.testing.assert_array_equal(
        again.predict_proba(X, task="unequal"), joint.predict_proba(X, task="unequal")
    )
    X, _ = mixed_tasks["uni"]
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    # Pickling must not touch the fitted estimator itself.
    assert isinstance(fitted.model_, torch.nn.Module)


# ----------------------------------------------------------------- plotting
@pytest.mark.parametrize("level", ["task", "label"])
def test_plot_affinity_returns_axes(joint, level):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = joint.plot_affinity(level=level)
    assert isinstance(ax, plt.Axes)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:2] == (["uni", "multi"] if level == "task" else ["uni:0", "uni:1"])
    _, given = plt.subplots()
    assert joint.plot_affinity(ax=given) is given
    with pytest.raises(ValueError, match="level must be"):
        joint.plot_affinity(level="dataset")
    plt.close("all")


def test_augmentation_adds_fresh_copies_every_epoch(mixed_tasks, monkeypatch):
    from vlmtsc.training import SeriesAugmenter

    varied = []
    augment = SeriesAugmenter.augment

    def counting(self, X, rng):
        varied.append(len(X))
        return augment(self, X, rng)

    monkeypatch.setattr(SeriesAugmenter, "augment", counting)
    plain = _clf(validation_fraction=0).fit_tasks(mixed_tasks)
    assert varied == []
    augmented = _clf(
        validation_fraction=0, augmentation=SeriesAugmenter(n_copies=2)
    ).fit_tasks(mixed_tasks)
    # Each epoch (2) varies every task's cases (one batch each) twice.
    n_cases = sum(len(y) for _, y in mixed_tasks.values())
    assert sum(varied) == 2 * 2 * n_cases
    X, _ = mixed_tasks["unequal"]
    assert not np.allclose(
        augmented.transform(X, task="unequal"), plain.transform(X, task="unequal")
    )
    with pytest.raises(TypeError, match=r"'augmentation' parameter .*SeriesAugmenter"):
        _clf(augmentation={"jitter": 0.1}).fit_tasks(mixed_tasks)
