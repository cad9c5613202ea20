"""Engines that color a shot frame from painted reference frames, behind one interface:
``prepare(references) -> prepared`` once per frame's set of references, then
``colorize(prepared, frame, points) -> PaintedFrame`` (palette indices per region).

- :class:`FlatShotEngine` (weight-free): region votes through line-art warps
  (:func:`manganinja.flat.propagate.paint_regions`); keyframe and previous frame both vote.
- :class:`NinjaShotEngine`: the MangaNinja model through :class:`manganinja.engines.NinjaEngine`
  with the references as several references; its output is snapped to the keyframes' palette.
- :class:`MeanColorShotEngine`: baseline, every character region in the keyframes' mean color.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, Sequence

import numpy as np
from PIL import Image

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
from manganinja.shots.format import LineFrame

if TYPE_CHECKING:  # the model engine imports torch; only type checkers need it here
    from manganinja.engines import Engine

Role = Literal["keyframe", "previous"]
ENGINE_NAMES = ("flat", "ninja", "mean-color")


@dataclass(frozen=True)
class Reference:
    """A painted frame offered to an engine: a keyframe or the previous frame's result."""

    painted: PaintedFrame
    role: Role
    stem: str


@dataclass(frozen=True)
class FramePoint:
    """A user point pair from reference frame ``stem`` (``reference_xy``) to the frame being
    colored (``lineart_xy``), pixels of each frame."""

    stem: str
    reference_xy: tuple[float, float]
    lineart_xy: tuple[float, float]


class ShotEngine(Protocol):
    name: str

    def prepare(self, references: Sequence[Reference]) -> object:
        """Work done once per set of references."""

    def colorize(self, prepared: object, frame: LineFrame, points: Sequence[FramePoint] = ()) -> PaintedFrame:
        """Palette indices for the regions of ``frame``."""


def reference_picture(painted: PaintedFrame, palette: Palette) -> np.ndarray:
    """uint8 ``(H, W, 3)``: a painted frame as a picture (black lines over its colors, white
    background), what an image model reads as a reference."""
    idx = painted.filled_index()
    rgb = palette.colors[idx].astype(np.float32)
    rgb[idx == 0] = 255.0
    a = np.clip(painted.lines, 0, 1)[..., None]
    return np.rint(rgb * (1 - a)).astype(np.uint8)


class FlatShotEngine:
    """Weight-free propagation. ``previous_weight`` / ``keyframe_weight``: how much the previous
    frame's result and the keyframe(s) count in each region's vote (relative; a frame next to its
    keyframe has only the keyframe). The keyframe counts a quarter of the previous frame by
    default, so it decides where the previous frame's evidence is weak or unsure (its regions'
    confidences scale their votes); 0.25 was the best of 0.25 / 0.5 / 1 / 2 on 4 synthetic
    shots of seed 1 (the README's table uses seed 0)."""

    name = "flat"

    def __init__(self, palette: Palette, *, previous_weight: float = 1.0, keyframe_weight: float = 0.25,
                 work_long_side: int = 768) -> None:
        if previous_weight <= 0 or keyframe_weight <= 0:
            raise ValueError(f"weights must be > 0, got previous {previous_weight}, keyframe {keyframe_weight}")
        self.palette = palette
        self.previous_weight = previous_weight
        self.keyframe_weight = keyframe_weight
        self.work_long_side = work_long_side

    def prepare(self, references: Sequence[Reference]) -> list[tuple[Reference, Source]]:
        if not references:
            raise ValueError("at least one reference frame is required")
        out = []
        for ref in references:
            w = self.keyframe_weight if ref.role == "keyframe" else self.previous_weight
            out.append((ref, Source(ref.painted, w, f"{ref.role} {ref.stem}", chained=ref.role == "previous")))
        return out

    def colorize(self, prepared: list[tuple[Reference, Source]], frame: LineFrame,
                 points: Sequence[FramePoint] = ()) -> PaintedFrame:
        by_stem = {ref.stem: ref for ref, _ in prepared}
        forced = [ForcedColor(by_stem[p.stem].painted, p.reference_xy, p.lineart_xy)
                  for p in points if p.stem in by_stem]
        return paint_regions(frame.lines.array, [s for _, s in prepared], len(self.palette),
                             transparent=frame.transparent, forced=forced, work_long_side=self.work_long_side)


class NinjaShotEngine:
    """The model through :class:`manganinja.engines.NinjaEngine` (any
    :class:`manganinja.engines.Engine`: ``prepare(references)`` / ``colorize(prepared, lineart,
    points) -> Layers``): the references go in as several references (keyframe and previous
    result), the output's color layer (RGB at the line art's size) is snapped to the palette."""

    name = "ninja"

    def __init__(self, engine: "Engine[object]", palette: Palette) -> None:
        self.engine = engine
        self.palette = palette

    def prepare(self, references: Sequence[Reference]) -> object:
        pictures = [Image.fromarray(reference_picture(r.painted, self.palette)) for r in references]
        return self.engine.prepare(pictures)

    def colorize(self, prepared: object, frame: LineFrame, points: Sequence[FramePoint] = ()) -> PaintedFrame:
        # The line frame's Lines, as normalized once at load.
        layers = self.engine.colorize(prepared, frame.lines, None)
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

    def colorize(self, prepared: int, frame: LineFrame, points: Sequence[FramePoint] = ()) -> PaintedFrame:
        regions = regions_of(frame.lines.array)
        index = np.full(regions.count + 1, prepared, np.int32)
        index[border_regions(regions) | transparent_regions(regions, frame.transparent)] = 0
        index[0] = 0
        conf = np.ones(regions.count + 1, np.float32)
        return PaintedFrame(frame.lines.array, regions, index, conf, np.ones(regions.count + 1, np.int8))
