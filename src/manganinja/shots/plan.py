"""The plan of a shot run: which frames each frame is colored from, in which order, and the run's
record ``OUT/shot_run.json`` (written by :func:`manganinja.shots.run.colorize_shot`, read by the
evaluation). Pure data about a shot: no engine, no run.

Modes:

- ``keyframe``: each frame from its nearest keyframe (both, when two are equally near).
- ``propagate``: outward from each keyframe, frame by frame: each frame from the previous
  result (the neighbour toward its keyframe) and the nearest keyframe together. Between two
  keyframes the two chains meet in the middle; a frame equally far from both gets both neighbours
  and both keyframes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from manganinja.shots.format import Shot, ShotError

Mode = Literal["propagate", "keyframe"]
MODES = ("propagate", "keyframe")
RUN_FILE = "shot_run.json"


@dataclass(frozen=True)
class FrameTask:
    """One frame to color: its ``stem``, ``distance`` (frames to the nearest keyframe), the
    ``keyframes`` and ``previous`` results it is colored from (stems)."""

    stem: str
    distance: int
    keyframes: tuple[str, ...] = ()
    previous: tuple[str, ...] = ()


def plan(shot: Shot, mode: str) -> list[FrameTask]:
    """Tasks for every usable frame, in an order where each frame's references come first."""
    if mode not in MODES:
        raise ShotError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
    stems = [f.stem for f in shot.frames]
    keys = [stems.index(k) for k in shot.keyframes if k in stems]
    tasks: list[tuple[int, int, FrameTask]] = []
    for i, stem in enumerate(stems):
        if i in keys:
            tasks.append((0, i, FrameTask(stem, 0)))
            continue
        left = max((k for k in keys if k < i), default=None)
        right = min((k for k in keys if k > i), default=None)
        dl = i - left if left is not None else 10**9
        dr = right - i if right is not None else 10**9
        if dl < dr:
            key, prev = [left], [i - 1]
        elif dr < dl:
            key, prev = [right], [i + 1]
        else:
            key, prev = [left, right], [i - 1, i + 1]
        d = min(dl, dr)
        previous = tuple(stems[p] for p in prev if p not in keys) if mode == "propagate" else ()
        task = FrameTask(stem, d, tuple(stems[k] for k in key if k is not None), previous)  # type: ignore[index]
        tasks.append((d, i, task))
    tasks.sort(key=lambda t: (t[0], t[1]))
    return [t for _, _, t in tasks]


@dataclass(frozen=True)
class RunRecord:
    """What ``OUT/shot_run.json`` says about a run: its ``mode``, ``keyframes`` and each frame's
    ``distance`` from its keyframe."""

    mode: str
    keyframes: tuple[str, ...]
    distances: dict[str, int]


def read_run_record(results: Path) -> RunRecord | None:
    """The record of the run that wrote ``results`` (None when there is none); ShotError names a
    damaged one."""
    path = Path(results) / RUN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(str(data["mode"]), tuple(data["keyframes"]),
                         {f["stem"]: int(f["distance"]) for f in data["frames"]})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShotError(f"run record '{path}' is damaged ({exc}); color the shot again") from None
