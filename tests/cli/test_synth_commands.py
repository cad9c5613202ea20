"""Tests for ``manganinja synth`` (the CLI over manganinja.data.synthetic.write_dataset)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from manganinja.cli import app


def test_synth_writes_dataset(tmp_path: Path) -> None:
    out = tmp_path / "set"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--pairs", "2", "--size", "64",
                                      "--seed", "4"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["n_pairs"] == 2
    assert (out / "pair_00001" / "lineart_soft.png").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pairs", "0"], "0"),
        (["--size", "100"], "100"),
        (["--size", "48"], "48"),
        (["--motion", "tiny"], "--motion tiny"),
        (["--motion", "small", "--shots", "1"], "--motion small applies to pairs"),
    ],
)
def test_synth_bad_input_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "set"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--size", "64", *args])
    assert result.exit_code == 2
    assert "error:" in result.output and needle in result.output
    assert not out.exists()


def test_synth_non_empty_dir_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "set"
    out.mkdir()
    (out / "other.txt").write_text("x")
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--pairs", "1", "--size", "64"])
    assert result.exit_code == 2
    assert str(out) in result.output and "--overwrite" in result.output
    assert [p.name for p in out.iterdir()] == ["other.txt"]


def test_small_motion_pairs_move_less_than_full_ones(tmp_path: Path) -> None:
    """--motion small: the manifest records the preset, and the target's points lie nearer their
    reference points than in the full pairs of the same seed."""
    import numpy as np

    moves = {}
    for motion in ("full", "small"):
        out = tmp_path / motion
        result = CliRunner().invoke(app, ["synth", "--out", str(out), "--pairs", "6", "--size", "128", "--motion", motion])
        assert result.exit_code == 0, result.output
        assert f"{motion} motion" in result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["options"]["joint_scale"] == (0.3 if motion == "small" else 1.0)
        dist = []
        for i in range(6):
            pts = json.loads((out / f"pair_{i:05d}" / "points.json").read_text())["pairs"]
            dist += [np.hypot(*np.subtract(p["reference"], p["lineart"])) for p in pts]
        moves[motion] = float(np.median(dist))
    assert moves["small"] < 0.7 * moves["full"], moves
