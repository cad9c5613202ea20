"""The plan of a shot run: every frame once, references first, chains meeting in the middle."""

from __future__ import annotations

from pathlib import Path

from manganinja.shots.format import Shot, ShotFrame
from manganinja.shots.plan import plan


def _shot(stems: list[str], keys: list[str]) -> Shot:
    frames = tuple(ShotFrame(s, int(s), Path(f"line/{s}.png"), Path(f"gt/{s}.png") if s in keys else None) for s in stems)
    return Shot(Path("."), frames, tuple(keys), (8, 8))


def test_keyframe_mode_colors_every_frame_once_from_the_nearest_keyframe() -> None:
    tasks = plan(_shot([f"{i:02d}" for i in range(8)], ["01", "06"]), "keyframe")
    assert sorted(t.stem for t in tasks) == [f"{i:02d}" for i in range(8)]
    by = {t.stem: t for t in tasks}
    assert by["00"].keyframes == ("01",) and by["03"].keyframes == ("01",) and by["05"].keyframes == ("06",)
    assert all(t.previous == () for t in tasks)


def test_propagation_between_two_keyframes_meets_in_the_middle() -> None:
    stems = [f"{i:02d}" for i in range(9)]
    tasks = plan(_shot(stems, ["00", "08"]), "propagate")
    assert sorted(t.stem for t in tasks) == stems
    by = {t.stem: t for t in tasks}
    assert by["01"].previous == () and by["01"].keyframes == ("00",)  # next to a keyframe: from it
    assert by["02"].previous == ("01",) and by["03"].previous == ("02",)
    assert by["07"].keyframes == ("08",) and by["06"].previous == ("07",) and by["05"].previous == ("06",)
    assert by["04"].previous == ("03", "05") and by["04"].keyframes == ("00", "08")
    order = [t.stem for t in tasks]
    for t in tasks:  # every reference is colored before the frame that uses it
        assert all(order.index(p) < order.index(t.stem) for p in t.previous + t.keyframes)


def test_propagation_outward_from_one_keyframe() -> None:
    tasks = plan(_shot(["0", "1", "2", "3", "4"], ["2"]), "propagate")
    by = {t.stem: t for t in tasks}
    assert by["0"].previous == ("1",) and by["4"].previous == ("3",) and by["0"].distance == 2
