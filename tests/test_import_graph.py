"""The import graph: data flows one way (CLI / UI / benchmark -> the library's road -> engines ->
pipeline or flat engine -> models), with no cycle and nothing imported against the flow.

Every import counts: module level, inside functions, under ``TYPE_CHECKING``. The allowed
directions are the table :data:`FORBIDDEN` (who may not import whom); the whole package is read
with ``ast`` (nothing is imported to build the graph).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "manganinja"

#: The front ends: only the program's entry point imports them (and the CLI's `ui` command the
#: web UI).
FRONT_ENDS = ("manganinja.cli", "manganinja.webui")
FRONT_END_IMPORTERS: dict[str, tuple[str, ...]] = {
    "manganinja.cli": ("manganinja.__main__",),
    "manganinja.webui": ("manganinja.__main__", "manganinja.cli.ui_commands"),
}

#: The layer rules, one row per layer: modules under the key (a module or a package prefix) may
#: not import any module under the listed prefixes. "manganinja" means the whole package outside
#: the key's own prefix.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the bottom: the network modules import nothing of the package above them
    "manganinja.models": ("manganinja",),
    # training data: pure data, below the sampling pipeline and the benchmark
    "manganinja.data": ("manganinja.pipeline", "manganinja.engines", "manganinja.evaluation",
                        "manganinja.training", "manganinja.shots", "manganinja.colorize", *FRONT_ENDS),
    # the weight-free engine's pieces know no model, no engine contract, no front end
    "manganinja.flat": ("manganinja.pipeline", "manganinja.engines", "manganinja.evaluation",
                        "manganinja.training", "manganinja.shots", "manganinja.colorize", *FRONT_ENDS),
    # the sampling pipeline: below the engines and everything that drives it
    "manganinja.pipeline": ("manganinja.engines", "manganinja.evaluation", "manganinja.training",
                            "manganinja.shots", "manganinja.data", "manganinja.colorize", *FRONT_ENDS),
    # region point maps (line art and picture regions): under the pipeline and the training data
    "manganinja.point_regions": ("manganinja.pipeline", "manganinja.engines", "manganinja.evaluation",
                                 "manganinja.training", "manganinja.shots", "manganinja.data",
                                 "manganinja.colorize", *FRONT_ENDS),
    # the engines: below the runners
    "manganinja.engines": ("manganinja.evaluation", "manganinja.training", "manganinja.shots",
                           "manganinja.data", "manganinja.colorize", *FRONT_ENDS),
    # evaluation measures results; it does not run shots nor front ends
    "manganinja.evaluation": ("manganinja.shots.run", "manganinja.training", *FRONT_ENDS),
    # training sits above evaluation (the reproduction chain scores what it trains, through the
    # colorize road like the benchmark), never below
    "manganinja.training": ("manganinja.shots", *FRONT_ENDS),
    "manganinja.shots": ("manganinja.evaluation", "manganinja.training", *FRONT_ENDS),
    # the library's road: the front ends call it, not the other way round
    "manganinja.colorize": FRONT_ENDS,
    "manganinja.batch": FRONT_ENDS,
    "manganinja.workers": FRONT_ENDS,
    "manganinja.requests": FRONT_ENDS,
    # the base values (line art, points, images, settings...) sit under everything but models
    **{f"manganinja.{base}": ("manganinja.pipeline", "manganinja.engines", "manganinja.evaluation",
                              "manganinja.training", "manganinja.shots", "manganinja.data",
                              "manganinja.flat", "manganinja.colorize", "manganinja.batch",
                              "manganinja.workers", "manganinja.requests", *FRONT_ENDS)
       for base in ("lines", "points", "images", "settings", "stitching", "guidance", "similarity",
                    "manifest")},
}

#: Edges that break a rule today and are being fixed in another branch; each is named with why.
#: Keep this empty: an entry here is a debt, and the test fails once the edge is gone so that the
#: entry is removed too.
PENDING: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, level: int, importer: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` in ``importer``."""
    if level == 0:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every package module ``path`` imports, wherever the import statement is."""
    name = module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, name, path.name == "__init__.py")
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) for name, path in paths.items()}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(g: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every edge ``(importer, imported)`` that a row of :data:`FORBIDDEN` refuses, and every
    import of a front end by anything but the entry point and the front ends themselves."""
    bad: set[tuple[str, str]] = set()
    for importer, deps in g.items():
        for dep in deps:
            for layer, refused in FORBIDDEN.items():
                if not _under(importer, layer) or _under(dep, layer):
                    continue
                if any(_under(dep, r) for r in refused):
                    bad.add((importer, dep))
            front = next((f for f in FRONT_ENDS if _under(dep, f)), None)
            if front and not _under(importer, front) and importer not in FRONT_END_IMPORTERS[front]:
                bad.add((importer, dep))
    return bad


def test_the_graph_sees_function_local_imports():
    """The reader finds an import inside a function body (the leaks used to hide there)."""
    g = graph()
    assert "manganinja.models.informative_drawings" in g["manganinja.lines"]  # imported in a function
    assert "manganinja.cli.model_commands" in g["manganinja.cli"]  # `from manganinja.cli import x`


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_rules(layer):
    bad = {e for e in violations(graph()) if _under(e[0], layer)}
    unexpected = sorted(e for e in bad if e not in PENDING)
    assert unexpected == [], f"{layer}: imports against the layers: " + ", ".join(f"{a} -> {b}" for a, b in unexpected)


def test_front_ends_are_imported_only_by_the_entry_point():
    bad = sorted(e for e in violations(graph())
                 if any(_under(e[1], f) for f in FRONT_ENDS) and e not in PENDING)
    assert bad == [], ", ".join(f"{a} -> {b}" for a, b in bad)


def test_pending_violations_still_exist():
    """An entry of :data:`PENDING` whose edge is gone must be removed (no stale excuse)."""
    bad = violations(graph())
    stale = sorted(e for e in PENDING if e not in bad)
    assert stale == [], f"fixed, remove from PENDING: {stale}"


def test_the_rules_catch_a_leak():
    """The rule table refuses what the review found (so the tests above can fail)."""
    g = {"manganinja.data.dataset": {"manganinja.pipeline"},
         "manganinja.data.video_pairs": {"manganinja.evaluation.metrics"},
         "manganinja.evaluation.paint_bucket": {"manganinja.shots.run"},
         "manganinja.models.factory": {"manganinja.lines"},
         "manganinja.engines": {"manganinja.cli.model_commands"}}
    assert violations(g) == {(a, b) for a, deps in g.items() for b in deps}


def test_no_import_cycle():
    """No cycle, function-local imports included. The CLI's registration (``manganinja.cli``
    imports its command modules, which import ``app`` from it) is the one allowed loop."""
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


def _top_level_modules(tree: ast.Module) -> set[str]:
    """Modules imported at module level (not in functions, not under ``TYPE_CHECKING``)."""
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    mods = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    return mods | {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}


def _redundant_local_imports(path: Path) -> list[str]:
    """``module (line)`` for each import inside a function of a module already imported at the
    top of the same file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = _top_level_modules(tree)
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            mods = ([node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            out += [f"{m} (line {node.lineno})" for m in mods if m in top]
    return out


#: Files of other branches' owners that still hold such an import (removed there); empty when done.
REDUNDANT_PENDING: frozenset[str] = frozenset()


def test_no_function_re_imports_a_module_of_its_file():
    found = {str(p.relative_to(PACKAGE)): _redundant_local_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}
    found = {k: v for k, v in found.items() if v and k not in REDUNDANT_PENDING}
    assert found == {}, found


def test_the_line_art_and_the_flat_path_need_no_torch():
    """lines, settings, requests, stitching, engines and the road import torch only lazily (for
    the model)."""
    for name in ("lines", "settings", "requests", "stitching", "engines", "flat/inputs", "colorize"):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        mods = _top_level_modules(tree)
        assert not {m for m in mods if m.split(".")[0] in ("torch", "diffusers", "transformers")}, name
