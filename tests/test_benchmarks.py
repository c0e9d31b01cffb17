"""The benchmarks under ``benchmarks/``: grid files for the one engine, and the
scripts for what a grid cannot express. The engine itself is tested in
test_experiments.py."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlmtsc.experiments import NAMED_ESTIMATORS, load_grid, read_results

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``benchmarks`` is not installed with vlmtsc
    sys.path.insert(0, str(ROOT))

GRIDS = sorted((ROOT / "benchmarks" / "grids").glob("*.yaml"))
# Runs of each grid: datasets x estimators x seeds.
RUNS = {
    "ablations": 6 * 9,
    "baselines": 5 * 7,
    "crosstimenet": 6 * 7,
    "crosstimenet-default": 11 * 2,
    "instructtime": 11 * 2,
    "mtcs-default": 11 * 2,
    "timellama": 6 * 5 * 3,
    "timellama-default": 11 * 2,
    "probe": 11 * 2,
    "vlm": 3 * 3,
    "vlm-levers-linear": 4 * 6,
    "vlm-levers-lora": 1 * 5,
}


@pytest.mark.parametrize("path", GRIDS, ids=lambda path: path.stem)
def test_every_grid_file_names_published_configurations(path):
    entries = yaml.safe_load(path.read_text())["estimators"]
    assert entries[0] == "minirocket"  # the reference
    assert set(entries) <= set(NAMED_ESTIMATORS)
    grid = load_grid(path)
    assert len(grid.scenarios) == RUNS[path.stem]
    # One thread, except the probe's report (its budget is fit + predict on the
    # machine's two cores, the features issue), the ablations and InstructTime's
    # CrossTimeNet's, MTCS's and Time-LlaMA's defaults (the fine-tuning issue's
    # budget, two cores).
    two = ("probe", "ablations", "instructtime")
    two += ("crosstimenet-default", "timellama-default", "mtcs-default")
    threads = 2 if path.stem in two else 1
    assert (grid.threads, grid.measure) == (
        threads,
        ("memory", "throughput", "environment"),
    )
    command = f"vlmtsc experiment benchmarks/grids/{path.name}"
    assert command in path.read_text()  # the file says how to run it


def test_every_published_command_names_known_configurations():
    """The estimators of every results file keep their names."""
    results = ROOT / "benchmarks" / "results"
    commands = [
        line
        for path in results.glob("*/results.md")
        for line in path.read_text().splitlines()
        if line.startswith("Command: ")
    ]
    assert len(commands) == len(list(results.glob("*/results.md")))
    names = {
        name
        for command in commands
        for name in re.search(r"--estimators (\S+?)`?\s", command + " ")[1].split(",")
    }
    assert names and names <= set(NAMED_ESTIMATORS)


def test_the_docs_run_only_grids_that_exist():
    docs = [ROOT / "README.md", ROOT / "docs" / "benchmarks.md"]
    docs += [ROOT / "benchmarks" / "README.md", *(ROOT / "docs" / "guide").glob("*.md")]
    named = {
        match
        for doc in docs
        for match in re.findall(r"benchmarks/grids/([\w.-]+\.yaml)", doc.read_text())
    }
    assert named == {path.name for path in GRIDS}
    for doc in docs:  # the former runner may be named, not run
        assert not re.search(r"python -m benchmarks\.run\s+--", doc.read_text()), doc


def test_protocol_scores_configurations_on_training_folds(tmp_path, capsys):
    from benchmarks import protocol

    out = tmp_path / "protocol"
    argv = ["--datasets", "UnitTest", "--threads", "1", "--output", str(out)]
    argv += ["--estimators", "sklearn.dummy:DummyClassifier"]
    assert protocol.main(argv) == out
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert [(r["dataset"], r["fold"]) for r in rows] == [
        ("UnitTest", 0),
        ("UnitTest", 1),
    ]
    # UnitTest's training split: 20 series, 2 classes; the held-out halves
    # hold 10 each, and the prior guesses one class.
    assert {r["n_fit"] + r["n_held_out"] for r in rows} == {20}
    summary = (out / "protocol.md").read_text()
    assert "| dataset | sklearn.dummy:DummyClassifier |" in summary
    assert f"| UnitTest | {np.mean([r['accuracy'] for r in rows]):.3f} |" in summary
    with pytest.raises(SystemExit):
        protocol.main([*argv, "--costly", "nope"])
    assert "--costly names no configuration" in capsys.readouterr().err
    # The probe protocol's folds: k = min(5, smallest class), 5 for UnitTest.
    probe = tmp_path / "probe-folds"
    argv[argv.index(str(out))] = str(probe)
    protocol.main([*argv, "--folds", "probe"])
    rows = [
        json.loads(line) for line in (probe / "rows.jsonl").read_text().splitlines()
    ]
    assert [r["fold"] for r in rows] == [0, 1, 2, 3, 4]
    assert sum(r["n_held_out"] for r in rows) == 20
    with pytest.raises(SystemExit):
        protocol.main([*argv, "--folds", "many"])
    assert "--folds takes an integer or 'probe'" in capsys.readouterr().err


def test_protocol_rows_keep_the_validation_curve(tmp_path):
    from benchmarks import protocol

    out = tmp_path / "curves"
    spec = (
        "TimeLlamaClassifier(backbone=tiny-llama,n_layers=1,n_heads=4,"
        "n_epochs=3,verbose=0)"
    )
    argv = ["--datasets", "UnitTest", "--threads", "1", "--output", str(out)]
    protocol.main([*argv, "--estimators", spec, "sklearn.dummy:DummyClassifier"])
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    curves = {r["configuration"]: r["validation_curve"] for r in rows}
    # One score per epoch of the validation run; none for an untrained model.
    assert len(curves[spec]) == 3 and all(-1 < s <= 1 for s in curves[spec])
    assert curves["sklearn.dummy:DummyClassifier"] == []


def test_rendering_benchmark_writes_table(tmp_path, capsys):
    from benchmarks import rendering

    argv = ["--datasets", "UnitTest", "--renderers", "LinePlotRenderer"]
    argv += ["--image-size", "32", "--repeats", "2", "--output-dir", str(tmp_path)]
    assert rendering.main(argv) == 0
    assert "| LinePlotRenderer | UnitTest | 42 |" in capsys.readouterr().out
    (md,) = tmp_path.glob("rendering-*.md")
    (csv_path,) = tmp_path.glob("rendering-*.csv")
    assert "LinePlotRenderer" in md.read_text(encoding="utf-8")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert row["images"] == "42"
    assert float(row["images_per_s"]) == pytest.approx(42 / float(row["seconds"]))
    assert row["meets_target"] in ("True", "False")
    assert len(row["all_seconds"].split()) == 2

    with pytest.raises(SystemExit) as info:
        rendering.main(["--renderers", "NopeRenderer", "--output-dir", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown renderer(s): NopeRenderer" in err
    assert "GramianAngularFieldRenderer" in err


def test_mtcs_benchmark_writes_through_the_engine(tmp_path, capsys):
    from benchmarks import mtcs

    output = tmp_path / "mtcs"
    argv = ["--datasets", "UnitTest,Coffee", "--epochs", "1", "--output", str(output)]
    argv += ["--params", '{"n_blocks": 1, "hidden_size": 8, "representation_size": 8}']
    assert mtcs.main([*argv, "--measure", "memory"]) == 0
    rows = read_results(output)
    methods = ["MTCS", "MTCS + augmentation", "MTL (alpha=0)", "single-task"]
    assert [(r["dataset"], r["estimator"]) for r in rows] == [
        *((d, m) for m in methods[:3] for d in ("UnitTest", "Coffee")),
        *(
            (d, m)
            for d in ("UnitTest", "Coffee")
            for m in ("single-task", "MiniRocket")
        ),
    ]
    assert all(r["status"] == "ok" and 0 <= r["accuracy"] <= 1 for r in rows)
    joint = [r["fit_s"] for r in rows if r["estimator"] == "MTCS"]
    assert joint[0] == joint[1]  # one fit on both datasets
    assert rows[-1]["peak_mib"] is not None  # measured by run_estimator
    report = (output / "report.md").read_text()
    assert "| dataset | MTCS | MTCS + augmentation | MTL (alpha=0) | single-task" in (
        report
    )
    assert "epochs kept on validation of the training data: MTCS 1" in report
    assert (output / "environment.json").exists() and (output / "affinity.png").exists()
    assert "## Accuracy per dataset" in capsys.readouterr().out


def test_deletion_benchmark_writes_curves_and_resumes(tmp_path, capsys):
    import json

    from benchmarks import deletion

    mtcs = (
        "MTCSClassifier(n_blocks=1, hidden_size=8, representation_size=8, n_epochs=2)"
    )
    argv = ["--datasets", "UnitTest", "--estimators", mtcs, "--per-class", "2"]
    argv += ["--threads", "1", "--output", str(tmp_path)]
    assert deletion.main(argv) == tmp_path
    rows = [json.loads(x) for x in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [(r["dataset"], r["method"]) for r in rows] == [
        ("UnitTest", "occlusion"),
        ("UnitTest", "gradient"),
    ]
    for row in rows:
        assert row["n_series"] == 4 and row["fit_s"] > 0
        assert row["fraction"] == list(deletion.FRACTIONS)
        assert len(row["attributed_probability"]) == len(deletion.FRACTIONS)
    table = (tmp_path / "deletion.md").read_text()
    assert table.count("| UnitTest | MTCSClassifier(") == 2
    # Run again: the saved model is loaded, finished rows are not redone.
    (tmp_path / "deletion.md").unlink()
    assert deletion.main(argv) == tmp_path
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 2
    assert deletion.main(["--summarize", str(tmp_path)]) == tmp_path
    assert (tmp_path / "deletion.md").read_text() == table
