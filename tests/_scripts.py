"""Load a script of ``benchmarks/`` as a module, for the tests of tests/benchmarks/."""

from __future__ import annotations

import importlib.util
import sys
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
