"""Color every frame of a shot: the plan (which references each frame gets, in which order) and
the run, on top of :func:`manganinja.batch.run_pages` (atomic writes, finished frames skipped on a
rerun, a bad frame reported while the others finish, a progress bar).

Modes:

- ``keyframe``: each frame from its nearest keyframe (both, when two are equally near).
- ``propagate``: outward from each keyframe, frame by frame: each frame from the previous
  result (the neighbour toward its keyframe) and the nearest keyframe together. Between two
  keyframes the two chains meet in the middle; a frame equally far from both gets both neighbours
  and both keyframes.

Keyframes are results too: their own colors, snapped to their regions. Results are
``OUT/<stem>.png`` (RGBA); a result can serve as a keyframe of another run (copy it to ``gt/``).
``OUT/shot_run.json`` records the mode, the engine, the keyframes and each frame's references.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal

from PIL import Image

from manganinja.batch import PageResult, run_pages
from manganinja.flat.propagate import PaintedFrame, Palette, paint_from_colors
from manganinja.flat.review import FrameReview, frame_review, read_reviews, write_reviews
from manganinja.images import save_image
from manganinja.shots.engines import FramePoint, Reference, ShotEngine
from manganinja.shots.format import (
    Shot,
    ShotError,
    load_colored_frame,
    load_line_frame,
    load_points,
    write_json_atomic,
)
from manganinja.shots.render import ShotLayers, layer_paths, palette_report, render, write_layers

log = logging.getLogger(__name__)

Mode = Literal["propagate", "keyframe"]
MODES = ("propagate", "keyframe")
RUN_FILE = "shot_run.json"
#: Per-frame review figures and flags (:mod:`manganinja.flat.review`), in frame order.
REVIEW_FILE = "review.json"


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


@dataclass
class ShotRun:
    """What :func:`colorize_shot` did: per-frame results (``PageResult``) and the plan."""

    results: list[PageResult]
    tasks: list[FrameTask]
    palette: Palette
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: Per frame, in frame order (frames skipped on a rerun: as the earlier run recorded them).
    reviews: list[FrameReview] = field(default_factory=list)

    @property
    def failed(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "failed"]


def _frame_files(layers: bool) -> Callable[[Path], dict[str, Path]]:
    """``output -> {role: path}``: the images a frame writes (its palette JSON is written with
    them but is not an image, so it does not decide whether a frame is done)."""

    def files(out: Path) -> dict[str, Path]:
        found = {"image": out}
        if layers:
            found.update({k: v for k, v in layer_paths(out).items() if v.suffix == ".png"})
        return found

    return files


def colorize_shot(
    shot: Shot,
    engine_factory: Callable[[Palette], ShotEngine],
    out_dir: str | Path,
    *,
    mode: str = "propagate",
    layers: bool = False,
    keep_color_lines: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> ShotRun:
    """Color every frame of ``shot`` into ``out_dir`` (module docstring).

    ``engine_factory`` builds the engine once the keyframes' palette is known. Frames listed in
    ``shot.problems`` are reported as failed without being computed.
    """
    out_dir = Path(out_dir)
    tasks = plan(shot, mode)
    palette = Palette()
    keyed: dict[str, PaintedFrame] = {}
    for stem in shot.keyframes:
        frame = shot.frame(stem)
        lines = load_line_frame(frame.line, f"line frame '{stem}'")
        rgba = load_colored_frame(frame.gt, f"keyframe '{stem}'")  # type: ignore[arg-type]
        keyed[stem] = paint_from_colors(lines.lines.array, rgba, palette, stem, transparent=lines.transparent)
    engine = engine_factory(palette)
    record: dict[str, object] = {
        "format": "manganinja-shot-run", "version": 1, "shot": str(shot.root), "mode": mode,
        "engine": engine.name, "keyframes": list(shot.keyframes),
        "frames": [asdict(t) for t in tasks], "problems": [list(p) for p in shot.problems],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, out_dir / RUN_FILE)

    by_line = {shot.frame(t.stem).line: t for t in tasks}
    done: dict[str, PaintedFrame] = {}
    # A result stays in memory only until the frames colored from it have taken it (memory does
    # not grow with the length of the cut).
    users: dict[str, int] = {}
    for t in tasks:
        for p in t.previous:
            users[p] = users.get(p, 0) + 1
    pending: dict[Path, tuple[ShotLayers, dict[str, object]]] = {}
    reviews: dict[str, FrameReview] = {}

    def previous(stem: str) -> PaintedFrame | None:
        if stem in done:
            return done[stem]
        path = out_dir / f"{stem}.png"
        if not path.is_file():
            return None  # that frame failed: this one is colored from its keyframe(s) alone
        lines = load_line_frame(shot.frame(stem).line, f"line frame '{stem}'")
        done[stem] = paint_from_colors(lines.lines.array, load_colored_frame(path, f"result '{stem}'"),
                                       palette, f"result {stem}", transparent=lines.transparent)
        return done[stem]

    def colorize_page(page: Path) -> Image.Image:
        task = by_line[page]
        frame = load_line_frame(page, f"line frame '{task.stem}'")
        if task.distance == 0:
            painted = keyed[task.stem]
        else:
            refs = [Reference(keyed[k], "keyframe", k) for k in task.keyframes]
            for p in task.previous:
                prev = previous(p)
                if prev is not None:
                    refs.append(Reference(prev, "previous", p))
                users[p] -= 1
                if users[p] == 0:
                    done.pop(p, None)
            points = []
            for ref in refs:
                path = shot.points.get((ref.stem, task.stem))
                if path is not None:
                    pairs = load_points(path)
                    points += [FramePoint(ref.stem, tuple(p.reference), tuple(p.lineart)) for p in pairs]
            painted = engine.colorize(engine.prepare(refs), frame, points)
        if users.get(task.stem):
            done[task.stem] = painted
        reviews[task.stem] = frame_review(painted, task.stem)
        images = render(painted, frame, palette, keep_color_lines)
        out = out_dir / f"{task.stem}.png"
        if layers:
            pending[out] = (images, palette_report(painted, palette))
        return Image.fromarray(images.composite, "RGBA")

    def write(image: Image.Image, path: Path) -> None:
        if path in pending:
            write_layers(path, *pending.pop(path))
        save_image(image, path)

    pages = [shot.frame(t.stem).line for t in tasks]
    outputs = [out_dir / f"{t.stem}.png" for t in tasks]
    # What a result depends on: a frame made with other settings is redone (batch's manifest).
    settings = {"mode": mode, "engine": engine.name, "keyframes": list(shot.keyframes),
                "keep_color_lines": keep_color_lines}
    results = run_pages(pages, outputs, colorize_page, overwrite=overwrite, progress=progress, write=write,
                        files=_frame_files(layers), settings=settings, unit="frame")
    for stem, message in shot.problems:
        results.append(PageResult(shot.root / "line" / stem, out_dir / f"{stem}.png", "failed", message))
    earlier = {r.stem: r for r in read_reviews(out_dir / REVIEW_FILE)}
    ordered = [reviews.get(f.stem) or earlier.get(f.stem) for f in shot.frames]
    frame_reviews = write_reviews([r for r in ordered if r is not None], out_dir / REVIEW_FILE)
    return ShotRun(results, tasks, palette, list(shot.problems), frame_reviews)
