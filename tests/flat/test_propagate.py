"""Palette propagation between painted frames (manganinja.flat.propagate)."""

from __future__ import annotations

import cv2
import numpy as np

from manganinja.flat.propagate import (
    ORIGIN_POINT,
    ForcedColor,
    Palette,
    Source,
    paint_from_colors,
    paint_regions,
)

RED, BLUE, GREEN = (220, 40, 40), (40, 60, 220), (30, 160, 60)


def _drawing(dx: int, dy: int, size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Line art (float, 1 = line) and RGBA colors of a figure: a circle, a box and a small eye,
    shifted by (dx, dy); transparent background."""
    lines = np.zeros((size, size), np.uint8)
    rgba = np.zeros((size, size, 4), np.uint8)
    cv2.circle(rgba, (50 + dx, 60 + dy), 25, (*RED, 255), -1)
    cv2.rectangle(rgba, (85 + dx, 40 + dy), (125 + dx, 110 + dy), (*BLUE, 255), -1)
    cv2.circle(rgba, (50 + dx, 60 + dy), 6, (*GREEN, 255), -1)
    cv2.circle(lines, (50 + dx, 60 + dy), 25, 1, 2)
    cv2.rectangle(lines, (85 + dx, 40 + dy), (125 + dx, 110 + dy), 1, 2)
    cv2.circle(lines, (50 + dx, 60 + dy), 6, 1, 2)
    rgba[lines > 0] = (0, 0, 0, 255)
    return lines.astype(np.float32), rgba


def test_keyframe_regions_take_exact_colors_and_background_is_index_0() -> None:
    lines, rgba = _drawing(0, 0)
    palette = Palette()
    key = paint_from_colors(lines, rgba, palette, "k")
    assert {tuple(c) for c in palette.colors[1:].tolist()} == {RED, BLUE, GREEN}
    assert palette.sources[1:] == ["k"] * 3
    idx = key.filled_index()
    assert idx[0, 0] == 0
    assert tuple(palette.colors[idx[60, 30]]) == RED and tuple(palette.colors[idx[75, 105]]) == BLUE
    assert tuple(palette.colors[idx[60, 50]]) == GREEN


def test_opaque_keyframe_border_color_is_background() -> None:
    lines, rgba = _drawing(0, 0)
    rgba[rgba[..., 3] == 0] = (255, 255, 255, 255)
    palette = Palette()
    key = paint_from_colors(lines, rgba, palette, "k")
    assert key.filled_index()[0, 0] == 0 and (255, 255, 255) not in {tuple(c) for c in palette.colors[1:].tolist()}


def test_moved_drawing_gets_the_keyframe_colors() -> None:
    lines0, rgba0 = _drawing(0, 0)
    lines1, _ = _drawing(7, 5)
    palette = Palette()
    key = paint_from_colors(lines0, rgba0, palette, "k")
    out = paint_regions(lines1, [Source(key, 1.0, "k")], len(palette))
    idx = out.filled_index()
    assert tuple(palette.colors[idx[65, 37]]) == RED
    assert tuple(palette.colors[idx[80, 112]]) == BLUE
    assert tuple(palette.colors[idx[65, 57]]) == GREEN
    assert idx[2, 2] == 0 and idx[150, 150] == 0
    assert out.confidence[out.regions.labels[80, 112]] > 0.5


def test_point_forces_a_region_color() -> None:
    lines0, rgba0 = _drawing(0, 0)
    lines1, _ = _drawing(3, 0)
    palette = Palette()
    key = paint_from_colors(lines0, rgba0, palette, "k")
    forced = [ForcedColor(key, (100.0, 70.0), (40.0, 70.0))]  # blue box -> the red circle
    out = paint_regions(lines1, [Source(key)], len(palette), forced=forced)
    r = out.regions.labels[70, 40]
    assert tuple(palette.colors[out.index[r]]) == BLUE and out.origin[r] == ORIGIN_POINT


def test_palette_lookup_and_nearest() -> None:
    palette = Palette()
    palette.add(np.array([RED, BLUE], np.uint8), "k")
    assert palette.lookup(np.array([BLUE, (1, 2, 3)], np.uint8)).tolist() == [2, -1]
    assert palette.nearest(np.array([(200, 50, 50)], np.uint8)).tolist() == [1]
