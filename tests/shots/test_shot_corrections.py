"""Corrections flow: a frame corrected by hand and put into ``gt/`` (a new keyframe), or a changed
point file, redoes exactly the frames whose chain passes through it; the others are skipped.
Changes are found by content, not by file times."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manganinja import PointPairs
from manganinja.data.synthetic_shots import ShotOptions, write_shots
from manganinja.shots.engines import FlatShotEngine
from manganinja.shots.format import load_colored_frame, load_line_frame, read_shot
from manganinja.shots.run import colorize_shot

FRAMES = 10


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shots") / "set"
    write_shots(out, 1, ShotOptions(size=96, frames=FRAMES, shading_prob=1.0, occlusion_prob=0.0), seed=2)
    return out / "shot_00000"


@pytest.fixture
def shot(source: Path, tmp_path: Path) -> Path:
    """The shot with only its first frame colored (every gt frame is a keyframe: no shot.json)."""
    root = tmp_path / "shot"
    shutil.copytree(source / "line", root / "line")
    (root / "gt").mkdir()
    shutil.copy(source / "gt" / "0000.png", root / "gt" / "0000.png")
    return root


def _run(root: Path, out: Path):
    return colorize_shot(read_shot(root), FlatShotEngine, out, progress=False)


def _status(run) -> dict[str, str]:
    return {r.page.stem: r.status for r in run.results}


def _stems(lo: int, hi: int) -> set[str]:
    return {f"{i:04d}" for i in range(lo, hi)}


def test_a_corrected_frame_in_gt_redoes_exactly_the_frames_downstream_of_it(shot: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _run(shot, out)
    assert set(_status(first).values()) == {"done"}
    record = json.loads((out / "shot_run.json").read_text())
    assert {f["stem"]: f["previous"] for f in record["frames"]}["0003"] == ["0002"]  # the chain is recorded
    # The painter fixes frame 7: recolors one region of the result, and puts it into gt/.
    fixed = load_colored_frame(out / "0007.png").copy()
    paint = (fixed[..., 3] == 255) & (load_line_frame(shot / "line" / "0007.png").lines.array == 0)
    values, counts = np.unique(fixed[paint][:, :3], axis=0, return_counts=True)
    colors = [tuple(values[i]) for i in np.argsort(-counts)[:2]]  # the two largest fills
    recolored = (fixed[..., :3] == colors[0]).all(-1) & paint
    fixed[recolored, :3] = colors[1]
    Image.fromarray(fixed, "RGBA").save(shot / "gt" / "0007.png")
    before = {s: (out / f"{s}.png").read_bytes() for s in _stems(0, FRAMES)}

    again = _run(shot, out)
    status = _status(again)
    # Keyframes 0 and 7: frames 1-3 are still nearest to 0 and colored as before; 4-6 are now
    # colored from 7 (frame 4 is 3 from 7, 4 from 0), 7 is the keyframe, 8-9 follow it.
    downstream = _stems(4, FRAMES)
    assert {s for s, v in status.items() if v == "done"} == downstream
    assert {s for s, v in status.items() if v == "skipped"} == _stems(0, 4)
    assert set(again.redone) == downstream
    assert all(c == ["gt/0007.png added"] for c in again.redone.values())
    line = again.redo_line()
    assert line is not None and "gt/0007.png added" in line and "6 frame(s) redone" in line and "4 unchanged" in line
    for s in _stems(0, 4):
        assert (out / f"{s}.png").read_bytes() == before[s]
    now = load_colored_frame(out / "0007.png")
    assert (now[recolored, :3] == colors[1]).all(-1).mean() > 0.95  # the correction is the result

    os.utime(shot / "gt" / "0007.png", (1, 1))
    assert set(_status(_run(shot, out)).values()) == {"skipped"}  # a new file time alone redoes nothing


def test_a_changed_point_file_redoes_its_frame_and_what_came_from_it(shot: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(shot, out)
    (shot / "points").mkdir()
    frame3 = np.asarray(Image.open(shot / "line" / "0003.png").convert("L"))
    ys, xs = np.nonzero(frame3 > 200)  # a paper pixel of frame 3
    PointPairs.from_arrays([[5, 5]], [[xs[0], ys[0]]]).to_json(shot / "points" / "0002_0003.json")
    again = _run(shot, out)
    status = _status(again)
    assert {s for s, v in status.items() if v == "skipped"} >= _stems(0, 3)
    assert status["0003"] == "done" and again.redone["0003"] == ["points/0002_0003.json added"]
    # A later frame is redone only through the chain (its previous result changed), for the same cause.
    for s in _stems(4, FRAMES):
        if status[s] == "done":
            assert again.redone[s] == ["points/0002_0003.json added"]
            assert status[f"{int(s) - 1:04d}"] == "done"
    # Changing the point file's content redoes frame 3 again; writing the same content does not.
    PointPairs.from_arrays([[6, 5]], [[xs[0], ys[0]]]).to_json(shot / "points" / "0002_0003.json")
    third = _run(shot, out)
    assert _status(third)["0003"] == "done" and third.redone["0003"] == ["points/0002_0003.json changed"]
    PointPairs.from_arrays([[6, 5]], [[xs[0], ys[0]]]).to_json(shot / "points" / "0002_0003.json")
    assert set(_status(_run(shot, out)).values()) == {"skipped"}


def test_a_failed_previous_frame_redoes_the_frame_colored_without_it(shot: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = (shot / "line" / "0002.png").read_bytes()
    (shot / "line" / "0002.png").write_bytes(b"broken")
    first = _run(shot, out)
    assert _status(first)["0002"] == "failed" and _status(first)["0003"] == "done"
    (shot / "line" / "0002.png").write_bytes(good)
    again = _run(shot, out)
    status = _status(again)
    assert status["0002"] == "done" and status["0003"] == "done" and status["0001"] == "skipped"
