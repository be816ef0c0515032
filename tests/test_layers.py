"""Imports follow the data flow: text → reader → IR → verifier → engines → harness → tools.

Every import in `src/clifkit` (at module level, inside a function, or by name through
`clifkit.lazy.module`, spelt `lazy.module(...)` or `module(...)`) must point to the same layer or
a lower one, and the two engines never import each other. docs/architecture.md draws the same
layers; a change that needs an upward import belongs in a lower layer."""

from __future__ import annotations

import ast
import pathlib
import re

import clifkit

ROOT = pathlib.Path(clifkit.__file__).parent

# Lowest first. A module's layer is that of its first dotted component under clifkit.
LAYERS: list[set[str]] = [
    {"diagnostics", "limits", "dialect", "lazy"},
    {"ir"},
    {"reader", "printer"},
    {"environment", "cfg"},
    {"verifier"},
    {"engine"},
    {"interpreter", "native"},
    {"runtest"},
    {"fuzz"},
    {"api", "pytest_plugin", "commands", "file_commands", "arguments", "cli", "__main__", ""},
]
SIBLINGS_APART = {frozenset({"interpreter", "native"})}


_PARTS = set().union(*LAYERS)


def _layer(part: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if part in layer)


def _lazy_names(tree: ast.AST, package: list[str]) -> set[str]:
    """The names `clifkit.lazy.module` is bound to in a module (``from ..lazy import module``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            else:
                target = (node.module or "").split(".")[1:] if (node.module or "").startswith("clifkit.") else None
            if target == ["lazy"]:
                names |= {a.asname or a.name for a in node.names if a.name == "module"}
    return names


def _lazy_call(node: ast.AST, names: set[str]) -> bool:
    """Whether `node` calls `clifkit.lazy.module`: as ``lazy.module(...)`` or by a name it was imported as."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return ((isinstance(f, ast.Attribute) and f.attr == "module" and isinstance(f.value, ast.Name)
             and f.value.id == "lazy") or (isinstance(f, ast.Name) and f.id in names))


def _imports(path: pathlib.Path):
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = list(rel[:-1]) if rel[-1] != "__init__" else list(rel[:-1])
    tree = ast.parse(path.read_text())
    lazy_names = _lazy_names(tree, package)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                names = [a.name for a in node.names]
            elif node.module and node.module.startswith("clifkit"):
                target, names = node.module.split(".")[1:], [a.name for a in node.names]
            else:
                continue
            # `from clifkit import x` names a subpackage, or else something of the package itself
            top = names[0] if names[0] in _PARTS else ""
            yield node.lineno, (target[0] if target else top)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("clifkit."):
                    yield node.lineno, alias.name.split(".")[1]
        elif _lazy_call(node, lazy_names):
            name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            assert isinstance(name, str), f"{path}:{node.lineno}: lazy.module takes a module's name, written out"
            if name.startswith("clifkit."):
                yield node.lineno, name.split(".")[1]


def test_no_import_runs_against_the_data_flow():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("").parts
        here = rel[0] if len(rel) > 1 else ("" if rel[0] == "__init__" else rel[0])
        for line, there in _imports(path):
            if _layer(there) > _layer(here) or frozenset({here, there}) in SIBLINGS_APART:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {here or 'clifkit'} imports {there}")
    assert not wrong, "\n".join(wrong)


def test_every_module_has_a_layer():
    parts = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.glob("*")
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    parts.discard("__init__")
    assert all(any(part in layer for layer in LAYERS) for part in parts), parts


def test_every_lazy_module_call_counts_as_an_import():
    # `from ..lazy import module` and then `module("clifkit.x")` imports x as much as
    # `lazy.module("clifkit.x")` does: the data-flow check must see both spellings.
    missed = []
    for path in sorted(ROOT.rglob("*.py")):
        seen = {line for line, _ in _imports(path)}
        for i, text in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'\bmodule\("clifkit\.', text) and i not in seen:
                missed.append(f"{path.relative_to(ROOT)}:{i}")
    assert not missed, "\n".join(missed)
