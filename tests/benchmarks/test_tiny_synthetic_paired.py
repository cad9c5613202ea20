"""benchmarks/tiny_synthetic_paired.py: the paired differences from an evaluation folder's runs,
and a folder without them refused in one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from _scripts import exit_code, load_script


def write_runs(path: Path, psnr: dict[str, list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, ["pair", "direction", "engine", "n_guide_points", "psnr"])
        w.writeheader()
        for engine, values in psnr.items():
            for i, value in enumerate(values):
                w.writerow({"pair": f"pair_{i // 2:05d}", "direction": ("a->b", "b->a")[i % 2], "engine": engine,
                            "n_guide_points": 0, "psnr": value})
            w.writerow({"pair": "pair_00000", "direction": "a->b", "engine": engine, "n_guide_points": 5, "psnr": 99.0})


def test_paired_differences_of_the_runs(tmp_path, capsys):
    own = {"ninja": [20.0, 21.0, 19.0, 22.0], "flat": [19.0, 20.0, 19.5, 20.0],
           "mean-color": [17.0] * 4, "reference": [15.0] * 4}
    write_runs(tmp_path / "main" / "runs.csv", own)
    write_runs(tmp_path / "swapped" / "runs.csv", {"ninja": [18.0] * 4, "flat": [19.0] * 4, "mean-color": [17.0] * 4})
    load_script("tiny_synthetic_paired").cli([str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("model - flat: +0.88 ± ") and lines[1].endswith("better in 3/4 runs")  # 5 guide points not counted
    assert lines[3].startswith("ninja: own reference - another character's: +2.50 ± ") and lines[3].endswith("4/4 runs")
    assert lines[5].startswith("mean-color: own reference - another character's: +0.00 ± 0.00")


def test_a_folder_without_the_runs_is_one_line(tmp_path, capsys):
    write_runs(tmp_path / "main" / "runs.csv", {"ninja": [20.0, 21.0]})
    assert exit_code(load_script("tiny_synthetic_paired").cli, [str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path} has no swapped/runs.csv; run benchmarks/tiny_synthetic_eval.py "
                                               f"--part swapped --out {tmp_path} first")
