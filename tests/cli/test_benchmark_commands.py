"""`manganinja evaluate` end to end on a tiny drawn benchmark."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from manganinja.cli import app
from _drawn_pairs import make_benchmark

runner = CliRunner()


def test_evaluate_cli_writes_results_and_resumes(tmp_path):
    root = make_benchmark(tmp_path / "bench", n=2)
    out = tmp_path / "res"
    args = ["evaluate", "--data", str(root), "--out", str(out), "--engine", "reference",
            "--engine", "mean-color", "--guide-points", "2"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "| mean-color | 2 | 4 |" in first.output and "absent" in first.output
    for name in ("runs.csv", "summary.md", "summary.json", "settings.json", "examples.png",
                 "metrics.png", "evaluate.log"):
        assert (out / name).is_file(), name
    summary = (out / "summary.md").read_text()
    assert "extract_lineart(method='xdog')" in summary and "torch:" in summary and "cpu" in summary
    table = summary.split("## Settings")[0].split("\n| engine")[1]
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (out / "summary.md").read_text().split("## Settings")[0].split("\n| engine")[1] == table
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 2 * 2 * 2 * 2


def test_evaluate_cli_errors_exit_2(tmp_path):
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--engine", "reference"])
    assert result.exit_code == 2 and "manifest.json" in result.output
    root = make_benchmark(tmp_path / "bench", n=1)
    result = runner.invoke(app, ["evaluate", "--data", str(root), "--out", str(tmp_path / "r"),
                                 "--engine", "ninja"])
    assert result.exit_code == 2 and "--model" in result.output
    result = runner.invoke(app, ["evaluate", "--data", str(root), "--out", str(tmp_path / "r"),
                                 "--engine", "reference", "--clip", str(tmp_path / "noclip")])
    assert result.exit_code == 2 and "noclip" in result.output


def test_synthetic_benchmark_with_baselines_10_pairs(tmp_path):
    """The README's out-of-the-box path: 10 synthetic pairs, both baselines, CPU (timed in the
    README, not here)."""
    data, out = tmp_path / "synth10", tmp_path / "res"
    made = runner.invoke(app, ["benchmark", "synth", "--out", str(data), "--pairs", "10"])
    assert made.exit_code == 0, made.output
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["format"] == "manganinja-benchmark" and len(manifest["pairs"]) == 10
    first = data / manifest["pairs"][0]
    assert {p.name for p in first.iterdir()} == {"a.png", "b.png", "a_mask.png", "b_mask.png", "points.json"}
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--out", str(out), "--engine",
                                 "reference", "--engine", "mean-color", "--guide-points", "5"])
    assert result.exit_code == 0, result.output
    rows = (out / "runs.csv").read_text().splitlines()
    assert len(rows) == 1 + 10 * 2 * 2 * 2
    assert "0 problems" in result.output
    # exact synthetic points: 50 per pair, 5 guide, 45 scored in every run
    assert all(line.split(",")[6] == "45" for line in rows[1:])
    again = runner.invoke(app, ["benchmark", "synth", "--out", str(data), "--pairs", "3"])
    assert again.exit_code == 2 and "--overwrite" in again.output
