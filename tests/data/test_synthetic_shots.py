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


@pytest.mark.parametrize("family", ["smoke", "explosion", "splash"])
def test_effect_shots_grow_change_outline_and_sit_on_a_transparent_sheet(family: str) -> None:
    opts = ShotOptions(size=128, frames=6, family=family, keyframe_end="last")
    shot = generate_shot([0, 2], opts)
    assert np.array_equal(shot.lines, generate_shot([0, 2], opts).lines)
    assert shot.keyframes == (5,) and shot.params["family"] == family
    fg = shot.parts > 0
    assert fg[-1].sum() > 3 * fg[0].sum()  # small puff -> large
    # The outline changes every frame (not only a scaling of the same shape).
    assert all(not np.array_equal(shot.lines[t], shot.lines[t + 1]) for t in range(5))
    for t in range(6):
        ln, gt = shot.lines[t], shot.gt[t]
        assert (ln[..., 3][~fg[t]] == 0).sum() > 0 and set(np.unique(ln[..., 3])) <= {0, 255}
        red = (ln[..., :3] == SHADOW_LINE_RGB).all(-1) & (ln[..., 3] == 255)
        assert (gt[~fg[t]][:, 3][(ln[~fg[t]][:, 3] == 0)] == 0).all()  # transparent background
        colors = {tuple(c) for c in gt[fg[t] & (gt[..., :3].sum(-1) > 0)][:, :3].tolist()}
        assert len(colors) == 2  # highlight and shadow
    assert red.any()
    first = generate_shot([0, 2], ShotOptions(size=128, frames=6, family=family, keyframe_end="first"))
    assert first.keyframes == (0,)


def test_effects_family_draws_each_kind_and_bad_family_is_refused(tmp_path: Path) -> None:
    kinds = {generate_shot([1, i], ShotOptions(size=64, frames=2, family="effects")).params["family"] for i in range(12)}
    assert kinds == {"smoke", "explosion", "splash"}
    with pytest.raises(SyntheticDataError, match="family"):
        write_shots(tmp_path / "x", 1, ShotOptions(size=64, frames=2, family="fire"))
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_an_effect_shot_keeps_its_background_at_every_frame_under_propagate(tmp_path: Path) -> None:
    # The case that broke on a real smoke cut: colored from its last (large) frame toward the
    # small puff at frame 0, on a transparent sheet. Every frame's background stays background.
    from PIL import Image

    from manganinja.shots.engines import FlatShotEngine
    from manganinja.shots.run import colorize_shot

    out = write_shots(tmp_path / "set", 2, ShotOptions(size=256, frames=14, family="smoke", keyframe_end="last"), seed=4)
    for i in range(2):
        root = out / f"shot_{i:05d}"
        shot = read_shot(root)
        assert shot.keyframes == ("0013",)
        colorize_shot(shot, FlatShotEngine, tmp_path / f"out{i}", mode="propagate", progress=False)
        for t in range(14):
            res = np.asarray(Image.open(tmp_path / f"out{i}" / f"{t:04d}.png").convert("RGBA"))
            gt = np.asarray(Image.open(root / "gt" / f"{t:04d}.png").convert("RGBA"))
            line = np.asarray(Image.open(root / "line" / f"{t:04d}.png").convert("RGBA"))[..., 3] > 0
            bg_gt, bg_res = (gt[..., 3] == 0) & ~line, (res[..., 3] == 0) & ~line
            iou = (bg_gt & bg_res).sum() / (bg_gt | bg_res).sum()
            assert iou > 0.98, f"shot {i} frame {t}: background IoU {iou:.3f}"


def test_synth_cli_family_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from manganinja.cli import app

    out = tmp_path / "fx"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--shots", "2", "--frames", "3", "--size", "64",
                                      "--family", "splash"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["family"] == "splash"
    assert {s["params"]["family"] for s in manifest["shots"]} == {"splash"}
    bad = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "b"), "--shots", "1", "--family", "fire"])
    assert bad.exit_code == 2 and "family" in bad.output and not (tmp_path / "b").exists()
    pairs = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "c"), "--family", "smoke"])
    assert pairs.exit_code == 2 and "--shots" in pairs.output and not (tmp_path / "c").exists()
