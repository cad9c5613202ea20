"""Color every frame of a shot, following its plan (:mod:`manganinja.shots.plan`: which
references each frame gets, in which order), on top of :func:`manganinja.batch.run_pages`
(atomic writes, finished frames skipped on a rerun, a bad frame reported while the others
finish).

Keyframes are results too: their own colors, snapped to their regions. Results are
``OUT/<stem>.png`` (RGBA); a result can serve as a keyframe of another run (copy it to ``gt/``).
``OUT/shot_run.json`` records the mode, the engine and its settings, the keyframes and each
frame's references.

What a result depends on is recorded per frame in the folder's manifest
(:mod:`manganinja.manifest`, :func:`frame_inputs`): the run's settings (mode, engine and its
settings: the model, the sampling values...) and the content hash of every file it was colored
from: its line frame, its keyframe(s) (line and colored frame), the point files from its
references, and the previous frame's result. A rerun redoes a frame when one of them changed and
skips it otherwise, so a frame corrected by hand and put into ``gt/`` (a new keyframe), a changed
point file or a changed setting redoes exactly the frames whose chain passes through it
(:attr:`ShotRun.redone` says why; a redone frame whose result comes out the same does not redo
the frames colored from it).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from PIL import Image
from tqdm.auto import tqdm

from manganinja.batch import PageResult, run_pages
from manganinja.flat.propagate import PaintedFrame, Palette, paint_from_colors
from manganinja.flat.review import FrameReview, frame_review, read_reviews, write_reviews
from manganinja.images import save_image
from manganinja.manifest import JSONValue, Manifest, normalize_settings, settings_change
from manganinja.points import PointPair, PointPairs
from manganinja.shots.engines import Reference, ShotEngine
from manganinja.shots.format import (
    Shot,
    frame_number,
    load_colored_frame,
    load_line_frame,
    load_points,
    write_json_atomic,
)
from manganinja.shots.plan import RUN_FILE, FrameTask, plan
from manganinja.shots.render import ShotLayers, layer_paths, palette_report, render, write_layers

#: Per-frame review figures and flags (:mod:`manganinja.flat.review`), in frame order.
REVIEW_FILE = "review.json"

#: The key under which a frame's inputs record the previous frame's result: ``result <stem>``.
RESULT_KEY = "result "
#: The value recorded for a previous frame that has no result (it failed): colored without it.
MISSING = "missing"


def file_digest(path: Path) -> str:
    """Short content hash (sha256, 16 hex digits) of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def frame_inputs(shot: Shot, task: FrameTask, results: Mapping[str, Path | None],
                 digest: Callable[[Path], str] = file_digest) -> dict[str, str]:
    """What the result of ``task`` is colored from, by content hash: ``{"line/0005.png": hash,
    "line/0003.png": ..., "gt/0003.png": ... (its keyframes, a keyframe itself for a keyframe),
    "points/0003_0005.json": ..., "result 0004": hash of the previous frame's result or
    "missing"}``. Paths are relative to the shot folder. ``results``: stem -> the path of that
    frame's result as this run left it (None: failed)."""

    def rel(path: Path) -> str:
        try:
            return path.relative_to(shot.root).as_posix()
        except ValueError:
            return path.as_posix()

    frame = shot.frame(task.stem)
    out = {rel(frame.line): digest(frame.line)}
    for k in task.keyframes or (task.stem,):
        key = shot.frame(k)
        out[rel(key.line)] = digest(key.line)
        out[rel(key.gt)] = digest(key.gt)  # type: ignore[arg-type]
    for ref in task.keyframes + task.previous:
        points = shot.points.get((ref, task.stem))
        if points is not None:
            out[rel(points)] = digest(points)
    for p in task.previous:
        path = results.get(p)
        out[RESULT_KEY + p] = digest(path) if path is not None and path.is_file() else MISSING
    return out


def _is_file(key: str) -> bool:
    """Whether a key of a frame's record is an input file (a path in the shot folder)."""
    return "/" in key and not key.startswith(RESULT_KEY)


def input_changes(before: Iterable[Mapping[str, JSONValue]], now: Iterable[Mapping[str, JSONValue]]) -> dict[str, str]:
    """The shot's input files that changed between two runs: path -> ``added``, ``removed`` or
    ``changed`` (by content hash), from the frames' records of each run."""
    old = {k: v for m in before for k, v in m.items() if _is_file(k)}
    new = {k: v for m in now for k, v in m.items() if _is_file(k)}
    out = {}
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out[key] = "added"
        elif key not in new:
            out[key] = "removed"
        elif old[key] != new[key]:
            out[key] = "changed"
    return out


def redo_causes(old: Mapping[str, JSONValue] | None, new: Mapping[str, JSONValue], changes: Mapping[str, str],
                upstream: Mapping[str, list[str]]) -> list[str]:
    """Why a frame recorded as made from ``old`` (settings and inputs, :func:`frame_inputs`) must
    be made again from ``new``; empty when nothing changed (or it was never made).

    The causes are the shot's changed input files (``changes``, :func:`input_changes`) that its
    chain passes through before or now (``gt/0007.png added``), the changed settings
    (``steps 20 -> 50``), and for a changed previous result the causes of that frame
    (``upstream``: stem -> causes of the frames redone so far)."""
    if old is None or dict(old) == dict(new):
        return []
    causes = [f"{k} {changes[k]}" for k in sorted(set(old) | set(new)) if k in changes]
    # Settings (neither input files nor previous results). Both made by an engine: a setting
    # recorded on one side only (an engine that now records more of its settings) counts as
    # changed, shown as "(unset)"; a frame that became a keyframe or stopped being one has no
    # engine settings on one side, and its cause is the keyframe file above.
    both = "engine" in old and "engine" in new
    setting = [k for k in dict.fromkeys([*old, *new]) if not _is_file(k) and not k.startswith(RESULT_KEY)
               and (both or (k in old and k in new))]
    moved = settings_change({k: old[k] for k in setting if k in old}, {k: new[k] for k in setting if k in new})
    if moved:
        causes.append(moved)
    for key in sorted(set(old) & set(new)):  # (a previous frame that came or went: the plan moved)
        if key.startswith(RESULT_KEY) and old[key] != new[key]:
            stem = key[len(RESULT_KEY):]
            causes += upstream.get(stem) or [f"the result of {stem} changed"]
    return list(dict.fromkeys(causes)) or ["its references changed"]


@dataclass
class ShotRun:
    """What :func:`colorize_shot` did: per-frame results (``PageResult``) and the plan;
    ``redone``: stem -> why a frame made before was made again (its chain passes through a
    changed input or setting)."""

    results: list[PageResult]
    tasks: list[FrameTask]
    palette: Palette
    problems: list[tuple[str, str]] = field(default_factory=list)
    redone: dict[str, list[str]] = field(default_factory=dict)
    #: Per frame, in frame order (frames skipped on a rerun: as the earlier run recorded them).
    reviews: list[FrameReview] = field(default_factory=list)

    @property
    def failed(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "failed"]

    def redo_line(self, limit: int = 8) -> str | None:
        """One line: which frames were redone and why (None when none was)."""
        if not self.redone:
            return None
        causes = list(dict.fromkeys(c for cs in self.redone.values() for c in cs))
        stems = sorted(self.redone, key=lambda s: frame_number(s) or 0)
        shown = ", ".join(stems[:limit]) + (f", ... ({len(stems) - limit} more)" if len(stems) > limit else "")
        kept = sum(r.status == "skipped" for r in self.results)
        return (f"{len(stems)} frame(s) redone because their chain passes through a change "
                f"({'; '.join(causes[:4])}{'; ...' if len(causes) > 4 else ''}): {shown}; "
                f"{kept} unchanged frame(s) skipped")


def _frame_files(layers: bool) -> Callable[[Path], dict[str, Path]]:
    """``output -> {role: path}``: the images a frame writes (its palette JSON is written with
    them but is not an image, so it does not decide whether a frame is done)."""

    def files(out: Path) -> dict[str, Path]:
        found = {"image": out}
        if layers:
            found.update({k: v for k, v in layer_paths(out).items() if v.suffix == ".png"})
        return found

    return files


def _recorded(out_dir: Path) -> dict[str, dict[str, JSONValue]]:
    """Output file name -> the settings and inputs the manifest of ``out_dir`` records it done with."""
    data = Manifest(out_dir).data
    found = {}
    for name, entry in data["pages"].items():
        mapping = data["settings"].get(entry.get("settings"))
        if entry.get("status") == "done" and isinstance(mapping, dict):
            found[name] = mapping
    return found


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
    ``shot.problems`` are reported as failed without being computed. A frame is skipped when its
    files are there and it was made with the same settings from the same inputs
    (:func:`frame_inputs`); a frame made before from other inputs or settings is redone and
    :attr:`ShotRun.redone` says why.
    """
    out_dir = Path(out_dir)
    tasks = plan(shot, mode)
    palette = Palette()
    keyed: dict[str, PaintedFrame] = {}
    for stem in shot.keyframes:
        frame = shot.frame(stem)
        lines = load_line_frame(frame.line, f"line frame '{stem}'")
        rgba = load_colored_frame(frame.gt, f"keyframe '{stem}'")  # type: ignore[arg-type]
        keyed[stem] = paint_from_colors(lines.lines.array, rgba, palette, stem, transparent=lines.transparent,
                                        colored=lines.colored)
    engine = engine_factory(palette)
    # What every result depends on besides its own inputs (a frame made with other settings is redone).
    settings = normalize_settings({"mode": mode, "keep_color_lines": keep_color_lines, **engine.describe()})
    record: dict[str, object] = {
        "format": "manganinja-shot-run", "version": 2, "shot": str(shot.root), "mode": mode,
        "engine": engine.name, "settings": settings, "keyframes": list(shot.keyframes),
        "frames": [asdict(t) for t in tasks], "problems": [list(p) for p in shot.problems],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    before = _recorded(out_dir)
    write_json_atomic(record, out_dir / RUN_FILE)

    done: dict[str, PaintedFrame] = {}
    # A result stays in memory only until the frames colored from it have taken it (memory does
    # not grow with the length of the cut).
    users: dict[str, int] = {}
    for t in tasks:
        for p in t.previous:
            users[p] = users.get(p, 0) + 1
    pending: dict[Path, tuple[ShotLayers, dict[str, object]]] = {}
    reviews: dict[str, FrameReview] = {}
    # stem -> the frame's result as this run leaves it (None: failed).
    outputs: dict[str, Path | None] = {}
    digests: dict[Path, str] = {}

    def digest(path: Path) -> str:  # input files are hashed once per run
        if path not in digests:
            digests[path] = file_digest(path)
        return digests[path]

    def previous(stem: str) -> PaintedFrame | None:
        if stem in done:
            return done[stem]
        path = outputs.get(stem)
        if path is None or not path.is_file():
            return None  # that frame failed: this one is colored from its keyframe(s) alone
        lines = load_line_frame(shot.frame(stem).line, f"line frame '{stem}'")
        done[stem] = paint_from_colors(lines.lines.array, load_colored_frame(path, f"result '{stem}'"),
                                       palette, f"result {stem}", transparent=lines.transparent)
        return done[stem]

    def colorize_task(task: FrameTask) -> Image.Image:
        frame = load_line_frame(shot.frame(task.stem).line, f"line frame '{task.stem}'")
        if task.distance == 0:
            painted = keyed[task.stem]
        else:
            refs = [Reference(keyed[k], "keyframe", k) for k in task.keyframes]
            for p in task.previous:
                prev = previous(p)
                if prev is not None:
                    refs.append(Reference(prev, "previous", p))
            pairs: list[PointPair] = []
            for i, ref in enumerate(refs):
                path = shot.points.get((ref.stem, task.stem))
                if path is not None:
                    pairs += [PointPair(p.reference, p.lineart, i) for p in load_points(path)]
            painted = engine.colorize(engine.prepare(refs), frame, PointPairs(pairs) if pairs else None)
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

    # Which input files changed since the last run (the frames' records; results left aside).
    files_now = [frame_inputs(shot, t, {}, digest) for t in tasks]
    changes = input_changes(before.values(), files_now)
    results: list[PageResult] = []
    redone: dict[str, list[str]] = {}
    for task in tqdm(tasks, desc="frames", unit="frame", disable=not progress):
        out = out_dir / f"{task.stem}.png"
        page = shot.frame(task.stem).line
        try:
            inputs = frame_inputs(shot, task, outputs, digest)
        except OSError as exc:  # an input vanished since the shot was read
            results.append(PageResult(page, out, "failed", f"{type(exc).__name__}: {exc}"))
            outputs[task.stem] = None
            continue
        # A keyframe's result is its own colors: it depends on no engine setting.
        mapping = {**(settings if task.distance else {"keep_color_lines": keep_color_lines}), **inputs}
        causes = [] if overwrite else redo_causes(before.get(out.name), mapping, changes, redone)
        # A frame whose recorded inputs or settings changed is redone here (the line above says
        # why); the manifest's own check still redoes a frame whose files are missing or damaged.
        [result] = run_pages([page], [out], lambda _page, t=task: colorize_task(t),
                             overwrite=overwrite or bool(causes), progress=False, write=write,
                             files=_frame_files(layers), settings=mapping, unit="frame")
        if causes and result.status == "done":
            redone[task.stem] = causes
        results.append(result)
        outputs[task.stem] = None if result.status == "failed" else out
        for p in task.previous:
            users[p] -= 1
            if users[p] == 0:
                done.pop(p, None)
    for stem, message in shot.problems:
        results.append(PageResult(shot.root / "line" / stem, out_dir / f"{stem}.png", "failed", message))
    earlier = {r.stem: r for r in read_reviews(out_dir / REVIEW_FILE)}
    ordered = [reviews.get(f.stem) or earlier.get(f.stem) for f in shot.frames]
    frame_reviews = write_reviews([r for r in ordered if r is not None], out_dir / REVIEW_FILE)
    return ShotRun(results, tasks, palette, list(shot.problems), redone=redone, reviews=frame_reviews)
