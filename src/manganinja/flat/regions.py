"""Regions enclosed by the line art, with small gaps in the lines closed.

A line art (float32 ``(H, W)`` in ``[0, 1]``, 1 = line, white on black) is thresholded into a
line mask. Gaps narrower than about ``2 * gap_radius + 1`` pixels are sealed the way trapped-ball
filling does it: the lines are dilated with a disk of radius ``gap_radius``, the paper left over is
split into 4-connected components (the "seeds"), and each seed's label is then grown back over the
original paper pixels, 4-connected, never across a line pixel. The growth stops after a few rings
(about the ball's radius), so a label cannot flood through a sealed gap into a neighbour. Paper
pixels that no seed reaches (regions thinner than the ball) become regions of their own, so no
paper pixel is left unlabeled. Line pixels get label 0.

Everything runs on whole arrays with OpenCV (``dilate``, ``connectedComponents``,
``distanceTransformWithLabels``); a 2048x2048 page takes well under a second on one core
(``benchmarks/bench_flat.py`` prints the figure).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


#: A pixel counts as line where the line art is at least this (the model also drops values <= 0.24).
LINE_THRESHOLD = 0.25
#: Default radius of the gap-closing ball, in pixels (closes gaps up to about 7 pixels).
GAP_RADIUS = 3
#: Largest per-channel difference (0-255) from a picture's border color still counted as background.
BACKGROUND_TOLERANCE = 24


class RegionsError(ValueError):
    """The line art cannot be split into regions; the message names the bad value."""


@dataclass(frozen=True)
class Regions:
    """Labelled regions of a line art.

    Attributes:
        labels: int32 ``(H, W)``; ``0`` on line pixels, ``1..count`` on paper pixels.
        count: number of regions (the largest label).
        line_mask: bool ``(H, W)``; True where the line art counts as line.
    """

    labels: np.ndarray
    count: int
    line_mask: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    def areas(self) -> np.ndarray:
        """int64 ``(count + 1,)``: pixels per label (index 0 counts line pixels)."""
        return np.bincount(self.labels.ravel(), minlength=self.count + 1)

    def filled_labels(self) -> np.ndarray:
        """int32 ``(H, W)``: like :attr:`labels`, but each line pixel takes the label of the nearest
        paper pixel (so a color layer has no holes under the lines). All zeros if the page has no
        paper pixel at all."""
        return fill_under_lines(self.labels)

    def label_at(self, xy: tuple[float, float]) -> int:
        """Label (>= 1) of the region at pixel ``(x, y)``; on a line, the nearest region's label.

        Raises:
            RegionsError: ``(x, y)`` lies outside the image.
        """
        h, w = self.shape
        x, y = int(round(xy[0])), int(round(xy[1]))
        if not (0 <= x < w and 0 <= y < h):
            raise RegionsError(f"point ({xy[0]:g}, {xy[1]:g}) is outside the {w}x{h} line art")
        label = int(self.labels[y, x])
        if label:
            return label
        return int(self.filled_labels()[y, x])


@dataclass(frozen=True)
class GuideFills:
    """Regions a person's guides decide: guide ``i`` stands at ``xy[i]`` on the line art (float
    ``(K, 2)``, x then y, in the line art's pixels) and brings ``colors[i]`` (uint8 ``(K, 3)``,
    its reference point's color). The region that holds a guide takes its color; a region that
    holds several is split among them by nearest guide. The weight-free engine and the snap of
    the model's picture obey guides this one way."""

    xy: np.ndarray
    colors: np.ndarray

    def __post_init__(self) -> None:
        xy, colors = np.asarray(self.xy, np.float64).reshape(-1, 2), np.asarray(self.colors, np.uint8).reshape(-1, 3)
        if len(xy) != len(colors):
            raise ValueError(f"{len(xy)} guide points but {len(colors)} guide colors")
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "colors", colors)

    def by_region(self, filled: np.ndarray) -> dict[int, list[int]]:
        """``{label: [guide indices, in order]}``: the guides each region holds, on ``filled``,
        the region labels with lines filled (int ``(H, W)``, :meth:`Regions.filled_labels`: a
        guide on a line counts for the nearest region). Raises :class:`RegionsError` for a guide
        outside the line art."""
        h, w = filled.shape
        found: dict[int, list[int]] = {}
        for i, (x, y) in enumerate(np.rint(self.xy).astype(np.int64)):
            if not (0 <= x < w and 0 <= y < h):
                raise RegionsError(f"guide {i + 1} at ({self.xy[i, 0]:g}, {self.xy[i, 1]:g}) is outside the {w}x{h} line art")
            found.setdefault(int(filled[y, x]), []).append(i)
        return found

    def set_region_colors(self, colors: np.ndarray, by_region: dict[int, list[int]]) -> None:
        """Give each region that holds guides (``by_region``, :meth:`by_region`) its first guide's
        color in ``colors`` (uint8 ``(count + 1, 3)``, one row per label; in place)."""
        for label, members in by_region.items():
            colors[label] = self.colors[members[0]]

    def split_shared(self, layer: np.ndarray, filled: np.ndarray, by_region: dict[int, list[int]]) -> list[list[int]]:
        """Paint each region that holds several guides in ``layer`` (uint8 ``(H, W, 3)``, in
        place) with the color of the nearest of them, pixel by pixel; ``filled``: the region
        labels with lines filled (:meth:`Regions.filled_labels`). Returns the groups of guides
        that shared a region."""
        shared = []
        for label, members in by_region.items():
            if len(members) < 2:
                continue
            shared.append(members)
            ys, xs = np.nonzero(filled == label)
            pts = self.xy[members]
            d = (xs[:, None] - pts[None, :, 0]) ** 2 + (ys[:, None] - pts[None, :, 1]) ** 2
            layer[ys, xs] = self.colors[members][np.argmin(d, axis=1)]
        return shared


def _check_lineart(lineart: np.ndarray) -> np.ndarray:
    arr = np.asarray(lineart)
    if arr.ndim != 2 or arr.size == 0:
        raise RegionsError(f"line art: expected a non-empty (H, W) array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise RegionsError(
            f"line art: expected float values in [0, 1] (1 = line), got dtype {arr.dtype}; "
            "normalize it with manganinja.lines.normalize_lineart"
        )
    return arr


def disk(radius: int) -> np.ndarray:
    """uint8 ``(2r+1, 2r+1)`` disk structuring element (radius 0 gives a single pixel)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def label_regions(
    lineart: np.ndarray,
    *,
    line_threshold: float = LINE_THRESHOLD,
    gap_radius: int = GAP_RADIUS,
    grow_rings: int | None = None,
) -> Regions:
    """Split a line art into the regions its lines enclose, closing small gaps.

    Args:
        lineart: float ``(H, W)`` in ``[0, 1]``, 1 = line (white lines on black).
        line_threshold: a pixel is line where ``lineart >= line_threshold``.
        gap_radius: radius in pixels of the "ball": gaps up to about ``2 * gap_radius + 1`` pixels
            wide are treated as closed. 0 disables gap closing.
        grow_rings: how many 4-connected rings a sealed region may grow back over paper pixels
            (default ``2 * gap_radius + 2``: a 4-connected ring reaches diagonal corners
            at half speed); more rings let labels creep further into open gaps.

    Returns:
        :class:`Regions` with int32 labels (0 on lines, 1..count on paper).

    Raises:
        RegionsError: the line art is not a non-empty float ``(H, W)`` array, or a parameter is
            out of range.
    """
    arr = _check_lineart(lineart)
    if not 0.0 < line_threshold <= 1.0:
        raise RegionsError(f"line_threshold must be in (0, 1], got {line_threshold}")
    if gap_radius < 0:
        raise RegionsError(f"gap_radius must be >= 0, got {gap_radius}")
    rings = 2 * gap_radius + 2 if grow_rings is None else grow_rings
    if rings < 0:
        raise RegionsError(f"grow_rings must be >= 0, got {grow_rings}")

    line = (arr >= line_threshold).astype(np.uint8)
    paper = (1 - line).astype(np.uint8)

    # 1. Seeds: the paper left when the lines are thickened by the ball.
    sealed = cv2.dilate(line, disk(gap_radius)) if gap_radius > 0 else line
    n_seeds, seeds = cv2.connectedComponents(1 - sealed, connectivity=4, ltype=cv2.CV_32S)

    # 2. Grow the seeds back over the paper, one 4-connected ring at a time, never over lines.
    labels = _grow(seeds, paper, rings)

    # 3. Paper that no seed reached (regions thinner than the ball) becomes regions of its own.
    rest = ((labels == 0) & (paper > 0)).astype(np.uint8)
    if rest.any():
        n_rest, rest_labels = cv2.connectedComponents(rest, connectivity=4, ltype=cv2.CV_32S)
        labels = np.where(rest > 0, rest_labels + (n_seeds - 1), labels).astype(np.int32)
        count = n_seeds - 1 + n_rest - 1
    else:
        count = n_seeds - 1
    labels, count = _compact(labels, count)
    return Regions(labels=labels, count=count, line_mask=line.astype(bool))


def _grow(seeds: np.ndarray, paper: np.ndarray, rings: int) -> np.ndarray:
    """Grow int32 labels ``seeds`` (0 = unlabeled) over ``paper`` (uint8 mask), ``rings`` steps of
    4-connected dilation; a pixel joins the largest neighbouring label. Returns int32 labels."""
    if rings == 0 or not seeds.any():
        return seeds.astype(np.int32)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    # float32 holds integers exactly up to 2**24, far more regions than any page has.
    lab = seeds.astype(np.float32)
    open_mask = (seeds == 0) & (paper > 0)
    for _ in range(rings):
        grown = cv2.dilate(lab, cross)
        take = open_mask & (grown > 0)
        if not take.any():
            break
        lab[take] = grown[take]
        open_mask &= ~take
    return lab.astype(np.int32)


def _compact(labels: np.ndarray, count: int) -> tuple[np.ndarray, int]:
    """Renumber labels so that 1..count are all used (seeds fully eaten by nothing stay dense)."""
    present = np.bincount(labels.ravel(), minlength=count + 1) > 0
    present[0] = True
    if present.all():
        return labels, count
    remap = np.cumsum(present).astype(np.int32) - 1
    return remap[labels], int(remap[-1])


def fill_under_lines(labels: np.ndarray) -> np.ndarray:
    """int32 ``(H, W)``: every 0 (line) pixel of ``labels`` takes the label of the nearest non-zero
    pixel (Euclidean). All zeros stay zeros when there is no labelled pixel."""
    zero = labels == 0
    if not zero.any() or zero.all():
        return labels.astype(np.int32, copy=True)
    # distanceTransformWithLabels measures the distance to the nearest ZERO pixel of its input and
    # labels each zero pixel uniquely, so feed it "is line" and read back which paper pixel won.
    _, nearest = cv2.distanceTransformWithLabels(
        zero.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    ys, xs = np.nonzero(~zero)
    lookup = np.zeros(len(ys) + 1, dtype=np.int32)
    # Labels of DIST_LABEL_PIXEL are assigned to zero pixels in raster order, starting at 1.
    lookup[1:] = labels[ys, xs]
    out = labels.astype(np.int32, copy=True)
    out[zero] = lookup[nearest[zero]]
    return out


def border_pixels(array: np.ndarray) -> np.ndarray:
    """The values on the 1-pixel border of an ``(H, W, ...)`` array: ``(2 * (H + W), ...)`` (top
    row, bottom row, left column, right column; corners counted twice)."""
    return np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])


def foreground_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` bounding box of a bool ``(H, W)`` mask; the whole frame when the
    mask is empty."""
    if not mask.any():
        return (0, 0, mask.shape[1], mask.shape[0])
    return tuple(int(v) for v in cv2.boundingRect(mask.astype(np.uint8)))  # type: ignore[return-value]


def border_regions(regions: Regions) -> np.ndarray:
    """bool ``(count + 1,)``: regions with a pixel on the image border."""
    out = np.zeros(regions.count + 1, bool)
    out[border_pixels(regions.labels)] = True
    out[0] = False
    return out


def interior_voters(regions: Regions, band: float = 3.0) -> np.ndarray:
    """bool ``(H, W)``: the pixels of each region far enough from the lines to vote for its color.

    Pixels next to lines are darkened, blended or misaligned, so only pixels at least ``band``
    pixels from a line vote, or, in a region narrower than that, those at least 0.7 of its deepest
    pixel's distance (every region keeps some voters).
    """
    paper = (~regions.line_mask).astype(np.uint8)
    dist = cv2.distanceTransform(paper, cv2.DIST_L2, 3)
    labels = regions.labels
    deep = dist >= band
    need = np.full(regions.count + 1, band, np.float32)
    narrow = np.bincount(labels[deep], minlength=regions.count + 1) == 0
    narrow[0] = False
    if narrow.any():
        # Only narrow regions need their deepest distance; they hold few pixels.
        sel = narrow[labels]
        deepest = np.zeros(regions.count + 1, np.float32)
        np.maximum.at(deepest, labels[sel], dist[sel])
        need[narrow] = 0.7 * deepest[narrow]
    return (dist >= need[labels]) & (labels > 0)


def voter_mask(regions: Regions, step: int) -> np.ndarray:
    """bool ``(H, W)``: the pixels that vote for region colors on a big page: every ``step``-th
    pixel in both directions, plus every pixel of regions small enough (under ``64 * step**2``
    pixels) that thinning would cost them their votes. ``step <= 1`` keeps every pixel."""
    h, w = regions.shape
    if step <= 1:
        return np.ones((h, w), bool)
    mask = np.zeros((h, w), bool)
    mask[::step, ::step] = True
    small = regions.areas() < 64 * step * step
    small[0] = False
    return mask | small[regions.labels]


def vote_step(shape: tuple[int, int], pixels_per_vote_side: int = 1024) -> int:
    """Sub-sampling step for :func:`voter_mask`: 1 up to ``pixels_per_vote_side`` on the long side,
    then about one vote per ``(long side / pixels_per_vote_side)**2`` pixels."""
    return max(1, int(round(max(shape) / pixels_per_vote_side)))


def region_colors(
    labels: np.ndarray,
    count: int,
    rgb: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    bits: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Robust color per region: the most common quantized color of its valid pixels, refined to
    the mean of the pixels in that color bin.

    Args:
        labels: int ``(H, W)``, 0 = no region, 1..count regions.
        count: the largest label.
        rgb: uint8 ``(H, W, 3)`` colors, same height and width as ``labels``.
        valid: optional bool ``(H, W)``; only these pixels vote.
        bits: bits per channel for the quantized histogram (4 = 16 levels per channel).

    Returns:
        ``(colors, votes)``: uint8 ``(count + 1, 3)`` colors (row 0 unused, regions with no valid
        pixel get 0) and int64 ``(count + 1,)`` numbers of valid pixels per region.
    """
    if rgb.shape[:2] != labels.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise RegionsError(
            f"colors: expected a uint8 (H, W, 3) array matching labels {labels.shape}, got "
            f"{rgb.shape}"
        )
    sel = labels > 0 if valid is None else (labels > 0) & valid
    lab = labels[sel].astype(np.int64)
    px = rgb[sel]
    colors = np.zeros((count + 1, 3), dtype=np.uint8)
    votes = np.bincount(lab, minlength=count + 1)
    if lab.size == 0:
        return colors, votes
    shift = 8 - bits
    q = px >> shift
    code = (q[:, 0].astype(np.int64) << (2 * bits)) | (q[:, 1].astype(np.int64) << bits) | q[:, 2]
    key = lab << (3 * bits) | code
    if count < (1 << (32 - 3 * bits)):
        key = key.astype(np.uint32)  # sorts about twice as fast as int64
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    uniq = uniq.astype(np.int64)
    uniq_lab = uniq >> (3 * bits)
    # Per region, the bin with the most pixels (ties: the lowest code).
    order = np.lexsort((-counts, uniq_lab))
    first = np.ones(len(order), dtype=bool)
    first[1:] = uniq_lab[order][1:] != uniq_lab[order][:-1]
    best_bin = order[first]
    winner = np.zeros(len(uniq), dtype=bool)
    winner[best_bin] = True
    in_best = winner[inverse]
    # Refine: mean of the mode bin, then mean of the pixels within ``tol`` of it (a color split
    # between two bins by noise is recovered unbiased).
    estimate = _label_mean(lab[in_best], px[in_best], count)
    tol = 3 << shift >> 2
    px16 = px.astype(np.int16)
    for _ in range(2):
        near = np.abs(px16 - estimate[lab].astype(np.int16)).max(axis=1) <= tol
        estimate = _label_mean(lab[near], px[near], count, fallback=estimate)
    has = votes > 0
    colors[has] = np.clip(np.rint(estimate[has]), 0, 255).astype(np.uint8)
    return colors, votes


def _label_mean(
    lab: np.ndarray, px: np.ndarray, count: int, fallback: np.ndarray | None = None
) -> np.ndarray:
    """float64 ``(count + 1, 3)``: mean of ``px`` (``(N, 3)``) per label ``lab`` (``(N,)``); labels
    without pixels take ``fallback`` (or 0)."""
    n = np.bincount(lab, minlength=count + 1).astype(np.float64)
    sums = np.stack(
        [np.bincount(lab, weights=px[:, c].astype(np.float64), minlength=count + 1) for c in range(3)],
        axis=1,
    )
    out = np.zeros((count + 1, 3)) if fallback is None else fallback.astype(np.float64).copy()
    has = n > 0
    out[has] = sums[has] / n[has, None]
    return out
