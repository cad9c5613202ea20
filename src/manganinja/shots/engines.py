"""Engines that color a shot frame from painted reference frames: the contract of
:class:`manganinja.engines.Engine` with a shot's types.

``prepare(references) -> prepared`` once per frame's set of references (painted frames, each a
:class:`Reference`), then ``colorize(prepared, frame, points) -> PaintedFrame`` (palette indices
per region). ``points`` are :class:`~manganinja.points.PointPairs` as in the engine contract:
``reference_index`` picks one of the references given to ``prepare`` (in that order),
``reference`` is in that frame's pixels, ``lineart`` in the colored frame's. ``describe()`` gives
the settings that decide the results (recorded in the shot's manifest: a rerun with other
settings redoes the frames).

- :class:`FlatShotEngine` (weight-free): region votes through line-art warps
  (:func:`manganinja.flat.propagate.paint_regions`); keyframe and previous frame both vote.
- :class:`EngineAdapter`: any :class:`manganinja.engines.Engine` (the model,
  :class:`manganinja.engines.NinjaEngine`) through the library's road
  (:func:`manganinja.colorize.prepare`, as pages are), with the references as several references
  and the point pairs passed on; its output is snapped to the keyframes' palette.
- :class:`MeanColorShotEngine`: baseline, every character region in the keyframes' mean color.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Sequence, TypeVar

import numpy as np
from PIL import Image

from manganinja.colorize import PreparedEngine, prepare
from manganinja.engines import Engine, Setting
from manganinja.flat.propagate import (
    ForcedColor,
    PaintedFrame,
    Palette,
    Source,
    border_regions,
    paint_regions,
    paint_with_colors,
    regions_of,
    transparent_regions,
)
from manganinja.points import PointPairs
from manganinja.settings import FlatShotSettings
from manganinja.shots.format import LineFrame

Role = Literal["keyframe", "previous"]
ENGINE_NAMES = ("flat", "ninja", "mean-color")

P = TypeVar("P")


@dataclass(frozen=True)
class Reference:
    """A painted frame offered to an engine: a keyframe or the previous frame's result."""

    painted: PaintedFrame
    role: Role
    stem: str


class ShotEngine(Protocol[P]):
    """What :func:`manganinja.shots.run.colorize_shot` calls (see the module doc)."""

    name: str

    def prepare(self, references: Sequence[Reference]) -> P:
        """Work done once per set of references."""
        ...

    def colorize(self, prepared: P, frame: LineFrame, points: PointPairs | None = None) -> PaintedFrame:
        """Palette indices for the regions of ``frame``; ``points`` index ``prepare``'s references."""
        ...

    def describe(self) -> dict[str, Setting]:
        """The settings that decide the engine's results (recorded in the shot's manifest)."""
        ...


def reference_picture(painted: PaintedFrame, palette: Palette) -> np.ndarray:
    """uint8 ``(H, W, 3)``: a painted frame as a picture (black lines over its colors, white
    background), what an image model reads as a reference."""
    idx = painted.filled_index()
    rgb = palette.colors[idx].astype(np.float32)
    rgb[idx == 0] = 255.0
    a = np.clip(painted.lines, 0, 1)[..., None]
    return np.rint(rgb * (1 - a)).astype(np.uint8)


def palette_digest(palette: Palette) -> str:
    """Short hash of a palette's colors (an engine that snaps to the whole palette depends on it)."""
    return hashlib.sha256(np.ascontiguousarray(palette.colors, dtype=np.uint8).tobytes()).hexdigest()[:16]


def _check_reference_indices(points: PointPairs, n_references: int) -> None:
    bad = [int(i) for i in points.reference_indices if not 0 <= int(i) < n_references]
    if bad:
        raise ValueError(f"point pair with reference_index {bad[0]} but the frame has {n_references} reference(s)")


class FlatShotEngine:
    """Weight-free propagation, set by one :class:`~manganinja.settings.FlatShotSettings` (every
    value that decides its results, with its one default; :meth:`describe` records them all).
    The keyframe counts a quarter of the previous frame by default (``keyframe_weight`` 0.25,
    ``previous_weight`` 1), so it decides where the previous frame's evidence is weak or unsure
    (its regions' confidences scale their votes); 0.25 was the best of 0.25 / 0.5 / 1 / 2 on 4
    synthetic shots of seed 1 (the README's table uses seed 0)."""

    name = "flat"

    def __init__(self, palette: Palette, settings: FlatShotSettings = FlatShotSettings()) -> None:
        self.palette = palette
        self.settings = settings

    def prepare(self, references: Sequence[Reference]) -> list[tuple[Reference, Source]]:
        if not references:
            raise ValueError("at least one reference frame is required")
        st = self.settings
        out = []
        for ref in references:
            w = st.keyframe_weight if ref.role == "keyframe" else st.previous_weight
            out.append((ref, Source(ref.painted, w, f"{ref.role} {ref.stem}", chained=ref.role == "previous")))
        return out

    def describe(self) -> dict[str, Setting]:
        return {"engine": self.name, **self.settings.model_dump(mode="json")}

    def colorize(self, prepared: list[tuple[Reference, Source]], frame: LineFrame,
                 points: PointPairs | None = None) -> PaintedFrame:
        forced = []
        if points is not None and len(points):
            _check_reference_indices(points, len(prepared))
            forced = [ForcedColor(prepared[p.reference_index][0].painted, p.reference, p.lineart) for p in points]
        return paint_regions(frame.lines.array, [s for _, s in prepared], len(self.palette), self.settings,
                             transparent=frame.transparent, colored=frame.colored, forced=forced)

    @classmethod
    def factory(cls, settings: FlatShotSettings) -> Callable[[Palette], "FlatShotEngine"]:
        """``palette -> engine`` with these settings (what :func:`manganinja.shots.run.colorize_shot`
        takes)."""
        return lambda palette: cls(palette, settings)


class EngineAdapter:
    """Any :class:`manganinja.engines.Engine` (a page engine; the model:
    :class:`manganinja.engines.NinjaEngine`) as a shot engine, driven through the library's road
    like a page (:func:`manganinja.colorize.prepare`, :meth:`~manganinja.colorize.PreparedEngine.colorize`):
    the references go in as several reference pictures (keyframe and previous result,
    :func:`reference_picture`), the point pairs are passed on as they are (their
    ``reference_index`` already picks one of those pictures), and the output's color layer (RGB at
    the line art's size) is snapped to the keyframes' palette
    (:func:`~manganinja.flat.propagate.paint_with_colors`). Its results depend on the whole
    palette, so :meth:`describe` records a hash of it."""

    def __init__(self, engine: Engine[Any], palette: Palette) -> None:
        self.engine = engine
        self.palette = palette
        self.name = engine.name

    def describe(self) -> dict[str, Setting]:
        return {"engine": self.name, **self.engine.describe(), "palette": palette_digest(self.palette)}

    def prepare(self, references: Sequence[Reference]) -> PreparedEngine:
        pictures = [Image.fromarray(reference_picture(r.painted, self.palette)) for r in references]
        return prepare(self.engine, pictures)

    def colorize(self, prepared: PreparedEngine, frame: LineFrame, points: PointPairs | None = None) -> PaintedFrame:
        # The line frame's Lines, as normalized once at load; the engine checks the points.
        layers = prepared.colorize(frame.lines, points)
        return paint_with_colors(frame.lines.array, layers.color, self.palette, transparent=frame.transparent)


class MeanColorShotEngine:
    """Baseline: every region not on the background (border regions, transparency) gets the mean
    color of the keyframes' character pixels (added to the palette as its own color)."""

    name = "mean-color"

    def __init__(self, palette: Palette) -> None:
        self.palette = palette

    def prepare(self, references: Sequence[Reference]) -> int:
        keys = [r for r in references if r.role == "keyframe"] or list(references)
        sums, n = np.zeros(3), 0
        for r in keys:
            idx = r.painted.index[r.painted.regions.labels]
            fg = idx > 0
            sums += self.palette.colors[idx[fg]].astype(np.float64).sum(0)
            n += int(fg.sum())
        mean = np.rint(sums / max(n, 1)).astype(np.uint8)[None]
        return int(self.palette.add(mean, "mean-color")[0])

    def describe(self) -> dict[str, Setting]:
        return {"engine": self.name}

    def colorize(self, prepared: int, frame: LineFrame, points: PointPairs | None = None) -> PaintedFrame:
        """Points are ignored (one color for every character region)."""
        regions = regions_of(frame.lines.array)
        index = np.full(regions.count + 1, prepared, np.int32)
        index[border_regions(regions) | transparent_regions(regions, frame.transparent)] = 0
        index[0] = 0
        conf = np.ones(regions.count + 1, np.float32)
        return PaintedFrame(frame.lines.array, regions, index, conf, np.ones(regions.count + 1, np.int8))
