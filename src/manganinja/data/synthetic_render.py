"""Synthetic frames: the renderer of :mod:`manganinja.data.synthetic`.

Draws a posed :class:`~manganinja.data.synthetic_character.Character` as an integer part map
(``cv2.fillPoly`` in z-order), flat colours looked up from it, outlines where the part map changes
(thin inside the character, thicker on the silhouette; shadow boundaries carry no line), the
anti-aliased line art, character masks, backgrounds and the foreground prop, and samples the exact
point correspondences between two frames of one character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from manganinja.data.synthetic_character import Character, FramePose, _apply, _ellipse, _hsv, _shadow_color
from manganinja.points import rescale_centres

#: Part-map value of pixels that belong to no part (background).
BACKGROUND_ID = 0
#: Part-map value of the foreground prop that may cover the character in the reference frame.
OCCLUDER_ID = 255

_SUPERSAMPLE = 2  # the anti-aliased line art is rendered at this factor and area-downsampled


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _to_fixed(xy: np.ndarray, factor: int) -> np.ndarray:
    """Pixel-centre coordinates -> cv2 fixed-point (shift 4) int32 at ``factor`` x resolution."""
    scaled = rescale_centres(xy, factor)
    return np.round(scaled * 16).astype(np.int32).reshape(-1, 1, 2)


def _render_parts(
    character: Character,
    pose: FramePose,
    size: int,
    factor: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Part map ``(S, S)`` uint8 and shadow map ``(S, S)`` bool, ``S = size * factor``."""
    s = size * factor
    parts_map = np.zeros((s, s), np.uint8)
    shade = np.zeros((s, s), np.uint8)
    big = 4.0  # half-plane quad extent in rest units
    for pid, (part, aff) in enumerate(zip(character.parts, pose.affines), start=1):
        if part.name in pose.hidden:
            continue
        poly = _to_fixed(_apply(aff, part.polygon), factor)
        cv2.fillPoly(parts_map, [poly], pid, lineType=cv2.LINE_8, shift=4)
        region = parts_map == pid
        shade[region] = 0
        if part.shade is not None:
            nx, ny, c = part.shade
            n = np.array([nx, ny])
            t = np.array([-ny, nx])
            base = n * c
            quad = np.array([base + t * big, base + t * big + n * big,
                             base - t * big + n * big, base - t * big])
            part_shade = np.zeros((s, s), np.uint8)
            cv2.fillPoly(part_shade, [_to_fixed(_apply(aff, quad), factor)], 1, shift=4)
            shade[region] = part_shade[region]
    if pose.occluder is not None:
        cv2.fillPoly(parts_map, [_to_fixed(pose.occluder, factor)], OCCLUDER_ID, shift=4)
        shade[parts_map == OCCLUDER_ID] = 0
    return parts_map, shade.astype(bool)


def _boundary(label: np.ndarray) -> np.ndarray:
    """One-pixel boundary: pixels whose right or lower neighbour has another label."""
    edge = np.zeros(label.shape, bool)
    dx = label[:, 1:] != label[:, :-1]
    dy = label[1:, :] != label[:-1, :]
    edge[:, :-1] |= dx
    edge[:-1, :] |= dy
    return edge


def _disk(diameter: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))


def _outlines(parts_map: np.ndarray, inner_width: int, outer_width: int) -> np.ndarray:
    """Outline mask ``(H, W)`` bool: thin lines between parts, thicker ones on silhouettes."""
    inner = _boundary(parts_map).astype(np.uint8)
    outer = _boundary(parts_map != BACKGROUND_ID).astype(np.uint8)
    lines = cv2.dilate(inner, _disk(inner_width)) | cv2.dilate(outer, _disk(outer_width))
    return lines.astype(bool)


def _background(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """A painted background (no outlines): a flat sky/wall colour and a few flat shapes."""
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(["rect", "circle"]))
        color = _hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.5), rng.uniform(0.6, 0.95))
        x, y = (rng.uniform(0, 1, 2) * size).round(1).tolist()
        w, h = (rng.uniform(0.1, 0.5, 2) * size).round(1).tolist()
        shapes.append(dict(kind=kind, color=list(color), x=x, y=y, w=w, h=h))
    base = _hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.4), rng.uniform(0.75, 1.0))
    return dict(color=list(base), shapes=shapes)


def _paint_background(spec: dict[str, Any] | None, size: int) -> np.ndarray:
    img = np.full((size, size, 3), 255, np.uint8)
    if spec is None:
        return img
    img[:] = spec["color"]
    for sh in spec["shapes"]:
        color = tuple(int(c) for c in sh["color"])
        if sh["kind"] == "rect":
            p0 = (int(sh["x"]), int(sh["y"]))
            p1 = (int(sh["x"] + sh["w"]), int(sh["y"] + sh["h"]))
            cv2.rectangle(img, p0, p1, color, thickness=-1)
        else:
            cv2.circle(img, (int(sh["x"]), int(sh["y"])), int(sh["w"] / 2), color, thickness=-1)
    return img


def _color_lut(character: Character) -> np.ndarray:
    """``(256, 2, 3)`` uint8: colour of part id ``p`` unshaded ``[p, 0]`` and shaded ``[p, 1]``."""
    lut = np.zeros((256, 2, 3), np.uint8)
    for pid, part in enumerate(character.parts, start=1):
        rgb = character.palette[part.color]
        lut[pid, 0] = rgb
        lut[pid, 1] = _shadow_color(rgb) if part.shade is not None else rgb
    lut[OCCLUDER_ID, :] = character.palette["prop"]
    return lut


@dataclass(frozen=True)
class _Frame:
    parts: np.ndarray
    shade: np.ndarray
    flat: np.ndarray
    image: np.ndarray
    lines: np.ndarray


def _render_frame(character: Character, pose: FramePose, size: int, lut: np.ndarray,
                  inner_width: int, outer_width: int) -> _Frame:
    parts_map, shade = _render_parts(character, pose, size)
    flat = _paint_background(pose.background, size)
    fg = parts_map != BACKGROUND_ID
    flat[fg] = lut[parts_map[fg], shade[fg].astype(np.intp)]
    lines = _outlines(parts_map, inner_width, outer_width)
    image = flat.copy()
    image[lines] = 0
    return _Frame(parts_map, shade, flat, image, lines)


def _character_mask(frame: _Frame, n_parts: int, outer_width: int) -> np.ndarray:
    """Foreground ``(H, W)`` bool: the character's parts plus the outline pixels around them."""
    body = (frame.parts >= 1) & (frame.parts <= n_parts)
    near = cv2.dilate(body.astype(np.uint8), _disk(outer_width + 2)).astype(bool)
    prop_only = frame.parts == OCCLUDER_ID
    return body | (frame.lines & near & ~prop_only)


def _soft_lineart(character: Character, pose: FramePose, size: int, inner_width: int,
                  outer_width: int) -> np.ndarray:
    """Anti-aliased line art ``(size, size)`` uint8: outlines at 2x, area-downsampled."""
    parts_map, _ = _render_parts(character, pose, size, _SUPERSAMPLE)
    lines = _outlines(parts_map, inner_width * _SUPERSAMPLE, outer_width * _SUPERSAMPLE)
    small = cv2.resize(lines.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(small * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Correspondences
# --------------------------------------------------------------------------------------------


def _interior_distance(frame: _Frame) -> np.ndarray:
    """Distance (px) of each pixel to the nearest outline or colour-region boundary."""
    edge = _boundary(frame.parts.astype(np.int32) * 2 + frame.shade)
    blocked = frame.lines | edge
    blocked[:, 1:] |= edge[:, :-1]  # both sides of each boundary
    blocked[1:, :] |= edge[:-1, :]
    return cv2.distanceTransform((~blocked).astype(np.uint8), cv2.DIST_L2, 5)


def _sample_points(
    rng: np.random.Generator,
    character: Character,
    ref: _Frame,
    tgt: _Frame,
    ref_pose: FramePose,
    tgt_pose: FramePose,
    n_points: int,
    margin: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick up to ``n_points`` exact pairs; returns ref ``(N,2)``, target ``(N,2)`` int, parts."""
    size = tgt.parts.shape[0]
    n_parts = len(character.parts)
    d_tgt = _interior_distance(tgt)
    d_ref = _interior_distance(ref)
    ys, xs = np.nonzero((d_tgt >= margin) & (tgt.parts >= 1) & (tgt.parts <= n_parts))
    pid = tgt.parts[ys, xs].astype(np.intp)
    # target pixel -> rest coordinates of its part -> reference pixel
    to_ref = np.stack([ref_pose.affines[i] @ np.linalg.inv(tgt_pose.affines[i])
                       for i in range(n_parts)])[pid - 1]
    ref_xy = np.einsum("nij,nj->ni", to_ref[:, :2, :2], np.stack([xs, ys], 1).astype(float))
    ref_xy += to_ref[:, :2, 2]
    rx = np.round(ref_xy[:, 0]).astype(np.intp)
    ry = np.round(ref_xy[:, 1]).astype(np.intp)
    inside = (rx >= 0) & (rx < size) & (ry >= 0) & (ry < size)
    rxc, ryc = np.clip(rx, 0, size - 1), np.clip(ry, 0, size - 1)
    ok = (inside & (ref.parts[ryc, rxc] == pid) & (ref.shade[ryc, rxc] == tgt.shade[ys, xs])
          & (d_ref[ryc, rxc] >= margin))
    cand = np.nonzero(ok)[0]
    # spread over parts: round-robin over the parts, random pixel of each, no repeats
    by_part: dict[int, list[int]] = {}
    for i in rng.permutation(cand):
        by_part.setdefault(int(pid[i]), []).append(int(i))
    order = sorted(by_part)
    chosen: list[int] = []
    while len(chosen) < n_points and any(by_part[p] for p in order):
        for p in order:
            if by_part[p] and len(chosen) < n_points:
                chosen.append(by_part[p].pop())
    chosen_arr = np.array(chosen, dtype=np.intp)
    ref_pts = np.stack([rx[chosen_arr], ry[chosen_arr]], 1) if chosen else np.zeros((0, 2), np.intp)
    tgt_pts = np.stack([xs[chosen_arr], ys[chosen_arr]], 1) if chosen else np.zeros((0, 2), np.intp)
    return ref_pts, tgt_pts, pid[chosen_arr] if chosen else np.zeros(0, np.intp)



def _occluder(rng: np.random.Generator, size: int) -> np.ndarray:
    """A prop entering from one side of the frame, covering 15-35 % of it (pixels)."""
    depth = float(rng.uniform(0.15, 0.35)) * size
    side = int(rng.integers(0, 4))
    wobble = rng.uniform(-0.08, 0.08, 2) * size
    lo, hi = -0.1 * size, 1.1 * size
    if side == 0:  # from the bottom
        poly = [[lo, hi], [hi, hi], [hi, size - depth + wobble[0]], [lo, size - depth + wobble[1]]]
    elif side == 1:  # from the left
        poly = [[lo, lo], [depth + wobble[0], lo], [depth + wobble[1], hi], [lo, hi]]
    elif side == 2:  # from the right
        poly = [[hi, lo], [size - depth + wobble[0], lo], [size - depth + wobble[1], hi], [hi, hi]]
    else:  # a round bush / object in front, lower half
        c = (float(rng.uniform(0.2, 0.8)) * size, float(rng.uniform(0.6, 0.9)) * size)
        return _ellipse(c[0], c[1], depth, depth * 0.7, 32)
    return np.array(poly, float)
