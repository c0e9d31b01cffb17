"""Tests of the benchmark harness (``benchmarks/``): registry, runner, rendering."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # ``benchmarks`` is not installed with vlmtsc
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import estimators as registry  # noqa: E402
from benchmarks import run as bench_run  # noqa: E402

BASELINES = ("minirocket", "hydra", "1nn-dtw")
PROBES = {
    "gaf-logreg": "GramianAngularFieldRenderer",
    "mtf-logreg": "MarkovTransitionFieldRenderer",
    "rp-logreg": "RecurrencePlotRenderer",
    "lineplot-logreg": "LinePlotRenderer",
}


# --------------------------------------------------------------------- factories
class _FailingClassifier(ClassifierMixin, BaseEstimator):
    """Classifier whose fit always raises (multi-line message)."""

    def fit(self, X, y):
        raise RuntimeError("boom in fit\nsecond line must not reach the note")

    def predict(self, X):  # pragma: no cover - never fitted
        raise AssertionError("unreachable")


def failing_fit_factory(random_state=None):
    """Factory whose estimator raises in fit."""
    return _FailingClassifier()


def failing_factory(random_state=None):
    """Factory that raises before building anything."""
    raise ValueError("cannot build")


def _ref(name: str) -> str:
    """``module:callable`` reference to a factory of this test module."""
    return f"{__name__}:{name}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------- registry
def test_registry_has_the_documented_names():
    names = set(registry.list_estimators())
    assert set(BASELINES) | set(PROBES) <= names
    for name in names:
        assert registry.REGISTRY[name].description.strip()


def test_registry_builds_baselines():
    mini = registry.build_estimator("minirocket", random_state=7)
    assert type(mini).__name__ == "MiniRocketClassifier"
    assert mini.random_state == 7
    hydra = registry.build_estimator("hydra", random_state=7)
    assert type(hydra).__name__ == "MultiRocketHydraClassifier"
    assert hydra.random_state == 7
    knn = registry.build_estimator("1nn-dtw", random_state=7)
    assert type(knn).__name__ == "KNeighborsTimeSeriesClassifier"
    assert knn.n_neighbors == 1
    assert knn.distance == "dtw"
    # Every call builds a new estimator.
    assert registry.build_estimator("minirocket") is not mini


@pytest.mark.parametrize("name", sorted(PROBES))
def test_registry_builds_renderer_probes(name):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    pipe = registry.build_estimator(name, random_state=3)
    steps = [step for _, step in pipe.steps]
    assert type(steps[0]).__name__ == PROBES[name]
    assert steps[0].image_size == 64
    assert isinstance(steps[1], FunctionTransformer)
    assert steps[1].func is registry.flatten_images
    assert isinstance(steps[2], StandardScaler)
    assert isinstance(steps[3], LogisticRegression)
    assert steps[3].max_iter == 1000
    assert steps[3].random_state == 3
    clone(pipe)  # a proper scikit-learn estimator


def test_flatten_images_scales_to_unit_interval():
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    images[0, 0, 0, 0] = 255
    images[1, 3, 3, 2] = 51
    flat = registry.flatten_images(images)
    assert flat.shape == (2, 48)
    assert flat.dtype.kind == "f"
    assert flat[0, 0] == 1.0
    assert flat[1, -1] == pytest.approx(0.2)
    assert flat.min() == 0.0


def test_get_spec_resolves_module_callable():
    spec = registry.get_spec(_ref("failing_fit_factory"))
    assert spec.name == _ref("failing_fit_factory")
    assert spec.description == "Factory whose estimator raises in fit."
    assert isinstance(spec.build(0), _FailingClassifier)


def test_get_spec_errors_name_the_valid_choices():
    with pytest.raises(KeyError, match="minirocket") as info:
        registry.get_spec("no-such-estimator")
    assert "gaf-logreg" in str(info.value)
    with pytest.raises(ValueError, match="Cannot import"):
        registry.get_spec("no_such_module_xyz:factory")
    with pytest.raises(ValueError, match="Cannot import"):
        registry.get_spec(f"{__name__}:no_such_callable")


def test_register_rejects_duplicates_and_reserved_characters():
    with pytest.raises(ValueError, match="already registered"):
        registry.register("minirocket", failing_factory, "dup")
    for bad in ("a:b", "a,b", ""):
        with pytest.raises(ValueError, match="Invalid estimator name"):
            registry.register(bad, failing_factory, "bad")
    assert registry.REGISTRY["minirocket"].factory is not failing_factory


def test_lazy_factory_passes_random_state_only_when_accepted():
    make_lr = registry.lazy_factory("sklearn.linear_model:LogisticRegression", C=0.5)
    lr = make_lr(11)
    assert lr.C == 0.5
    assert lr.random_state == 11
    fixed = registry.lazy_factory(
        "sklearn.linear_model:LogisticRegression", random_state=5
    )
    assert fixed(11).random_state == 5
    knn = registry.lazy_factory("sklearn.neighbors:KNeighborsClassifier")(11)
    assert "random_state" not in knn.get_params()


# --------------------------------------------------------------------- helpers
def test_peak_rss_sampler_sees_a_large_allocation():
    if bench_run.current_rss_bytes() is None:
        pytest.skip("/proc/self/statm not available")
    with bench_run.PeakRSSSampler() as sampler:
        block = np.ones(96 * 2**20 // 8)  # 96 MiB, every page touched
        time.sleep(0.05)
        del block
    assert sampler.peak_mib is not None
    assert sampler.peak_mib >= 64
    with bench_run.PeakRSSSampler() as idle:
        time.sleep(0.02)
    assert idle.peak_mib < 16


def test_mean_accuracy_line_uses_only_datasets_every_estimator_scored():
    rows = [
        {"dataset": "A", "estimator": "x", "accuracy": 0.5},
        {"dataset": "A", "estimator": "y", "accuracy": 1.0},
        {"dataset": "B", "estimator": "x", "accuracy": 0.9},
        {"dataset": "B", "estimator": "y", "accuracy": None},
    ]
    line = bench_run.mean_accuracy_line(rows, ["x", "y"])
    assert "1 dataset(s)" in line
    assert "(A)" in line
    assert "x 0.500" in line
    assert "y 1.000" in line
    rows[1]["accuracy"] = None
    assert "no dataset" in bench_run.mean_accuracy_line(rows, ["x", "y"])


# --------------------------------------------------------------------- main()
@pytest.fixture(scope="module")
def unit_test_run(tmp_path_factory):
    """One benchmark run on UnitTest, shared by the assertions below."""
    out = tmp_path_factory.mktemp("bench") / "run"
    argv = [
        "--datasets",
        "UnitTest",
        "--estimators",
        "minirocket,gaf-logreg",
        "--output",
        str(out),
        "--threads",
        "1",
    ]
    status = bench_run.main(argv)
    return status, out


def test_main_writes_the_three_files(unit_test_run):
    status, out = unit_test_run
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "environment.json",
        "results.csv",
        "results.md",
    ]


def test_main_csv_has_one_row_per_pair_with_valid_scores(unit_test_run):
    _, out = unit_test_run
    rows = _read_csv(out / "results.csv")
    assert [(r["dataset"], r["estimator"]) for r in rows] == [
        ("UnitTest", "minirocket"),
        ("UnitTest", "gaf-logreg"),
    ]
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0
        assert float(r["fit_s"]) > 0
        assert float(r["predict_s"]) > 0
        assert float(r["peak_mib"]) >= 0
        assert r["note"] == ""
        assert (r["n_train"], r["n_test"], r["n_timepoints"]) == ("20", "22", "24")
    mini = rows[0]
    assert float(mini["acc_minus_minirocket"]) == 0.0
    assert float(mini["fit_time_ratio_minirocket"]) == 1.0
    probe = rows[1]
    assert float(probe["acc_minus_minirocket"]) == pytest.approx(
        float(probe["accuracy"]) - float(mini["accuracy"])
    )
    assert float(probe["fit_time_ratio_minirocket"]) == pytest.approx(
        float(probe["fit_s"]) / float(mini["fit_s"])
    )


def test_main_markdown_and_environment(unit_test_run):
    _, out = unit_test_run
    md = (out / "results.md").read_text(encoding="utf-8")
    mini_line = next(line for line in md.splitlines() if "| minirocket |" in line)
    cells = [c.strip() for c in mini_line.strip("|").split("|")]
    assert cells[0] == "UnitTest"
    assert cells[6:8] == ["", ""]  # no training history: no throughput
    assert cells[8] == "+0.000"
    assert cells[9] == "1.0x"
    assert "Mean accuracy over the 1 dataset(s)" in md
    env = json.loads((out / "environment.json").read_text(encoding="utf-8"))
    for key in ("python", "numpy", "sklearn", "aeon", "torch", "cpu_count"):
        assert env[key], key
    assert env["matmul_gflops"] > 0
    assert f"bf16): {env['matmul_gflops']} GFLOP/s" in md
    assert env["threads"] == 1
    assert "--estimators minirocket,gaf-logreg" in env["command"]
    assert env["platform"]


def test_failing_estimators_give_a_note_and_the_run_goes_on(tmp_path, capsys):
    status = bench_run.main(
        [
            "--datasets",
            "UnitTest",
            "--estimators",
            f"{_ref('failing_fit_factory')},{_ref('failing_factory')}",
            "--output",
            str(tmp_path),
            "--threads",
            "1",
            "--no-warmup",
        ]
    )
    assert status == 0
    rows = {r["estimator"]: r for r in _read_csv(tmp_path / "results.csv")}
    # MiniRocket is added as the reference when missing, and still scores.
    assert next(iter(rows)) == "minirocket"
    assert 0.0 <= float(rows["minirocket"]["accuracy"]) <= 1.0
    fit_fail = rows[_ref("failing_fit_factory")]
    assert fit_fail["accuracy"] == ""
    assert fit_fail["acc_minus_minirocket"] == ""
    assert fit_fail["note"] == "RuntimeError: boom in fit"
    build_fail = rows[_ref("failing_factory")]
    assert build_fail["accuracy"] == ""
    assert build_fail["note"] == "ValueError: cannot build"
    stdout = capsys.readouterr().out
    assert "RuntimeError: boom in fit" in stdout
    assert "no dataset on which every estimator has a score" in stdout


def test_unknown_estimator_is_an_argparse_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        bench_run.main(["--estimators", "minirocket,nope", "--output", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown estimator 'nope'" in err
    for name in ("1nn-dtw", "gaf-logreg", "hydra", "minirocket"):
        assert name in err
    assert not list(tmp_path.iterdir())


def test_unknown_dataset_is_an_argparse_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        bench_run.main(["--datasets", "GunPoint,NoSuchSet", "--output", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown dataset(s): NoSuchSet" in err
    for name in ("GunPoint", "UnitTest", "BasicMotions"):
        assert name in err


def test_unimportable_factory_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        bench_run.main(["--estimators", "no_such_module_xyz:make"])
    assert info.value.code == 2
    assert "Cannot import factory" in capsys.readouterr().err


def test_threads_are_restored_after_the_run():
    import torch

    before = torch.get_num_threads()
    env_before = os.environ.get("OMP_NUM_THREADS")
    with bench_run.limit_threads(1):
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    assert torch.get_num_threads() == before
    assert os.environ.get("OMP_NUM_THREADS") == env_before


# --------------------------------------------------------------------- rendering
def test_rendering_benchmark_writes_table(tmp_path):
    """Run in a subprocess: the module pins thread env vars at import."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.rendering",
            "--datasets",
            "UnitTest",
            "--renderers",
            "LinePlotRenderer",
            "--image-size",
            "32",
            "--repeats",
            "2",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| LinePlotRenderer | UnitTest | 42 |" in proc.stdout
    (md,) = tmp_path.glob("rendering-*.md")
    (csv_path,) = tmp_path.glob("rendering-*.csv")
    assert "LinePlotRenderer" in md.read_text(encoding="utf-8")
    (row,) = _read_csv(csv_path)
    assert row["images"] == "42"
    assert float(row["images_per_s"]) == pytest.approx(42 / float(row["seconds"]))
    assert row["meets_target"] in ("True", "False")
    assert len(row["all_seconds"].split()) == 2


def test_rendering_rejects_unknown_renderer(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.rendering",
            "--renderers",
            "NopeRenderer",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown renderer(s): NopeRenderer" in proc.stderr
    assert "GramianAngularFieldRenderer" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_training_throughput_from_history():
    from types import SimpleNamespace

    fitted = SimpleNamespace(
        history_=[
            {"seconds": 2.0, "tokens": 300, "flops": 4e9},
            {"seconds": 1.0, "tokens": 150, "flops": 2e9},
        ]
    )
    row = bench_run.training_throughput(fitted, matmul_flops=10e9)
    assert row["train_tokens_per_s"] == pytest.approx(150.0)
    assert row["train_flop_fraction"] == pytest.approx(0.2)  # 2 GFLOP/s of 10
    assert bench_run.training_throughput(object(), 1e9) == {
        "train_tokens_per_s": None,
        "train_flop_fraction": None,
    }
