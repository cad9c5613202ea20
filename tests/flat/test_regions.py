"""Regions of a line art: grids, shapes with small gaps, degenerate pages, robust colors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from manganinja.flat.regions import (
    LINE_THRESHOLD,
    Regions,
    RegionsError,
    fill_under_lines,
    label_regions,
    region_colors,
)


def _grid(size: int = 120, cells: int = 4, width: int = 1) -> np.ndarray:
    art = np.zeros((size, size), np.float32)
    step = size // cells
    for i in range(1, cells):
        art[:, i * step : i * step + width] = 1.0
        art[i * step : i * step + width, :] = 1.0
    return art


def test_grid_cells_are_separate_regions() -> None:
    art = _grid()
    regions = label_regions(art)
    assert regions.count == 16
    assert (regions.labels[art >= 0.5] == 0).all()
    assert (regions.labels[art < 0.5] > 0).all()
    # Each cell's interior has exactly one label, and different cells have different labels.
    cell_labels = set()
    for r in range(4):
        for c in range(4):
            cell = regions.labels[r * 30 + 3 : r * 30 + 28, c * 30 + 3 : c * 30 + 28]
            assert len(np.unique(cell)) == 1
            cell_labels.add(int(cell[0, 0]))
    assert len(cell_labels) == 16
    areas = regions.areas()
    assert areas[0] == int((art >= LINE_THRESHOLD).sum())
    assert areas[1:].sum() == int((art < LINE_THRESHOLD).sum())


def _shapes_with_gaps(gap: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A circle and a square outline, each with a ``gap``-pixel break, on a 160x160 page; returns
    the line art and one interior point per shape plus one outside point."""
    img = np.zeros((160, 160), np.uint8)
    cv2.circle(img, (50, 50), 30, 255, 2)
    cv2.rectangle(img, (90, 90), (145, 145), 255, 2)
    img[48 : 48 + gap, 15:26] = 0  # break in the circle's left side
    img[116 : 116 + gap, 85:96] = 0  # break in the square's left side
    return img.astype(np.float32) / 255.0, [(50, 50), (117, 117), (5, 150)]


@pytest.mark.parametrize("gap", [2, 3, 4])
def test_small_gaps_are_closed(gap: int) -> None:
    art, points = _shapes_with_gaps(gap)
    regions = label_regions(art, gap_radius=2)
    inside = [regions.labels[y, x] for x, y in points]
    assert all(v > 0 for v in inside)
    assert len(set(inside)) == 3, f"gap {gap}: regions leaked into each other: {inside}"
    # No paper pixel is left unlabeled, and the gap pixels were given to some region.
    assert (regions.labels[art < LINE_THRESHOLD] > 0).all()


def test_without_gap_closing_the_gaps_leak() -> None:
    """The test above can fail: with the ball off, a 3-pixel break joins inside and outside."""
    art, points = _shapes_with_gaps(3)
    regions = label_regions(art, gap_radius=0)
    inside = [regions.labels[y, x] for x, y in points]
    assert len(set(inside)) == 1


def test_wide_gap_stays_open() -> None:
    art, points = _shapes_with_gaps(14)
    regions = label_regions(art, gap_radius=2)
    inside = [regions.labels[y, x] for x, y in points]
    assert len(set(inside)) == 1


def test_thin_enclosed_region_is_kept() -> None:
    """A 2-pixel-wide enclosed strip is thinner than the ball but still becomes its own region."""
    art = np.zeros((40, 60), np.float32)
    art[10, 5:55] = 1.0
    art[13, 5:55] = 1.0
    art[10:14, 5] = 1.0
    art[10:14, 54] = 1.0
    regions = label_regions(art, gap_radius=2)
    strip = regions.labels[11:13, 6:54]
    assert len(np.unique(strip)) == 1 and strip[0, 0] > 0
    assert strip[0, 0] != regions.labels[30, 30]
    assert regions.labels[30, 30] == regions.labels[2, 2]


def test_no_closed_region_is_one_region() -> None:
    art = np.zeros((64, 64), np.float32)
    art[20, 10:40] = 1.0  # an open stroke
    regions = label_regions(art)
    assert regions.count == 1
    assert (regions.labels[art < LINE_THRESHOLD] == 1).all()


def test_blank_and_all_line_pages() -> None:
    blank = label_regions(np.zeros((16, 16), np.float32))
    assert blank.count == 1 and (blank.labels == 1).all()
    full = label_regions(np.ones((16, 16), np.float32))
    assert full.count == 0 and (full.labels == 0).all()
    assert (full.filled_labels() == 0).all()


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4, 3), np.float32), "shape"),
        (np.zeros((0, 5), np.float32), "shape"),
        (np.zeros((8, 8), np.uint8), "dtype uint8"),
    ],
)
def test_bad_lineart_is_named(bad: np.ndarray, match: str) -> None:
    with pytest.raises(RegionsError, match=match):
        label_regions(bad)


def test_bad_parameters_are_named() -> None:
    art = _grid()
    with pytest.raises(RegionsError, match="gap_radius"):
        label_regions(art, gap_radius=-1)
    with pytest.raises(RegionsError, match="line_threshold"):
        label_regions(art, line_threshold=0.0)


def test_label_at_on_a_line_and_outside() -> None:
    art = _grid()
    regions = label_regions(art)
    assert regions.label_at((30, 10)) in (regions.labels[10, 28], regions.labels[10, 32])
    assert regions.label_at((10.2, 9.8)) == regions.labels[10, 10]
    with pytest.raises(RegionsError, match=r"outside the 120x120"):
        regions.label_at((120, 5))


def test_fill_under_lines_takes_the_nearest_region() -> None:
    labels = np.zeros((5, 9), np.int32)
    labels[:, :3] = 1
    labels[:, 6:] = 2
    out = fill_under_lines(labels)
    assert (out[:, 3] == 1).all() and (out[:, 5] == 2).all()
    assert (out[:, :3] == 1).all() and (out[:, 6:] == 2).all()


def test_region_colors_ignore_minority_and_invalid_pixels() -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros((40, 40), np.int32)
    labels[:, :20] = 1
    labels[:, 20:] = 2
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = (200, 30, 40)
    rgb[:, 20:] = (10, 120, 250)
    rgb = np.clip(rgb + rng.integers(-2, 3, rgb.shape), 0, 255).astype(np.uint8)
    rgb[:8, :20] = (0, 255, 0)  # 20% wrong pixels in region 1: outvoted
    rgb[:, 20:30] = (255, 255, 255)  # half of region 2 invalid below
    valid = np.ones((40, 40), bool)
    valid[:, 20:30] = False
    colors, votes = region_colors(labels, 2, rgb, valid)
    assert np.abs(colors[1].astype(int) - (200, 30, 40)).max() <= 2
    assert np.abs(colors[2].astype(int) - (10, 120, 250)).max() <= 2
    assert votes.tolist() == [0, 800, 400]


def test_regions_is_a_dataclass_with_shape() -> None:
    regions = label_regions(_grid(60, 2))
    assert isinstance(regions, Regions)
    assert regions.shape == (60, 60) and regions.labels.dtype == np.int32
