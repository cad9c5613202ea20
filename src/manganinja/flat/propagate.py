"""Paint-bucket propagation: color a line frame's regions from painted frames of the same cut.

Every painted frame (a keyframe, or an earlier result) is a region label map of its line art plus
one **palette index** per region (0 = background, transparent). Colors never leave the palette of
the keyframes, so an output region always holds an exact keyframe color (no blends).

Coloring a target frame from several painted sources (:func:`paint_regions`):

1. The target's regions (:func:`manganinja.flat.regions.label_regions`; colored lines are
   boundaries like black ones).
2. For each source, a mapping target -> source from SIFT matches between the two line arts and a
   thin-plate spline (:mod:`manganinja.flat.match`); matching runs at reduced resolution
   (``work_long_side``), the labels stay at full resolution.
3. The source's filled label map is warped onto the target (nearest neighbour) and every target
   region counts, over its interior pixels (sub-sampled on big frames), the palette indices that
   land on it, each weighted by the source region's confidence. ``votes[r, k]`` is the share of
   region ``r``'s voters that landed on color ``k`` (uncovered pixels count as no vote).
4. The sources' shares are summed with their weights (a keyframe and the previous frame both
   vote); each region takes the color with the largest sum. Its confidence is that sum over the
   total weight, so a region the sources disagree on, or that they cover poorly, is unsure and
   counts less when the next frame is colored from it (errors do not propagate at full weight).
5. Background: regions mostly transparent in the input are background; regions touching the
   frame border are background unless at least ``border_share`` of the vote is for a character
   color. The reference's background is never painted: it is palette index 0, transparent.
6. A region no source reaches takes the color of its nearest painted neighbour, with confidence 0.

Every value that decides the results is a field of :class:`manganinja.settings.FlatShotSettings`
(its one default and its range), passed in as one value; the functions here do not default them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from manganinja.flat.match import Features, detect_features, fit_mapping, match_detected
from manganinja.flat.regions import (
    BACKGROUND_TOLERANCE,
    GAP_RADIUS,
    LINE_THRESHOLD,
    Regions,
    border_pixels,
    border_regions,
    fill_under_lines,
    foreground_box,
    interior_voters,
    label_regions,
    region_colors,
    vote_step,
    voter_mask,
)
from manganinja.settings import FlatShotSettings

#: Where a region's color came from (``PaintedFrame.origin``).
ORIGIN_KEYFRAME_COPY = 0
ORIGIN_VOTE = 1
ORIGIN_POINT = 2
ORIGIN_NEAREST = 3
ORIGIN_TRANSPARENT = 4
ORIGIN_TRACE = 5
ORIGIN_NAMES = ("keyframe", "vote", "point", "nearest", "transparent", "trace")


class PropagateError(ValueError):
    """Inputs the propagation cannot use; the message names the bad value."""


@dataclass
class Palette:
    """The colors a shot may use: row 0 is the background (transparent), rows ``1..K`` exact RGB
    colors of the keyframes. ``sources[k]`` names the keyframe each color was first seen in."""

    colors: np.ndarray = field(default_factory=lambda: np.zeros((1, 3), np.uint8))
    sources: list[str] = field(default_factory=lambda: ["background"])

    def __len__(self) -> int:
        return len(self.colors)

    def add(self, rgb: np.ndarray, source: str) -> np.ndarray:
        """Indices ``(N,)`` of the colors ``rgb`` (uint8 ``(N, 3)``), adding the new ones."""
        out = np.zeros(len(rgb), np.int32)
        codes = _codes(self.colors[1:])
        lookup = {int(c): i + 1 for i, c in enumerate(codes)}
        for j, c in enumerate(_codes(rgb)):
            k = lookup.get(int(c))
            if k is None:
                self.colors = np.vstack([self.colors, rgb[j : j + 1].astype(np.uint8)])
                self.sources.append(source)
                k = len(self.colors) - 1
                lookup[int(c)] = k
            out[j] = k
        return out

    def lookup(self, rgb: np.ndarray) -> np.ndarray:
        """Indices ``(N,)`` of exact colors ``rgb`` (uint8 ``(N, 3)``); -1 where not in the palette."""
        codes = _codes(self.colors[1:])
        order = np.argsort(codes)
        q = _codes(rgb)
        pos = np.searchsorted(codes[order], q)
        pos = np.clip(pos, 0, max(len(codes) - 1, 0))
        if len(codes) == 0:
            return np.full(len(q), -1, np.int32)
        hit = codes[order][pos] == q
        return np.where(hit, order[pos] + 1, -1).astype(np.int32)

    def nearest(self, rgb: np.ndarray) -> np.ndarray:
        """Indices ``(N,)`` (>= 1) of the nearest character colors to ``rgb`` (uint8 ``(N, 3)``)."""
        if len(self.colors) == 1:
            return np.zeros(len(rgb), np.int32)
        d = ((rgb[:, None, :].astype(np.int32) - self.colors[None, 1:].astype(np.int32)) ** 2).sum(-1)
        return (np.argmin(d, axis=1) + 1).astype(np.int32)


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, np.int64).reshape(-1, 3)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


@dataclass
class PaintedFrame:
    """A frame whose regions have palette colors.

    Attributes:
        lines: float32 ``(H, W)`` in [0, 1], white lines on black (all lines).
        regions: its :class:`Regions` (label 0 = line).
        index: int32 ``(count + 1,)``: palette index of each region (0 = background; row 0 unused).
        confidence: float32 ``(count + 1,)`` in [0, 1].
        origin: int8 ``(count + 1,)``: one of the ``ORIGIN_*`` codes.
        alignments: per source name, how well it was aligned (:class:`Alignment`; empty for a
            keyframe).
        dropped: the sources that did not vote (a previous result aligned poorly).
        certainty: float32 ``(count + 1,)`` in [0, 1] or None: how decisive each region's vote
            was (the winning color's share of the evidence the region got; None = ``confidence``).
            What the review sheet reads (:mod:`manganinja.flat.review`).
        traces: int64 ``(P, 2)`` or None: the pairs of regions ``(a, b)``, ``a < b``, that touch
            each other across a colored (color-trace) line (:func:`trace_pairs`); None when the
            frame's colored lines were not given.
    """

    lines: np.ndarray
    regions: Regions
    index: np.ndarray
    confidence: np.ndarray
    origin: np.ndarray
    alignments: dict[str, "Alignment"] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    certainty: np.ndarray | None = None
    traces: np.ndarray | None = None

    def filled_index(self) -> np.ndarray:
        """int32 ``(H, W)``: palette index of every pixel (line pixels: nearest region's)."""
        return self.index[self.filled]

    @cached_property
    def filled(self) -> np.ndarray:
        """int32 ``(H, W)``: region labels with line pixels given the nearest region's (cached)."""
        return self.regions.filled_labels()

    @cached_property
    def shapes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`region_shapes` of the regions (cached)."""
        return region_shapes(self.regions)

    def features(self, work_long_side: int) -> Features:
        """SIFT features of the line art at ``work_long_side`` (cached per side)."""
        cache = self.__dict__.setdefault("_features", {})
        if work_long_side not in cache:
            cache[work_long_side] = detect_features(self.lines, work_long_side=work_long_side)
        return cache[work_long_side]


def regions_of(lines: np.ndarray, gap_radius: int = GAP_RADIUS) -> Regions:
    """Regions of a line frame (float ``(H, W)``, 1 = line); colored lines included."""
    return label_regions(lines, gap_radius=gap_radius)


def transparent_regions(regions: Regions, transparent: np.ndarray | None) -> np.ndarray:
    """bool ``(count + 1,)``: regions whose pixels are mostly transparent in the input."""
    out = np.zeros(regions.count + 1, bool)
    if transparent is None or not transparent.any():
        return out
    n = np.bincount(regions.labels.ravel(), minlength=regions.count + 1)
    t = np.bincount(regions.labels[transparent], minlength=regions.count + 1)
    out = t * 2 > n
    out[0] = False
    return out


def region_modes(labels: np.ndarray, count: int, rgba: np.ndarray) -> np.ndarray:
    """int64 ``(count + 1,)``: each region's most common exact color of ``rgba`` (uint8
    ``(H, W, 4)``) as ``R<<16 | G<<8 | B``; ``-1`` when transparent pixels (alpha < 128) are the
    most common; ``-2`` for row 0 and regions without pixels."""
    sel = labels > 0
    lab = labels[sel].astype(np.int64)
    px = rgba[sel].astype(np.int64)
    code = np.where(px[:, 3] >= 128, (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2], 1 << 24)
    uniq, counts = np.unique((lab << 25) | code, return_counts=True)
    ulab = uniq >> 25
    order = np.lexsort((-counts, ulab))
    first = np.ones(len(order), bool)
    first[1:] = ulab[order][1:] != ulab[order][:-1]
    best = uniq[order][first]
    out = np.full(count + 1, -2, np.int64)
    c = best & ((1 << 25) - 1)
    out[best >> 25] = np.where(c == (1 << 24), -1, c)
    return out


def trace_pairs(regions: Regions, colored: np.ndarray, filled: np.ndarray | None = None,
                min_steps: int = 2) -> np.ndarray:
    """int64 ``(P, 2)``: the pairs of regions ``(a, b)``, ``a < b``, on the two sides of a colored
    line (``colored``: bool ``(H, W)``, the color-trace line pixels). Walking between neighbouring
    pixels that are each a colored-line pixel or a region pixel (never a black line pixel), at
    least ``min_steps`` steps go from ``a`` to ``b``, a colored-line pixel counting as its nearest
    region (``filled``, :meth:`Regions.filled_labels`). Two regions that only meet across a
    black line are no pair, even where a colored line runs along it."""
    empty = np.zeros((0, 2), np.int64)
    if colored is None or not colored.any():
        return empty
    lab = regions.labels
    filled = regions.filled_labels() if filled is None else filled
    walk = colored | (lab > 0)
    near = cv2.dilate(colored.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ok = walk & near
    side = np.where(colored, filled, lab)
    n = regions.count + 1
    codes = []
    for a, b, m in ((side[:, :-1], side[:, 1:], ok[:, :-1] & ok[:, 1:]),
                    (side[:-1], side[1:], ok[:-1] & ok[1:])):
        la, lb = a[m].astype(np.int64), b[m].astype(np.int64)
        d = (la != lb) & (la > 0) & (lb > 0)
        codes.append(np.minimum(la[d], lb[d]) * n + np.maximum(la[d], lb[d]))
    pairs, steps = np.unique(np.concatenate(codes), return_counts=True)
    pairs = pairs[steps >= min_steps]
    return np.stack([pairs // n, pairs % n], 1) if len(pairs) else empty


def paint_from_colors(
    lines: np.ndarray,
    rgba: np.ndarray,
    palette: Palette,
    source: str,
    *,
    transparent: np.ndarray | None = None,
    colored: np.ndarray | None = None,
    gap_radius: int = GAP_RADIUS,
) -> PaintedFrame:
    """A keyframe as a :class:`PaintedFrame`: each region takes the most common exact color of its
    pixels in ``rgba`` (uint8 ``(H, W, 4)``); transparent pixels vote for the background. Without
    any transparency, regions touching the border whose color is the border's dominant color are
    background. New colors join ``palette`` (named after ``source``). With ``colored`` (bool
    ``(H, W)``, the colored lines), its :attr:`PaintedFrame.traces` are found (what the trace rule
    of :func:`paint_regions` learns from)."""
    if rgba.shape[:2] != lines.shape:
        raise PropagateError(f"colored frame {rgba.shape[:2]} and line art {lines.shape} differ in size")
    regions = regions_of(lines, gap_radius)
    modes = region_modes(regions.labels, regions.count, rgba)
    best_lab = np.arange(1, regions.count + 1)
    best_code = modes[1:]
    index = np.zeros(regions.count + 1, np.int32)
    is_color = best_code >= 0
    if is_color.any():
        c = best_code[is_color]
        rgb = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], 1).astype(np.uint8)
        if (rgba[..., 3] >= 128).all():
            # Opaque colored frame: the border's dominant color on border regions is background.
            border = np.concatenate([rgba[0, :, :3], rgba[-1, :, :3], rgba[:, 0, :3], rgba[:, -1, :3]])
            bc, bn = np.unique(_codes(border), return_counts=True)
            bg_code = bc[np.argmax(bn)]
            on_border = border_regions(regions)[best_lab[is_color]]
            keep = ~(on_border & (c == bg_code))
        else:
            keep = np.ones(len(c), bool)
        idx = np.zeros(len(c), np.int32)
        if keep.any():
            idx[keep] = palette.add(rgb[keep], source)
        index[best_lab[is_color]] = idx
    index[transparent_regions(regions, transparent)] = 0
    conf = np.ones(regions.count + 1, np.float32)
    origin = np.full(regions.count + 1, ORIGIN_KEYFRAME_COPY, np.int8)
    out = PaintedFrame(lines, regions, index, conf, origin)
    if colored is not None:
        out.traces = trace_pairs(regions, colored, out.filled)
    return out


@dataclass(frozen=True)
class Source:
    """A painted frame voting for a target's colors with ``weight``; ``name`` for diagnostics."""

    frame: PaintedFrame
    weight: float = 1.0
    name: str = ""
    #: True for a previous result (a link of the chain), False for a keyframe: a chained source
    #: counts less where it is unsure and is dropped when its alignment is poor.
    chained: bool = False


@dataclass(frozen=True)
class ForcedColor:
    """A point pair: the target region at ``target_xy`` takes the palette color of ``source``'s
    region at ``source_xy``."""

    source: PaintedFrame
    source_xy: tuple[float, float]
    target_xy: tuple[float, float]


def region_shapes(regions: Regions, grid_long_side: int = 768) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region (rows ``0..count``): exact area (float64), centroid ``(x, y)`` and log
    elongation (half the log ratio of the covariance's eigenvalues). Moments are vectorized
    (``bincount``) over a pixel grid with about ``grid_long_side`` samples on the long side;
    regions the grid misses get centroid (0, 0) and elongation 0."""
    h, w = regions.shape
    step = max(1, int(round(max(h, w) / grid_long_side)))
    n_all = regions.areas().astype(np.float64)
    lab = regions.labels[::step, ::step]
    gh, gw = lab.shape
    lab = lab.ravel()
    ys = np.repeat(np.arange(gh, dtype=np.float64) * step, gw)
    xs = np.tile(np.arange(gw, dtype=np.float64) * step, gh)
    k = regions.count + 1
    n = np.bincount(lab, minlength=k).astype(np.float64)
    m = np.maximum(n, 1.0)
    cx = np.bincount(lab, xs, k) / m
    cy = np.bincount(lab, ys, k) / m
    q = step * step / 12.0
    sxx = np.bincount(lab, xs * xs, k) / m - cx ** 2 + q
    syy = np.bincount(lab, ys * ys, k) / m - cy ** 2 + q
    sxy = np.bincount(lab, xs * ys, k) / m - cx * cy
    tr, det = sxx + syy, sxx * syy - sxy ** 2
    disc = np.sqrt(np.maximum(tr ** 2 / 4 - det, 0.0))
    l1, l2 = tr / 2 + disc, np.maximum(tr / 2 - disc, 1e-3)
    elong = np.where(n > 0, 0.5 * np.log(np.maximum(l1, 1e-3) / l2), 0.0)
    return n_all, np.stack([cx, cy], 1), elong


@dataclass(frozen=True)
class Evidence:
    """What one source says about a target's regions (:func:`match_scores`).

    Attributes:
        score: float64 ``(count + 1, n_colors)``: evidence per region and palette color.
        character_cover: float64 ``(count + 1,)``: share of each region's voters that the warp puts
            on the source's character regions, each counted at that source region's confidence.
        background_cover: float64 ``(count + 1,)``: the same for the source's background regions.
        alignment: :class:`Alignment` of the warp.
    """

    score: np.ndarray
    character_cover: np.ndarray
    background_cover: np.ndarray
    alignment: "Alignment"


@dataclass(frozen=True)
class Alignment:
    """How well a source frame's line art was aligned to the target's.

    Attributes:
        inliers: feature matches the mapping kept.
        kind: the mapping's kind (``"tps"``, ``"affine"``, ``"bbox"``).
        line_agreement: share of the target's line pixels (sampled) that the warp puts within a few
            pixels of a source line, in [0, 1]; a good warp of two frames of one cut is near 1.
        size_ratio: the larger over the smaller of the two drawings' line lengths (line pixel
            counts; >= 1): about the change of the drawing's linear size.
    """

    inliers: int
    kind: str
    line_agreement: float
    size_ratio: float

    def poor(self, settings: FlatShotSettings) -> bool:
        """True when the alignment cannot be trusted to carry colors: fewer matches than
        ``settings.min_inliers``, line agreement under ``settings.min_agreement``, or a change
        of the drawing's size over ``settings.max_size_ratio``."""
        return (self.inliers < settings.min_inliers or self.kind == "bbox"
                or self.line_agreement < settings.min_agreement or self.size_ratio > settings.max_size_ratio)


def _line_agreement(target_lines: np.ndarray, source_lines: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
                    tolerance: float, samples: int = 4000) -> float:
    """Share of (up to ``samples``) target line pixels whose warped position lies within
    ``tolerance`` pixels of a source line pixel."""
    ys, xs = np.nonzero(target_lines >= LINE_THRESHOLD)
    if len(ys) == 0:
        return 0.0
    step = max(1, len(ys) // samples)
    ys, xs = ys[::step], xs[::step]
    sx = np.rint(map_x[ys, xs]).astype(np.int64)
    sy = np.rint(map_y[ys, xs]).astype(np.int64)
    h, w = source_lines.shape
    inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    if not inside.any():
        return 0.0
    src_line = (source_lines < LINE_THRESHOLD).astype(np.uint8)
    dist = cv2.distanceTransform(src_line, cv2.DIST_L2, 3)
    near = np.zeros(len(ys), bool)
    near[inside] = dist[sy[inside], sx[inside]] <= tolerance
    return float(near.mean())


def match_scores(
    source: PaintedFrame,
    target: Regions,
    target_lines: np.ndarray,
    voters: np.ndarray,
    n_colors: int,
    settings: FlatShotSettings,
    *,
    target_features: Features | None = None,
    target_shapes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Evidence:
    """The evidence the source gives each target region for each palette color
    (:class:`Evidence`: scores, how much of each region the source's character and background
    cover, and how well the source was aligned).

    Two kinds of evidence, mixed ``overlap_share : 1 - overlap_share`` (the names are fields of
    ``settings``, :class:`~manganinja.settings.FlatShotSettings`):

    - *overlap*: the share of the target region's ``voters`` (bool ``(H, W)``) that the warp puts
      on each source region (counted only ``outer_weight`` on the source's outer background,
      where a region the smooth warp could not follow also lands);
    - *match*: segment matching: each target region's likeness to each source region (areas and
      elongations alike: Gaussians with sigmas ``area_sigma`` on the log area and
      ``elongation_sigma``; warped centroid near, Gaussian with sigma ``position_sigma`` x the long
      side), normalized over the source regions with ``no_match`` as the mass of "none of them".
      A region with a distinctive shape is found even where the warp is off (a prop crossing the
      frame, a limb that snapped to a new angle).

    Each source region's evidence is scaled by its confidence and summed per palette color.
    ``smoothing`` is the thin-plate spline's (:func:`manganinja.flat.match.fit_mapping`); two
    clean line arts of one cut match well, so the spline may follow them closely (0.005; the
    reference-to-line-art engine uses 0.1). 0.005 was the best of 0.1, 0.02, 0.005 and 0.001 on
    six synthetic shots of seed 1.
    """
    st = settings
    h, w = target_lines.shape
    side = min(st.work_long_side, max(h, w))
    if target_features is None:
        target_features = detect_features(target_lines, work_long_side=side)
    matches = match_detected(source.features(side), target_features)
    boxes = (foreground_box(target_lines >= LINE_THRESHOLD), foreground_box(source.lines >= LINE_THRESHOLD))
    mapping = fit_mapping(matches, (w, h), (source.lines.shape[1], source.lines.shape[0]), fallback_boxes=boxes,
                          smoothing=st.smoothing)
    map_x, map_y = mapping.dense((w, h), step=max(8, max(w, h) // 128))
    filled = source.filled.astype(np.float32)
    warped = cv2.remap(filled, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=-1)
    tolerance = max(3.0, 0.006 * max(h, w))
    n_lines = (max(1, int(np.count_nonzero(target_lines >= LINE_THRESHOLD))),
               max(1, int(np.count_nonzero(source.lines >= LINE_THRESHOLD))))
    alignment = Alignment(int(mapping.used.sum()), mapping.kind,
                          _line_agreement(target_lines, source.lines, map_x, map_y, tolerance),
                          max(n_lines) / min(n_lines))
    del map_x, map_y
    n_t, n_s = target.count + 1, source.regions.count + 1
    lab = target.labels[voters].astype(np.int64)
    src = warped[voters].astype(np.int64)
    ok = src >= 0
    pair = np.bincount(lab[ok] * n_s + src[ok], minlength=n_t * n_s).reshape(n_t, n_s).astype(np.float32)
    n_vote = np.bincount(lab, minlength=n_t).astype(np.float32)
    overlap = pair / np.maximum(n_vote, 1.0)[:, None]
    del pair
    src_conf = source.confidence.astype(np.float32)
    is_char = (source.index > 0).astype(np.float32) * src_conf
    is_bg = (source.index == 0).astype(np.float32) * src_conf
    is_char[0] = is_bg[0] = 0.0
    character_cover = (overlap @ is_char).astype(np.float64)
    background_cover = (overlap @ is_bg).astype(np.float64)
    a_t, c_t, e_t = target_shapes if target_shapes is not None else region_shapes(target)
    a_s, c_s, e_s = source.shapes
    mapped = mapping(c_t).astype(np.float32)
    sigma = st.position_sigma * max(h, w)
    d2 = ((mapped[:, None, :] - c_s[None, :, :].astype(np.float32)) ** 2).sum(-1)
    position = np.exp(-0.5 * d2 / sigma ** 2)
    del d2
    la = np.log(np.maximum(a_t, 1.0)).astype(np.float32)[:, None] - np.log(np.maximum(a_s, 1.0)).astype(np.float32)[None]
    de = e_t.astype(np.float32)[:, None] - e_s.astype(np.float32)[None]
    likeness = np.exp(-0.5 * (la / st.area_sigma) ** 2 - 0.5 * (de / st.elongation_sigma) ** 2) * position
    # The source's outer background (background touching the border) has no shape to match, and
    # landing on it is weak evidence: a region the smooth warp could not follow lands there too.
    outer = border_regions(source.regions) & (source.index == 0)
    likeness[:, outer] = 0.0
    likeness[:, 0] = 0.0
    match = likeness / (likeness.sum(axis=1, keepdims=True) + st.no_match)
    direct = overlap * np.where(outer, st.outer_weight, 1.0).astype(np.float32)[None]
    score = (st.overlap_share * direct + (1.0 - st.overlap_share) * match) * source.confidence.astype(np.float32)[None]
    score[:, 0] = 0.0
    score[0] = 0.0
    # Evidence per palette color: summed over the source regions of that color.
    onehot = np.zeros((n_s, n_colors), np.float32)
    onehot[np.arange(n_s), source.index] = 1.0
    return Evidence((score @ onehot).astype(np.float64), character_cover, background_cover, alignment)


def trace_partners(frames: list[PaintedFrame], n_colors: int, min_share: float) -> np.ndarray:
    """int64 ``(n_colors,)``: per palette color ``c``, the color painted keyframes (their
    :attr:`PaintedFrame.traces`) put across a colored (color-trace) line from a ``c`` region, or 0
    when none is consistent: ``p`` when at least ``min_share`` of the trace pairs with a ``c``
    region on one side have ``p`` on the other (pairs of one color on both sides count against
    it). Each pair counts with the area of its smaller region, so the pockets a trace line cuts
    off (a few pixels) hardly count."""
    count = np.zeros((n_colors, n_colors))
    for f in frames:
        if f.traces is None or not len(f.traces):
            continue
        a, b = f.traces[:, 0], f.traces[:, 1]
        ia, ib = f.index[a], f.index[b]
        ok = (ia > 0) & (ib > 0) & (ia < n_colors) & (ib < n_colors)
        a, b, ia, ib = a[ok], b[ok], ia[ok], ib[ok]
        areas = f.regions.areas().astype(np.float64)
        w = np.minimum(areas[a], areas[b])
        np.add.at(count, (ia, ib), w)
        np.add.at(count, (ib, ia), w)
        same = ia == ib
        np.add.at(count, (ia[same], ib[same]), -w[same])  # a same-color pair counts once
    partner = np.zeros(n_colors, np.int64)
    for c in range(1, n_colors):
        total = count[c].sum()
        others = count[c].copy()
        others[c] = 0.0
        p = int(np.argmax(others))
        if total > 0 and others[p] >= min_share * total:
            partner[c] = p
    return partner


def apply_trace_rule(index: np.ndarray, evidence: np.ndarray, areas: np.ndarray, traces: np.ndarray,
                     partner: np.ndarray, margin: float) -> np.ndarray:
    """int64 ``(R,)``: the regions repainted so that pairs of ``traces`` (``(P, 2)`` region
    pairs across colored lines) colored ``c`` on both sides, where the keyframes put ``c``'s
    ``partner`` (:func:`trace_partners`) across such lines, get two colors; ``index``
    (``(count + 1,)``) is updated in place.

    Of such a pair, the smaller region (by ``areas``) takes the partner color when its evidence
    for it (``evidence``: ``(count + 1, n_colors)``) exceeds the larger region's by more than
    ``margin``: a thin region the warp missed (a shadow crescent painted as its highlight)
    still got more of the partner's votes than its neighbour. The larger side never changes
    (judged against the ground truth on effect shots of seed 1, repainting the larger side was
    right in 15 of 96 cases; docs/shots.md). Pairs are taken largest first (by the smaller region's area); a region repainted,
    or kept as the other side of a repainted pair, is not changed again."""
    if traces is None or not len(traces):
        return np.zeros(0, np.int64)
    changed: list[int] = []
    locked = np.zeros(len(index), bool)
    ta, tb = traces[:, 0], traces[:, 1]
    order = np.argsort(-np.minimum(areas[ta], areas[tb]), kind="stable")
    for a, b in traces[order]:
        c = index[a]
        if c <= 0 or index[b] != c or c >= len(partner) or partner[c] == 0:
            continue
        p = partner[c]
        r, other = (a, b) if areas[a] < areas[b] else (b, a)
        if locked[r] or evidence[r, p] <= evidence[other, p] + margin:
            continue
        index[r] = p
        locked[r] = locked[other] = True
        changed.append(int(r))
    return np.asarray(changed, np.int64)


def paint_regions(
    lines: np.ndarray,
    sources: list[Source],
    n_colors: int,
    settings: FlatShotSettings,
    *,
    transparent: np.ndarray | None = None,
    colored: np.ndarray | None = None,
    forced: list[ForcedColor] | None = None,
) -> PaintedFrame:
    """Color the regions of ``lines`` (float32 ``(H, W)``, 1 = line) from painted ``sources``
    (module docstring). ``n_colors`` is the palette size (background included). The regions are
    labeled with :data:`~manganinja.flat.regions.GAP_RADIUS`, as the keyframes' are
    (:func:`paint_from_colors`).

    ``settings`` (:class:`~manganinja.settings.FlatShotSettings`), besides the fields
    :func:`match_scores` and :meth:`Alignment.poor` read:
        border_share: a region touching the frame border becomes character only when at least this
            share of its evidence is for character colors ...
        border_cover: ... and the sources' character regions cover at least this share of it
            (each source region counted at its confidence): a few character votes on a big border
            region, or votes from unsure regions, leave it background.
        unsure_power: a chained source (``Source.chained``, the previous result) counts, per
            region, its weight times its certainty there (the share of the region its regions
            cover, each counted at its confidence, in [0, 1]) to this power, so the keyframe decides where the previous frame is unsure
            (0 = plain weights).
        poor_weight: a source whose alignment is poor (:meth:`Alignment.poor`) counts this times
            its weight; a poorly aligned previous result is dropped altogether when a keyframe is
            aligned well.
        disagree_penalty: where a well-aligned keyframe gives its evidence to another color than
            the one a region takes (from the chain), the region's confidence is scaled by
            ``1 - disagree_penalty * (that share, times how much the keyframe covers it)``: it
            counts less in the next frame, where the keyframe can then win (0 = off).
        trace_rule, trace_share, trace_margin: the trace rule. With ``colored`` (bool
            ``(H, W)``: the frame's colored lines) and keyframe sources that have
            :attr:`PaintedFrame.traces`, two regions across a colored line that came out in one
            color, where the keyframes put two colors across such lines (a highlight and its
            shadow: a color-trace line is a boundary of tones), are told apart
            (:func:`trace_partners` with ``trace_share``, :func:`apply_trace_rule` with
            ``trace_margin``): a thin shadow crescent the warp missed takes the shadow color back.

    Raises:
        PropagateError: no source, or a source of another size.
    """
    if not sources:
        raise PropagateError("at least one painted source frame is needed")
    for s in sources:
        if s.frame.lines.shape != lines.shape:
            raise PropagateError(f"source '{s.name}' is {s.frame.lines.shape}, the frame is {lines.shape}")
    st = settings
    border_share, border_cover = st.border_share, st.border_cover
    unsure_power, poor_weight, disagree_penalty = st.unsure_power, st.poor_weight, st.disagree_penalty
    regions = regions_of(lines)
    voters = interior_voters(regions) & voter_mask(regions, vote_step(lines.shape))
    side = min(st.work_long_side, max(lines.shape))
    feats = detect_features(lines, work_long_side=side)
    shapes = region_shapes(regions)
    evidence = [match_scores(s.frame, regions, lines, voters, n_colors, st, target_features=feats,
                             target_shapes=shapes) for s in sources]
    # A previous result aligned poorly (few matches, lines that do not meet, a big change of size)
    # does not vote: the frame is colored from the keyframe(s) with their own alignment.
    good_key = any(not s.chained and not e.alignment.poor(st) for s, e in zip(sources, evidence))
    keep = [not (s.chained and e.alignment.poor(st) and good_key) for s, e in zip(sources, evidence)]
    used = [(s, e) for s, e, k in zip(sources, evidence, keep) if k]
    n = regions.count + 1
    total = np.zeros((n, n_colors))
    weight = np.zeros(n)
    char_cover = np.zeros(n)
    bg_cover = np.zeros(n)
    for s, e in used:
        w = np.full(n, s.weight * (poor_weight if e.alignment.poor(st) else 1.0))
        if s.chained and unsure_power > 0:
            # Certainty: how much of the region the source's confident regions cover.
            w = w * np.clip(e.character_cover + e.background_cover, 0.0, 1.0) ** unsure_power
        total += w[:, None] * e.score
        char_cover += w * e.character_cover
        bg_cover += w * e.background_cover
        weight += w
    # Regions where every chained source is unsure and no other votes keep a tiny weight.
    denom = np.maximum(weight, 1e-9)
    total /= denom[:, None]
    char_cover /= denom
    bg_cover /= denom
    index = np.argmax(total, axis=1).astype(np.int32)
    conf = total[np.arange(n), index].astype(np.float32)
    origin = np.full(n, ORIGIN_VOTE, np.int8)
    agree = np.ones(n, np.float32)
    if disagree_penalty > 0 and any(s.chained for s, _ in used):
        # Where a well-aligned keyframe says "another color", the chain's color is kept for this
        # frame but with less confidence, so the next frame's keyframe vote can overturn it: an
        # error carried by the chain fades out in a few frames.
        against = np.zeros(n)
        n_key = 0
        for s, e in used:
            if s.chained or e.alignment.poor(st):
                continue
            mass = e.score.sum(axis=1)
            other = 1.0 - e.score[np.arange(n), index] / np.maximum(mass, 1e-9)
            against += np.clip(e.character_cover + e.background_cover, 0, 1) * np.where(mass > 0, other, 0.0)
            n_key += 1
        if n_key:
            agree = np.clip(1.0 - disagree_penalty * against / n_key, 0.0, 1.0).astype(np.float32)
            conf *= agree

    traced = np.zeros(0, np.int64)
    traces = trace_pairs(regions, colored) if colored is not None else None
    keys = [s.frame for s in sources if not s.chained]
    if st.trace_rule and traces is not None and len(traces) and keys:
        partner = trace_partners(keys, n_colors, st.trace_share)
        if partner.any():
            traced = apply_trace_rule(index, total, regions.areas(), traces, partner, st.trace_margin)
            origin[traced] = ORIGIN_TRACE

    # Background is an invariant: border regions stay background unless the character covers
    # them well, from confident sources, and clearly claims them.
    border = border_regions(regions)
    fg = total[:, 1:].sum(axis=1)
    cov = total.sum(axis=1)
    claim = (fg >= border_share * np.maximum(cov, 1e-9)) & (cov > 0) & (char_cover >= border_cover)
    to_bg = border & ~claim
    index[to_bg] = 0
    conf[to_bg] = np.maximum(conf[to_bg], np.clip(bg_cover[to_bg], 0, 1).astype(np.float32))

    # Regions no source reached: nearest painted neighbour, unsure.
    empty = cov <= 0
    empty[0] = False
    empty &= ~to_bg
    if empty.any():
        donors = np.where(empty[regions.labels], 0, regions.labels).astype(np.int32)
        if donors.any():
            nearest = fill_under_lines(donors)
            ys, xs = np.nonzero(empty[regions.labels])
            labs, first = np.unique(regions.labels[ys, xs], return_index=True)
            index[labs] = index[nearest[ys[first], xs[first]]]
        conf[empty] = 0.0
        origin[empty] = ORIGIN_NEAREST

    clear = transparent_regions(regions, transparent)
    index[clear] = 0
    conf[clear] = 1.0
    origin[clear] = ORIGIN_TRANSPARENT

    for f in forced or []:
        r = regions.label_at(f.target_xy)
        src_r = f.source.regions.label_at(f.source_xy)
        index[r] = f.source.index[src_r]
        conf[r] = 1.0
        origin[r] = ORIGIN_POINT
    index[0] = 0
    conf[0] = 0.0
    certainty = np.where(cov > 0, agree * total[np.arange(n), index] / np.maximum(cov, 1e-9), 0.0).astype(np.float32)
    certainty[to_bg] = np.clip(bg_cover[to_bg] / np.maximum(bg_cover[to_bg] + char_cover[to_bg], 1e-9), 0, 1)
    fixed = clear | (origin == ORIGIN_POINT)
    certainty[fixed] = 1.0
    certainty[0] = 0.0
    out = PaintedFrame(lines, regions, index, conf, origin, {s.name: e.alignment for s, e in zip(sources, evidence)},
                       [s.name for s, k in zip(sources, keep) if not k], certainty, traces)
    out.__dict__["_features"] = {side: feats}  # reused when this frame is the next one's source
    out.__dict__["shapes"] = shapes
    return out


def paint_with_colors(
    lines: np.ndarray,
    rgb: np.ndarray,
    palette: Palette,
    *,
    transparent: np.ndarray | None = None,
    gap_radius: int = GAP_RADIUS,
) -> PaintedFrame:
    """Snap a colored picture (e.g. a model's output, uint8 ``(H, W, 3)`` at the line art's size)
    to the palette: each region takes the nearest palette color to its robust color; regions
    touching the border whose color is nearest to the picture's border color are background."""
    regions = regions_of(lines, gap_radius)
    voters = interior_voters(regions)
    colors, votes = region_colors(regions.labels, regions.count, rgb, voters)
    index = palette.nearest(colors)
    border = border_pixels(rgb).astype(np.int32)
    bg = np.median(border, axis=0)
    near_bg = np.abs(colors.astype(np.int32) - bg).max(axis=1) <= BACKGROUND_TOLERANCE
    index[border_regions(regions) & near_bg] = 0
    index[transparent_regions(regions, transparent)] = 0
    index[0] = 0
    conf = np.where(votes > 0, 1.0, 0.0).astype(np.float32)
    origin = np.full(regions.count + 1, ORIGIN_VOTE, np.int8)
    return PaintedFrame(lines, regions, index.astype(np.int32), conf, origin)
