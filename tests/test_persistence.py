"""Saving without pickle: round trips, refused folders, interrupted writes."""

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

import vlmtsc
from vlmtsc import persistence
from vlmtsc.testing import TEST_PARAMS, make_example_series

ROOT = Path(__file__).resolve().parents[1]

# Every estimator that holds weights, and the variants whose state differs: a
# fully fine-tuned LM (its weights in a safetensors file instead of a peft
# adapter folder), the linear-probe head (a scikit-learn Pipeline) and the
# LP-FT head (adapters and a Pipeline).
CASES = {
    "CrossTimeNetClassifier": {},
    "InstructTimeClassifier": {},  # the probe
    "InstructTimeClassifier-lm": {"head": "lm"},
    "InstructTimeClassifier-full": {"head": "lm", "fine_tuning": "full"},
    "MTCSClassifier": {},
    "TimeLlamaClassifier": {},
    "VLMTimeSeriesClassifier": {"series_encoder": "auto"},  # the default probe
    "VLMTimeSeriesClassifier-lm": {"head": "lm"},
    "VLMTimeSeriesClassifier-pooled": {"head": "pooled"},
    "VLMFeatureExtractor": {},
}


def _output(estimator, X):
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.transform(X)


def _env():
    """Subprocesses import this checkout's vlmtsc, offline, on one thread."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data():
    return make_example_series(n_cases=12, n_timepoints=24)


@pytest.fixture(scope="module")
def fitted(data):
    import torch

    torch.set_num_threads(1)
    X, y = data
    estimators = {}
    for case, params in CASES.items():
        name = case.split("-")[0]
        estimators[case] = getattr(vlmtsc, name)(**{**TEST_PARAMS[name], **params})
        estimators[case].fit(X, y)
    return estimators


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    folders = {}
    for case, estimator in fitted.items():
        if hasattr(estimator, "save"):
            folders[case] = estimator.save(root / case)
        else:  # VLMFeatureExtractor is a transformer, saved by the module function
            folders[case] = persistence.save(estimator, root / case)
    return folders


@pytest.fixture
def no_pickle(monkeypatch):
    """Make every way of reading a pickle fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was read")

    class Unpickler(pickle.Unpickler):  # still a base class for lazy imports
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", Unpickler)


def _load(case, folder, **kwargs):
    cls = getattr(vlmtsc, case.split("-")[0])
    load = getattr(cls, "load", None) or persistence.load
    return load(folder, **kwargs)


# --- round trips ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_saved_folder_is_data_and_weights_with_checksums(case, saved, fitted):
    folder = saved[case]
    manifest = json.loads((folder / "manifest.json").read_text())
    estimator = fitted[case]
    assert manifest["format"] == "vlmtsc"
    assert manifest["format_version"] == persistence.FORMAT_VERSION
    assert (
        manifest["class"] == f"{type(estimator).__module__}.{type(estimator).__name__}"
    )
    assert {"vlmtsc", "torch", "transformers", "peft", "scikit-learn", "skops"} <= set(
        manifest["versions"]
    )
    files = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    )
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".pt"))]
    # skops' file is a zip of a JSON schema and .npy arrays.
    with zipfile.ZipFile(folder / "estimator.skops") as archive:
        assert {Path(n).suffix for n in archive.namelist()} <= {".json", ".npy"}
    weights = [f for f in files if f.endswith(".safetensors")]
    # A frozen backbone (linear probe, feature extractor) has nothing to save.
    frozen = case in ("VLMTimeSeriesClassifier", "VLMFeatureExtractor")
    assert bool(weights) != frozen


def test_weights_go_where_their_library_reads_them(saved, fitted):
    from peft import PeftConfig
    from safetensors.torch import load_file

    # LoRA: peft's own adapter folder, readable without vlmtsc.
    adapter = saved["VLMTimeSeriesClassifier-lm"] / "adapter-0"
    lora_r = fitted["VLMTimeSeriesClassifier-lm"].lora_r
    assert PeftConfig.from_pretrained(str(adapter)).r == lora_r
    # Networks: one safetensors file each (CrossTimeNet: the tokenizer's and its own).
    folder = saved["CrossTimeNetClassifier"]
    assert sorted(p.name for p in folder.glob("*.safetensors")) == [
        "model-0.safetensors",
        "tokenizer-0.safetensors",
    ]
    weights = load_file(folder / "model-0.safetensors")
    assert any(name.startswith("encoder.") for name in weights)
    # Full fine-tuning: the LM's weights, not an adapter.
    full = saved["InstructTimeClassifier-full"]
    assert not list(full.glob("adapter-*"))
    assert load_file(full / "trained-0.safetensors")


@pytest.mark.parametrize("case", CASES)
def test_load_reads_no_pickle_and_predicts_identically(
    case, saved, fitted, data, no_pickle
):
    X, _ = data
    loaded = _load(case, saved[case])
    assert type(loaded) is type(fitted[case])
    assert repr(loaded) == repr(fitted[case])
    np.testing.assert_array_equal(_output(loaded, X), _output(fitted[case], X))


def test_load_in_a_fresh_process_reads_no_pickle(saved, fitted, data, tmp_path):
    X, _ = data
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import pickle, sys
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from vlmtsc import persistence

        def refuse(*args, **kwargs):
            raise AssertionError("a pickle was read")

        class Unpickler(pickle.Unpickler):  # still a base class for lazy imports
            def __init__(self, *args, **kwargs):
                refuse()

        pickle.load, pickle.loads, pickle.Unpickler = refuse, refuse, Unpickler
        # Any unpickling that could build an object looks classes up here.
        sys.addaudithook(
            lambda event, args: refuse() if event == "pickle.find_class" else None
        )
        X = np.load({str(tmp_path / "X.npy")!r})
        for case, folder in { ({k: str(v) for k, v in saved.items()})!r}.items():
            estimator = persistence.load(folder)
            out = getattr(estimator, "predict_proba", estimator.transform)(X)
            np.save({str(tmp_path)!r} + f"/{{case}}.npy", out)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for case, estimator in fitted.items():
        np.testing.assert_array_equal(
            np.load(tmp_path / f"{case}.npy"), _output(estimator, X)
        )


@pytest.mark.parametrize("case", CASES)
def test_pickle_and_joblib_keep_working(case, fitted, data, tmp_path):
    X, _ = data
    expected = _output(fitted[case], X)
    restored = pickle.loads(pickle.dumps(fitted[case]))
    np.testing.assert_array_equal(_output(restored, X), expected)
    if case == "MTCSClassifier":
        joblib.dump(fitted[case], tmp_path / "clf.joblib")
        restored = joblib.load(tmp_path / "clf.joblib")
        np.testing.assert_array_equal(_output(restored, X), expected)


def test_a_new_save_replaces_the_old_folder(fitted, saved, data, tmp_path):
    X, _ = data
    folder = shutil.copytree(saved["VLMTimeSeriesClassifier-lm"], tmp_path / "clf")
    assert (folder / "adapter-0").is_dir()
    fitted["VLMTimeSeriesClassifier"].save(folder)
    assert not (folder / "adapter-0").exists()  # nothing of the old save is left
    loaded = vlmtsc.VLMTimeSeriesClassifier.load(folder)
    assert loaded.head == "linear"
    np.testing.assert_array_equal(
        loaded.predict_proba(X),
        fitted["VLMTimeSeriesClassifier"].predict_proba(X),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf"]


def test_save_leaves_folders_it_did_not_write_alone(fitted, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="vlmtsc did not write"):
        fitted["MTCSClassifier"].save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="is not a folder"):
        fitted["MTCSClassifier"].save(tmp_path / "file")


def test_save_names_values_that_need_pickle(tmp_path):
    import torch

    with pytest.raises(TypeError, match="store_tensors"):
        persistence.save({"weights": torch.zeros(2)}, tmp_path / "a")
    with pytest.raises(TypeError, match=r"tuple.*cannot be saved without pickle"):
        persistence.save({(1, 2): "tuple keys"}, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary folder


# --- refused folders -----------------------------------------------------------


def _edit_manifest(folder, **changes):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _flip_a_byte(folder):
    file = next(folder.glob("*.safetensors"))
    content = bytearray(file.read_bytes())
    content[-1] ^= 1
    file.write_bytes(bytes(content))


def _remove_weights(folder):
    next(folder.glob("*.safetensors")).unlink()


BAD_FOLDERS = {
    "missing": (lambda f: shutil.rmtree(f), FileNotFoundError, "is not a folder"),
    "foreign": (
        lambda f: [p.unlink() for p in f.iterdir()],
        FileNotFoundError,
        "holds no manifest.json",
    ),
    "not json": (
        lambda f: (f / "manifest.json").write_text("{"),
        ValueError,
        "not valid JSON",
    ),
    "other format": (
        lambda f: _edit_manifest(f, format="other"),
        ValueError,
        "not a vlmtsc manifest",
    ),
    "newer format": (
        lambda f: _edit_manifest(f, format_version=persistence.FORMAT_VERSION + 1),
        ValueError,
        "upgrade vlmtsc",
    ),
    "artifact": (
        lambda f: _edit_manifest(f, kind="artifact"),
        ValueError,
        "not a saved estimator",
    ),
    "changed file": (_flip_a_byte, ValueError, "does not match the sha256"),
    "missing file": (_remove_weights, FileNotFoundError, "incomplete"),
}


@pytest.mark.parametrize("problem", BAD_FOLDERS)
def test_bad_folders_are_refused_with_the_reason(problem, saved, tmp_path):
    spoil, error, message = BAD_FOLDERS[problem]
    folder = shutil.copytree(saved["MTCSClassifier"], tmp_path / "clf")
    spoil(folder)
    with pytest.raises(error, match=message):
        vlmtsc.MTCSClassifier.load(folder)


def test_load_refuses_another_class(saved):
    with pytest.raises(TypeError, match=r"load it with MTCSClassifier\.load"):
        vlmtsc.TimeLlamaClassifier.load(saved["MTCSClassifier"])


def test_other_library_versions_warn(saved, data, tmp_path):
    X, _ = data
    folder = shutil.copytree(saved["MTCSClassifier"], tmp_path / "clf")
    manifest = json.loads((folder / "manifest.json").read_text())
    _edit_manifest(folder, versions={**manifest["versions"], "torch": "1.0.0"})
    with pytest.warns(persistence.VersionMismatchWarning, match=r"torch 1\.0\.0"):
        loaded = vlmtsc.MTCSClassifier.load(folder)
    assert loaded.predict(X).shape == (len(X),)
    # Another build of the same release (saved on a GPU machine) is no mismatch.
    torch = manifest["versions"]["torch"].split("+")[0] + "+cu121"
    _edit_manifest(folder, versions={**manifest["versions"], "torch": torch})
    with warnings.catch_warnings():
        warnings.simplefilter("error", persistence.VersionMismatchWarning)
        vlmtsc.MTCSClassifier.load(folder)


def test_a_state_cannot_reach_outside_its_folder(tmp_path):
    ref = persistence.SavedTensors
    with persistence.saving_to(tmp_path, loading=True, files=["model-0.safetensors"]):
        with pytest.raises(ValueError, match="not a file inside the saved folder"):
            persistence.restore_tensors(ref("../model-0.safetensors"))
        with pytest.raises(ValueError, match="does not list"):
            persistence.restore_tensors(ref("other-0.safetensors"))
        with pytest.raises(ValueError, match="not a file inside"):
            persistence.load_directory("/etc")
    with pytest.raises(RuntimeError, match=r"not with pickle"):
        persistence.restore_tensors(ref("model-0.safetensors"))


def test_old_pickled_folders_need_an_explicit_opt_in(fitted, data, tmp_path):
    X, _ = data
    clf = fitted["VLMTimeSeriesClassifier"]
    # The layout vlmtsc wrote before manifests: estimator.pkl and adapter-N/.
    tmp_path.joinpath("old").mkdir()
    with persistence.saving_to(tmp_path / "old"):
        (tmp_path / "old" / "estimator.pkl").write_bytes(pickle.dumps(clf))
    with pytest.raises(ValueError, match=r"allow_pickle=True.*save it again"):
        vlmtsc.VLMTimeSeriesClassifier.load(tmp_path / "old")
    loaded = vlmtsc.VLMTimeSeriesClassifier.load(tmp_path / "old", allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    loaded.save(tmp_path / "old")  # converts it, in place
    assert not (tmp_path / "old" / "estimator.pkl").exists()
    assert (tmp_path / "old" / "manifest.json").is_file()


# --- interrupted writes --------------------------------------------------------

_WRITE_THEN_WAIT = """
import sys, time
from pathlib import Path
from vlmtsc.persistence import write_folder

def write(folder):
    (folder / "weights.bin").write_bytes(bytes(1000))
    Path(sys.argv[2]).touch()
    time.sleep(600)

write_folder(sys.argv[1], write)
"""


def _interrupt_when_ready(args, ready, signum, script):
    process = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the writer never got going: {process.stderr.read()[-3000:]}")
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_folder_write_leaves_nothing(signum, tmp_path):
    parent = tmp_path / "out"
    parent.mkdir()
    returncode, stderr = _interrupt_when_ready(
        [parent / "model", tmp_path / "ready"],
        tmp_path / "ready",
        signum,
        _WRITE_THEN_WAIT,
    )
    # The process still ends by the signal, after removing the partial folder.
    assert returncode == -signum, stderr[-3000:]
    assert list(parent.iterdir()) == []


def test_sigterm_during_a_save_keeps_the_previous_save(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        import numpy as np
        import safetensors.torch
        import torch
        torch.set_num_threads(1)
        from vlmtsc import MTCSClassifier
        from vlmtsc.testing import TEST_PARAMS, make_example_series

        folder, ready = Path(sys.argv[1]), Path(sys.argv[2])
        X, y = make_example_series(n_cases=12, n_timepoints=24)
        clf = MTCSClassifier(**TEST_PARAMS["MTCSClassifier"]).fit(X, y)
        clf.save(folder)
        np.save(ready.parent / "expected.npy", clf.predict_proba(X))
        save_file = safetensors.torch.save_file

        def slow_save_file(*args, **kwargs):  # a big model, deterministically
            save_file(*args, **kwargs)
            ready.touch()
            time.sleep(600)

        safetensors.torch.save_file = slow_save_file
        clf.set_params(random_state=1).fit(X, y).save(folder)
        """
    )
    parent = tmp_path / "out"
    parent.mkdir()
    returncode, stderr = _interrupt_when_ready(
        [parent / "clf", tmp_path / "ready"], tmp_path / "ready", signal.SIGTERM, script
    )
    assert returncode == -signal.SIGTERM, stderr[-3000:]
    assert [p.name for p in parent.iterdir()] == ["clf"]  # no temporary sibling
    loaded = vlmtsc.MTCSClassifier.load(parent / "clf")  # checksums still match
    X, _ = make_example_series(n_cases=12, n_timepoints=24)
    np.testing.assert_array_equal(
        loaded.predict_proba(X), np.load(tmp_path / "expected.npy")
    )


def test_ctrl_c_during_a_write_leaves_nothing(tmp_path):
    def write(folder):
        (folder / "weights.bin").write_bytes(bytes(10))
        signal.raise_signal(signal.SIGINT)
        raise AssertionError("not reached")  # pragma: no cover

    with pytest.raises(KeyboardInterrupt):
        persistence.write_folder(tmp_path / "model", write)
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_runs_the_applications_own_handler_after_cleanup(tmp_path):
    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop

    def write(folder):
        (folder / "weights.bin").write_bytes(bytes(10))
        signal.raise_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(Stop):
            persistence.write_folder(tmp_path / "model", write)
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_moving_into_place_waits_until_done(tmp_path):
    moved = []
    real_rename = os.rename

    def rename(source, target):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while renaming
        real_rename(source, target)
        moved.append(target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "rename", rename)
        with pytest.raises(KeyboardInterrupt):
            persistence.write_folder(tmp_path / "model", lambda f: None)
    # The write completed (manifest and all), and then Ctrl-C was delivered.
    assert moved and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_pretrain_artifacts_are_written_atomically(data, tmp_path, monkeypatch):
    X, y = data
    clf = vlmtsc.CrossTimeNetClassifier(**TEST_PARAMS["CrossTimeNetClassifier"])
    folder = clf.pretrain({"a": (X, y)}, tmp_path / "artifact")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "artifact"
    assert "vlmtsc_crosstimenet.json" in manifest["files"]
    before = sorted(p.name for p in folder.iterdir())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        clf.pretrain({"a": (X, y)}, tmp_path / "artifact")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_pretrained_encoder_config_with_a_torch_dtype_saves(fitted, tmp_path):
    # Pretrained weights (minilm-l6) load with config.dtype = torch.float32,
    # which tiny random encoders lack; it must not force pickle.
    import torch

    clf = fitted["CrossTimeNetClassifier"]
    X = make_example_series(n_cases=4, n_timepoints=24)[0]
    clf.model_.encoder.config.dtype = torch.float32
    restored = type(clf).load(clf.save(tmp_path / "ctn"))
    assert restored.model_.encoder.config.dtype == torch.float32
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
