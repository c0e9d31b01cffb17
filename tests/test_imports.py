"""The import graph of vlmtsc: no cycles, the core never reaches the estimators.

Every ``import`` and ``from ... import`` statement counts, also those inside
functions (a lazy import is still a dependency; it only moves the failure).
"""

import ast
import graphlib
from pathlib import Path

import pytest

import vlmtsc

PACKAGE = Path(vlmtsc.__file__).parent

# Subpackages and modules every estimator builds on; none may import the
# estimators (vlmtsc.classification), nor the root package, which re-exports them.
CORE = {
    "adapters",
    "backbones",
    "base",
    "datasets",
    "prompts",
    "renderers",
    "series",
    "tokenizers",
    "training",
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported(node, module: str, is_package: bool) -> list[str]:
    """Full names an import statement in ``module`` names (before resolution)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _graph() -> dict[str, set[str]]:
    """Module -> the vlmtsc modules it imports (a name resolves to its module)."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in _imported(node, module, path.name == "__init__.py"):
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def _imports(cycle: graphlib.CycleError) -> str:
    """A cycle as "a imports b imports ... a" (graphlib lists it the other way)."""
    return " imports ".join(reversed(cycle.args[1]))


@pytest.fixture(scope="module")
def graph():
    return _graph()


def _top(module: str) -> str:
    """``vlmtsc.backbones._load`` -> ``backbones``; the root package -> ``vlmtsc``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "vlmtsc"


def test_the_graph_is_read_from_every_module(graph):
    assert "vlmtsc.backbones._load" in graph
    # A lazy import inside a function is an edge.
    assert "vlmtsc.backbones._composed" in graph["vlmtsc.backbones._load"]
    # Relative and "from package import module" forms resolve to modules.
    assert "vlmtsc.classification._vlm" in graph["vlmtsc.classification"]


def test_no_import_cycle_between_modules(graph):
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {_imports(error)}")


def test_no_import_cycle_between_subpackages(graph):
    packages: dict[str, set[str]] = {}
    for module, edges in graph.items():
        packages.setdefault(_top(module), set()).update(
            _top(e) for e in edges if _top(e) != _top(module)
        )
    try:
        graphlib.TopologicalSorter(packages).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {_imports(error)}")


def test_the_core_never_imports_the_estimators(graph):
    offending = sorted(
        (module, target)
        for module, edges in graph.items()
        if _top(module) in CORE
        for target in edges
        if _top(target) == "classification" or target == "vlmtsc"
    )
    assert offending == []


def test_no_new_private_import_across_packages(graph):
    def inside(module, package):
        return module == package or module.startswith(package + ".")

    # A private module (``a.b._c``) is for the modules of its package (``a.b``).
    private = {
        (module, target)
        for module, edges in graph.items()
        for target in edges
        if target.rpartition(".")[2].startswith("_")
        and not inside(module, target.rpartition(".")[0])
    }
    assert private == set()
