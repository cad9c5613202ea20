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
from manganinja.settings import FlatShotSettings

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
    out = paint_regions(lines1, [Source(key, 1.0, "k")], len(palette), FlatShotSettings())
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
    out = paint_regions(lines1, [Source(key)], len(palette), FlatShotSettings(), forced=forced)
    r = out.regions.labels[70, 40]
    assert tuple(palette.colors[out.index[r]]) == BLUE and out.origin[r] == ORIGIN_POINT


def test_palette_lookup_and_nearest() -> None:
    palette = Palette()
    palette.add(np.array([RED, BLUE], np.uint8), "k")
    assert palette.lookup(np.array([BLUE, (1, 2, 3)], np.uint8)).tolist() == [2, -1]
    assert palette.nearest(np.array([(200, 50, 50)], np.uint8)).tolist() == [1]


def _blob_source(blob_conf: float, background_conf: float) -> tuple[Palette, object, np.ndarray]:
    """A source frame: the figure plus a big red blob in the lower-left corner that the target
    does not have; the source's background region is painted with ``background_conf``."""
    lines0, rgba0 = _drawing(0, 0)
    cv2.rectangle(rgba0, (0, 100), (70, 159), (*RED, 255), -1)
    blob = np.zeros_like(lines0)
    cv2.rectangle(blob, (0, 100), (70, 159), 1, 2)
    lines0 = np.maximum(lines0, blob)
    rgba0[blob > 0] = (0, 0, 0, 255)
    palette = Palette()
    src = paint_from_colors(lines0, rgba0, palette, "k")
    r_blob = src.regions.labels[130, 30]
    r_bg = src.regions.labels[5, 150]
    src.confidence[r_blob] = blob_conf
    src.confidence[r_bg] = background_conf
    return palette, src, lines0


def test_border_region_reached_by_a_few_character_votes_stays_background() -> None:
    # The target has no blob: about a fifth of its background region lands on the source's blob.
    # The source's own background is unsure (a previous result), so the few character votes are
    # most of the evidence the region gets; they do not cover it, so it stays background.
    palette, src, _ = _blob_source(blob_conf=1.0, background_conf=0.1)
    lines1, _ = _drawing(2, 1)
    out = paint_regions(lines1, [Source(src, 1.0, "previous", chained=True)], len(palette), FlatShotSettings())
    r = out.regions.labels[150, 20]
    assert r == out.regions.labels[2, 2]  # one background region, touching the border
    assert out.index[r] == 0
    # The figure's own regions still get their colors.
    idx = out.filled_index()
    assert tuple(palette.colors[idx[62, 39]]) == RED and tuple(palette.colors[idx[75, 107]]) == BLUE


def test_border_region_covered_by_confident_character_becomes_character() -> None:
    # The same blob in the target too (touching the border): covered by the source's confident
    # blob, it is character.
    palette, src, lines0 = _blob_source(blob_conf=1.0, background_conf=1.0)
    out = paint_regions(lines0, [Source(src, 1.0, "k")], len(palette), FlatShotSettings())
    r = out.regions.labels[130, 30]
    assert tuple(palette.colors[out.index[r]]) == RED
