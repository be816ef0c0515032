"""Imports follow the data flow: text → reader → IR → verifier → engines → harness → tools.

Every import in `src/clifkit` (at module level, inside a function, or by name through
`clifkit.lazy.module`) must point to the same layer or a lower one, and the two engines never import each other. docs/architecture.md draws
the same layers; a change that needs an upward import belongs in a lower layer."""

from __future__ import annotations

import ast
import pathlib

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


def _imports(path: pathlib.Path):
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = list(rel[:-1]) if rel[-1] != "__init__" else list(rel[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
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
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "module"
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "lazy"):
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
