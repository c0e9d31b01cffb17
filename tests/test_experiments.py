"""Scenario grids, the experiment launcher (serial and joblib), resume, reports."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin

from vlmtsc.experiments import (
    RESULT_COLUMNS,
    load_grid,
    read_results,
    run_experiment,
)

ROOT = Path(__file__).resolve().parents[1]

# Every fit of ToyClassifier: (n_cases, n_epochs, seed).
FITS: list = []
# Set to a number: ToyClassifier raises KeyboardInterrupt once that many fits are
# logged (an interrupted experiment, without changing the scenarios' ids).
INTERRUPT_AFTER: list = [None]


class ToyClassifier(ClassifierMixin, BaseEstimator):
    """Nearest centroid on the raw values: deterministic, milliseconds.

    Has ``renderer``, ``n_epochs`` and ``random_state`` so those axes apply;
    ``fail`` raises in fit.
    """

    def __init__(
        self,
        renderer=None,
        n_epochs=1,
        random_state=None,
        shift=0.0,
        fail=False,
    ):
        self.renderer = renderer
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.shift = shift
        self.fail = fail

    def fit(self, X, y):
        if self.fail:
            raise ValueError("boom: this configuration cannot fit")
        if INTERRUPT_AFTER[0] is not None and len(FITS) >= INTERRUPT_AFTER[0]:
            raise KeyboardInterrupt
        FITS.append((len(X), self.n_epochs, self.random_state))
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
                    "params": {"backbone": "tiny-llava"},
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
            "estimators": ["VLMTimeSeriesClassifier(backbone=tiny-llava)"],
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
        "VLMTimeSeriesClassifier(backbone=tiny-llava) · gaf(image_size=32) "
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
    scenario_lines = [
        line
        for line in report.splitlines()
        if line.startswith(("| UnitTest |", "| ItalyPowerDemand |"))
    ]
    assert len(scenario_lines) == 12
    for row in rows:
        line = (
            f"| {row['dataset']} | {row['estimator']} |  |  |  | "
            f"{row['n_epochs'] or ''} | {row['seed']} | {row['accuracy']:.3f} |"
        )
        assert any(scenario.startswith(line) for scenario in scenario_lines), line
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
