"""Coloring a shot: every frame once, resume, bad frames, palette-only colors,
transparent background, colored lines painted over, and the ninja engine through its interface."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manganinja.data.synthetic_shots import SHADOW_LINE_RGB, ShotOptions, write_shots
from manganinja.shots.engines import EngineAdapter, FlatShotEngine
from manganinja.shots.format import Shot, load_colored_frame, load_line_frame, read_shot
from manganinja.shots.run import colorize_shot


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shots") / "set"
    write_shots(out, 1, ShotOptions(size=128, frames=5, shading_prob=1.0, occlusion_prob=0.0), seed=3)
    return out / "shot_00000"


@pytest.mark.parametrize("mode", ["propagate", "keyframe"])
def test_every_frame_written_once_and_rerun_skips(shot_dir: Path, tmp_path: Path, mode: str) -> None:
    shot = read_shot(shot_dir)
    run = colorize_shot(shot, FlatShotEngine, tmp_path / "out", mode=mode, progress=False, layers=True)
    assert sorted(r.page.stem for r in run.results) == [f"{i:04d}" for i in range(5)]
    assert all(r.status == "done" for r in run.results)
    for i in range(5):
        assert (tmp_path / "out" / f"{i:04d}.png").is_file()
        assert (tmp_path / "out" / f"{i:04d}_regions.png").is_file()
    again = colorize_shot(shot, FlatShotEngine, tmp_path / "out", mode=mode, progress=False)
    assert all(r.status == "skipped" for r in again.results)
    record = json.loads((tmp_path / "out" / "shot_run.json").read_text())
    assert record["mode"] == mode and record["keyframes"] == ["0000"]


def test_outputs_use_only_palette_colors_background_transparent_colored_lines_painted(shot_dir: Path, tmp_path: Path) -> None:
    shot = read_shot(shot_dir)
    run = colorize_shot(shot, FlatShotEngine, tmp_path / "out", progress=False, layers=True)
    palette = {tuple(int(v) for v in c) for c in run.palette.colors[1:]}
    gt_colors = {tuple(c) for c in load_colored_frame(shot_dir / "gt" / "0000.png").reshape(-1, 4) if c[3] == 255}
    assert palette <= {c[:3] for c in gt_colors}
    saw_red = False
    for i in range(5):
        stem = f"{i:04d}"
        out = load_colored_frame(tmp_path / "out" / f"{stem}.png")
        color = load_colored_frame(tmp_path / "out" / f"{stem}_color.png")
        frame = load_line_frame(shot_dir / "line" / f"{stem}.png")
        regions = np.asarray(Image.open(tmp_path / "out" / f"{stem}_regions.png"))
        fill = color[..., 3] == 255
        assert {tuple(int(v) for v in c) for c in color[fill][:, :3]} <= palette
        assert (color[..., 3][~fill] == 0).all()
        off_lines = frame.lines.array == 0
        assert {tuple(int(v) for v in c) for c in out[off_lines & fill][:, :3]} <= palette
        assert out[0, 0, 3] == 0 and out[-1, -1, 3] == 0  # background stays transparent
        red = frame.colored
        if red.any():
            saw_red = True
            assert (regions[red] == 0).all()  # colored lines stay boundaries in the region map
            assert not (out[red][:, :3] == SHADOW_LINE_RGB).all(axis=1).any()  # painted over
            assert {tuple(int(v) for v in c) for c in out[red & (out[..., 3] == 255)][:, :3]} <= palette | {(0, 0, 0)}
        report = json.loads((tmp_path / "out" / f"{stem}_palette.json").read_text())
        assert all(tuple(p["color"]) in palette and p["source"] == "0000" for p in report["palette"])
    assert saw_red


def test_keep_color_lines_draws_them(shot_dir: Path, tmp_path: Path) -> None:
    shot = read_shot(shot_dir)
    colorize_shot(shot, FlatShotEngine, tmp_path / "out", progress=False, keep_color_lines=True)
    out = load_colored_frame(tmp_path / "out" / "0002.png")
    frame = load_line_frame(shot_dir / "line" / "0002.png")
    assert frame.colored.any()
    assert (out[frame.colored][:, :3] == SHADOW_LINE_RGB).all()


def test_a_bad_frame_is_reported_and_the_others_finish(shot_dir: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "shot"
    shutil.copytree(shot_dir, root)
    (root / "line" / "0002.png").write_bytes(b"broken")
    shot = read_shot(root)
    run = colorize_shot(shot, FlatShotEngine, tmp_path / "out", progress=False)
    status = {r.page.stem: r.status for r in run.results}
    assert status["0002"] == "failed" and sum(s == "done" for s in status.values()) == 4
    assert not (tmp_path / "out" / "0002.png").exists()


def test_a_result_serves_as_keyframe(shot_dir: Path, tmp_path: Path) -> None:
    import shutil

    colorize_shot(read_shot(shot_dir), FlatShotEngine, tmp_path / "out", progress=False)
    root = tmp_path / "shot"
    (root / "gt").mkdir(parents=True)
    shutil.copytree(shot_dir / "line", root / "line")
    shutil.copy(tmp_path / "out" / "0004.png", root / "gt" / "0004.png")
    run = colorize_shot(read_shot(root), FlatShotEngine, tmp_path / "out2", progress=False)
    assert all(r.status == "done" for r in run.results)


def test_ninja_engine_through_the_engine_interface(shot_dir: Path, tmp_path: Path) -> None:
    from manganinja.engines import NinjaEngine
    from manganinja.settings import NinjaSettings
    from manganinja.pipeline import build_pipeline

    ninja = NinjaEngine(build_pipeline("tiny", seed=0), NinjaSettings(steps=1, resolution=64, progress=False))
    shot = read_shot(shot_dir)
    shot = Shot(shot.root, shot.frames[:2], shot.keyframes, shot.size)
    calls: list[int] = []
    prepare = ninja.prepare
    ninja.prepare = lambda refs: calls.append(len(refs)) or prepare(refs)  # type: ignore[method-assign]
    run = colorize_shot(shot, lambda p: EngineAdapter(ninja, p), tmp_path / "out", progress=False)
    assert [r.status for r in run.results] == ["done"] * 2
    assert calls == [1]  # frame 1: its keyframe, as the model's reference
    palette = {tuple(int(v) for v in c) for c in run.palette.colors[1:]}
    out = load_colored_frame(tmp_path / "out" / "0001.png")
    frame = load_line_frame(shot_dir / "line" / "0001.png")
    fill = (out[..., 3] == 255) & (frame.lines.array == 0)
    assert {tuple(int(v) for v in c) for c in out[fill][:, :3]} <= palette


def test_point_file_forces_a_region_color(shot_dir: Path, tmp_path: Path) -> None:
    import shutil

    from manganinja import PointPairs

    root = tmp_path / "shot"
    shutil.copytree(shot_dir, root)
    gt0 = load_colored_frame(root / "gt" / "0000.png")
    frame1 = load_line_frame(root / "line" / "0001.png")
    # A keyframe pixel of one color, and a frame-1 character pixel off the lines that the run
    # would paint differently: the point must win.
    colors = {tuple(c) for c in gt0[gt0[..., 3] == 255][:, :3].tolist()} - {(0, 0, 0)}
    ys, xs = np.nonzero((frame1.lines.array == 0) & (load_colored_frame(root / "gt" / "0001.png")[..., 3] == 255))
    target = (float(xs[len(xs) // 2]), float(ys[len(ys) // 2]))
    colorize_shot(read_shot(root), FlatShotEngine, tmp_path / "plain", progress=False)
    plain = tuple(load_colored_frame(tmp_path / "plain" / "0001.png")[int(target[1]), int(target[0]), :3].tolist())
    other = next(c for c in sorted(colors) if c != plain)
    sy, sx = np.argwhere((gt0[..., :3] == other).all(-1))[0]
    (root / "points").mkdir()
    PointPairs.from_arrays(np.array([[sx, sy]]), np.array([target])).to_json(root / "points" / "0000_0001.json")
    shot = read_shot(root)
    assert shot.points == {("0000", "0001"): root / "points" / "0000_0001.json"}
    colorize_shot(shot, FlatShotEngine, tmp_path / "out", progress=False)
    out = load_colored_frame(tmp_path / "out" / "0001.png")
    assert tuple(out[int(target[1]), int(target[0]), :3].tolist()) == other
