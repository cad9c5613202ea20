"""A painted frame as images: composite, color layer, line layer, region map and palette JSON.

- color layer: uint8 ``(H, W, 4)``: each pixel the palette color of its region (line pixels: the
  nearest region's), alpha 0 on the background.
- line layer: uint8 ``(H, W, 4)``: black lines with alpha = line strength; colored lines only
  with ``keep_color_lines`` (in their own color), else nothing: they are painted over.
- composite: the line layer over the color layer (Porter-Duff "over"), RGBA.
- region map: uint16 ``(H, W)`` labels (0 = line, colored lines included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manganinja.flat.propagate import ORIGIN_NAMES, PaintedFrame, Palette
from manganinja.flat.review import frame_review, review_mask
from manganinja.images import save_image
from manganinja.shots.format import LineFrame, write_json_atomic


@dataclass(frozen=True)
class ShotLayers:
    """``composite``, ``color``, ``lines``: uint8 ``(H, W, 4)``; ``regions``: uint16 ``(H, W)``;
    ``review``: uint8 ``(H, W)``, 255 on regions colored on weak evidence
    (:func:`manganinja.flat.review.review_mask`)."""

    composite: np.ndarray
    color: np.ndarray
    lines: np.ndarray
    regions: np.ndarray
    review: np.ndarray


def render(painted: PaintedFrame, frame: LineFrame, palette: Palette, keep_color_lines: bool = False) -> ShotLayers:
    """Images of ``painted`` (see the module docstring)."""
    idx = painted.filled_index()
    fill = idx > 0
    color = np.zeros((*idx.shape, 4), np.uint8)
    color[..., :3] = palette.colors[idx]
    color[..., 3] = np.where(fill, 255, 0)
    alpha = np.rint(np.clip(frame.lines.array, 0, 1) * 255).astype(np.uint8)
    if not keep_color_lines:
        alpha[frame.colored] = 0
    lines = np.zeros_like(color)
    lines[..., 3] = alpha
    if keep_color_lines:
        lines[..., :3][frame.colored] = frame.ink[frame.colored]
    # Lines over colors. Color alpha is 0 or 255, so "over" is exact in integers: on a fill,
    # rgb = (line * a + fill * (255 - a)) / 255 and alpha 255; off the fills, the line as it is.
    composite = lines.copy()
    a16 = alpha.astype(np.uint16)[fill][:, None]
    composite[fill, :3] = ((lines[fill, :3] * a16 + color[fill, :3] * (255 - a16) + 127) // 255).astype(np.uint8)
    composite[fill, 3] = 255
    # Opaque fills stay exact palette colors where no line covers them.
    regions = np.clip(painted.regions.labels, 0, 65535).astype(np.uint16)
    return ShotLayers(composite, color, lines, regions, review_mask(painted))


def palette_report(painted: PaintedFrame, palette: Palette) -> dict[str, object]:
    """JSON-ready: the palette colors this frame uses (color, area in pixels off the lines, the
    keyframe it comes from), the background's area and share, the frame's review figures
    (:class:`manganinja.flat.review.FrameReview`: confidence, weak share), the sources that were
    dropped, and each region's color, confidence and origin."""
    areas = painted.regions.areas()
    used: dict[int, int] = {}
    for r in range(1, painted.regions.count + 1):
        k = int(painted.index[r])
        if k:
            used[k] = used.get(k, 0) + int(areas[r])
    return {
        "palette": [
            {"color": [int(c) for c in palette.colors[k]], "area": used[k], "source": palette.sources[k]}
            for k in sorted(used)
        ],
        "background_area": int(sum(int(areas[r]) for r in range(1, painted.regions.count + 1) if painted.index[r] == 0)),
        "review": {k: v for k, v in frame_review(painted, "").to_json().items() if k not in ("stem", "flags")},
        "dropped_sources": list(painted.dropped),
        "regions": [
            {
                "label": r,
                "color": None if painted.index[r] == 0 else [int(c) for c in palette.colors[painted.index[r]]],
                "confidence": round(float(painted.confidence[r]), 4),
                "origin": ORIGIN_NAMES[int(painted.origin[r])],
            }
            for r in range(1, painted.regions.count + 1)
        ],
    }


def layer_paths(out: Path) -> dict[str, Path]:
    """Files written with ``--layers`` beside ``OUT/<stem>.png``."""
    return {
        "color": out.with_name(f"{out.stem}_color.png"),
        "lines": out.with_name(f"{out.stem}_lines.png"),
        "regions": out.with_name(f"{out.stem}_regions.png"),
        "review": out.with_name(f"{out.stem}_review.png"),
        "palette": out.with_name(f"{out.stem}_palette.json"),
    }


def write_layers(out: Path, layers: ShotLayers, report: dict[str, object]) -> None:
    """Write the layer files of ``out`` (each atomically); the composite is written by the caller
    last, so a finished composite means a finished frame."""
    paths = layer_paths(out)
    save_image(layers.color, paths["color"])
    save_image(layers.lines, paths["lines"])
    save_image(layers.regions, paths["regions"])
    save_image(layers.review, paths["review"])
    write_json_atomic(report, paths["palette"])
