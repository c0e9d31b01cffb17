"""VLMTimeSeriesClassifier end to end on tiny backbones."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.renderers import GramianAngularFieldRenderer, LinePlotRenderer
from vlmtsc.testing import make_example_series
from vlmtsc.training import ValidationWarning

torch.set_num_threads(1)

VLMS = [
    "tiny-llava",
    "tiny-qwen2-vl",
    "tiny-qwen2.5-vl",
    "tiny-idefics3",
    "tiny-smolvlm",
]


def _clf(**params):
    defaults = dict(
        backbone="tiny-llava",
        head="lm",  # the default is the probe; most tests here fine-tune
        renderer=LinePlotRenderer(image_size=32),
        n_epochs=1,
        batch_size=4,
        series_encoder=None,  # the images' features (tests/test_series_encoders.py)
        verbose=0,
    )
    return VLMTimeSeriesClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    return make_example_series(n_cases=12, n_timepoints=30)


@pytest.mark.parametrize("backbone", VLMS)
def test_every_vlm_family_fits_and_predicts(backbone, data):
    X, y = data
    clf = _clf(backbone=backbone).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {0, 1}
    assert [h["phase"] for h in clf.history_] == ["validation", "refit"]
    assert clf.best_epoch_ == 1


@pytest.mark.parametrize("backbone", ["tiny-llava", "tiny-qwen2-vl", "tiny-smolvlm"])
def test_the_image_reaches_the_model(backbone, data):
    # Image-only prompts are identical for every case: only the image differs.
    X, y = data
    clf = _clf(backbone=backbone, validation_fraction=0).fit(X, y)
    first = clf.predict_proba(X[:3])
    assert not np.allclose(first[0], first[1])
    changed = X[:3].copy()
    changed[1] = changed[1][:, ::-1]
    second = clf.predict_proba(changed)
    np.testing.assert_allclose(second[[0, 2]], first[[0, 2]])
    assert not np.allclose(second[1], first[1])


def test_fitting_is_reproducible(data):
    X, y = data
    first = _clf(random_state=3).fit(X, y).predict_proba(X)
    second = _clf(random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    other = _clf(random_state=4).fit(X, y).predict_proba(X)
    assert not np.array_equal(first, other)


def test_text_only_backbone_reads_the_values(data):
    X, y = data
    clf = _clf(backbone="tiny-llama", prompt_mode="baseline").fit(X, y)
    assert not clf.model_.uses_images
    assert clf.predict_proba(X).shape == (12, 2)


def test_string_labels_and_label_names(data):
    X, y = data
    labels = np.array(["gun", "point"])[y]
    clf = _clf(label_names={"gun": "drawing a gun", "point": "pointing"}).fit(X, labels)
    assert clf.label_names_ == ["drawing a gun", "pointing"]
    assert set(clf.predict(X)) <= {"gun", "point"}


def test_rationale_is_called_for_training_cases_only(data):
    X, y = data
    seen = []

    def rationale(x, label):
        seen.append(label)
        return "the curve is smooth"

    from vlmtsc.prompts import TimeSeriesPrompt

    clf = _clf(
        prompt=TimeSeriesPrompt(rationale=rationale), prompt_mode="with_rationale"
    )
    clf.fit(X, y)
    n_fit_calls = len(seen)
    assert n_fit_calls == len(X)  # one prompt set, built once for fit
    clf.predict(X)
    assert len(seen) == n_fit_calls


def test_qlora_4bit_on_cpu(data):
    import bitsandbytes as bnb

    X, y = data
    clf = _clf(backbone="tiny-llava", quantization="4bit").fit(X, y)
    layers = [m for m in clf.model_.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "no 4-bit layers"
    assert clf.predict_proba(X).shape == (12, 2)


def test_pickle_round_trip_keeps_predictions(data):
    X, y = data
    clf = _clf().fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X))


def test_composes_with_sklearn_model_selection(data):
    X, y = data
    grid = GridSearchCV(
        _clf(validation_fraction=0),
        {
            "renderer": [
                LinePlotRenderer(image_size=32),
                GramianAngularFieldRenderer(image_size=32),
            ]
        },
        cv=2,
    )
    grid.fit(X, y)
    assert isinstance(
        grid.best_params_["renderer"], (LinePlotRenderer, GramianAngularFieldRenderer)
    )
    scores = cross_val_score(_clf(validation_fraction=0), X, y, cv=2)
    assert scores.shape == (2,)
    pipe = make_pipeline(
        FunctionTransformer(lambda X: X - X.mean(axis=-1, keepdims=True)), _clf()
    )
    assert pipe.fit(X, y).predict(X).shape == (12,)


@pytest.mark.parametrize(
    ("params", "error", "pattern"),
    [
        ({"prompt_mode": "chatty"}, ValueError, "'prompt_mode' parameter .* among"),
        (
            {"validation_fraction": 1.0},
            ValueError,
            r"'validation_fraction' .* range \[0.0, 1.0\)",
        ),
        ({"n_epochs": 0}, ValueError, r"'n_epochs' .* range \[1, inf\)"),
        ({"backbone": "tiny-bert"}, ValueError, "is an encoder"),
        ({"quantization": "3bit"}, ValueError, "'quantization' parameter .* among"),
        ({"head": "svm"}, ValueError, "'head' parameter .* among"),
        (
            {"head": "linear", "features": "pixels"},
            ValueError,
            "'features' parameter .* among",
        ),
    ],
)
def test_bad_parameters(params, error, pattern, data):
    X, y = data
    with pytest.raises(error, match=pattern):
        _clf(**params).fit(X, y)


def test_a_single_case_class_trains_but_is_not_validated():
    X, _ = make_example_series(n_cases=5, n_timepoints=20)
    y = np.array([0, 0, 0, 0, 1])
    with pytest.warns(ValidationWarning, match=r"Classes 1 .*single case") as record:
        clf = _clf(n_epochs=1).fit(X, y)
    assert record[0].filename == __file__
    assert [h["phase"] for h in clf.history_] == ["validation", "refit"]


def test_linear_head_fits_logistic_regression_on_frozen_features(data):
    X, y = data
    clf = _clf(head="linear").fit(X, y)
    assert clf.history_ == [] and clf.best_epoch_ == 0
    assert not any("lora" in name for name, _ in clf.model_.model.named_parameters())
    embeddings = clf.transform(X)
    assert embeddings.shape == (12, 64)
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.head_.predict_proba(embeddings), rtol=1e-6
    )
    assert clf.score(X, y) == 1.0  # 12 cases, 64 features: separable


def test_transform_reflects_fine_tuning(data):
    from vlmtsc import VLMFeatureExtractor

    X, y = data
    frozen = VLMFeatureExtractor(
        backbone="tiny-llava",
        renderer=LinePlotRenderer(image_size=32),
        features="hidden",
        series_encoder=None,
        verbose=0,
    ).fit_transform(X)
    tuned = _clf(features="hidden", learning_rate=1e-2).fit(X, y).transform(X)
    assert frozen.shape == tuned.shape
    assert not np.allclose(frozen, tuned)


def test_vision_features_run_under_the_mixed_precision(data):
    # bf16 autocast of the vision features: close to float32, not equal;
    # "auto" is bf16 exactly where the CPU runs it natively.
    from vlmtsc import VLMFeatureExtractor
    from vlmtsc.training._loop import bf16_is_fast

    X, _ = data
    features = {
        mode: VLMFeatureExtractor(
            backbone="tiny-llava",
            renderer=LinePlotRenderer(image_size=32),
            series_encoder=None,
            mixed_precision=mode,
            verbose=0,
        ).fit_transform(X)
        for mode in ("no", "bf16", "auto")
    }
    scale = np.abs(features["no"]).max()
    np.testing.assert_allclose(features["bf16"], features["no"], atol=0.05 * scale)
    assert not np.array_equal(features["bf16"], features["no"])
    native = "bf16" if bf16_is_fast("cpu") else "no"
    np.testing.assert_array_equal(features["auto"], features[native])
    with pytest.raises(ValueError, match=r"mixed_precision='fp16'; choose one of"):
        VLMFeatureExtractor(backbone="tiny-llava", mixed_precision="fp16").fit(X)


def test_feature_extractor_in_a_pipeline(data):
    from sklearn.linear_model import LogisticRegression

    from vlmtsc import VLMFeatureExtractor

    X, y = data
    pipe = make_pipeline(
        VLMFeatureExtractor(
            backbone="tiny-llava",
            renderer=LinePlotRenderer(image_size=32),
            series_encoder=None,
            verbose=0,
        ),
        LogisticRegression(max_iter=1000),
    )
    assert pipe.fit(X, y).predict(X).shape == (12,)
    assert pipe[0].n_features_out_ == 64


def test_layers_concatenate_the_chosen_layers_averages(data):
    X, y = data
    last = _clf(head="linear", layers=-1).fit(X, y).transform(X)
    width = last.shape[1]
    both = _clf(head="linear", layers=[1, -1]).fit(X, y).transform(X)
    assert both.shape == (12, 2 * width)
    np.testing.assert_allclose(both[:, width:], last, rtol=1e-5)
    assert not np.allclose(both[:, :width], last)
    hidden = _clf(head="linear", features="hidden", layers=[0, -1]).fit(X, y)
    last_hidden = _clf(head="linear", features="hidden", layers="last").fit(X, y)
    last_hidden = last_hidden.transform(X)
    assert hidden.transform(X).shape == (12, 2 * last_hidden.shape[1])
    np.testing.assert_allclose(
        hidden.transform(X)[:, last_hidden.shape[1] :], last_hidden, rtol=1e-5
    )
    # "auto" reads the language model's middle block: hidden state 1 of 2.
    auto = _clf(head="linear", features="hidden").fit(X, y).transform(X)
    middle = _clf(head="linear", features="hidden", layers=1).fit(X, y)
    np.testing.assert_allclose(auto, middle.transform(X), rtol=1e-5)
    assert not np.allclose(auto, last_hidden)


@pytest.mark.parametrize(
    ("layers", "pattern"),
    [
        ([0, 99], r"layers=\[0, 99\] asks for layer 99; this backbone has \d+ "),
        ("middle", "'layers' parameter"),
    ],
)
def test_layers_out_of_range_are_named(layers, pattern, data):
    X, y = data
    with pytest.raises(ValueError, match=pattern):
        _clf(head="linear", layers=layers).fit(X, y)


def test_several_renderers_are_fused_by_the_probe(data):
    X, y = data
    line = LinePlotRenderer(image_size=32)
    gaf = GramianAngularFieldRenderer(image_size=32)
    one = _clf(head="linear", renderer=line).fit(X, y).transform(X)
    fused = _clf(head="linear", renderer=[line, gaf]).fit(X, y)
    assert fused.transform(X).shape == (12, 2 * one.shape[1])
    np.testing.assert_allclose(fused.transform(X)[:, : one.shape[1]], one, rtol=1e-5)
    assert [type(r) for r in fused.renderer_] == [LinePlotRenderer, type(gaf)]
    with pytest.raises(ValueError, match="fused by the probe's features only"):
        _clf(renderer=[line, gaf]).fit(X, y)
    with pytest.raises(ValueError, match="empty list"):
        _clf(head="linear", renderer=[]).fit(X, y)


def test_pooled_head_fine_tunes_from_the_probe_on_frozen_and_hidden_features(data):
    X, y = data
    X = X[:10]
    y = np.array([0, 1] * 5)  # every class validated
    linear = _clf(head="linear").fit(X, y)
    probe = linear.transform(X)  # the vision features
    clf = _clf(head="pooled", n_epochs=2, learning_rate=1e-2).fit(X, y)
    features = clf.transform(X)
    width = probe.shape[1]
    np.testing.assert_allclose(features[:, :width], probe, rtol=1e-5)
    hidden_size = clf.model_.backbone.model.config.text_config.hidden_size
    assert features.shape == (10, width + hidden_size)
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.head_.predict_proba(features), rtol=1e-6
    )
    # Epoch 0 (the probe) is scored with the others on the validation split.
    validation = [h["epoch"] for h in clf.history_ if h["phase"] == "validation"]
    assert validation == [0, 1, 2]
    assert any("lora" in name for name, _ in clf.model_.model.named_parameters())
    assert clf._explanation_methods() == ("occlusion",)
    # Fine-tuning that cannot move (a negligible rate) never beats its start:
    # the probe is kept, and answers as head="linear" does.
    still = _clf(head="pooled", n_epochs=2, learning_rate=1e-12).fit(X, y)
    assert still.best_epoch_ == 0
    assert [h["phase"] for h in still.history_] == ["validation"] * 3
    np.testing.assert_allclose(
        still.predict_proba(X), linear.predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"features": "hidden"}, "reads the language model's hidden states itself"),
        ({"augmentation": "jitter"}, "augmentation is not offered with head='pooled'"),
    ],
)
def test_pooled_head_refuses_what_it_cannot_use(params, pattern, data):
    from vlmtsc.training import SeriesAugmenter

    if "augmentation" in params:
        params = {"augmentation": SeriesAugmenter(n_copies=1)}
    X, y = data
    with pytest.raises(ValueError, match=pattern):
        _clf(head="pooled", **params).fit(X, y)


def test_the_probes_default_fuses_line_plot_and_window_stacks_or_heatmap(data):
    from vlmtsc import VLMFeatureExtractor
    from vlmtsc.renderers import HeatmapRenderer, WindowStackRenderer

    X, y = data
    probe = VLMTimeSeriesClassifier(backbone="tiny-llava", head="linear", verbose=0)
    probe.fit(X, y)
    line, *windows = probe.renderer_
    assert type(line) is LinePlotRenderer
    assert [type(r) for r in windows] == [WindowStackRenderer] * 3
    # One series at three time scales: windows of sqrt(T), 2 and 4 times that.
    assert [r.geometry(400)[0] for r in windows] == [20, 40, 80]
    # Several channels: the heatmap instead of the window stack, for the
    # classifier and the extractor alike.
    multivariate = np.repeat(np.asarray(X), 2, axis=1)
    assert [type(r) for r in probe.fit(multivariate, y).renderer_] == [
        LinePlotRenderer,
        HeatmapRenderer,
    ]
    extractor = VLMFeatureExtractor("tiny-llava", series_encoder=None, verbose=0)
    assert type(extractor.fit(multivariate).renderer_[1]) is HeatmapRenderer
    tuned = VLMTimeSeriesClassifier(
        backbone="tiny-llava", head="lm", n_epochs=1, verbose=0
    )
    assert isinstance(tuned.fit(X, y).renderer_, LinePlotRenderer)


def test_the_probe_reads_a_composed_cnns_middle_stages_by_default(data):
    from vlmtsc.training import middle_stages

    X, y = data
    probe = _clf(backbone="tiny-composed", head="linear").fit(X, y)
    cnn = probe.model_.model
    middle = middle_stages(cnn.n_vision_stages)
    assert middle == [0, 1]  # TinyCNN: two blocks, then the head
    width = sum(cnn.vision_stage_channels[i] for i in middle)
    assert probe.transform(X).shape == (12, width)
    head = _clf(backbone="tiny-composed", head="linear", layers="last").fit(X, y)
    assert head.transform(X).shape == (12, cnn.vision_stage_channels[-1])


def test_the_probe_chooses_its_regularisation_by_k_fold(monkeypatch):
    from sklearn.model_selection import GridSearchCV

    from vlmtsc.training import PROBE_STRENGTHS, fit_probe

    searches = []
    fit = GridSearchCV.fit

    def record(self, *args, **kwargs):
        searches.append(self)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(GridSearchCV, "fit", record)
    rng = np.random.default_rng(0)
    F = rng.normal(size=(30, 5))
    y = np.repeat([0, 1, 2], 10)
    F[:, 0] += 3 * y  # one informative feature
    head = fit_probe(F, y, seed=0)
    assert len(searches[-1].cv) == 5
    chosen = searches[-1].best_params_["logisticregression__C"]
    assert chosen == head[-1].C and chosen > min(PROBE_STRENGTHS)
    assert head.score(F, y) > 0.9
    few = np.array([0, 0, 1, 1, 2, 2, 2])
    fit_probe(F[:7], few, seed=0)
    assert len(searches[-1].cv) == 2
    # Every training fold holds every class, so every candidate scores.
    for fit_rows, _ in searches[-1].cv:
        assert set(few[fit_rows]) == {0, 1, 2}
    assert np.isfinite(searches[-1].cv_results_["mean_test_score"]).all()
    # Augmented copies stay in their case's fold: no copy validates its source.
    source = np.repeat(np.arange(30), 2)
    fit_probe(F[source], y[source], 0, source)
    for fit_rows, held in searches[-1].cv:
        assert not set(source[fit_rows]) & set(source[held])
        assert len(held) == 12  # 6 of the 30 cases, each with its copy
    n_searches = len(searches)
    single = fit_probe(F[:4], np.array([0, 1, 1, 1]), seed=0)
    assert len(searches) == n_searches and single[-1].C == 1.0  # nothing to split


def test_vision_features_need_a_vision_backbone(data):
    X, y = data
    with pytest.raises(ValueError, match="features='vision' needs a vision-language"):
        _clf(backbone="tiny-llama", head="linear", features="vision").fit(X, y)


def test_augmentation_shows_fresh_copies_every_epoch(data):
    from vlmtsc.training import SeriesAugmenter

    X, y = data
    plain = _clf(validation_fraction=0, n_epochs=2).fit(X, y)
    augmented = _clf(
        validation_fraction=0, n_epochs=2, augmentation=SeriesAugmenter(n_copies=2)
    ).fit(X, y)
    # Image-only prompts have one length, so tokens count the examples shown.
    for a, p in zip(augmented.history_, plain.history_, strict=True):
        assert a["tokens"] == 3 * p["tokens"]
    assert not np.allclose(augmented.predict_proba(X), plain.predict_proba(X))
    linear = _clf(head="linear", augmentation=SeriesAugmenter(n_copies=1)).fit(X, y)
    assert linear.head_[-1].n_features_in_ == 64
    assert linear.head_[0].n_samples_seen_ == 2 * len(X)


def test_normalization_makes_predictions_scale_free(data):
    X, y = data
    params = dict(backbone="tiny-llama", prompt_mode="baseline")
    clf = _clf(normalization="per_channel", **params).fit(X, y)
    np.testing.assert_allclose(
        clf.predict_proba(10 * X + 3), clf.predict_proba(X), atol=1e-6
    )
    raw = _clf(**params).fit(X, y)
    assert not np.allclose(raw.predict_proba(10 * X + 3), raw.predict_proba(X))


def test_k_fold_epoch_selection(data):
    X, y = data
    clf = _clf(n_epochs=2, validation_folds=3).fit(X, y)
    phases = [h["phase"] for h in clf.history_]
    assert phases[:6] == ["fold 1"] * 2 + ["fold 2"] * 2 + ["fold 3"] * 2
    assert set(phases[6:]) == {"refit"} and len(phases[6:]) == clf.best_epoch_
    curve = np.mean(
        [
            [h["validation_score"] for h in clf.history_ if h["phase"] == f"fold {k}"]
            for k in (1, 2, 3)
        ],
        axis=0,
    )
    assert clf.best_epoch_ == int(np.argmax(curve)) + 1
    with pytest.warns(ValidationWarning, match="by 6-fold instead"):
        clf = _clf(n_epochs=1, validation_folds=7).fit(X, y)  # 6 cases per class
    assert [h["phase"] for h in clf.history_][-2:] == ["fold 6", "refit"]


def test_seed_and_renderer_ensembles_compose_with_sklearn(data):
    from sklearn.base import clone

    from vlmtsc import ensemble_over

    X, y = data
    ensemble = ensemble_over(
        _clf(validation_fraction=0),
        random_state=[0, 1],
        renderer=[
            LinePlotRenderer(image_size=32),
            GramianAngularFieldRenderer(image_size=32),
        ],
    )
    assert len(ensemble.estimators) == 4
    ensemble = clone(ensemble).fit(X, y)
    members = [m.predict_proba(X) for m in ensemble.estimators_]
    np.testing.assert_allclose(ensemble.predict_proba(X), np.mean(members, axis=0))
    assert not np.allclose(members[0], members[1])
    with pytest.raises(ValueError, match="non-empty list"):
        ensemble_over(_clf(), random_state=3)


@pytest.mark.parametrize("backbone", ["tiny-llava", "tiny-composed"])
def test_save_and_load_round_trip(backbone, data, tmp_path):
    from peft import PeftConfig

    X, y = data
    clf = _clf(backbone=backbone, learning_rate=1e-2).fit(X, y)
    folder = clf.save(tmp_path / "clf")
    assert (folder / "estimator.skops").is_file()
    # The adapter is peft's own format, readable without vlmtsc.
    assert PeftConfig.from_pretrained(str(folder / "adapter-0")).r == clf.lora_r
    assert (folder / "adapter-0" / "adapter_model.safetensors").stat().st_size > 0
    # The weights live in the adapter folder, not in the state.
    assert (folder / "estimator.skops").stat().st_size < 0.5 * (
        folder / "adapter-0" / "adapter_model.safetensors"
    ).stat().st_size
    again = VLMTimeSeriesClassifier.load(folder)
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert again.get_params()["learning_rate"] == 1e-2


def test_load_refuses_other_folders(data, tmp_path):
    from vlmtsc.base import BaseTimeSeriesClassifier

    with pytest.raises(FileNotFoundError, match=r"no manifest\.json"):
        VLMTimeSeriesClassifier.load(tmp_path)
    X, y = data
    folder = _clf(head="linear").fit(X, y).save(tmp_path / "linear")
    assert not list(folder.glob("adapter-*"))  # frozen backbone: nothing to save
    assert isinstance(BaseTimeSeriesClassifier.load(folder), VLMTimeSeriesClassifier)

    class Other(BaseTimeSeriesClassifier):
        pass

    with pytest.raises(TypeError, match=r"load it with VLMTimeSeriesClassifier\.load"):
        Other.load(folder)
