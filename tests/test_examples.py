"""Every script in examples/ runs in tiny mode and prints what it promises.

Each script runs as its own process, as a user would run it, with
``VLMTSC_EXAMPLES_TINY=1`` (tiny random backbones, small settings; see
examples/README.md) and the model hub switched off.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ACCURACY = r"test accuracy (?P<accuracy>[01]\.\d{3})"

# script -> regular expressions its output must match (each on some line).
EXPECTED = {
    "quickstart_vlm.py": [
        rf"^head='linear': {ACCURACY} \(tiny-llava\)$",
        rf"^head='lm': {ACCURACY} \(tiny-llava\)$",
    ],
    "grid_search_renderers.py": [
        r"^GramianAngularFieldRenderer\s+difference\s+cv [01]\.\d{3}$",
        rf"^best: \w+Renderer\(.*\); {ACCURACY}$",
    ],
    "instructtime_tokens.py": [
        r"^tokens: 19 per series, \d+ distinct codes in the test set$",
        r"^Signal: <BET>(<ts:signal:\d+>){19}<EET>$",
        rf"^{ACCURACY} \(tiny-gpt2\)$",
    ],
    "crosstimenet_pretrain.py": [
        r"^pre-trained on GunPoint, ArrowHead, ItalyPowerDemand \(mask ratio 0.5\)$",
        rf"^pre-trained, fine-tuned: {ACCURACY}$",
        rf"^GunPoint only: +{ACCURACY}$",
    ],
    "mtcs_multitask.py": [
        rf"^{name} +{ACCURACY}$"
        for name in ("GunPoint", "ItalyPowerDemand", "ArrowHead", "UnitTest")
    ]
    + [r"^most related tasks: \w+ and \w+ \(\d\.\d{4} nats\)$"],
    "timellama_dlora.py": [
        r"^BasicMotions: 6 channels x 10 patches of 10 points -> 60 tokens$",
        *(
            rf"^adapter='{adapter}': {ACCURACY}, \d+ trained parameters"
            for adapter in ("dlora", "lora", "none")
        ),
    ],
}


def test_every_example_has_expectations():
    scripts = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert scripts == sorted(EXPECTED), (
        "every examples/*.py needs an entry in EXPECTED (and every entry a script)"
    )


# Tiny mode comes from the variable, except for one script that shows the flag
# and the backbone override (GPT-2 instead of the default Llama family).
ARGUMENTS = {"instructtime_tokens.py": ["--tiny", "--backbone", "tiny-gpt2"]}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_in_tiny_mode(script, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VLMTSC_EXAMPLES_TINY"}
    env.update(
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
        VLMTSC_CACHE=os.environ.get("VLMTSC_CACHE", str(tmp_path / "cache")),
    )
    if script not in ARGUMENTS:
        env["VLMTSC_EXAMPLES_TINY"] = "1"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *ARGUMENTS.get(script, [])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for pattern in EXPECTED[script]:
        matches = [m for m in map(re.compile(pattern).search, lines) if m]
        assert matches, f"no line matches {pattern!r} in:\n{result.stdout}"
        for match in matches:
            if "accuracy" in match.groupdict():
                assert 0.0 <= float(match["accuracy"]) <= 1.0
