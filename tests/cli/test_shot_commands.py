"""``manganinja shot colorize|evaluate`` and ``synth --shots``."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app


def _synth(tmp_path: Path) -> Path:
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "set"), "--shots", "1", "--frames", "3",
                                      "--size", "96", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return tmp_path / "set" / "shot_00000"


def test_colorize_then_evaluate(tmp_path: Path) -> None:
    shot = _synth(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["shot", "colorize", str(shot), "--output-dir", str(out), "--no-progress", "--layers"])
    assert r.exit_code == 0, r.output
    assert "3 frame(s) colored" in r.output
    assert (out / "0002_palette.json").is_file()
    r = CliRunner().invoke(app, ["shot", "evaluate", str(shot), "--results", str(out)])
    assert r.exit_code == 0, r.output
    assert "| 2 | all |" in r.output and (out / "evaluation" / "frames.csv").is_file()


def test_evaluate_a_folder_of_shots_as_basicpbc_does(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "set"), "--shots", "2", "--frames", "3",
                                      "--size", "64", "--seed", "2"])
    assert result.exit_code == 0, result.output
    for name in ("shot_00000", "shot_00001"):
        r = CliRunner().invoke(app, ["shot", "colorize", str(tmp_path / "set" / name), "--output-dir",
                                     str(tmp_path / "out" / name), "--no-progress"])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["shot", "evaluate", str(tmp_path / "set"), "--results", str(tmp_path / "out"),
                                 "--convention", "basicpbc"])
    assert r.exit_code == 0, r.output
    assert "| shot_00000 | 2 |" in r.output and "| mean of 2 shot(s) | 4 |" in r.output and "pix_bmiou" in r.output
    assert "shot_00000: review flags:" in r.output and "shot_00001: review flags:" in r.output
    r = CliRunner().invoke(app, ["shot", "evaluate", str(tmp_path / "set"), "--results", str(tmp_path / "out"),
                                 "--convention", "paper"])
    assert r.exit_code == 2 and "--convention" in r.output and "Traceback" not in r.output


def test_bad_inputs_one_line_errors(tmp_path: Path) -> None:
    shot = _synth(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["shot", "colorize", str(shot), "--output-dir", str(tmp_path / "o"), "--mode", "sideways"])
    assert r.exit_code == 2 and "--mode" in r.output and "Traceback" not in r.output
    (shot / "shot.json").unlink()
    for p in (shot / "gt").iterdir():
        p.unlink()
    r = runner.invoke(app, ["shot", "colorize", str(shot), "--output-dir", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no keyframe" in r.output and len(r.output.strip().splitlines()) == 1


def test_bad_frame_reported_others_done(tmp_path: Path) -> None:
    shot = _synth(tmp_path)
    Image.new("L", (50, 40), 255).save(shot / "line" / "0001.png")
    r = CliRunner().invoke(app, ["shot", "colorize", str(shot), "--output-dir", str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 1
    assert "line frame '0001' is 50x40" in r.output and "2 frame(s) colored" in r.output


def test_ninja_rerun_with_other_steps_redoes_the_frames(tmp_path: Path, tiny_model: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "set"), "--shots", "1", "--frames", "2",
                                      "--size", "64", "--seed", "1"])
    assert result.exit_code == 0, result.output
    shot, out = tmp_path / "set" / "shot_00000", tmp_path / "out"
    base = ["shot", "colorize", str(shot), "--output-dir", str(out), "--no-progress", "--engine", "ninja",
            "--model", str(tiny_model), "--resolution", "64", "--device", "cpu"]
    r = CliRunner().invoke(app, base + ["--steps", "1"])
    assert r.exit_code == 0, r.output
    assert "2 frame(s) colored, 0 skipped" in r.output
    r = CliRunner().invoke(app, base + ["--steps", "2"])
    assert r.exit_code == 0, r.output
    assert "1 frame(s) redone" in r.output and "steps 1 -> 2" in r.output
    assert "1 frame(s) colored, 1 skipped" in r.output  # the keyframe's own colors stay


def test_bad_model_setting_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    shot = _synth(tmp_path)
    r = CliRunner().invoke(app, ["shot", "colorize", str(shot), "--output-dir", str(tmp_path / "o"),
                                 "--engine", "ninja", "--model", "x", "--steps", "0"])
    assert r.exit_code == 2 and "--steps" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
