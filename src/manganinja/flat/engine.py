"""The weight-free engine: paint a line art's regions in a reference's colors, no model needed.

Steps (:func:`colorize_flat`):

1. Regions of the line art (:func:`manganinja.flat.regions.label_regions`).
2. The reference's own line art (:func:`manganinja.lines.extract_lineart`), its background
   (the border color, flood-connected to the border) and its regions.
3. Correspondences: SIFT matches between the two line arts, RANSAC, plus the user's point pairs
   (:mod:`manganinja.flat.match`), and a mapping line art -> reference (thin-plate spline, else
   global similarity, else foreground boxes).
4. The reference warped onto the line art; each region takes the dominant color of the warped
   pixels that are neither reference lines nor outside the reference, preferring the character
   over the background when both vote.
5. A region holding a user's line-art point takes the reference's color at the paired point
   (sampled in the reference region around it, off its lines).
6. Lines drawn on top: composite = black lines (alpha = line strength) over the color layer.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from manganinja.flat.inputs import FlatInputError, load_lines, load_rgb
from manganinja.flat.layers import compose, line_alpha
from manganinja.flat.match import Mapping, Matches, fit_mapping, match_features
from manganinja.flat.regions import (
    BACKGROUND_TOLERANCE,
    GAP_RADIUS,
    LINE_THRESHOLD,
    GuideFills,
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
from manganinja.images import ImageInput
from manganinja.lines import BlankLineartWarning, Lines, extract_lineart
from manganinja.points import PointPairs, PointsError

logger = logging.getLogger(__name__)

#: References with a longer side are line-extracted at this size (matching works at 768 anyway).
EXTRACT_LONG_SIDE = 1024


class FlatEngineError(FlatInputError):
    """Inputs the flat engine cannot use; the message names the bad value."""


@dataclass
class FlatDiagnostics:
    """What the engine did.

    Attributes:
        n_keypoints_reference, n_keypoints_lineart: SIFT keypoints found on each line art.
        n_matches: matches that passed the ratio and mutual tests.
        n_inliers: feature matches the final mapping kept.
        n_user_points: user point pairs used (after dropping unusable ones).
        mapping: ``"tps"``, ``"affine"`` or ``"bbox"``.
        fell_back: True when the feature matches could not carry the alignment (few or none):
            it then comes from a global fit, the user's pairs, or the foregrounds' boxes.
        n_regions: regions in the line art.
        warnings: human-readable notes (fallbacks, dropped points, regions with no color).
    """

    n_keypoints_reference: int = 0
    n_keypoints_lineart: int = 0
    n_matches: int = 0
    n_inliers: int = 0
    n_user_points: int = 0
    mapping: str = "bbox"
    fell_back: bool = True
    n_regions: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class FlatResult:
    """Output of :func:`colorize_flat`.

    Attributes:
        composite: uint8 ``(H, W, 3)``: colors with the line art's lines drawn on top.
        color_layer: uint8 ``(H, W, 3)``: fills only (line pixels take the nearest region's color).
        labels: int32 ``(H, W)``: region labels (0 = line).
        region_colors: uint8 ``(count + 1, 3)``: the color of each region (row 0 unused).
        warped_reference: uint8 ``(H, W, 3)``: the reference warped onto the line art.
        background: bool ``(H, W)``: the line art's background (its regions the reference's
            character does not claim; line pixels take the nearest region's), painted one flat
            color: the reference's background color when that is one flat color, else white.
        mapping: the fitted line art -> reference mapping.
        matches: the feature matches.
        diagnostics: :class:`FlatDiagnostics`.
    """

    composite: np.ndarray
    color_layer: np.ndarray
    labels: np.ndarray
    region_colors: np.ndarray
    warped_reference: np.ndarray
    background: np.ndarray
    mapping: Mapping
    matches: Matches
    diagnostics: FlatDiagnostics

    @property
    def rgba(self) -> np.ndarray:
        """uint8 ``(H, W, 4)``: the composite with the background transparent (lines stay opaque
        black over it, alpha = line strength)."""
        h, w = self.labels.shape
        out = np.zeros((h, w, 4), np.uint8)
        out[..., :3] = self.composite
        line = line_alpha(self.lineart) if self.lineart is not None else np.zeros((h, w), np.uint8)
        out[..., 3] = np.where(self.background, line, 255)
        out[self.background, :3] = 0
        return out

    #: float32 ``(H, W)``: the line art (1 = line).
    lineart: np.ndarray | None = None


@dataclass
class _Reference:
    rgb: np.ndarray  # uint8 (H, W, 3)
    lines: np.ndarray  # float32 (H, W), 1 = line
    line_mask: np.ndarray  # bool (H, W)
    background: np.ndarray  # bool (H, W)
    background_color: np.ndarray  # uint8 (3,)
    flat_background: bool  # the background is one flat color (background_color)
    gap_radius: int = GAP_RADIUS

    @property
    def fill(self) -> np.ndarray:
        """uint8 (3,): what the line art's background is painted with: the reference's background
        color when that is one flat color, else white (paper)."""
        return self.background_color if self.flat_background else np.full(3, 255, np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        return (self.rgb.shape[1], self.rgb.shape[0])

    @cached_property
    def regions(self) -> Regions:
        """Regions of the reference's line art (only needed to sample user points)."""
        return label_regions(self.lines, gap_radius=self.gap_radius)


def border_color_code(rgb: np.ndarray, side_share: float = 0.05) -> tuple[np.ndarray, int]:
    """The border's dominant color, as a background surrounds a figure: the most frequent color
    (4 bits a channel) among those that hold at least ``side_share`` of two sides or more of the
    picture's border, else (no color does) the most frequent one. A character cropped by the frame
    (hair running off the top) holds one side only, so a background seen on two sides wins over
    it even when each of its colors is rarer. Returns the border's codes ``(2 * (H + W),)`` and
    the chosen code."""
    h, w = rgb.shape[:2]
    border = border_pixels(rgb)
    q = border >> 4
    codes = (q[:, 0].astype(np.int32) << 8) | (q[:, 1].astype(np.int32) << 4) | q[:, 2]
    counts = np.bincount(codes, minlength=1 << 12)
    sides = np.split(codes, [w, 2 * w, 2 * w + h])  # top, bottom, left, right (border_pixels' order)
    held = sum((np.bincount(side, minlength=1 << 12) >= side_share * len(side)).astype(np.int32) for side in sides)
    surrounding = held >= 2
    best = int(np.argmax(np.where(surrounding, counts, -1))) if surrounding.any() else int(counts.argmax())
    return codes, best


def background_mask(rgb: np.ndarray, tolerance: int = BACKGROUND_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """The background of a picture: pixels within ``tolerance`` levels (every channel) of the
    border's dominant color (:func:`border_color_code`) and connected to the border. Returns bool
    ``(H, W)`` and uint8 (3,)."""
    border = border_pixels(rgb)
    codes, best = border_color_code(rgb)
    color = np.median(border[codes == best], axis=0).astype(np.uint8)
    near = (np.abs(rgb.astype(np.int16) - color.astype(np.int16)).max(axis=2) <= tolerance).astype(np.uint8)
    n, comp = cv2.connectedComponents(near, connectivity=4)
    on_border = np.unique(border_pixels(comp))
    on_border = on_border[on_border > 0]
    return np.isin(comp, on_border), color


def reference_background(
    rgb: np.ndarray, *, dark_level: int = 96, gap_radius: int = GAP_RADIUS, border_color_share: float = 0.3,
    flat_share: float = 0.99, flat_tolerance: int = 3, tolerance: int = BACKGROUND_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The background of a reference picture, background picture included: everything outside the
    character's dark outlines.

    The picture is split into regions by its dark pixels (every channel below ``dark_level``; gaps
    up to about ``2 * gap_radius + 1`` pixels closed, :func:`label_regions`). A region touching the
    border is background when at least ``border_color_share`` of it is the border's dominant color
    (:func:`background_mask`): a painted background (flat color plus shapes without outlines) is
    one such region, a character cropped by the frame is not. So are pixels of the border's color
    connected to the border, and enclosed regions of nearly only the background picture's colors
    (background seen through a hole). When that would be nearly everything (the
    outlines are not closed), only the border color's pixels are.

    Returns:
        bool ``(H, W)`` background, uint8 ``(3,)`` the border's dominant color, and whether the
        background is that one flat color (at least ``flat_share`` of its pixels within
        ``flat_tolerance`` levels of it: a shape a few levels off is a picture, not one color).
    """
    near, color = background_mask(rgb, tolerance)
    dark = (rgb.max(axis=2) < dark_level).astype(np.float32)
    regions = label_regions(dark, gap_radius=gap_radius)
    lab = regions.labels
    n = np.maximum(np.bincount(lab.ravel(), minlength=regions.count + 1), 1)
    n_near = np.bincount(lab[near], minlength=regions.count + 1)
    is_bg = border_regions(regions) & (n_near >= border_color_share * n)
    is_bg[0] = False
    background = is_bg[lab] | near
    # Enclosed holes (the background seen between an arm and the body) of nearly only the
    # background picture's colors (those holding at least 0.2% of it, to 6 bits a channel).
    q = (rgb >> 2).astype(np.int32)
    code = (q[..., 0] << 12) | (q[..., 1] << 6) | q[..., 2]
    counts = np.bincount(code[background], minlength=1 << 18)
    bg_code = counts >= max(1, 0.002 * counts.sum())
    n_pic = np.bincount(lab[bg_code[code]], minlength=regions.count + 1)
    hole = (n_pic >= 0.9 * n) & ~is_bg
    hole[0] = False
    background |= hole[lab]
    if background.mean() > 0.97:
        background = near
    same = np.abs(rgb.astype(np.int16) - color.astype(np.int16)).max(axis=2) <= flat_tolerance
    flat = bool(background.any()) and (same & background).sum() >= flat_share * background.sum()
    return background, color, flat


def _prepare_reference(reference: ImageInput, gap_radius: int) -> _Reference:
    rgb = load_rgb(reference, "reference")
    h, w = rgb.shape[:2]
    scale = min(1.0, EXTRACT_LONG_SIDE / max(h, w))
    with warnings.catch_warnings():
        # A reference without lines is legitimate here: the alignment falls back and says so.
        warnings.simplefilter("ignore", BlankLineartWarning)
        if scale < 1.0:
            # XDoG's parameters scale with the image, so a big reference is extracted smaller
            # (several times faster) and the lines brought back to full size.
            small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            lines = cv2.resize(extract_lineart(small, method="xdog"), (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            lines = extract_lineart(rgb, method="xdog")
    line_mask = lines >= LINE_THRESHOLD
    background, bg_color, flat = reference_background(rgb)
    return _Reference(rgb, lines, line_mask, background, bg_color, flat, gap_radius)


def _usable_points(
    points: PointPairs | None, ref: _Reference, size: tuple[int, int], diag: FlatDiagnostics, strict: bool
) -> PointPairs:
    """The pairs that can be used; others are dropped with a warning (or raise when ``strict``)."""
    if not points:
        return PointPairs()
    keep = []
    for i, pair in enumerate(points):
        try:
            if pair.reference_index != 0:
                raise PointsError(
                    f"pair {i + 1}: reference_index {pair.reference_index}, but the flat engine "
                    "takes one reference image"
                )
            PointPairs([pair]).validate([ref.size], size, max_pairs=None)
        except PointsError as exc:
            if strict:
                raise
            message = f"point pair {i + 1} ignored: {exc}"
            diag.warnings.append(message)
            logger.warning(message)
            continue
        keep.append(pair)
    return PointPairs(keep)


def sample_reference_color(ref: _Reference, xy: tuple[float, float], radius: int | None = None) -> np.ndarray:
    """uint8 (3,): the reference's color at ``xy``, robustly: the dominant color of the pixels
    within ``radius`` (default 2% of the long side, at least 3) that lie in the same reference
    region as ``xy`` and off its lines; falls back to any off-line pixel nearby, then the pixel."""
    h, w = ref.rgb.shape[:2]
    r = radius or max(3, int(round(0.02 * max(h, w))))
    x, y = int(round(xy[0])), int(round(xy[1]))
    x0, x1, y0, y1 = max(0, x - r), min(w, x + r + 1), max(0, y - r), min(h, y + r + 1)
    crop = ref.rgb[y0:y1, x0:x1]
    off_line = ~ref.line_mask[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    disc = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    region = ref.regions.label_at((x, y)) if ref.regions.count else 0
    for mask in (disc & off_line & (ref.regions.labels[y0:y1, x0:x1] == region), disc & off_line):
        if mask.sum() >= 3:
            colors, _ = region_colors(mask.astype(np.int32), 1, crop)
            return colors[1]
    return ref.rgb[y, x].copy()


def colorize_flat(
    reference: ImageInput,
    lineart: Lines | np.ndarray,
    points: PointPairs | None = None,
    *,
    gap_radius: int = GAP_RADIUS,
    background_share: float = 0.25,
    border_cover: float = 0.5,
    strict_points: bool = False,
    two_tone: bool = True,
) -> FlatResult:
    """Color ``lineart`` from ``reference`` without any model weights.

    Args:
        reference: the colored reference (path, PIL image or uint8 ``(h, w, 3)`` array).
        lineart: the line art as a :class:`~manganinja.lines.Lines` (or its float32 ``(H, W)`` array).
        points: optional point pairs (reference -> line art, each in its image's pixels); each is
            trusted by the mapping and forces its region's color.
        gap_radius: gap-closing radius for the line art's regions (pixels).
        background_share: a region is painted with character colors when at least this share of
            its voting pixels is not reference background; else it is background.
        border_cover: a region touching the border needs at least this share instead (when
            larger): the line art's background is not painted on a few misaligned votes.
        strict_points: raise :class:`~manganinja.points.PointsError` for an unusable pair instead
            of dropping it with a warning.
        two_tone: keep cel shading: a region whose warped colors have a clear second tone (at
            least a fifth of its votes, far from the first) is painted pixel by pixel with the
            nearer of its two tones (as in the warped reference).

    Returns:
        :class:`FlatResult` at the line art's size.
    """
    diag = FlatDiagnostics()
    lines = load_lines(lineart)
    h, w = lines.shape
    regions = label_regions(lines, gap_radius=gap_radius)
    diag.n_regions = regions.count
    if regions.count <= 1:
        _warn(diag, f"the line art has {regions.count} region(s): no closed shapes to fill")
    ref = _prepare_reference(reference, gap_radius)
    pairs = _usable_points(points, ref, (w, h), diag, strict_points)
    diag.n_user_points = len(pairs)

    # Correspondences and mapping.
    matches = match_features(ref.lines, lines)
    diag.n_keypoints_reference = matches.n_keypoints_reference
    diag.n_keypoints_lineart = matches.n_keypoints_lineart
    diag.n_matches = len(matches)
    boxes = (foreground_box(lines >= LINE_THRESHOLD), foreground_box(~ref.background))
    mapping = fit_mapping(
        matches,
        (w, h),
        ref.size,
        user_lineart_xy=pairs.lineart_xy if len(pairs) else None,
        user_reference_xy=pairs.reference_xy if len(pairs) else None,
        fallback_boxes=boxes,
    )
    diag.mapping = mapping.kind
    diag.n_inliers = int(mapping.used.sum())
    diag.fell_back = mapping.fell_back
    for note in mapping.notes:
        if mapping.fell_back:
            _warn(diag, f"alignment: {note}")
        else:
            logger.info("alignment: %s", note)

    # Warp the reference (and its line / background / inside masks) onto the line art.
    map_x, map_y = mapping.dense((w, h), step=max(8, max(w, h) // 128))
    warped = cv2.remap(ref.rgb, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=tuple(int(v) for v in ref.background_color))
    masks = np.dstack([ref.line_mask, ref.background, np.ones_like(ref.line_mask)]).astype(np.uint8)
    masks = cv2.remap(masks, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    del map_x, map_y
    warp_ok = (masks[..., 0] == 0) & (masks[..., 2] == 1)  # off the reference's lines, inside it
    valid = warp_ok & voter_mask(regions, vote_step((h, w)))
    background = masks[..., 1] > 0
    del masks
    interior = valid & interior_voters(regions)
    colors, is_bg, empty = _vote_colors(regions, warped, interior, background, background_share, border_cover)
    if empty.any():
        # Regions whose interior lands on reference lines: let all their pixels vote.
        loose, loose_bg, still_empty = _vote_colors(regions, warped, valid, background, background_share,
                                                    border_cover)
        colors[empty] = loose[empty]
        is_bg[empty] = loose_bg[empty]
        empty &= still_empty
    if empty.any():
        donor = _nearest_donor(regions, empty)
        if donor is None:
            is_bg[empty] = True
        else:
            colors[empty] = colors[donor[empty]]
            is_bg[empty] = is_bg[donor[empty]]
        _warn(diag, f"{int(empty.sum())} region(s) map outside the reference or onto its lines "
              "only; painted like their nearest colored region", log=False)

    # User points override their regions; a region holding several is split among them.
    guides = GuideFills(pairs.lineart_xy, np.array([sample_reference_color(ref, pair.reference) for pair in pairs], np.uint8))
    filled = regions.filled_labels()
    by_region = guides.by_region(filled)
    guides.set_region_colors(colors, by_region)
    is_bg[list(by_region)] = False
    # The background is one flat color, never the reference's background picture.
    is_bg[0] = False
    colors[is_bg] = ref.fill
    color_layer = colors[filled]
    if two_tone:
        # Second tones only from the reference's character, only in character regions.
        second, has_two = _second_tone(regions, warped, interior & ~background, colors)
        has_two[list(by_region)] = False
        has_two[empty] = False
        has_two[is_bg] = False
        _paint_second_tone(color_layer, filled, warped, warp_ok & ~background, colors, second, has_two)
    for members in guides.split_shared(color_layer, filled, by_region):
        _warn(diag, f"point pairs {[i + 1 for i in members]} share one region; it is split "
              "between them by nearest point", log=False)
    if regions.count == 0:
        color_layer[:] = 255
    bg_mask = is_bg[filled] if regions.count else np.ones((h, w), bool)
    composite = compose(color_layer, lines)
    return FlatResult(
        composite=composite,
        color_layer=color_layer,
        labels=regions.labels,
        region_colors=colors,
        warped_reference=warped,
        background=bg_mask,
        mapping=mapping,
        matches=matches,
        diagnostics=diag,
        lineart=lines,
    )


def _vote_colors(
    regions: Regions, warped: np.ndarray, valid: np.ndarray, background: np.ndarray, share: float,
    border_cover: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Region colors from the warped reference. A region is character when the reference's
    character pixels are at least ``share`` of its votes (and, for a region touching the line
    art's border, at least ``border_cover`` of them: a few misaligned character votes do not paint
    the background); it takes the dominant color of those character pixels. Otherwise it is
    background. Returns uint8 ``(count + 1, 3)`` colors (background regions: unset), bool
    ``(count + 1,)`` background regions and bool ``(count + 1,)`` regions that got no vote."""
    fg_colors, fg_votes = region_colors(regions.labels, regions.count, warped, valid & ~background)
    all_votes = np.bincount(regions.labels[valid], minlength=regions.count + 1)
    need = np.where(border_regions(regions), max(share, border_cover), share)
    character = (fg_votes > 0) & (fg_votes >= need * all_votes)
    empty = all_votes == 0
    empty[0] = False
    is_bg = ~character & ~empty
    is_bg[0] = False
    return fg_colors, is_bg, empty


def _second_tone(
    regions: Regions, warped: np.ndarray, voters: np.ndarray, first: np.ndarray,
    min_share: float = 0.2, tolerance: int = 32, min_votes: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Each region's second color: the dominant color of its voters farther than ``tolerance``
    levels (any channel) from ``first`` (uint8 ``(count + 1, 3)``). Returns uint8 ``(count + 1,
    3)`` and bool ``(count + 1,)``: regions where that color holds at least ``min_share`` of the
    votes (and ``min_votes`` pixels)."""
    far = np.abs(warped.astype(np.int16) - first[regions.labels].astype(np.int16)).max(axis=2) > tolerance
    second, n2 = region_colors(regions.labels, regions.count, warped, voters & far)
    n_all = np.bincount(regions.labels[voters].ravel(), minlength=regions.count + 1)
    has = (n2 >= min_votes) & (n2 >= min_share * np.maximum(n_all, 1))
    has[0] = False
    return second, has


def _paint_second_tone(
    layer: np.ndarray, filled: np.ndarray, warped: np.ndarray, valid: np.ndarray,
    first: np.ndarray, second: np.ndarray, has_two: np.ndarray,
) -> None:
    """In place: pixels of two-tone regions (``has_two[filled]``) whose warped color is nearer
    ``second`` than ``first`` take ``second``; pixels without a valid warped color take the tone of
    the nearest valid pixel; a 5x5 median removes speckles."""
    two = has_two[filled]
    if not two.any():
        return
    c1 = first[filled].astype(np.int16)
    c2 = second[filled].astype(np.int16)
    w = warped.astype(np.int16)
    nearer_second = np.abs(w - c2).max(axis=2) < np.abs(w - c1).max(axis=2)
    tone = np.where(valid, np.where(nearer_second, 2, 1), 0).astype(np.int32)
    tone = fill_under_lines(tone).astype(np.uint8)
    tone = cv2.medianBlur(tone, 5)
    paint = two & (tone == 2)
    layer[paint] = second[filled[paint]]


def _nearest_donor(regions: Regions, empty: np.ndarray) -> np.ndarray | None:
    """int ``(count + 1,)``: for each ``empty`` region (bool ``(count + 1,)``) the label of the
    nearest non-empty region (one pixel per empty region decides: its first in raster order);
    None when every region is empty."""
    donors = np.where(empty[regions.labels], 0, regions.labels).astype(np.int32)
    if not donors.any():
        return None
    nearest = fill_under_lines(donors)
    ys, xs = np.nonzero(empty[regions.labels])
    labs, first = np.unique(regions.labels[ys, xs], return_index=True)
    out = np.arange(regions.count + 1)
    out[labs] = nearest[ys[first], xs[first]]
    return out


def _warn(diag: FlatDiagnostics, message: str, log: bool = True) -> None:
    diag.warnings.append(message)
    if log:
        logger.warning(message)


def suggest_points(
    reference: ImageInput,
    lineart: Lines | np.ndarray,
    k: int = 12,
    *,
    min_spacing: float = 0.05,
) -> PointPairs:
    """The ``k`` most reliable feature correspondences, as point pairs for a person to review.

    Candidates are the matches the fitted mapping kept (see :func:`fit_mapping`); each is scored
    by its Lowe ratio plus its residual under the mapping (relative to the RANSAC threshold), and
    the best are taken greedily at least ``min_spacing`` x the line art's long side apart (the
    spacing is halved until ``k`` are found or candidates run out). Points are rounded to pixels.

    Returns:
        Up to ``k`` :class:`~manganinja.points.PointPairs` (empty, with a logged warning, when the
        matcher found no reliable correspondence).

    Raises:
        FlatEngineError: ``k`` is not positive.
    """
    if k < 1:
        raise FlatEngineError(f"k must be >= 1, got {k}")
    lines = load_lines(lineart)
    h, w = lines.shape
    ref = _prepare_reference(reference, gap_radius=GAP_RADIUS)
    matches = match_features(ref.lines, lines)
    mapping = fit_mapping(matches, (w, h), ref.size)
    if mapping.kind == "bbox" or not mapping.used.any():
        logger.warning("no reliable feature correspondences found; no points suggested (%s)",
                       "; ".join(mapping.notes))
        return PointPairs()
    idx = np.nonzero(mapping.used)[0]
    thr = 0.02 * float(np.hypot(*ref.size))
    resid = np.linalg.norm(mapping(matches.lineart_xy[idx]) - matches.reference_xy[idx], axis=1)
    order = idx[np.argsort(matches.ratio[idx] + resid / thr, kind="stable")]
    line_xy = np.clip(np.rint(matches.lineart_xy), 0, [w - 1, h - 1])
    ref_xy = np.clip(np.rint(matches.reference_xy), 0, [ref.size[0] - 1, ref.size[1] - 1])
    spacing = min_spacing * max(w, h)
    chosen: list[int] = []
    while len(chosen) < k and spacing >= 1:
        for i in order:
            if len(chosen) >= k:
                break
            if i in chosen:
                continue
            if all(np.hypot(*(line_xy[i] - line_xy[j])) >= spacing for j in chosen):
                chosen.append(int(i))
        spacing /= 2
    return PointPairs.from_arrays(ref_xy[chosen], line_xy[chosen])
