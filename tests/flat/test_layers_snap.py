"""Snapping a blurred result to the line art's regions, and layers that recompose."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from manganinja.flat.layers import LayersError, compose, layer_paths, split_layers, write_layers
from manganinja.flat.regions import label_regions
from manganinja.flat.snap import snap_layers, snap_to_regions

from ._drawings import flat_drawing


def _model_like(rgb: np.ndarray, small: int) -> np.ndarray:
    """What a 512 px model gives for a bigger page: downsampled, blurred, colors bleeding, noise."""
    out = cv2.resize(rgb, (small, small), interpolation=cv2.INTER_AREA)
    out = cv2.GaussianBlur(out, (0, 0), 1.5)
    noise = np.random.default_rng(0).normal(0, 5, out.shape)
    return np.clip(out + noise, 0, 255).astype(np.uint8)


def test_snapping_a_blurred_result_recovers_flat_colors() -> None:
    rgb, lines = flat_drawing(256, seed=3)
    blurred = _model_like(rgb, 128)
    snapped = snap_to_regions(blurred, lines)
    assert snapped.shape == (256, 256, 3) and snapped.dtype == np.uint8
    paper = lines < 0.5
    err = np.abs(snapped.astype(int) - rgb.astype(int)).max(axis=2)[paper]
    # Blurred input: most paper pixels are far off; snapped: nearly all within a few levels.
    base = np.abs(cv2.resize(blurred, (256, 256)).astype(int) - rgb.astype(int)).max(axis=2)[paper]
    assert (base <= 6).mean() < 0.8
    assert (err <= 6).mean() >= 0.98, (err <= 6).mean()
    # Every region big enough to survive the 2x downsampling and blur is exactly right; slivers a
    # few pixels wide are darkened all through in the blurred result and may be off.
    regions = label_regions(lines)
    areas = regions.areas()
    big = [label for label in range(1, regions.count + 1) if areas[label] >= 400]
    assert len(big) >= 5
    for label in big:
        assert err[(regions.labels == label)[paper]].max() <= 6, label
    # Lines are drawn back in black.
    assert (snapped[lines >= 1.0] == 0).all()


def test_snap_accepts_pil_and_keeps_shading() -> None:
    rgb, lines = flat_drawing(128, seed=4)
    # A vertical lightness ramp over the flat drawing, as a shaded model result would have.
    ramp = np.linspace(-30, 30, 128)[:, None, None]
    shaded = np.clip(rgb.astype(float) + ramp, 0, 255).astype(np.uint8)
    flat = snap_to_regions(Image.fromarray(shaded), lines)
    kept = snap_to_regions(shaded, lines, keep_shading=True)
    paper = lines < 0.5
    lum = lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2LAB)[..., 0].astype(float)  # noqa: E731
    # Inside the biggest region, flat has one lightness, kept follows the ramp.
    regions = label_regions(lines)
    big = int(np.argmax(regions.areas()[1:])) + 1
    mask = (regions.labels == big) & paper
    assert np.ptp(lum(flat)[mask]) <= 1
    assert np.corrcoef(lum(kept)[mask], lum(shaded)[mask])[0, 1] > 0.9


def test_snap_at_a_non_square_size() -> None:
    rgb, lines = flat_drawing(160, seed=5)
    lines = lines[:, :120]
    out = snap_to_regions(rgb[::2, :120:2].copy(), lines)
    assert out.shape == (160, 120, 3)


def test_layers_recompose_to_the_composite(tmp_path) -> None:
    rgb, lines = flat_drawing(96, seed=6)
    soft = cv2.GaussianBlur(lines, (0, 0), 0.8)  # anti-aliased line strengths
    soft = np.clip(soft / soft.max(), 0, 1).astype(np.float32)
    layers = snap_layers(rgb, soft)
    paths = write_layers(tmp_path / "page.png", layers.composite, layers.color, soft)
    assert paths == layer_paths(tmp_path / "page.png")
    assert paths["color"].name == "page_color.png" and paths["lines"].name == "page_lines.png"
    color = Image.open(paths["color"]).convert("RGBA")
    line_img = Image.open(paths["lines"])
    assert line_img.mode == "RGBA"
    recomposed = np.asarray(Image.alpha_composite(color, line_img).convert("RGB")).astype(int)
    composite = np.asarray(Image.open(paths["composite"]).convert("RGB")).astype(int)
    assert np.abs(recomposed - composite).max() <= 1
    # The color layer has no lines: it is flat under them too.
    assert (np.asarray(Image.open(paths["color"]))[lines >= 1.0].max(axis=1) > 0).any()
    assert np.asarray(line_img)[..., 3].max() == 255


def test_write_layers_refuses_a_composite_that_does_not_recompose(tmp_path) -> None:
    rgb, lines = flat_drawing(64, seed=7)
    layers = split_layers(rgb, lines)
    wrong = np.clip(layers.composite.astype(int) + 5, 0, 255).astype(np.uint8)
    with pytest.raises(LayersError, match="differs"):
        write_layers(tmp_path / "x.png", wrong, rgb, lines)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LayersError, match=r"\.png"):
        write_layers(tmp_path / "x.jpg", None, rgb, lines)
    with pytest.raises(LayersError, match="differs from the line art"):
        compose(rgb[:10], lines)


def test_guides_decide_their_regions_and_split_a_shared_one() -> None:
    """A guide's region takes the guide's color whatever the result says there; two guides in one
    region split it by nearest guide; the other regions keep the result's colors."""
    from manganinja.flat.regions import GuideFills, RegionsError

    rgb, lines = flat_drawing(128, seed=3)
    regions = label_regions(lines)
    areas = regions.areas()
    big = [int(label) for label in np.argsort(areas[1:])[::-1][:2] + 1]
    inside = [np.argwhere(regions.labels == label) for label in big]
    a, b = inside[0][len(inside[0]) // 2], inside[1][len(inside[1]) // 2]  # (y, x) inside each
    # two guides in the first region, at its two ends in reading order; one in the second
    a0, a1 = inside[0][0], inside[0][-1]
    guides = GuideFills(np.array([[a0[1], a0[0]], [a1[1], a1[0]], [b[1], b[0]]], float),
                        np.array([(250, 0, 0), (0, 250, 0), (0, 0, 250)], np.uint8))
    assert guides.by_region(regions.filled_labels()) == {big[0]: [0, 1], big[1]: [2]}
    with pytest.raises(RegionsError, match="guide 1 at \\(200, 5\\) is outside the 128x128 line art"):
        GuideFills(np.array([[200.0, 5.0]]), np.zeros((1, 3), np.uint8)).by_region(regions.filled_labels())
    plain = snap_layers(rgb, lines).color
    got = snap_layers(rgb, lines, guides=guides).color
    assert (got[regions.labels == big[1]] == (0, 0, 250)).all()
    first = got[regions.labels == big[0]]
    assert {tuple(c) for c in first} == {(250, 0, 0), (0, 250, 0)}
    assert tuple(got[a0[0], a0[1]]) == (250, 0, 0) and tuple(got[a1[0], a1[1]]) == (0, 250, 0)
    rest = (regions.labels > 0) & ~np.isin(regions.labels, big)
    np.testing.assert_array_equal(got[rest], plain[rest])
    with pytest.raises(ValueError, match="2 guide points but 1 guide colors"):
        GuideFills(np.zeros((2, 2)), np.zeros((1, 3), np.uint8))
