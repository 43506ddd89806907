"""The layout's rules, checked on the source: imports only run down the layers, no import cycles, no private name
used across modules, no file over 450 lines. A newcomer who breaks one learns it here, not in review."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestration", "assets", "resources", "gpu_ops", "skucore")
# Lower rank = lower layer. A module may import its own layer and lower ones.
LAYER_RANK = {
    "skucore.base": 0, "skucore.tables": 0, "skucore.catalog": 1, "skucore.prompting": 2, "skucore.imaging": 3,
    "skucore.quality": 4, "skucore.publish": 5, "gpu_ops": 6, "resources": 7, "assets": 8, "orchestration": 9,
}
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    matches = [p for p in LAYER_RANK if module == p or module.startswith(p + ".")]
    assert matches, f"{module} belongs to no layer: add it to LAYER_RANK"
    return LAYER_RANK[max(matches, key=len)]


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import of a project module, however deep in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
    return [(m, names, line) for m, names, line in found if m.split(".")[0] in PACKAGES]


def _resolve(module: str, names: list[str]) -> list[str]:
    """`from pkg import mod` names a module; `from mod import name` names the module itself."""
    targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
    return targets or [module]


def test_imports_only_run_down_the_layers():
    upward = []
    for name, path in MODULES.items():
        for module, names, line in _imports(path):
            for target in _resolve(module, names):
                if _layer(target) > _layer(name):
                    upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def test_no_import_cycles_at_module_level():
    # Only imports at module level make a cycle that breaks loading; lazy imports inside functions are allowed
    # to cross sideways but still obey the layers (checked above).
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] in PACKAGES:
                deps.update(t for t in _resolve(node.module, [a.name for a in node.names]) if t in MODULES and t != name)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in MODULES and a.name != name)
        graph[name] = deps
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_name_crosses_a_module():
    crossings = []
    for name, path in MODULES.items():
        for module, names, line in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private or any(part.startswith("_") and part != "__init__" for part in module.split(".")):
                crossings.append(f"{path.relative_to(ROOT)}:{line} from {module} import {', '.join(names)}")
    assert not crossings, "private names used across modules:\n" + "\n".join(crossings)


@pytest.mark.parametrize("folder", [*PACKAGES, "tests", "bench"])
def test_no_file_over_450_lines(folder):
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines (split them by what they hold):\n" + "\n".join(long)
