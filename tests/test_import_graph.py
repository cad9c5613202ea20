"""The import graph: data flows one way (CLI / UI / benchmark -> engines -> pipeline or flat
engine -> models), with no cycle and nothing imported upward from ``models/``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "manganinja"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every manganinja module ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("manganinja"):
                found.add(node.module)
                for alias in node.names:  # `from manganinja.cli import model_commands`
                    candidate = f"{node.module}.{alias.name}"
                    if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").is_file():
                        found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("manganinja"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def test_models_import_nothing_above_them():
    for name, deps in graph().items():
        if name.startswith("manganinja.models"):
            upward = sorted(d for d in deps if not d.startswith("manganinja.models"))
            assert upward == [], f"{name} imports {upward}"


def test_no_import_cycle():
    """No cycle, lazy imports included. The CLI's registration (``manganinja.cli`` imports its
    command modules, which import ``app`` from it) is the one allowed loop."""
    g = {n: {d for d in deps if not (n.startswith("manganinja.cli.") and d == "manganinja.cli")}
         for n, deps in graph().items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_the_line_art_and_the_flat_path_need_no_torch():
    """lines, settings, requests, stitching and engines import torch only lazily (for the model)."""
    for name in ("lines", "settings", "requests", "stitching", "engines", "flat/inputs"):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        mods = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
        assert not {m for m in mods if m.split(".")[0] in ("torch", "diffusers", "transformers")}, name
