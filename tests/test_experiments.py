"""The benchmark engine: grids, named configurations, the launcher (serial and
joblib), measurements, resume after interruption (also SIGKILL/SIGTERM), reports."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from vlmtsc.experiments import (
    MEASURE_COLUMNS,
    NAMED_ESTIMATORS,
    RESULT_COLUMNS,
    EstimatorSpec,
    limit_threads,
    load_grid,
    read_results,
    resolve_estimator,
    run_experiment,
)

ROOT = Path(__file__).resolve().parents[1]

# Every fit of ToyClassifier: (n_cases, n_epochs, seed).
FITS: list = []
# What ToyClassifier saw during each fit: (n_jobs, OPENBLAS_NUM_THREADS).
THREADS_SEEN: list = []
# Set to a number: ToyClassifier raises KeyboardInterrupt once that many fits are
# logged (an interrupted experiment, without changing the scenarios' ids).
INTERRUPT_AFTER: list = [None]


class ToyClassifier(ClassifierMixin, BaseEstimator):
    """Nearest centroid on the raw values: deterministic, milliseconds.

    Has ``renderer``, ``n_epochs`` and ``random_state`` so those axes apply;
    ``fail`` raises in fit; ``tokens`` logs a training history as the language
    models do (``tokens`` per epoch, 2 GFLOP per second of training).
    """

    def __init__(
        self,
        renderer=None,
        n_epochs=1,
        random_state=None,
        shift=0.0,
        fail=False,
        tokens=0,
        n_jobs=None,
    ):
        self.renderer = renderer
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.shift = shift
        self.fail = fail
        self.tokens = tokens
        self.n_jobs = n_jobs

    def fit(self, X, y):
        if self.fail:
            raise ValueError("boom: this configuration cannot fit")
        if INTERRUPT_AFTER[0] is not None and len(FITS) >= INTERRUPT_AFTER[0]:
            raise KeyboardInterrupt
        FITS.append((len(X), self.n_epochs, self.random_state))
        THREADS_SEEN.append((self.n_jobs, os.environ.get("OPENBLAS_NUM_THREADS")))
        if self.tokens:
            self.history_ = [
                {"seconds": 1.0, "tokens": self.tokens, "flops": 2e9},
                {"seconds": 0.5, "tokens": self.tokens, "flops": 1e9},
            ]
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        self.classes_ = np.unique(y)
        # n_epochs and the seed change the centroids a little, deterministically,
        # so different scenarios give different (but reproducible) accuracies.
        rng = np.random.default_rng(self.random_state)
        self.centroids_ = np.stack(
            [X[y == c].mean(axis=0) for c in self.classes_]
        ) + self.shift * self.n_epochs * rng.standard_normal((len(self.classes_), 1))
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        distances = ((X[:, None, :] - self.centroids_[None]) ** 2).sum(axis=-1)
        return self.classes_[distances.argmin(axis=1)]


@pytest.fixture(autouse=True)
def _clear_fits():
    FITS.clear()
    THREADS_SEEN.clear()
    yield
    INTERRUPT_AFTER[0] = None


def toy(name="toy", **params):
    return {"name": name, "estimator": ToyClassifier, "params": params}


def small_grid(**extra):
    return {
        "name": "small",
        "datasets": ["UnitTest", "ItalyPowerDemand"],
        "estimators": ["minirocket", toy(shift=0.5)],
        "n_epochs": [1, 3],
        "seeds": [0, 1],
        **extra,
    }


# --------------------------------------------------------------------- expansion
def test_axes_multiply_only_the_estimators_that_have_the_parameter():
    grid = load_grid(
        {
            "datasets": ["UnitTest"],
            "estimators": [
                "minirocket",
                toy(),
                toy("toy-fixed", n_epochs=5),  # a fixed parameter is not varied
                {
                    "name": "vlm-lm",
                    "estimator": "VLMTimeSeriesClassifier",
                    "params": {"backbone": "tiny-llava", "head": "lm"},
                },
                "VLMTimeSeriesClassifier(backbone=tiny-llava, head=linear)",
            ],
            "renderers": ["lineplot", "gaf(image_size=32)"],
            "prompt_modes": ["image_only", "baseline"],
            "context_budgets": [None, 128],
            "n_epochs": [1, 2],
            "seeds": [0],
        }
    )
    counts = {}
    for scenario in grid.scenarios:
        counts[scenario.estimator.name] = counts.get(scenario.estimator.name, 0) + 1
    assert counts == {
        "minirocket": 1,  # only the seed applies
        "toy": 2 * 2,  # renderers x n_epochs
        "toy-fixed": 2,  # renderers
        # renderers x (image_only + baseline x 2 budgets) x n_epochs
        "vlm-lm": 2 * 3 * 2,
        # a linear probe trains no epochs: renderers x 3 prompt settings
        "VLMTimeSeriesClassifier(backbone=tiny-llava, head=linear)": 2 * 3,
    }
    minirocket = grid.scenarios[0].keys()
    assert minirocket["renderer"] is None and minirocket["n_epochs"] is None
    assert minirocket["seed"] == 0
    budgets = {
        (s.keys()["prompt_mode"], s.keys()["context_budget"])
        for s in grid.scenarios
        if s.estimator.name == "vlm-lm"
    }
    assert budgets == {("image_only", None), ("baseline", None), ("baseline", 128)}
    ids = [s.run_id for s in grid.scenarios]
    assert len(set(ids)) == len(ids)


def test_scenario_builds_the_estimator_with_its_axis_values():
    grid = load_grid(
        {
            "datasets": ["UnitTest"],
            "estimators": ["VLMTimeSeriesClassifier(backbone=tiny-llava, head=lm)"],
            "renderers": ["gaf(image_size=32)"],
            "prompt_modes": ["baseline"],
            "context_budgets": [128],
            "n_epochs": [3],
            "seeds": [7],
        }
    )
    [scenario] = grid.scenarios
    estimator = scenario.build()
    assert type(estimator.renderer).__name__ == "GramianAngularFieldRenderer"
    assert estimator.renderer.image_size == 32
    assert estimator.prompt.context_length == 128
    assert estimator.prompt_mode == "baseline"
    assert (estimator.n_epochs, estimator.random_state) == (3, 7)
    assert estimator.verbose == 0  # the experiment shows its own progress
    assert scenario.label() == (
        "VLMTimeSeriesClassifier(backbone=tiny-llava, head=lm) · gaf(image_size=32) "
        "· baseline · budget 128 · 3 ep"
    )


def test_run_ids_are_stable_and_follow_the_content():
    first = [s.run_id for s in load_grid(small_grid()).scenarios]
    again = [s.run_id for s in load_grid(small_grid()).scenarios]
    assert first == again
    changed = small_grid(estimators=["minirocket", toy(shift=0.25)])
    changed_ids = [s.run_id for s in load_grid(changed).scenarios]
    # MiniRocket's runs keep their ids; the toy's changed parameter gives new ids.
    assert set(first) & set(changed_ids) == {
        s.run_id
        for s in load_grid(small_grid()).scenarios
        if s.estimator.name == "minirocket"
    }


def test_yaml_toml_and_json_files_give_the_same_grid(tmp_path):
    (tmp_path / "g.yaml").write_text(
        "datasets: [UnitTest]\n"
        "estimators:\n"
        "  - minirocket\n"
        "  - name: vlm\n"
        "    estimator: VLMTimeSeriesClassifier\n"
        "    params: {backbone: tiny-llava}\n"
        "prompt_modes: [baseline]\n"
        "context_budgets: [null, 256]\n"
    )
    (tmp_path / "g.toml").write_text(
        'datasets = ["UnitTest"]\n'
        'estimators = ["minirocket", '
        '{name = "vlm", estimator = "VLMTimeSeriesClassifier", '
        'params = {backbone = "tiny-llava"}}]\n'
        'prompt_modes = ["baseline"]\n'
        'context_budgets = ["none", 256]\n'
    )
    (tmp_path / "g.json").write_text(
        json.dumps(
            {
                "datasets": "UnitTest",
                "estimators": [
                    "minirocket",
                    "VLMTimeSeriesClassifier(backbone=tiny-llava)",
                ],
                "prompt_modes": "baseline",
                "context_budgets": [None, 256],
            }
        )
    )
    keys = {
        suffix: [
            (s.estimator.reference_name, s.estimator.params, s.settings)
            for s in load_grid(tmp_path / f"g.{suffix}").scenarios
        ]
        for suffix in ("yaml", "toml", "json")
    }
    assert keys["yaml"] == keys["toml"] == keys["json"]
    assert len(keys["yaml"]) == 3
    assert load_grid(tmp_path / "g.yaml").name == "g"


def test_the_example_grid_loads():
    grid = load_grid(ROOT / "examples" / "grid.yaml")
    names = [s.estimator.name for s in grid.scenarios]
    assert len(names) == 8  # 2 datasets x (MiniRocket + 1-NN + 2 renderers)
    assert names.count("VLM linear probe") == 4
    assert {s.dataset for s in grid.scenarios} == {"GunPoint", "ItalyPowerDemand"}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"renderer": ["gaf"]},
            "Unknown grid key 'renderer'. Did you mean 'renderers'",
        ),
        (
            {"datasets": ["GunPont"]},
            "Unknown dataset 'GunPont'. Did you mean 'GunPoint'",
        ),
        ({"estimators": ["MiniRocket2"]}, "Unknown estimator 'MiniRocket2'"),
        ({"estimators": ["VLMTimeSeriesClasifier"]}, "'VLMTimeSeriesClassifier'"),
        ({"estimators": ["no_such_module:factory"]}, "Cannot import the estimator"),
        ({"estimators": ["MTCSClassifier(n_epoch=2)"]}, "rejected the parameters"),
        ({"estimators": [toy(), toy()]}, "Estimator name 'toy' is used twice"),
        ({"renderers": []}, "Grid axis 'renderers' is empty"),
        ({"renderers": ["gramian"]}, "Unknown renderer 'gramian'"),
        ({"prompt_modes": ["image"]}, "Unknown prompt mode 'image'"),
        ({"context_budgets": [0]}, "'context_budgets' takes token counts"),
        ({"n_epochs": ["two"]}, "'n_epochs' takes positive integers"),
        ({"estimators": [{"estimator": "minirocket", "param": {}}]}, "got keys"),
        ({"estimators": ["vlm-lroa"]}, "Did you mean 'vlm-lora'"),
        (
            {"estimators": [{"estimator": ToyClassifier, "ensemble": [0, 1]}]},
            "maps parameters to the values to vote over",
        ),
        ({"measure": ["speed"]}, "Unknown measurement 'speed'. Valid: memory,"),
        ({"threads": 0}, "'threads' takes a positive integer"),
    ],
)
def test_a_bad_grid_is_a_clear_error(change, message):
    grid = {"datasets": ["UnitTest"], "estimators": [toy()], **change}
    with pytest.raises(ValueError) as info:
        load_grid(grid)
    assert message in str(info.value)


def test_a_grid_without_estimators_names_the_keys():
    with pytest.raises(ValueError, match=r"The grid has no 'estimators'.*'seeds'"):
        load_grid({"datasets": ["UnitTest"]})


def test_unknown_backend_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown backend 'spark'.*loky, .*dask"):
        run_experiment(small_grid(), tmp_path, backend="spark", verbose=0)


# --------------------------------------------------------------------- running
def _by_id(rows):
    return {row["run_id"]: row for row in rows}


def test_serial_and_joblib_runs_give_the_same_table(tmp_path):
    serial = run_experiment(small_grid(), tmp_path / "serial", verbose=0)
    assert len(serial) == 2 * (2 + 2 * 2)  # datasets x (MiniRocket + toy)
    assert all(row["status"] == "ok" for row in serial), serial
    assert len({row["accuracy"] for row in serial}) > 2  # the axes change results

    engines = {"loky": {"backend": "loky", "n_jobs": 2}}
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - dask is in the test extra
        Client = None
    if Client is not None:
        engines["dask"] = {"backend": "dask", "n_jobs": 2}
    for engine, kwargs in engines.items():
        output = tmp_path / engine
        if engine == "dask":
            # An in-process cluster: the same joblib backend as a real one.
            with (
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=False,
                    dashboard_address=None,
                ) as cluster,
                Client(cluster),
            ):
                rows = run_experiment(small_grid(), output, verbose=0, **kwargs)
        else:
            rows = run_experiment(small_grid(), output, verbose=0, **kwargs)
        assert [r["run_id"] for r in rows] == [r["run_id"] for r in serial], engine
        for run_id, row in _by_id(rows).items():
            expected = _by_id(serial)[run_id]
            for column in ("dataset", "estimator", "n_epochs", "seed", "status"):
                assert row[column] == expected[column]
            assert row["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
        on_disk = read_results(output / "results.csv")
        assert [r["accuracy"] for r in on_disk] == pytest.approx(
            [r["accuracy"] for r in serial]
        )


def test_an_interrupted_experiment_resumes_without_refitting(tmp_path):
    grid = {
        "datasets": ["UnitTest", "ItalyPowerDemand"],
        "estimators": [toy()],
        "n_epochs": [1, 2, 3],
    }
    INTERRUPT_AFTER[0] = 3
    with pytest.raises(KeyboardInterrupt):
        run_experiment(grid, tmp_path, warm_up=False, verbose=0)
    runs = sorted((tmp_path / "runs").glob("*.json"))
    assert len(runs) == 3 and len(FITS) == 3  # finished runs were saved at once
    mtimes = {path.name: path.stat().st_mtime_ns for path in runs}

    FITS.clear()
    INTERRUPT_AFTER[0] = None
    grid_ids = [s.run_id for s in load_grid(grid).scenarios]
    assert {path.stem for path in runs} <= set(grid_ids)
    rows = run_experiment(grid, tmp_path, warm_up=False, verbose=0)
    assert len(FITS) == 3  # only the three runs that had not finished
    assert [row["run_id"] for row in rows] == grid_ids
    assert all(row["status"] == "ok" for row in rows)
    for path in runs:
        assert path.stat().st_mtime_ns == mtimes[path.name]  # not written again

    # Losing the table (or one run) costs nothing (or one fit).
    FITS.clear()
    (tmp_path / "results.csv").unlink()
    (tmp_path / "runs" / f"{grid_ids[0]}.json").unlink()
    again = run_experiment(grid, tmp_path, warm_up=False, verbose=0)
    assert len(FITS) == 1
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in rows]


def test_warm_up_fits_once_per_process_on_a_few_cases(tmp_path):
    grid = {"datasets": ["UnitTest"], "estimators": [toy("warm")], "n_epochs": [1, 2]}
    run_experiment(grid, tmp_path, verbose=0)
    sizes = [n for n, _, _ in FITS]
    assert sizes == [4, 20, 20]  # 2 cases x 2 classes, untimed; then the runs


def test_a_failing_run_is_a_row_and_the_grid_goes_on(tmp_path):
    grid = {
        "datasets": ["UnitTest"],
        "estimators": [toy("ok"), toy("broken", fail=True)],
    }
    rows = run_experiment(grid, tmp_path, warm_up=False, verbose=0)
    assert [(r["estimator"], r["status"]) for r in rows] == [
        ("ok", "ok"),
        ("broken", "error"),
    ]
    assert rows[1]["error"] == "ValueError: boom: this configuration cannot fit"
    assert rows[1]["accuracy"] is None
    record = json.loads((tmp_path / "runs" / f"{rows[1]['run_id']}.json").read_text())
    assert "Traceback" in record["traceback"] and "boom" in record["traceback"]
    report = (tmp_path / "report.md").read_text()
    assert "## Failed runs" in report and "boom: this configuration" in report

    FITS.clear()
    run_experiment(grid, tmp_path, warm_up=False, verbose=0)
    assert FITS == []  # an error is a finished run ...
    run_experiment(grid, tmp_path, warm_up=False, retry_errors=True, verbose=0)
    assert FITS == []  # ... retried on request (and the broken toy fails again)
    again = read_results(tmp_path)
    assert again[1]["status"] == "error"


def test_table_and_report_hold_every_run(tmp_path, capsys):
    rows = run_experiment(small_grid(), tmp_path, verbose=1)
    out = capsys.readouterr().out
    assert "small: 12 runs; 0 finished before, 12 to run" in out

    with open(tmp_path / "results.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert tuple(table[0]) == RESULT_COLUMNS
    assert len(table) == 12
    assert {r["estimator_spec"] for r in table} == {
        "minirocket",
        f"{__name__}:ToyClassifier",
    }
    assert {r["renderer"] for r in table} == {""}  # no renderer axis: blank

    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# small\n\n12 runs finished: 12 ok, 0 failed.")
    assert "## Environment" not in report  # not measured by default
    scenario_lines = [
        line
        for line in report.splitlines()
        if line.startswith(("| UnitTest |", "| ItalyPowerDemand |"))
        and line.split(" | ")[1] in ("minirocket", "toy")
    ]
    assert len(scenario_lines) == 12
    reference = {
        d: np.mean([r["accuracy"] for r in rows
                    if r["dataset"] == d and r["estimator"] == "minirocket"])
        for d in ("UnitTest", "ItalyPowerDemand")
    }  # fmt: skip
    for row in rows:
        # ... | accuracy | fit s | predict s | status | acc − MiniRocket | ...
        line = (
            f"| {row['dataset']} | {row['estimator']} |  |  |  | "
            f"{row['n_epochs'] or ''} | {row['seed']} | {row['accuracy']:.3f} |"
        )
        gap = f" | ok | {row['accuracy'] - reference[row['dataset']]:+.3f} | "
        assert any(s.startswith(line) and gap in s for s in scenario_lines), line
    # Accuracy per dataset: mean ± std over the two seeds, one column per
    # configuration, and the mean over the datasets.
    pivot = report.split("## Accuracy per dataset")[1].split("## ")[0]
    assert "| dataset | minirocket | toy · 1 ep | toy · 3 ep |" in pivot
    for dataset in ("UnitTest", "ItalyPowerDemand"):
        cells = []
        for name, epochs in (("minirocket", None), ("toy", 1), ("toy", 3)):
            scores = [r["accuracy"] for r in rows if (r["dataset"], r["estimator"],
                      r["n_epochs"]) == (dataset, name, epochs)]  # fmt: skip
            cells.append(f"{np.mean(scores):.3f} ± {np.std(scores):.3f}")
        assert f"| {dataset} | " + " | ".join(cells) + " |" in pivot
    assert "| **mean** (2 datasets) | **" in pivot
    # Mean per configuration: MiniRocket is its own reference, each toy epoch
    # count is one configuration over 2 datasets x 2 seeds.
    assert "| minirocket |  |  |  |  | 4/4 | 2 |" in report
    assert "+0.000 |" in report.split("| minirocket |")[1].splitlines()[0]
    assert "| toy |  |  |  | 3 | 4/4 | 2 |" in report
    for plot in ("accuracy_per_scenario.png", "accuracy_vs_fit_time.png"):
        assert f"]({plot})" in report
        with Image.open(tmp_path / plot) as image:
            assert image.size[0] > 400 and image.size[1] > 300

    # --report-only: nothing runs, the same table comes back.
    FITS.clear()
    (tmp_path / "report.md").unlink()
    again = run_experiment(small_grid(), tmp_path, run=False, verbose=0)
    assert FITS == [] and again == rows
    assert (tmp_path / "report.md").exists()


def test_report_only_lists_pending_runs(tmp_path):
    rows = run_experiment(small_grid(), tmp_path, run=False, verbose=0)
    assert rows == []
    report = (tmp_path / "report.md").read_text()
    assert "0 runs finished: 0 ok, 0 failed; 12 pending" in report
    assert (tmp_path / "accuracy_vs_fit_time.png").exists()


def test_dask_without_a_client_starts_and_stops_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = {
        "datasets": ["UnitTest"],
        "estimators": ["vlmtsc.experiments:nearest_neighbors"],
    }
    rows = run_experiment(grid, tmp_path, backend="dask", n_jobs=1, verbose=0)
    assert [r["status"] for r in rows] == ["ok"]
    assert rows[0]["accuracy"] == pytest.approx(19 / 22)
    with pytest.raises(ValueError):
        distributed.get_client()  # the cluster of the call is gone


# ------------------------------------------------------------ named configurations
PUBLISHED_NAMES = {
    "minirocket", "hydra", "1nn-dtw", "gaf-logreg", "mtf-logreg", "rp-logreg",
    "windows-logreg", "heatmap-logreg", "lineplot-logreg", "vlm-linear", "vlm-lora",
    "vlm-pooled",
    "smollm2-numbers", "vlm-linear-gaf", "vlm-linear-norm", "vlm-linear-aug",
    "vlm-linear-ens",
    "vlm-lora-aug", "vlm-lora-aug8", "vlm-lora-kfold", "vlm-lora-seeds",
    "instructtime", "instructtime-lm", "instructtime-aug", "instructtime-random",
    "crosstimenet", "crosstimenet-mlp", "crosstimenet-pretrained",
    "crosstimenet-nopretrain",
    "crosstimenet-random", "crosstimenet-mask15", "crosstimenet-mask30",
    "crosstimenet-mask80", "crosstimenet-crossdomain", "crosstimenet-attention",
    "crosstimenet-nolm", "mtcs", "timellama", "timellama-lora", "timellama-frozen",
    "timellama-noalign", "timellama-random", "timellama-attention", "timellama-nolm",
}  # fmt: skip


def test_named_configurations_keep_the_published_names():
    assert set(NAMED_ESTIMATORS) == PUBLISHED_NAMES


def test_named_vlm_configurations_say_their_head():
    # The VLM's default head is the probe; the published fine-tuning runs
    # name theirs, so a change of default cannot change what they measure.
    names = ["vlm-lora", "vlm-lora-aug", "vlm-lora-kfold", "smollm2-numbers"]
    assert {resolve_estimator(n).build().head for n in names} == {"lm"}
    assert resolve_estimator("vlm-pooled").build().head == "pooled"
    assert resolve_estimator("vlm-linear").build().head == "linear"
    # InstructTime likewise: its default is the probe, the paper's runs name "lm".
    lm = ["instructtime-lm", "instructtime-aug", "instructtime-random"]
    assert {resolve_estimator(n).build().head for n in lm} == {"lm"}
    assert resolve_estimator("instructtime").build().head == "linear"
    # CrossTimeNet too: its default is the probe, "crosstimenet-mlp" the seed's.
    mlp = resolve_estimator("crosstimenet-mlp").build()
    assert (mlp.head, mlp.pooling) == ("mlp", "flatten")
    assert resolve_estimator("crosstimenet").build().head == "linear"
    # and a random encoder; "crosstimenet-pretrained" names MiniLM's weights.
    assert resolve_estimator("crosstimenet").build().language_model == "auto"
    pretrained = resolve_estimator("crosstimenet-pretrained").build()
    assert pretrained.language_model == "pretrained"
    for name, spec in NAMED_ESTIMATORS.items():
        assert spec.name == name and spec.description.strip(), name


def test_named_configurations_build_what_they_say():
    from aeon.classification.convolution_based import MiniRocketClassifier

    mini = resolve_estimator("minirocket").build(random_state=7)
    assert isinstance(mini, MiniRocketClassifier) and mini.random_state == 7
    assert type(mini).__name__ == "MiniRocketAnyLength"  # resamples lengths
    knn = resolve_estimator("1nn-dtw").build()
    assert (type(knn).__name__, knn.n_neighbors, knn.distance) == (
        "KNeighborsTimeSeriesClassifier", 1, "dtw",
    )  # fmt: skip
    probe = resolve_estimator("rp-logreg").build()
    render, _, _, logreg = (step for _, step in probe.steps)
    assert (type(render).__name__, render.image_size) == ("RecurrencePlotRenderer", 64)
    assert logreg.max_iter == 1000
    # Grid-file values that stand for objects become objects.
    gaf = resolve_estimator("vlm-linear-gaf").build()
    assert (gaf.backbone, gaf.head, gaf.verbose) == (
        "efficientnet-smollm2",
        "linear",
        0,
    )
    assert type(gaf.renderer).__name__ == "GramianAngularFieldRenderer"
    assert gaf.renderer.image_size == 224
    augmented = resolve_estimator("vlm-linear-aug").build()
    assert type(augmented.augmentation).__name__ == "SeriesAugmenter"
    tokens = resolve_estimator(
        {"estimator": "instructtime", "params": {"tokenizer": {"patch_length": 4}}}
    ).build()
    assert type(tokens.tokenizer).__name__ == "VQTokenizer"
    assert tokens.tokenizer.patch_length == 4
    # An ensemble is a soft vote of quiet members.
    seeds = resolve_estimator("vlm-lora-seeds").build()
    assert (type(seeds).__name__, seeds.voting) == ("VotingClassifier", "soft")
    members = [member for _, member in seeds.estimators]
    assert [(m.random_state, m.head, m.n_epochs, m.verbose) for m in members] == [
        (0, "lm", 4, 0), (1, "lm", 4, 0), (2, "lm", 4, 0),
    ]  # fmt: skip
    both = resolve_estimator("vlm-linear-ens").build()
    assert [type(m.renderer).__name__ for _, m in both.estimators] == [
        "LinePlotRenderer",
        "GramianAngularFieldRenderer",
    ]
    # A spec built in Python may name a configuration as its reference.
    direct = EstimatorSpec("mine", "vlm-lora", {"n_epochs": 8}).build()
    assert (direct.n_epochs, direct.head, direct.learning_rate) == (8, "lm", 1e-3)
    # Pre-training across sets waits for the first fit, so building is cheap.
    cross = resolve_estimator("crosstimenet-crossdomain").build(random_state=3)
    assert (cross.backbone, cross.random_state) == ("minilm-l6", 3)
    assert clone(cross).get_params() == cross.get_params()


def test_minirocket_resamples_unequal_lengths_and_leaves_equal_ones():
    import pickle

    from aeon.classification.convolution_based import MiniRocketClassifier

    from vlmtsc.experiments import minirocket

    rng = np.random.default_rng(0)
    # Two classes told apart by frequency, at lengths 30-60.
    lengths = rng.integers(30, 61, size=40)
    y = np.repeat(["slow", "fast"], 20)
    X = [
        np.sin(np.linspace(0, (2 if label == "slow" else 8) * np.pi, n))[None]
        + 0.1 * rng.normal(size=(1, n))
        for n, label in zip(lengths, y, strict=True)
    ]
    clf = minirocket(random_state=0, n_kernels=512).fit(X, y)
    assert isinstance(clf, MiniRocketClassifier) and clf.length_ == lengths.max()
    longer = [np.sin(np.linspace(0, 8 * np.pi, 90))[None]]  # longer than any
    assert clf.predict(longer).tolist() == ["fast"]
    assert clf.score(X, y) == 1.0 and clf.predict_proba(X).shape == (40, 2)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params()["n_kernels"] == 512
    # Equal lengths pass unchanged: aeon's own classifier, same answers.
    same = np.stack([x[:, :30] for x in X])
    ours = minirocket(random_state=0, n_kernels=512).fit(same, y)
    theirs = MiniRocketClassifier(random_state=0, n_kernels=512).fit(same, y)
    np.testing.assert_array_equal(ours.predict_proba(same), theirs.predict_proba(same))


def test_a_grid_entry_builds_on_a_named_configuration():
    grid = load_grid(
        {
            "datasets": ["UnitTest"],
            "estimators": [
                "vlm-lora(n_epochs=8)",
                {"name": "mine", "estimator": "vlm-lora", "params": {"n_epochs": 8}},
                "timellama-frozen",
            ],
            "n_epochs": [1, 2],
        }
    )
    inline, mapping, *frozen = grid.scenarios
    expected = {**NAMED_ESTIMATORS["vlm-lora"].params, "n_epochs": 8}
    assert inline.estimator.params == mapping.estimator.params == expected
    # The configuration fixes n_epochs, so the axis varies only Time-LlaMA.
    assert inline.keys()["n_epochs"] is None
    assert [s.build().n_epochs for s in frozen] == [1, 2]
    assert {s.build().adapter for s in frozen} == {"none"}


def test_an_entry_fuses_a_list_of_renderers_given_by_name():
    from vlmtsc.renderers import LinePlotRenderer, WindowStackRenderer

    spec = resolve_estimator(
        {
            "estimator": "VLMTimeSeriesClassifier",
            "params": {"renderer": ["lineplot", "windows(window_scale=2)"]},
            "name": "fused",
        }
    )
    line, windows = spec.build().renderer
    assert isinstance(line, LinePlotRenderer)
    assert isinstance(windows, WindowStackRenderer) and windows.window_scale == 2


# ------------------------------------------------------------------ measurements
def test_measurements_add_columns_and_the_environment(tmp_path):
    grid = {
        "name": "measured",
        "datasets": ["UnitTest"],
        "estimators": [toy("plain"), toy("lm", tokens=300)],
        "threads": 1,
        "measure": "all",
    }
    run_experiment(grid, tmp_path, warm_up=False, verbose=0)
    with open(tmp_path / "results.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == RESULT_COLUMNS + MEASURE_COLUMNS
    plain, lm = read_results(tmp_path)
    # The pools and the estimators' n_jobs were capped during each fit.
    assert THREADS_SEEN == [(1, "1"), (1, "1")]
    assert plain["threads"] == lm["threads"] == 1
    assert plain["peak_mib"] >= 0 and lm["peak_mib"] >= 0
    assert plain["train_tokens_per_s"] is None  # logs no training
    assert lm["train_tokens_per_s"] == pytest.approx(600 / 1.5)
    assert lm["matmul_gflops"] > 0
    assert lm["train_flop_fraction"] == pytest.approx(
        3e9 / 1.5 / (lm["matmul_gflops"] * 1e9)
    )
    environment = json.loads((tmp_path / "environment.json").read_text())
    assert (environment["grid"], environment["threads"]) == ("measured", 1)
    for package in ("numpy", "scikit-learn", "torch", "vlmtsc"):
        assert environment["versions"][package], package
    assert environment["cpu_count"] >= 1 and environment["platform"]
    report = (tmp_path / "report.md").read_text()
    assert f"Command: `{environment['command']}`" in report
    assert "| threads | peak MiB | train tok/s | FLOP/s / matmul peak |" in report
    assert f"| {lm['train_flop_fraction']:.0%} |" in report
    # Settings are not part of a run's identity: nothing runs again.
    FITS.clear()
    run_experiment({**grid, "threads": 2}, tmp_path, measure="memory", verbose=0)
    assert FITS == []


def test_limit_threads_caps_and_restores_the_pools():
    import torch
    from threadpoolctl import threadpool_info

    before, variable = torch.get_num_threads(), os.environ.get("OPENBLAS_NUM_THREADS")
    with limit_threads(2):
        assert torch.get_num_threads() == 2
        assert os.environ["OPENBLAS_NUM_THREADS"] == "2"
        assert all(pool["num_threads"] <= 2 for pool in threadpool_info())
    assert torch.get_num_threads() == before
    assert os.environ.get("OPENBLAS_NUM_THREADS") == variable
    with (
        pytest.raises(ValueError, match="threads must be a positive integer"),
        limit_threads(0),
    ):
        pass


# ------------------------------------------------------------------- killed runs
SLOW_TOY = """
import os
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SlowToy(ClassifierMixin, BaseEstimator):
    def __init__(self, n_epochs=1, log=None):
        self.n_epochs = n_epochs
        self.log = log

    def fit(self, X, y):
        if len(X) > 4:  # a timed fit, not the warm-up
            with open(self.log, "a") as fh:
                fh.write(f"{os.getpid()} {self.n_epochs}\\n")
            time.sleep(0.3)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])
"""


@pytest.mark.parametrize("signum", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_a_killed_experiment_loses_no_finished_run_and_resumes(
    tmp_path, monkeypatch, capsys, signum
):
    from vlmtsc.cli import main

    signum = getattr(signal, signum)
    (tmp_path / "slowtoy.py").write_text(SLOW_TOY)
    log = tmp_path / "fits.log"
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "name: slow\ndatasets: [UnitTest]\nestimators:\n  - name: slow\n"
        f"    estimator: slowtoy:SlowToy\n    params: {{log: '{log}'}}\n"
        "n_epochs: [1, 2, 3, 4, 5, 6, 7, 8]\n"
    )
    output = tmp_path / "out"
    command = [sys.executable, "-m", "vlmtsc.cli", "experiment", str(grid)]
    command += ["--output", str(output), "--quiet"]
    path = os.pathsep.join([str(ROOT), str(tmp_path)])
    process = subprocess.Popen(
        command, env={**os.environ, "PYTHONPATH": path}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    runs, deadline = output / "runs", time.monotonic() + 120
    while len(list(runs.glob("*.json"))) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no run finished in time"
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    finished = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    assert 2 <= len(finished) < 8
    for name in finished:
        assert json.loads((runs / name).read_text())["status"] == "ok"
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        (runs / ".leftover.json.99.tmp").write_text("{")  # as a kill mid-write
    else:  # Ctrl-C, SIGTERM: stopped cleanly, nothing half-written
        assert process.returncode == (130 if signum == signal.SIGINT else 143)
        assert "Run the same command again to resume." in err
        assert sorted(p.name for p in output.iterdir()) == ["grid.json", "runs"]
        assert sorted(p.name for p in runs.iterdir()) == sorted(finished)

    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["experiment", str(grid), "--output", str(output)]) == 0
    assert (
        f"slow: 8 runs; {len(finished)} finished before (skipped), "
        f"{8 - len(finished)} to run" in capsys.readouterr().out
    )
    assert [r["status"] for r in read_results(output)] == ["ok"] * 8
    for name, mtime in finished.items():
        assert (runs / name).stat().st_mtime_ns == mtime  # not run again
    done_before = {json.loads((runs / n).read_text())["n_epochs"] for n in finished}
    refitted = {
        int(epochs)
        for pid, epochs in (line.split() for line in log.read_text().splitlines())
        if int(pid) == os.getpid()
    }
    assert refitted == set(range(1, 9)) - done_before
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        f"{s.run_id}.json" for s in load_grid(grid).scenarios
    )  # the leftover temporary file is gone
