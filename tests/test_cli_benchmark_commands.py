"""`manganinja evaluate` end to end on a tiny drawn benchmark."""

from __future__ import annotations

from typer.testing import CliRunner

from manganinja.cli import app
from test_evaluation_benchmark import make_benchmark

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
