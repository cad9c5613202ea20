"""Region point maps: each pair's value fills the region that holds its point.

A departure from the paper, for models trained here (``PointNet.region_maps``; docs/reproduce.md,
thirteenth attempt, where it is measured: it did not make the miniature's guides act with line
art). The paper's point map marks one pixel per pair, so a guide reaches the attention of the
few tokens under its pixel. A region map writes pair ``i``'s value over the whole region of the
picture the point lies in: on the line art, the region its lines enclose; on a colored
reference, the region enclosed by the reference's own XDoG line art. Both are labelled with
:func:`manganinja.flat.regions.label_regions`, at the size the map is drawn at, from what the
model is given at that size, in sampling and in training alike.

A map whose picture is not split into at least two regions (a blank line art: the condition
dropped) stays a pixel map, so a model trained with region maps still sees the paper's points
when it has no line art.

:func:`hint_channels` is the second departure (``model.point_hints``): the guides' reference
colors painted over their line-art regions, as extra ControlNet condition channels, so that the
guides reach the line-art path, which sets the colors where there is line art.
"""

from __future__ import annotations

import numpy as np

from manganinja.flat.regions import label_regions
from manganinja.lines import xdog_lines

#: Gap-closing radius at the map sizes (64-512 px): lines there are 1-3 px wide, and a larger ball
#: erases the small parts (eyes, buttons) that guides are clicked on.
REGION_GAP_RADIUS = 1


def line_regions(lines: np.ndarray) -> np.ndarray:
    """Region labels of a line map (float ``(H, W)`` in [0, 1], 1 = line) at its size: int32
    ``(H, W)``, ``1..count`` (line pixels take their nearest region's label)."""
    return label_regions(np.asarray(lines, dtype=np.float32), gap_radius=REGION_GAP_RADIUS).filled_labels()


def picture_regions(rgb: np.ndarray) -> np.ndarray:
    """Region labels of a colored picture (uint8 ``(H, W, 3)``) at its size, from its XDoG line
    art (:func:`manganinja.lines.xdog_lines`): int32 ``(H, W)``, ``1..count``."""
    return line_regions(xdog_lines(np.asarray(rgb, dtype=np.float32) / 255.0))


def fill_regions(point_map: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The point map (float ``(H, W)``: 0, or pair value ``v`` at the pair's pixel) with each
    pair's value written over the region of ``labels`` (int ``(H, W)``, same shape) that holds
    its pixel; float32 ``(H, W)``. Pairs are written in increasing value (a later pair wins a
    shared region) and every pair's own pixel keeps its value. Unchanged when ``labels`` has
    fewer than two regions."""
    if point_map.shape != labels.shape:
        raise ValueError(f"point map {point_map.shape} and labels {labels.shape} differ in shape")
    out = np.asarray(point_map, dtype=np.float32).copy()
    if np.unique(labels).size < 2:
        return out
    ys, xs = np.nonzero(point_map)
    values = point_map[ys, xs]
    order = np.argsort(values, kind="stable")
    for k in order:
        out[labels == labels[ys[k], xs[k]]] = values[k]
    out[ys, xs] = values
    return out


#: Extra ControlNet condition channels of a hint model (``ControlNetModel.conditioning_channels``
#: 3 + HINT_CHANNELS): the guides' reference colors (RGB) and where they are (mask).
HINT_CHANNELS = 4


def hint_channels(region_map: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Color hints of the guides, a departure from the paper for models trained here: float32
    ``(4, H, W)``. ``region_map``: float ``(H, W)``, pair value ``v`` over the area of pair ``v``
    (a region map, :func:`fill_regions`), 0 elsewhere; ``colors``: uint8 ``(n, 3)``, pair ``v``'s
    reference color in row ``v - 1``. Channels 0-2: that color in [-1, 1] where a pair is, 0
    elsewhere; channel 3: 1 where a pair is, 0 elsewhere."""
    out = np.zeros((HINT_CHANNELS, *region_map.shape), np.float32)
    index = np.rint(region_map).astype(np.int64)
    where = index > 0
    if not where.any():
        return out
    if int(index.max()) > len(colors):
        raise ValueError(f"point map holds pair {int(index.max())}, only {len(colors)} colors given")
    rgb = np.asarray(colors, np.float32) / 127.5 - 1.0
    out[:3, where] = rgb[index[where] - 1].T
    out[3, where] = 1.0
    return out
