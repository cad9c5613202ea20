"""The documentation's picture of what the guides change (examples/tiny_guide_fill_grid.py), on
one held-out pair with the shipped model: one row of six cells, the guides filling their regions
only in the fifth, and a bad folder refused in one line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from manganinja.evaluation import benchmark as B

from _scripts import SHIPPED_MODEL, exit_code

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name: str):
    """``examples/<name>.py`` as a module (its folder on the path, as when it is run)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_guide_fill_grid_draws_one_row_per_pair(tmp_path, capsys):
    script = _example("tiny_guide_fill_grid")
    data = B.write_synthetic_benchmark(tmp_path / "bench", pairs=1, seed=1, size=256)
    out = tmp_path / "grid.png"
    assert script.main(["--model", str(SHIPPED_MODEL), "--data", str(data), "--pairs", "1", "--out", str(out)]) == 0
    assert Image.open(out).size == (256 * len(script.HEADER), 14 + 256)
    row = script.grid_rows(SHIPPED_MODEL, data, 1)[0]
    unfilled, filled = (np.asarray(img) for img in row[3:5])
    assert not np.array_equal(filled, unfilled)  # the fill changes the guided regions
    assert exit_code(script.main, ["--model", str(SHIPPED_MODEL), "--data", str(tmp_path / "none")]) == 2
    assert "is not a benchmark folder" in capsys.readouterr().err
    # the picture never goes into the model or the benchmark it reads
    inside = data / "grid.png"
    assert exit_code(script.main, ["--model", str(SHIPPED_MODEL), "--data", str(data), "--out", str(inside)]) == 2
    assert "--out" in capsys.readouterr().err and not inside.exists()
