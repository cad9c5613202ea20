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
guides reach the line-art path, which sets the colors where there is line art. :func:`hint_map`
draws them the same way for sampling and training: regions labelled on the line art at its own
size (long side capped at :data:`HINT_REGION_SIDE`), colors read on the reference at its own size
(:func:`reference_colors`), and only then brought to the model's size. At the model's 64 px the
regions of the miniature's line art leak into their neighbours and a point's color blurs into
its neighbours': drawn there, the hints of the 20 guides put an error of 0.042 on the scored
points they cover, drawn at the pictures' 256 px none (docs/reproduce.md, fourteenth attempt).
"""

from __future__ import annotations

import cv2
import numpy as np

from manganinja.flat.regions import label_regions
from manganinja.lines import resize_line_map, xdog_lines
from manganinja.points import point_map, scale_xy

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
#: :data:`HINTED_CONDITION_CHANNELS`): the guides' reference colors (RGB) and where they are (mask).
HINT_CHANNELS = 4
#: Condition channels of a ControlNet that reads the line art alone (RGB) and of a hint model.
LINEART_CONDITION_CHANNELS = 3
HINTED_CONDITION_CHANNELS = LINEART_CONDITION_CHANNELS + HINT_CHANNELS


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


#: Long side at which :func:`hint_map` labels the line art's regions (the line art's own size when
#: smaller): the range :data:`REGION_GAP_RADIUS` is set for, and a bounded cost on a full page.
HINT_REGION_SIDE = 512


def reference_colors(picture: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The colors of a reference picture (uint8 ``(H, W, 3)``, at its own size) at the points
    ``xy`` (``(n, 2)`` pixel coordinates, x then y, of that size): the per-channel median of the
    3 x 3 pixels around each (cut at the border), so one stray pixel of line or noise does not
    decide it; uint8 ``(n, 3)``."""
    arr = np.asarray(picture)
    height, width = arr.shape[:2]
    pix = scale_xy(xy, (width, height), (width, height))
    out = np.zeros((len(pix), 3), np.uint8)
    for i, (x, y) in enumerate(pix):
        patch = arr[max(y - 1, 0): y + 2, max(x - 1, 0): x + 2, :3].reshape(-1, 3)
        out[i] = np.median(patch, axis=0)
    return out


def hint_map(lines: np.ndarray, lineart_xy: np.ndarray, colors: np.ndarray, map_size: tuple[int, int]) -> np.ndarray:
    """The guides' color hints at ``map_size`` = (width, height), float32 ``(4, h, w)``
    (:func:`hint_channels`), drawn from the line art at its own size.

    ``lines``: float ``(H, W)`` line map in [0, 1] (1 = line) at its own size, which
    ``lineart_xy`` (``(n, 2)``, the guides' line-art points) is in; ``colors``: uint8 ``(n, 3)``,
    guide ``i``'s reference color (:func:`reference_colors`). Guide ``i + 1``'s value fills the
    region of ``lines`` that holds its point (labelled at long side at most
    :data:`HINT_REGION_SIDE`; a later guide wins a shared region), the value map is brought to
    ``map_size`` by nearest neighbour, and each guide keeps its own pixel there. A line art with
    fewer than two regions (a blank one: the condition dropped) gives the guides' pixels only."""
    arr = np.asarray(lines, dtype=np.float32)
    size = (arr.shape[1], arr.shape[0])
    side = max(size)
    if side > HINT_REGION_SIDE:
        small = (max(1, round(size[0] * HINT_REGION_SIDE / side)), max(1, round(size[1] * HINT_REGION_SIDE / side)))
        arr = resize_line_map(arr, small)
    label_size = (arr.shape[1], arr.shape[0])
    filled = fill_regions(point_map(lineart_xy, size, label_size), line_regions(arr))
    values = cv2.resize(filled, tuple(map_size), interpolation=cv2.INTER_NEAREST)
    own = point_map(lineart_xy, size, tuple(map_size))
    return hint_channels(np.where(own > 0, own, values), colors)
