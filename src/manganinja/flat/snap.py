"""Snap a colorization (e.g. the diffusion model's 512 px output) to the line art's regions.

The result is upsampled to the line art's size, each region gets the robust color of the result
inside it (:func:`manganinja.flat.regions.region_colors`: the dominant quantized color, so colors
bled across lines and the blur near lines are outvoted), line pixels are filled from the nearest
region (the color layer has no holes), and the original lines are drawn on top (black, alpha =
line strength). With ``keep_shading`` each pixel keeps the result's lightness variation around its
region's median lightness, so shading survives while hue and saturation are flat. A person's
guides (:class:`~manganinja.flat.regions.GuideFills`) decide the regions that hold them, as in the
weight-free engine.

Memory: a handful of ``(H, W)`` arrays at the line art's size; only a subsample of pixels votes
on big pages (:func:`manganinja.flat.regions.voter_mask`). An A4 300 dpi line art (2480x3508)
peaks at about 0.5 GB resident for the whole process (``benchmarks/bench_flat.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from manganinja.flat.layers import Layers, split_layers
from manganinja.flat.regions import (
    GAP_RADIUS,
    GuideFills,
    Regions,
    interior_voters,
    label_regions,
    region_colors,
    vote_step,
    voter_mask,
)
from manganinja.flat.inputs import FlatInputError, load_lines, load_rgb
from manganinja.images import ImageInput
from manganinja.lines import Lines


def snap_layers(
    color: ImageInput | np.ndarray,
    lineart: Lines | np.ndarray,
    keep_shading: bool = False,
    *,
    regions: Regions | None = None,
    gap_radius: int = GAP_RADIUS,
    guides: GuideFills | None = None,
) -> Layers:
    """Snap ``color`` to the regions of ``lineart``; returns composite, color and line layers.

    Args:
        color: RGB result of any size (uint8 ``(h, w, 3)`` array, PIL image or path).
        lineart: the line art at full resolution, a :class:`~manganinja.lines.Lines` (or its
            float32 ``(H, W)`` array in [0, 1], 1 = line).
        keep_shading: keep the result's lightness variation inside each region.
        regions: precomputed :func:`label_regions` of ``lineart`` (computed when None).
        gap_radius: gap-closing radius for :func:`label_regions` when ``regions`` is None.
        guides: a person's guides, at the line art's size: the region that holds one takes the
            guide's color instead of ``color``'s (several in one region split it by nearest
            guide), as in the weight-free engine (:class:`~manganinja.flat.regions.GuideFills`).

    Returns:
        :class:`~manganinja.flat.layers.Layers` at the line art's size ``(H, W)``.
    """
    rgb = load_rgb(color, "color")
    lines = load_lines(lineart)
    if regions is None:
        regions = label_regions(lines, gap_radius=gap_radius)
    h, w = regions.shape
    if lines.shape != (h, w):
        raise FlatInputError(f"regions of shape {(h, w)} do not match the line art's {lines.shape}")
    up = rgb if rgb.shape[:2] == (h, w) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    # Blur and line darkening reach further the more the result was upsampled.
    band = 3.0 * max(h / rgb.shape[0], w / rgb.shape[1])
    valid = interior_voters(regions, band) & voter_mask(regions, vote_step(regions.shape))
    colors, _ = region_colors(regions.labels, regions.count, up, valid)
    filled = regions.filled_labels()
    by_region = guides.by_region(filled) if guides is not None else {}
    if guides is not None:
        guides.set_region_colors(colors, by_region)
    flat = colors[filled]
    if guides is not None:
        guides.split_shared(flat, filled, by_region)
    if keep_shading:
        flat = _keep_lightness(flat, up, filled, regions.count)
    return split_layers(flat, lines)


def _keep_lightness(flat: np.ndarray, up: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """``flat`` with L* replaced by flat L* + (result L* - region median of result L*), in Lab."""
    lab_flat = cv2.cvtColor(flat, cv2.COLOR_RGB2LAB)
    l_up = cv2.cvtColor(up, cv2.COLOR_RGB2LAB)[..., 0].astype(np.int16)
    # Per-region median lightness via a (label, L) histogram: 256 bins per region.
    hist = np.bincount(labels.ravel().astype(np.int64) * 256 + l_up.ravel(), minlength=(count + 1) * 256)
    cdf = hist.reshape(count + 1, 256).cumsum(axis=1)
    half = cdf[:, -1:] / 2.0
    median = (cdf < half).sum(axis=1).astype(np.int16)
    shade = l_up - median[labels]
    lab_flat[..., 0] = np.clip(lab_flat[..., 0].astype(np.int16) + shade, 0, 255).astype(np.uint8)
    return cv2.cvtColor(lab_flat, cv2.COLOR_LAB2RGB)


def snap_to_regions(
    color: ImageInput | np.ndarray,
    lineart: Lines | np.ndarray,
    keep_shading: bool = False,
    *,
    regions: Regions | None = None,
    gap_radius: int = GAP_RADIUS,
    guides: GuideFills | None = None,
) -> np.ndarray:
    """uint8 ``(H, W, 3)`` composite of :func:`snap_layers` (flat fills, original lines on top) at
    the line art's size ``(H, W)``; ``color`` may be any size (uint8 RGB array, PIL image, path)."""
    return snap_layers(color, lineart, keep_shading, regions=regions, gap_radius=gap_radius, guides=guides).composite


__all__ = ["snap_layers", "snap_to_regions"]
