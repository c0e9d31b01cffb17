"""The README's quick start stays true: CI runs exactly its test command, and the
oldest releases CI tests are the floors pyproject.toml declares."""

import itertools
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, where pytest depends on tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_is_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("vlmtsc demo")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quick_start_commands()[1] in ci


def _declared_floors():
    """{name: floor} of every direct dependency in pyproject.toml, extras included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    floors = {}
    for line in itertools.chain(project["dependencies"], *extras):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name == "vlmtsc":  # one extra naming others
            continue
        lower = [s.version for s in requirement.specifier if s.operator in (">=", "==")]
        assert len(lower) == 1, f"{line!r} in pyproject.toml needs one floor (>= or ==)"
        floors[name] = Version(lower[0])
    return floors


def _lowest_pins():
    """{name: version} pinned by .ci/constraints-lowest.txt."""
    pins = {}
    text = (ROOT / ".ci" / "constraints-lowest.txt").read_text()
    lines = (raw.split("#", 1)[0].strip() for raw in text.splitlines())
    for line in filter(None, lines):
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line!r} in constraints-lowest.txt must pin =="
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def test_lowest_constraints_pin_every_declared_floor():
    """The lowest CI job tests exactly the floors users are promised."""
    floors = _declared_floors()
    assert {"transformers", "torch", "peft", "aeon", "pytest", "mkdocstrings"} <= set(
        floors
    )
    assert _lowest_pins() == floors


def test_ci_runs_the_suite_at_the_floors():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    lowest = 'pip install -c .ci/constraints-lowest.txt -e ".[test,docs]"'
    assert f"{lowest} && python -m pytest" in ci


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """The Usage section's code blocks run as written, in order (tiny backbones)."""
    import torch

    torch.set_num_threads(1)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "gunpoint-gaf.png").is_file()
    assert (tmp_path / "gunpoint-clf" / "manifest.json").is_file()
    assert len(namespace["ensemble"].estimators) == 4
