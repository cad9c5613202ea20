"""Synthetic shots (manganinja.data.synthetic_shots)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from manganinja.data.synthetic import SyntheticDataError
from manganinja.data.synthetic_shots import SHADOW_LINE_RGB, ShotOptions, generate_shot, write_shots
from manganinja.shots.format import read_shot


def test_same_seed_same_shot_and_smooth_motion() -> None:
    opts = ShotOptions(size=128, frames=6, max_large_changes=0)
    a, b = generate_shot([0, 1], opts), generate_shot([0, 1], opts)
    assert np.array_equal(a.lines, b.lines) and np.array_equal(a.gt, b.gt)
    fg = a.parts > 0
    # consecutive frames overlap much more than the first and last
    iou = lambda x, y: (x & y).sum() / (x | y).sum()  # noqa: E731
    assert iou(fg[0], fg[1]) > 0.6


def test_ground_truth_background_transparent_and_red_lines_on_shadow_edges() -> None:
    shot = generate_shot([2, 0], ShotOptions(size=128, frames=3, shading_prob=1.0))
    for t in range(3):
        gt, ln, parts = shot.gt[t], shot.lines[t], shot.parts[t]
        assert (gt[parts == 0][:, 3][(ln[parts == 0][:, :3] != 0).any(1)] == 0).all()
        red = (ln[..., :3] == SHADOW_LINE_RGB).all(-1) & (ln[..., 3] == 255)
        assert red.any()
        assert (parts[red] > 0).all()  # only inside the character
        assert (gt[red][:, 3] == 255).all() and not (gt[red][:, :3] == SHADOW_LINE_RGB).all(-1).any()


def test_write_shots_layout(tmp_path: Path) -> None:
    out = write_shots(tmp_path / "set", 2, ShotOptions(size=64, frames=3), seed=5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_shots"] == 2 and manifest["seed"] == 5
    shot = read_shot(out / "shot_00001")
    assert [f.stem for f in shot.frames] == ["0000", "0001", "0002"] and shot.keyframes == ("0000",)
    assert all(f.gt is not None for f in shot.frames)
    with pytest.raises(SyntheticDataError, match="not empty"):
        write_shots(tmp_path / "set", 1, ShotOptions(size=64, frames=3))
    with pytest.raises(SyntheticDataError, match="frames"):
        write_shots(tmp_path / "other", 1, ShotOptions(size=64, frames=1))
