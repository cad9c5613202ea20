"""The flat shot engine's settings (manganinja.settings.FlatShotSettings): every field reaches the
code that uses it, the engine records them all, a bad value is refused in one line, and a run
with another value redoes its frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from manganinja.data.synthetic_shots import ShotOptions, generate_shot, write_shots
from manganinja.flat.propagate import PaintedFrame, Palette, paint_from_colors
from manganinja.settings import FlatShotSettings, describe_error
from manganinja.shots.engines import FlatShotEngine, Reference
from manganinja.shots.format import LineFrame, load_line_frame, read_shot
from manganinja.shots.run import colorize_shot

#: Per field: a non-default value, and the other fields it needs to have an effect (the border
#: rule's two thresholds act together; poor_weight: see ``_keyframe_poor``).
CHANGES: dict[str, tuple[object, dict[str, object]]] = {
    "previous_weight": (3.0, {}),
    "keyframe_weight": (2.0, {}),
    "unsure_power": (0.0, {}),
    "poor_weight": (1.0, {}),
    "disagree_penalty": (0.0, {}),
    "work_long_side": (96, {}),
    "smoothing": (2.0, {}),
    "min_inliers": (10000, {}),
    "min_agreement": (1.0, {}),
    "max_size_ratio": (1.0, {}),
    "overlap_share": (0.1, {}),
    "outer_weight": (1.0, {}),
    "position_sigma": (0.01, {}),
    "area_sigma": (0.02, {}),
    "elongation_sigma": (0.02, {}),
    "no_match": (20.0, {}),
    "border_share": (0.0, {"border_cover": 0.0}),
    "border_cover": (0.0, {"border_share": 0.0}),
}


#: The trace rule's fields act only across color-trace lines: tests/flat/test_trace_rule.py
#: shows each of them changing a result.
TRACE_FIELDS = {"trace_rule", "trace_share", "trace_margin"}


def test_every_field_has_a_change_case() -> None:
    assert set(CHANGES) | TRACE_FIELDS == set(FlatShotSettings.model_fields)


@pytest.fixture(scope="module")
def frames() -> tuple[Palette, PaintedFrame, PaintedFrame, LineFrame]:
    """A keyframe (frame 0), the previous result (frame 1 colored from it) and the line frame 2
    of a small synthetic shot on opaque paper (so the border rule decides the paper)."""
    shot = generate_shot([1, 5], ShotOptions(size=160, frames=3, max_large_changes=0, occlusion_prob=0.0,
                                             shading_prob=1.0, transparent_prob=0.0))
    palette = Palette()
    first = load_line_frame(shot.lines[0])
    key = paint_from_colors(first.lines.array, shot.gt[0], palette, "0000", transparent=first.transparent)
    engine = FlatShotEngine(palette, FlatShotSettings())
    prev = engine.colorize(engine.prepare([Reference(key, "keyframe", "0000")]), load_line_frame(shot.lines[1]))
    return palette, key, prev, load_line_frame(shot.lines[2])


def _painted(frames, settings: FlatShotSettings) -> PaintedFrame:
    palette, key, prev, frame2 = frames
    engine = FlatShotEngine(palette, settings)
    refs = [Reference(key, "keyframe", "0000"), Reference(prev, "previous", "0001")]
    return engine.colorize(engine.prepare(refs), frame2)


def _result(frames, settings: FlatShotSettings) -> tuple[np.ndarray, ...]:
    out = _painted(frames, settings)
    return out.index, out.confidence, out.certainty


def _keyframe_poor(frames) -> dict[str, object]:
    """A ``min_agreement`` that makes the keyframe's alignment poor and leaves the previous
    result's good: ``poor_weight`` only changes a result when one source is poor and the other
    is not dropped (scaling every source alike changes no share)."""
    found = _painted(frames, FlatShotSettings()).alignments
    key, prev = found["keyframe 0000"].line_agreement, found["previous 0001"].line_agreement
    assert key < prev, "the fixture's keyframe should align worse than its previous frame"
    return {"min_agreement": (key + prev) / 2}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_non_default_value_reaches_the_code(frames, name: str) -> None:
    value, needs = CHANGES[name]
    needs = _keyframe_poor(frames) if name == "poor_weight" else needs
    assert FlatShotSettings.model_fields[name].default != value
    base = _result(frames, FlatShotSettings(**needs))
    changed = _result(frames, FlatShotSettings(**needs, **{name: value}))
    assert any(not np.array_equal(a, b) for a, b in zip(base, changed)), f"{name}={value} changed nothing"


def test_describe_lists_every_field() -> None:
    settings = FlatShotSettings(unsure_power=0.5, min_inliers=20)
    described = FlatShotEngine(Palette(), settings).describe()
    assert set(described) == {"engine"} | set(FlatShotSettings.model_fields)
    assert described["engine"] == "flat"
    assert {k: described[k] for k in FlatShotSettings.model_fields} == settings.model_dump()


@pytest.mark.parametrize("kwargs, field", [
    ({"unsure_power": -1.0}, "unsure_power"),
    ({"poor_weight": 1.5}, "poor_weight"),
    ({"keyframe_weight": 0.0}, "keyframe_weight"),
    ({"border_share": float("nan")}, "border_share"),
    ({"work_long_side": 10}, "work_long_side"),
    ({"max_size_ratio": 0.5}, "max_size_ratio"),
    ({"unsure_powr": 1.0}, "unsure_powr"),
])
def test_a_bad_value_is_one_line_naming_the_field(kwargs, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        FlatShotSettings(**kwargs)
    message = describe_error(info.value)
    assert message.startswith(field) and "\n" not in message


def test_the_run_records_every_setting_and_a_change_redoes_the_frames(tmp_path: Path) -> None:
    write_shots(tmp_path / "set", 1, ShotOptions(size=96, frames=3, occlusion_prob=0.0), seed=2)
    shot = read_shot(tmp_path / "set" / "shot_00000")
    out = tmp_path / "out"
    colorize_shot(shot, FlatShotEngine.factory(FlatShotSettings()), out, progress=False)
    record = json.loads((out / "shot_run.json").read_text())
    assert {k: record["settings"][k] for k in FlatShotSettings.model_fields} == FlatShotSettings().model_dump()
    again = colorize_shot(shot, FlatShotEngine.factory(FlatShotSettings()), out, progress=False)
    assert all(r.status == "skipped" for r in again.results)
    changed = colorize_shot(shot, FlatShotEngine.factory(FlatShotSettings(unsure_power=0.5)), out, progress=False)
    assert sorted(changed.redone) == ["0001", "0002"]
    assert all("unsure_power 1.0 -> 0.5" in " ".join(c) for c in changed.redone.values())
    assert json.loads((out / "shot_run.json").read_text())["settings"]["unsure_power"] == 0.5


def test_a_setting_recorded_on_one_side_only_is_named_as_the_cause() -> None:
    """A frame made by an engine that recorded fewer settings is redone, naming the new ones; a
    frame that became a keyframe (no engine settings now) names its keyframe file, not every
    setting."""
    from manganinja.shots.run import redo_causes

    files = {"line/0001.png": "a", "line/0000.png": "b", "gt/0000.png": "c"}
    old = {"mode": "propagate", "keep_color_lines": False, "engine": "flat", **files}
    new = {**old, "unsure_power": 1.0}
    assert redo_causes(old, new, {}, {}) == ["unsure_power (unset) -> 1.0"]
    keyframe = {"keep_color_lines": False, "line/0001.png": "a", "gt/0001.png": "d"}
    causes = redo_causes(new, keyframe, {"gt/0001.png": "added"}, {})
    assert causes == ["gt/0001.png added"]
