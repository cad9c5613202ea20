"""Load a script of ``benchmarks/`` as a module, for the tests of tests/benchmarks/."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: The shipped tiny model (models/tiny-synthetic), which several scripts are tested on.
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "tiny-synthetic"


def load_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` executed as module ``name`` (registered in ``sys.modules`` first,
    so that its dataclasses resolve their module)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def exit_code(main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """``main(argv)`` run as the script's command line runs it (``run_script``: a user error is
    one line on stderr): its exit code."""
    from manganinja.cli import run_script

    try:
        run_script(lambda: main(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    raise AssertionError("run_script returned instead of exiting")
