"""Region point maps (manganinja.point_regions): each pair's value fills the region of its point."""

from __future__ import annotations

import numpy as np
import pytest

from manganinja.point_regions import fill_regions, line_regions, picture_regions


def boxes_lines() -> np.ndarray:
    """A 32x32 line map (1 = line) with a closed square (rows/cols 8..24) on open paper."""
    lines = np.zeros((32, 32), np.float32)
    lines[8, 8:25] = lines[24, 8:25] = 1.0
    lines[8:25, 8] = lines[8:25, 24] = 1.0
    return lines


def test_line_regions_splits_inside_from_outside_and_labels_every_pixel():
    labels = line_regions(boxes_lines())
    assert labels.shape == (32, 32) and labels.dtype == np.int32 and labels.min() >= 1
    assert labels[16, 16] != labels[2, 2]
    assert len({int(labels[y, x]) for y, x in [(12, 12), (20, 20), (16, 10)]}) == 1
    assert len({int(labels[y, x]) for y, x in [(2, 2), (30, 30), (2, 30)]}) == 1


def test_picture_regions_follows_the_colors_of_a_flat_picture():
    rgb = np.full((32, 32, 3), 240, np.uint8)
    rgb[8:25, 8:25] = (200, 40, 40)  # a red square on white, no outline
    labels = picture_regions(rgb)
    assert labels[16, 16] != labels[2, 2]
    assert labels[12, 12] == labels[20, 20]


def test_fill_regions_fills_each_pairs_region_later_pair_wins_own_pixels_kept():
    labels = line_regions(boxes_lines())
    pm = np.zeros((32, 32), np.float32)
    pm[16, 16] = 1.0  # inside
    pm[2, 2] = 2.0    # outside
    pm[30, 30] = 3.0  # outside too: pair 3 wins the outside, pair 2 keeps its pixel
    out = fill_regions(pm, labels)
    assert out[12, 20] == 1.0 and out[20, 12] == 1.0
    assert out[0, 31] == 3.0 and out[2, 2] == 2.0 and out[30, 30] == 3.0
    assert set(np.unique(out).tolist()) == {1.0, 2.0, 3.0}
    assert np.count_nonzero(pm) == 3  # the input is not changed


def test_fill_regions_keeps_a_pixel_map_when_the_picture_has_one_region():
    pm = np.zeros((16, 16), np.float32)
    pm[3, 4] = 5.0
    blank = line_regions(np.zeros((16, 16), np.float32))
    assert np.array_equal(fill_regions(pm, blank), pm)


def test_fill_regions_refuses_labels_of_another_shape():
    with pytest.raises(ValueError, match="differ in shape"):
        fill_regions(np.zeros((8, 8), np.float32), np.ones((8, 9), np.int32))


def test_hint_channels_paint_each_pairs_color_over_its_area_and_mark_it():
    from manganinja.point_regions import HINT_CHANNELS, hint_channels

    area = np.zeros((8, 8), np.float32)
    area[:4, :4], area[6:, 6:] = 1, 2
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    hint = hint_channels(area, colors)
    assert hint.shape == (HINT_CHANNELS, 8, 8) and hint.dtype == np.float32
    assert np.allclose(hint[:, 1, 2], [1, -1, -1, 1]) and np.allclose(hint[:, 7, 7], [-1, -1, 1, 1])
    assert np.all(hint[:, 5, 5] == 0) and hint[3].sum() == 16 + 4
    assert np.all(hint_channels(np.zeros((8, 8), np.float32), colors[:0]) == 0)
    with pytest.raises(ValueError, match="only 1 colors"):
        hint_channels(area, colors[:1])


def test_reference_colors_take_the_median_around_each_point_so_a_stray_pixel_does_not_decide():
    from manganinja.point_regions import reference_colors

    picture = np.zeros((16, 16, 3), np.uint8)
    picture[:, :8] = (200, 30, 30)
    picture[5, 3] = (0, 0, 0)  # one pixel of line under the first point
    colors = reference_colors(picture, np.array([[3.0, 5.0], [12.0, 12.0], [0.0, 0.0]]))
    assert colors.dtype == np.uint8 and colors.tolist() == [[200, 30, 30], [0, 0, 0], [200, 30, 30]]


def test_hint_map_labels_the_regions_at_the_line_arts_size_and_keeps_each_guides_pixel():
    from manganinja.point_regions import HINT_REGION_SIDE, hint_map

    lines = np.kron(boxes_lines(), np.ones((8, 8), np.float32))[:, :]  # 256 px, lines 8 px wide
    thin = np.zeros((256, 256), np.float32)  # the same square in 1-px lines: lost at 32 px
    thin[64, 64:193] = thin[192, 64:193] = thin[64:193, 64] = thin[64:193, 192] = 1.0
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    xy = np.array([[128.0, 128.0], [8.0, 250.0]])
    for drawn in (lines, thin):
        hint = hint_map(drawn, xy, colors, (32, 32))
        assert hint.shape == (4, 32, 32)
        assert np.allclose(hint[:, 12, 12], [1, -1, -1, 1]) and np.allclose(hint[:, 2, 30], [-1, -1, 1, 1])
    assert np.allclose(hint_map(thin, xy, colors, (32, 32))[:, 16, 16], [1, -1, -1, 1])
    # no regions (a blank line art): the guides' pixels only
    blank = hint_map(np.zeros((256, 256), np.float32), xy, colors, (32, 32))
    assert blank[3].sum() == 2 and np.allclose(blank[:, 16, 16], [1, -1, -1, 1]) and np.allclose(blank[:, 31, 1], [-1, -1, 1, 1])
    # a page larger than HINT_REGION_SIDE is labelled at that long side, with the same result
    big = np.kron(thin, np.ones((4, 4), np.float32))
    assert big.shape[0] > HINT_REGION_SIDE
    from_big, from_thin = hint_map(big, xy * 4 + 1.5, colors, (32, 32)), hint_map(thin, xy, colors, (32, 32))
    assert np.allclose(from_big[:, 16, 16], [1, -1, -1, 1]) and np.allclose(from_big[:, 2, 30], [-1, -1, 1, 1])
    assert (from_big != from_thin).any(axis=0).mean() < 0.05  # the regions' edges may move by a pixel
