"""The shot folder (PaintBucket-Character layout) and its frames as arrays.

A shot folder holds::

    SHOT/line/<frame>.png     line art of every frame: black or colored lines on white or on
                              transparency (RGBA allowed)
    SHOT/gt/<frame>.png       the colored frames (keyframes): RGBA, transparent background allowed
    SHOT/points/<from>_<to>.json   optional point pairs from frame <from> (reference) to <to>

Frames are ordered by the number in their stem (``0007.png``, ``frame_12.png``). Everything a run
needs to know about the inputs is checked by :func:`read_shot` before any frame is computed:
a fatal problem raises :class:`ShotError` (one line), a problem with one frame is listed in
:attr:`Shot.problems` and only that frame is left out.

Line art is normalized once, here, into :class:`LineFrame`: ``lines`` float32 ``(H, W)`` in
``[0, 1]``, white lines on black (1 = line), every line (black or colored) included; the colored
ones are also marked in ``colored`` (they are region boundaries while painting and are painted
over in the composite).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from manganinja.images import IMAGE_SUFFIXES, ImageInputError, load_image, to_rgb, write_json_atomic  # write_json_atomic: re-exported
from manganinja.lines import Lines, ink_strength
from manganinja.points import PointPairs, PointsError

#: Image suffixes read as frames.
FRAME_SUFFIXES = IMAGE_SUFFIXES
#: A line pixel whose color spread (max - min channel) is at least this is a colored line.
COLOR_LINE_CHROMA = 60
#: Alpha below this (0..255) counts as transparent.
ALPHA_CUTOFF = 128


class ShotError(ValueError):
    """A shot that cannot be used at all; the message names the problem and the fix."""


@dataclass(frozen=True)
class ShotFrame:
    """One frame of a shot: ``stem`` (file stem), ``number`` (the number in the stem), its line
    art path and, for a keyframe, its colored frame path."""

    stem: str
    number: int
    line: Path
    gt: Path | None = None


@dataclass(frozen=True)
class Shot:
    """A checked shot folder.

    Attributes:
        root: the folder.
        frames: usable frames, ordered by number.
        keyframes: stems of the frames used as keyframes (colored), in frame order.
        size: ``(width, height)`` shared by every usable frame.
        points: ``(from stem, to stem) -> path`` of the point files.
        problems: ``(stem, message)`` for frames left out (unreadable, wrong size); a run reports
            them as failed.
    """

    root: Path
    frames: tuple[ShotFrame, ...]
    keyframes: tuple[str, ...]
    size: tuple[int, int]
    points: dict[tuple[str, str], Path] = field(default_factory=dict)
    problems: tuple[tuple[str, str], ...] = ()

    def index(self, stem: str) -> int:
        """Position of frame ``stem`` in :attr:`frames`."""
        for i, frame in enumerate(self.frames):
            if frame.stem == stem:
                return i
        raise KeyError(stem)

    def frame(self, stem: str) -> ShotFrame:
        return self.frames[self.index(stem)]


@dataclass(frozen=True)
class LineFrame:
    """A line frame normalized once.

    Attributes:
        lines: the line art (:class:`~manganinja.lines.Lines`, white lines on black): every line,
            black or colored.
        colored: bool ``(H, W)``: line pixels drawn in color (color-trace lines).
        transparent: bool ``(H, W)``: paper pixels transparent in the input, when the input also
            has opaque paper (then transparency marks the background); all False for lines on a
            fully transparent sheet.
        ink: uint8 ``(H, W, 3)``: the color each line pixel was drawn in (kept lines).
    """

    lines: Lines
    colored: np.ndarray
    transparent: np.ndarray
    ink: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.lines.array.shape  # type: ignore[return-value]


_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def frame_number(stem: str) -> int | None:
    """The last run of digits in ``stem`` as an int (``"frame_012" -> 12``), or None."""
    match = _NUMBER.search(stem)
    return int(match.group(1)) if match else None


def _frame_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES}


def _size_or_problem(path: Path, stem: str, what: str, problems: list[tuple[str, str]]) -> tuple[int, int] | None:
    """Decode ``path`` fully (so a truncated file is found now) and return its (width, height);
    None, with ``(stem, message)`` added to ``problems``, when it cannot be read."""
    try:
        return load_image(path, name=what).size
    except ImageInputError as exc:
        problems.append((stem, str(exc)))
        return None


def read_shot(root: str | os.PathLike, keyframes: list[str] | None = None) -> Shot:
    """Read and check a shot folder (see the module docstring).

    Args:
        root: the shot folder.
        keyframes: stems of the colored frames to use as keyframes (default: those named by
            ``SHOT/shot.json`` if present, else every frame in ``gt/``). The other frames of
            ``gt/`` are then ground truth only (for evaluation).

    Raises:
        ShotError: no folder, no line frames, a number used twice, a gt frame without a line
            frame, no (readable) keyframe, keyframes of different sizes, a bad point file name.
    """
    root = Path(root)
    if not root.is_dir():
        raise ShotError(f"shot folder '{root}' not found")
    lines = _frame_files(root / "line")
    if not lines:
        raise ShotError(f"shot '{root}': no line frames in '{root / 'line'}' ({', '.join(FRAME_SUFFIXES)})")
    gts = _frame_files(root / "gt")
    orphans = sorted(set(gts) - set(lines))
    if orphans:
        raise ShotError(f"shot '{root}': gt frame '{orphans[0]}' has no line frame in '{root / 'line'}'; "
                        "add line/" + orphans[0] + ".png or remove the gt frame")
    numbers: dict[int, str] = {}
    for stem in lines:
        n = frame_number(stem)
        if n is None:
            raise ShotError(f"shot '{root}': line frame '{stem}' has no number in its name; name frames like 0001.png")
        if n in numbers:
            raise ShotError(f"shot '{root}': line frames '{numbers[n]}' and '{stem}' have the same number {n}; rename one")
        numbers[n] = stem
    if keyframes is None:
        keyframes = _declared_keyframes(root)
    if keyframes is None:
        keys = sorted(gts, key=lambda s: frame_number(s) or 0)
    else:
        keys = []
        for stem in keyframes:
            if stem not in lines:
                raise ShotError(f"shot '{root}': keyframe '{stem}' is not a line frame")
            if stem not in gts:
                raise ShotError(f"shot '{root}': keyframe '{stem}' has no colored frame gt/{stem}.png")
            keys.append(stem)
        keys = sorted(set(keys), key=lambda s: frame_number(s) or 0)
    if not keys:
        raise ShotError(f"shot '{root}': no keyframe; put at least one colored frame in '{root / 'gt'}' "
                        "(same name as its line frame)")

    problems: list[tuple[str, str]] = []
    sizes: dict[str, tuple[int, int]] = {}
    for stem in keys:
        line_size = _size_or_problem(lines[stem], stem, f"line frame '{stem}'", problems)
        gt_size = _size_or_problem(gts[stem], stem, f"keyframe '{stem}'", problems) if line_size else None
        if line_size is None or gt_size is None:
            continue
        if gt_size != line_size:
            problems.append((stem, f"keyframe '{stem}': colored frame is {gt_size[0]}x{gt_size[1]} but its "
                                   f"line frame is {line_size[0]}x{line_size[1]}"))
            continue
        sizes[stem] = line_size
    good_keys = [k for k in keys if k in sizes]
    if not good_keys:
        raise ShotError(f"shot '{root}': no usable keyframe ({problems[0][1]})")
    size = sizes[good_keys[0]]
    for stem in good_keys[1:]:
        if sizes[stem] != size:
            raise ShotError(f"shot '{root}': keyframes '{good_keys[0]}' ({size[0]}x{size[1]}) and '{stem}' "
                            f"({sizes[stem][0]}x{sizes[stem][1]}) differ in size; all frames of a shot must match")
    frames: list[ShotFrame] = []
    for n in sorted(numbers):
        stem = numbers[n]
        if stem in keys and stem not in sizes:
            continue  # already reported
        if stem not in sizes:
            s = _size_or_problem(lines[stem], stem, f"line frame '{stem}'", problems)
            if s is None:
                continue
            if s != size:
                problems.append((stem, f"line frame '{stem}' is {s[0]}x{s[1]}, the shot's frames are "
                                       f"{size[0]}x{size[1]}; resize it"))
                continue
        frames.append(ShotFrame(stem, n, lines[stem], gts.get(stem)))
    points = _point_files(root, {f.stem for f in frames})
    return Shot(root, tuple(frames), tuple(good_keys), size, points, tuple(problems))


def _declared_keyframes(root: Path) -> list[str] | None:
    """Keyframe stems named by ``SHOT/shot.json`` (``{"keyframes": [...]}``), or None."""
    path = root / "shot.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = data["keyframes"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValueError("'keyframes' must be a list of frame stems")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShotError(f"'{path}': {exc}; expected {{\"keyframes\": [\"0000\", ...]}}") from None
    return keys


def _point_files(root: Path, stems: set[str]) -> dict[tuple[str, str], Path]:
    folder = root / "points"
    out: dict[tuple[str, str], Path] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        parts = path.stem.split("_")
        pairs = [("_".join(parts[:i]), "_".join(parts[i:])) for i in range(1, len(parts))]
        found = [p for p in pairs if p[0] in stems and p[1] in stems]
        if not found:
            raise ShotError(f"point file '{path}': name it <from>_<to>.json with two frame stems of the shot")
        out[found[0]] = path
    return out


def load_points(path: Path) -> PointPairs:
    """Point pairs of a shot's point file (``PointPairs`` JSON); ShotError names a bad file."""
    try:
        return PointPairs.from_json(path)
    except (OSError, ValueError, PointsError) as exc:
        raise ShotError(f"point file '{path}': {exc}") from None


def _rgba(image: Image.Image) -> np.ndarray:
    """uint8 ``(H, W, 4)`` of any PIL mode (alpha 255 where the image has none)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = to_rgb(image)
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)


def load_line_frame(path: str | os.PathLike | Image.Image | np.ndarray, name: str = "line frame") -> LineFrame:
    """Normalize a production line frame into a :class:`LineFrame`.

    The lines are a :class:`~manganinja.lines.Lines` of :func:`~manganinja.lines.ink_strength`
    (colored lines count as lines; a light-on-dark opaque image is read as it is). A line pixel of
    a dark-on-light sheet whose color spread ``max - min`` channel is at least
    :data:`COLOR_LINE_CHROMA` is a colored line.
    """
    rgba = _rgba(load_image(path, name=name))
    strength, light_on_dark = ink_strength(rgba)
    if light_on_dark:
        colored = np.zeros(strength.shape, bool)
    else:
        rgb = rgba[..., :3].astype(np.int16)
        colored = ((rgb.max(axis=2) - rgb.min(axis=2)) >= COLOR_LINE_CHROMA) & (strength >= 0.25)
    paper = strength < 0.25
    transparent = (rgba[..., 3] < ALPHA_CUTOFF) & paper
    if transparent.sum() > 0.99 * paper.sum():
        # Lines on a fully transparent sheet (the PaintBucket layout): transparency is just the
        # paper and says nothing about the background.
        transparent = np.zeros_like(transparent)
    return LineFrame(
        lines=Lines(strength),
        colored=colored,
        transparent=transparent,
        ink=np.ascontiguousarray(rgba[..., :3]),
    )


def load_colored_frame(path: str | os.PathLike | Image.Image | np.ndarray, name: str = "colored frame") -> np.ndarray:
    """uint8 ``(H, W, 4)`` RGBA of a colored frame (a keyframe or a result); alpha 255 if none."""
    return _rgba(load_image(path, name=name))
