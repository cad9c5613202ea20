"""Snap a colorization (e.g. the diffusion model's 512 px output) to the line art's regions.

The result is upsampled to the line art's size, each region gets the robust color of the result
inside it (:func:`manganinja.flat.regions.region_colors`: the dominant quantized color, so colors
bled across lines and the blur near lines are outvoted), line pixels are filled from the nearest
region (the color layer has no holes), and the original lines are drawn on top (black, alpha =
line strength). With ``keep_shading`` each pixel keeps the result's lightness variation around its
region's median lightness, so shading survives while hue and saturation are flat.

Memory: a handful of ``(H, W)`` arrays at the line art's size (about 60 bytes per pixel at the
peak, ~0.5 GB for an A4 600 dpi scan is NOT needed: an A4 300 dpi scan, 2480x3508, peaks near
0.5 GB).
"""

from __future__ import annotations

import cv2
import numpy as np

from manganinja.flat.layers import Layers, split_layers
from manganinja.flat.regions import GAP_RADIUS, Regions, label_regions, region_colors, vote_step, voter_mask
from manganinja.images import ImageInput, load_image, to_rgb


def _as_rgb(color: ImageInput | np.ndarray, name: str) -> np.ndarray:
    if isinstance(color, np.ndarray) and color.dtype == np.uint8 and color.ndim == 3 and color.shape[2] == 3:
        return color
    return np.asarray(to_rgb(load_image(color, name=name)), dtype=np.uint8)


def snap_layers(
    color: ImageInput | np.ndarray,
    lineart: np.ndarray,
    keep_shading: bool = False,
    *,
    regions: Regions | None = None,
    gap_radius: int = GAP_RADIUS,
) -> Layers:
    """Snap ``color`` to the regions of ``lineart``; returns composite, color and line layers.

    Args:
        color: RGB result of any size (uint8 ``(h, w, 3)`` array, PIL image or path).
        lineart: float32 ``(H, W)`` in [0, 1], 1 = line, at full resolution.
        keep_shading: keep the result's lightness variation inside each region.
        regions: precomputed :func:`label_regions` of ``lineart`` (computed when None).
        gap_radius: gap-closing radius for :func:`label_regions` when ``regions`` is None.

    Returns:
        :class:`~manganinja.flat.layers.Layers` at the line art's size ``(H, W)``.
    """
    rgb = _as_rgb(color, "color")
    if regions is None:
        regions = label_regions(lineart, gap_radius=gap_radius)
    h, w = regions.shape
    if np.asarray(lineart).shape != (h, w):
        raise ValueError(f"regions of shape {(h, w)} do not match line art {np.asarray(lineart).shape}")
    up = rgb if rgb.shape[:2] == (h, w) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    colors = robust_region_colors(regions, up, band=3.0 * max(h / rgb.shape[0], w / rgb.shape[1]))
    filled = regions.filled_labels()
    flat = colors[filled]
    if keep_shading:
        flat = _keep_lightness(flat, up, filled, regions.count)
    return split_layers(flat, np.asarray(lineart, dtype=np.float32))


def robust_region_colors(regions: Regions, rgb: np.ndarray, band: float = 3.0) -> np.ndarray:
    """uint8 ``(count + 1, 3)``: each region's color in ``rgb`` (uint8 ``(H, W, 3)`` at the
    regions' size), voted by its pixels farthest from the lines.

    Pixels near lines are darkened and blended in blurred results, so only pixels at least
    ``band`` pixels from a line vote, or, in a region narrower than that, those at least 0.7 of
    its deepest pixel's distance. Regions with no paper pixel keep 0.
    """
    paper = (~regions.line_mask).astype(np.uint8)
    dist = cv2.distanceTransform(paper, cv2.DIST_L2, 3)
    deepest = np.zeros(regions.count + 1, np.float32)
    np.maximum.at(deepest, regions.labels.ravel(), dist.ravel())
    need = np.minimum(np.float32(band), 0.7 * deepest)
    valid = (dist >= need[regions.labels]) & voter_mask(regions, vote_step(regions.shape))
    colors, votes = region_colors(regions.labels, regions.count, rgb, valid)
    return colors


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
    lineart: np.ndarray,
    keep_shading: bool = False,
    *,
    regions: Regions | None = None,
    gap_radius: int = GAP_RADIUS,
) -> np.ndarray:
    """uint8 ``(H, W, 3)`` composite of :func:`snap_layers` (flat fills, original lines on top) at
    the line art's size ``(H, W)``; ``color`` may be any size (uint8 RGB array, PIL image, path)."""
    return snap_layers(color, lineart, keep_shading, regions=regions, gap_radius=gap_radius).composite


__all__ = ["snap_layers", "snap_to_regions"]
