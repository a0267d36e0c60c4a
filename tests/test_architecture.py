"""The shape of the package: no import cycle (imports inside functions count too), and data flowing one way through
the stages (spec -> build -> analysis -> reports -> render), read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archscope"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set[str]:
    """Every archscope module ``module`` imports, at any depth of its code (functions, TYPE_CHECKING blocks aside)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    type_only = {id(n) for t in ast.walk(tree) if isinstance(t, ast.If) and "TYPE_CHECKING" in ast.unparse(t.test)
                 for n in ast.walk(t)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, module, path.name == "__init__.py")
            names = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        found.update(n for n in names if n in MODULES and n != module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_there_is_no_import_cycle():
    assert _cycle() is None, " -> ".join(_cycle() or [])


# What each stage may import (besides itself and the shared bottom layer: errors, vocab, util, _version).
ALLOWED = {
    "spec": set(),
    "build": {"spec", "blocks"},
    "blocks": {"build"},
    "analysis": {"build", "blocks", "spec", "reports", "devices"},
    "devices": set(),
    "measure": {"build", "blocks", "analysis", "reports", "devices"},
    "reports": set(),
    "compare": {"reports", "devices", "spec"},
    "check": {"reports", "spec"},
    "render": {"reports", "compare", "check", "devices"},
}
BOTTOM = {"errors", "vocab", "util", "_version"}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stages_import_only_what_comes_before_them(stage):
    wrong = sorted(f"{m} -> {n}" for m, deps in GRAPH.items() if _stage(m) == stage
                   for n in deps if _stage(n) not in ALLOWED[stage] | BOTTOM | {stage})
    assert not wrong, wrong


def test_the_bottom_layer_imports_nothing_above_it():
    wrong = sorted(f"{m} -> {n}" for m, deps in GRAPH.items() if _stage(m) in BOTTOM
                   for n in deps if _stage(n) not in BOTTOM)
    assert not wrong, wrong


def test_stage_packages_import_nothing_on_their_own():
    """A stage's ``__init__`` only says what the stage holds: importing one module never drags in its siblings."""
    heavy = sorted(m for m in MODULES if MODULES[m].name == "__init__.py" and m not in ("archscope", "archscope.blocks")
                   and GRAPH[m])
    assert not heavy, heavy
