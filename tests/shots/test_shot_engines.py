"""The shot engines behind the engine contract: the model engine gets the shot's point files
(as ``PointPairs`` whose ``reference_index`` picks the frame's references), and what the engines
record about themselves (a settings change redoes the frames)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from manganinja.data.synthetic_shots import ShotOptions, write_shots
from manganinja.engines import FlatEngine, MeanColorEngine, NinjaEngine
from manganinja.pipeline import MangaNinjaPipeline, build_pipeline
from manganinja.points import PointPairs
from manganinja.settings import NinjaSettings
from manganinja.shots.engines import EngineAdapter
from manganinja.shots.format import Shot, read_shot
from manganinja.shots.run import colorize_shot


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shots") / "set"
    write_shots(out, 1, ShotOptions(size=64, frames=3, shading_prob=1.0, occlusion_prob=0.0), seed=5)
    return out / "shot_00000"


@pytest.fixture(scope="module")
def pipe() -> MangaNinjaPipeline:
    return build_pipeline("tiny", seed=0)


def _ninja(pipe: MangaNinjaPipeline, steps: int = 1) -> NinjaEngine:
    return NinjaEngine(pipe, NinjaSettings(steps=steps, resolution=64, snap=False, progress=False))


def test_ninja_shots_pass_point_files_to_the_model(shot_dir: Path, pipe: MangaNinjaPipeline, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shot"
    shutil.copytree(shot_dir, root)
    (root / "points").mkdir()
    # Frame 0002 is colored from keyframe 0000 and the previous result 0001 (in that order).
    PointPairs.from_arrays([[10, 12]], [[20, 22]]).to_json(root / "points" / "0000_0002.json")
    PointPairs.from_arrays([[30, 31], [5, 6]], [[40, 41], [7, 8]]).to_json(root / "points" / "0001_0002.json")
    seen: list[tuple[int, PointPairs | None]] = []
    call = MangaNinjaPipeline.__call__

    def spy(self: MangaNinjaPipeline, *args: object, **kwargs: object) -> object:
        seen.append((len(kwargs["reference_encoding"].input_sizes), kwargs["points"]))  # type: ignore[union-attr]
        return call(self, *args, **kwargs)

    monkeypatch.setattr(MangaNinjaPipeline, "__call__", spy)
    run = colorize_shot(read_shot(root), lambda p: EngineAdapter(_ninja(pipe), p), tmp_path / "out", progress=False)
    assert [r.status for r in run.results] == ["done"] * 3
    assert len(seen) == 2  # frames 0001 (keyframe only, no point file) and 0002
    assert seen[0] == (1, None)
    n_refs, points = seen[1]
    assert n_refs == 2 and points is not None
    assert points.reference_indices.tolist() == [0, 1, 1]
    assert points.reference_xy.tolist() == [[10, 12], [30, 31], [5, 6]]
    assert points.lineart_xy.tolist() == [[20, 22], [40, 41], [7, 8]]


def test_a_ninja_settings_change_redoes_the_frames(shot_dir: Path, pipe: MangaNinjaPipeline, tmp_path: Path) -> None:
    shot = read_shot(shot_dir)
    shot = Shot(shot.root, shot.frames[:2], shot.keyframes, shot.size)
    out = tmp_path / "out"
    first = colorize_shot(shot, lambda p: EngineAdapter(_ninja(pipe, 1), p), out, progress=False)
    assert [r.status for r in first.results] == ["done"] * 2
    same = colorize_shot(shot, lambda p: EngineAdapter(_ninja(pipe, 1), p), out, progress=False)
    assert [r.status for r in same.results] == ["skipped"] * 2 and same.redo_line() is None
    more = colorize_shot(shot, lambda p: EngineAdapter(_ninja(pipe, 2), p), out, progress=False)
    status = {r.page.stem: r.status for r in more.results}
    # The keyframe's result is its own colors (no model): it stays; the colored frame is redone.
    assert status == {"0000": "skipped", "0001": "done"}
    assert more.redone["0001"] == ["steps 1 -> 2"]
    record = json.loads((out / "shot_run.json").read_text())
    assert record["settings"]["steps"] == 2 and record["settings"]["engine"] == "ninja"
    assert {"model", "seed", "resolution", "guidance_scale_ref", "guidance_scale_point"} <= set(record["settings"])
    assert "steps 1 -> 2" in (more.redo_line() or "")


def test_the_model_engine_records_its_model_sampling_and_palette(pipe: MangaNinjaPipeline) -> None:
    from manganinja.flat.propagate import Palette

    palette = Palette()
    described = EngineAdapter(_ninja(pipe, 3), palette).describe()
    assert described["engine"] == "ninja" and described["steps"] == 3 and described["resolution"] == 64
    assert {"model", "guidance_scale_ref", "guidance_scale_point", "seed", "palette"} <= set(described)
    palette.add(np.array([[200, 10, 10]], np.uint8), "0000")
    assert EngineAdapter(_ninja(pipe, 3), palette).describe()["palette"] != described["palette"]


def test_shot_engines_share_the_point_type() -> None:
    """Out-of-range reference indices are refused by the weight-free shot engine, as by the contract."""
    from manganinja.flat.propagate import Palette
    from manganinja.shots.engines import FlatShotEngine

    engine = FlatShotEngine(Palette())
    with pytest.raises(ValueError, match="reference_index 2"):
        engine.colorize([], None, PointPairs.from_arrays([[0, 0]], [[0, 0]], [2]))  # type: ignore[arg-type]


@pytest.mark.parametrize("page_engine", ["flat", "mean-color", "ninja"])
def test_a_page_engine_colors_shot_frames_through_the_road(page_engine: str, shot_dir: Path, pipe: MangaNinjaPipeline,
                                                          tmp_path: Path, road_calls: list[tuple[str, str]]) -> None:
    """A page engine made a shot engine (:class:`EngineAdapter`) takes the road pages take
    (``colorize.prepare``, ``PreparedEngine.colorize``): its own ``prepare``/``colorize`` fail
    when called any other way (the ``road_calls`` guard of tests/conftest.py)."""
    engine = {"flat": FlatEngine(), "mean-color": MeanColorEngine(), "ninja": _ninja(pipe)}[page_engine]
    run = colorize_shot(read_shot(shot_dir), lambda p: EngineAdapter(engine, p), tmp_path / "out", progress=False)
    assert [r.status for r in run.results] == ["done"] * 3, [r.error for r in run.results if r.error]
    # Frames 0001 and 0002 (the keyframe 0000 is its own colors): references prepared, frame colored.
    assert road_calls == [("prepare", page_engine), ("colorize", page_engine)] * 2
