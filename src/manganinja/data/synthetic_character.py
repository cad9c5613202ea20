"""Synthetic characters: the character model of :mod:`manganinja.data.synthetic`.

A character is a layered stack of parts (hair masses, head, eyes, torso, limbs, clothing, small
accessories), each a filled polygon in the character's rest coordinates (about 1.1 units tall, x
centred on 0, y down) with a flat colour from a per-character palette and, optionally, a one-step
cel shadow (a half-plane in the part's rest coordinates). A :class:`FramePose` places it in one
frame: per-part 3x3 affines (joint rotations, small offsets, a global similarity), hidden parts,
a prop and a background. Drawing it is :mod:`manganinja.data.synthetic_render`'s job.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any

import numpy as np


# --------------------------------------------------------------------------------------------
# Geometry helpers (rest coordinates: character about 1.1 units tall, x centred on 0, y down)
# --------------------------------------------------------------------------------------------


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _capsule(x0: float, y0: float, angle: float, length: float, width: float) -> np.ndarray:
    """Rounded bar from ``(x0, y0)`` along ``angle`` (radians, 0 = +x, pi/2 = down)."""
    r = width / 2.0
    d = np.array([np.cos(angle), np.sin(angle)])
    n = np.array([-d[1], d[0]])
    p0 = np.array([x0, y0])
    p1 = p0 + d * length
    arc = np.linspace(-np.pi / 2, np.pi / 2, 9)
    end1 = [p1 + r * (np.cos(a) * d + np.sin(a) * n) for a in arc]
    end0 = [p0 + r * (-np.cos(a) * d - np.sin(a) * n) for a in arc]
    return np.array(end1 + end0)


def _rot(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _trans(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def _apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine to ``(N, 2)`` points."""
    return xy @ matrix[:2, :2].T + matrix[:2, 2]


# --------------------------------------------------------------------------------------------
# Characters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One layer of a character, in rest coordinates.

    ``parent`` is a part name or ``""``; the part turns by up to ``max_angle`` degrees about
    ``pivot`` relative to its parent and shifts by up to ``max_offset`` units. ``shade`` is
    ``(nx, ny, c)``: rest points with ``nx*x + ny*y > c`` get the shadow colour.
    """

    name: str
    polygon: np.ndarray
    color: str
    parent: str = ""
    pivot: tuple[float, float] = (0.0, 0.0)
    max_angle: float = 0.0
    max_offset: float = 0.0
    shade: tuple[float, float, float] | None = None
    accessory: bool = False


@dataclass(frozen=True)
class Character:
    """A palette (slot -> RGB) and parts in draw order (back to front)."""

    palette: dict[str, tuple[int, int, int]]
    parts: tuple[Part, ...]
    shaded: bool
    traits: dict[str, Any]


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def _shadow_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """One-step cel shadow: darker and slightly bluer than the base colour."""
    r, g, b = rgb
    return (int(r * 0.70), int(g * 0.70), int(min(255, b * 0.78 + 12)))


def _random_palette(
    rng: np.random.Generator, min_dist: float = 20.0, tries: int = 40
) -> dict[str, tuple[int, int, int]]:
    """Flat colours for every slot, resampled until all colours and their shadows are distinct.

    Returns the first palette whose colours (shadow colours included) are pairwise at least
    ``min_dist`` apart in RGB, or the most separated of ``tries`` palettes. Every colour is kept
    well away from the black of the outlines.
    """
    best: dict[str, tuple[int, int, int]] = {}
    best_dist = -1.0
    for _ in range(tries):
        pal = {
            "skin": _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.10, 0.40), rng.uniform(0.85, 1.0)),
            "hair": _hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95)),
            "eye": _hsv(rng.uniform(0, 1), rng.uniform(0.5, 1.0), rng.uniform(0.55, 0.95)),
            "pupil": _hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.7), rng.uniform(0.22, 0.35)),
            "mouth": _hsv(rng.uniform(-0.04, 0.03), rng.uniform(0.45, 0.75),
                          rng.uniform(0.75, 0.95)),
            "shirt": _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.8), rng.uniform(0.5, 1.0)),
            "bottom": _hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.85)),
            "shoe": _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.7)),
            "sock": _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.5), rng.uniform(0.6, 1.0)),
            "accent": _hsv(rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)),
            "belt": _hsv(rng.uniform(0, 1), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.6)),
            "button": _hsv(rng.uniform(0, 1), rng.uniform(0.5, 1.0), rng.uniform(0.7, 1.0)),
            "clip": _hsv(rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.75, 1.0)),
            "prop": _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.6), rng.uniform(0.45, 0.8)),
        }
        colors = np.array(list(pal.values()) + [_shadow_color(c) for c in pal.values()], float)
        dist = np.sqrt(((colors[:, None] - colors[None]) ** 2).sum(-1))
        np.fill_diagonal(dist, np.inf)
        if dist.min() > best_dist:
            best, best_dist = pal, float(dist.min())
        if best_dist >= min_dist:
            break
    return best


def random_character(rng: np.random.Generator, shading_prob: float = 0.6) -> Character:
    """A new character: proportions, optional parts and palette all drawn from ``rng``."""
    pal = _random_palette(rng)
    head_r = rng.uniform(0.085, 0.14)
    head_ry = head_r * rng.uniform(1.0, 1.15)
    hc = (0.0, 0.02 + head_ry)
    torso_w = rng.uniform(0.14, 0.22)
    torso_l = rng.uniform(0.2, 0.3)
    shoulder_y = hc[1] + head_ry + rng.uniform(0.02, 0.05)
    hip_y = shoulder_y + torso_l
    waist_w = torso_w * rng.uniform(0.7, 0.95)
    arm_w = rng.uniform(0.04, 0.06)
    upper_l = rng.uniform(0.12, 0.17)
    fore_l = rng.uniform(0.11, 0.16)
    leg_w = rng.uniform(0.05, 0.075)
    thigh_l = rng.uniform(0.15, 0.22)
    shin_l = rng.uniform(0.14, 0.2)
    long_hair = bool(rng.random() < 0.5)
    side_locks = bool(rng.random() < 0.5)
    skirt = bool(rng.random() < 0.5)
    long_sleeves = bool(rng.random() < 0.5)
    n_buttons = int(rng.integers(0, 4))
    has_belt = bool(rng.random() < 0.5)
    has_clip = bool(rng.random() < 0.7)
    collar_kind = str(rng.choice(["ribbon", "tie", "none"]))
    shaded = bool(rng.random() < shading_prob)
    light = rng.uniform(0, 2 * np.pi)
    nx, ny = float(np.cos(light)), float(np.sin(light))
    js = 1.0

    def shade_for(poly: np.ndarray) -> tuple[float, float, float] | None:
        if not shaded:
            return None
        proj = poly @ np.array([nx, ny])
        lo, hi = float(proj.min()), float(proj.max())
        return (nx, ny, lo + (hi - lo) * float(rng.uniform(0.55, 0.75)))

    parts: list[Part] = []

    def add(name: str, poly: np.ndarray, color: str, parent: str = "", pivot: tuple[float, float] = (0.0, 0.0),
            max_angle: float = 0.0, max_offset: float = 0.0, shade: bool = False,
            accessory: bool = False) -> None:
        parts.append(Part(name, np.asarray(poly, float), color, parent,
                          (float(pivot[0]), float(pivot[1])), max_angle * js, max_offset,
                          shade_for(np.asarray(poly, float)) if shade else None, accessory))

    neck_pivot = (0.0, shoulder_y)
    # back hair mass (behind everything)
    back_ry = head_ry * (rng.uniform(1.9, 2.6) if long_hair else rng.uniform(1.1, 1.3))
    back_rx = head_r * rng.uniform(1.15, 1.4)
    back = _ellipse(hc[0], hc[1] - head_ry + back_ry * 0.95, back_rx, back_ry)
    add("hair_back", back, "hair", "head", hc, 6, 0.006, shade=True)
    # legs
    leg_x = waist_w * 0.28
    for side, sx in (("l", -1), ("r", 1)):
        hip = (sx * leg_x, hip_y - 0.02)
        knee = (hip[0], hip[1] + thigh_l)
        ankle = (hip[0], knee[1] + shin_l)
        add(f"thigh_{side}", _capsule(*hip, np.pi / 2, thigh_l, leg_w),
            "skin" if skirt else "bottom", "torso", hip, 20, shade=True)
        add(f"shin_{side}", _capsule(*knee, np.pi / 2, shin_l, leg_w * 0.9),
            "sock" if skirt else "bottom", f"thigh_{side}", knee, 25, shade=True)
        shoe = _ellipse(ankle[0] + sx * 0.02, ankle[1] + 0.015, leg_w * 0.95, leg_w * 0.5)
        add(f"shoe_{side}", shoe, "shoe", f"shin_{side}", ankle, 10)
    # torso
    torso = np.array([[-torso_w / 2, shoulder_y], [torso_w / 2, shoulder_y],
                      [waist_w / 2, hip_y], [-waist_w / 2, hip_y]])
    add("torso", torso, "shirt", "", (0.0, hip_y), 8, shade=True)
    if skirt:
        sk_l = rng.uniform(0.1, 0.17)
        skirt_poly = np.array([[-waist_w / 2, hip_y - 0.03], [waist_w / 2, hip_y - 0.03],
                               [waist_w * 0.9, hip_y + sk_l], [-waist_w * 0.9, hip_y + sk_l]])
        add("skirt", skirt_poly, "bottom", "torso", (0.0, hip_y), 5, shade=True)
    else:
        add("hips", np.array([[-waist_w / 2, hip_y - 0.03], [waist_w / 2, hip_y - 0.03],
                              [waist_w / 2, hip_y + 0.03], [-waist_w / 2, hip_y + 0.03]]),
            "bottom", "torso", (0.0, hip_y), 0)
    if has_belt:
        add("belt", np.array([[-waist_w / 2, hip_y - 0.04], [waist_w / 2, hip_y - 0.04],
                              [waist_w / 2, hip_y - 0.015], [-waist_w / 2, hip_y - 0.015]]),
            "belt", "torso", (0.0, hip_y), 0, accessory=True)
    for i in range(n_buttons):
        by = shoulder_y + torso_l * (0.3 + 0.2 * i)
        add(f"button_{i}", _ellipse(0.0, by, 0.014, 0.014, 16), "button", "torso",
            (0.0, by), 0, 0.004, accessory=True)
    # neck and collar
    add("neck", np.array([[-0.025, hc[1] + head_ry * 0.6], [0.025, hc[1] + head_ry * 0.6],
                          [0.025, shoulder_y + 0.02], [-0.025, shoulder_y + 0.02]]),
        "skin", "torso", neck_pivot, 0)
    if collar_kind == "ribbon":
        cy = shoulder_y + 0.025
        add("ribbon", np.array([[0, cy], [-0.05, cy - 0.025], [-0.05, cy + 0.025], [0, cy],
                                [0.05, cy - 0.025], [0.05, cy + 0.025]]),
            "accent", "torso", (0.0, cy), 10, 0.004, accessory=True)
    elif collar_kind == "tie":
        cy = shoulder_y + 0.01
        add("tie", np.array([[-0.015, cy], [0.015, cy], [0.025, cy + torso_l * 0.55],
                             [0.0, cy + torso_l * 0.65], [-0.025, cy + torso_l * 0.55]]),
            "accent", "torso", (0.0, cy), 8, accessory=True)
    # arms
    for side, sx in (("l", -1), ("r", 1)):
        sh = (sx * torso_w / 2 * 0.85, shoulder_y + 0.02)
        ang = np.pi / 2 - sx * rng.uniform(0.1, 0.35)
        upper = _capsule(*sh, ang, upper_l, arm_w)
        elbow = (sh[0] + np.cos(ang) * upper_l, sh[1] + np.sin(ang) * upper_l)
        ang2 = ang - sx * rng.uniform(0.0, 0.3)
        wrist = (elbow[0] + np.cos(ang2) * fore_l, elbow[1] + np.sin(ang2) * fore_l)
        add(f"upper_arm_{side}", upper, "shirt", "torso", sh, 40, shade=True)
        add(f"forearm_{side}", _capsule(*elbow, ang2, fore_l, arm_w * 0.9),
            "shirt" if long_sleeves else "skin", f"upper_arm_{side}", elbow, 40, shade=True)
        add(f"hand_{side}", _ellipse(wrist[0], wrist[1] + 0.015, arm_w * 0.7, arm_w * 0.8, 24),
            "skin", f"forearm_{side}", wrist, 20)
    # head and face
    add("head", _ellipse(hc[0], hc[1], head_r, head_ry), "skin", "torso", neck_pivot, 15,
        shade=True)
    eye_y = hc[1] + head_ry * rng.uniform(0.05, 0.25)
    eye_rx = head_r * rng.uniform(0.15, 0.22)
    eye_ry = eye_rx * rng.uniform(1.2, 1.7)
    eye_dx = head_r * rng.uniform(0.35, 0.5)
    for side, sx in (("l", -1), ("r", 1)):
        add(f"eye_{side}", _ellipse(sx * eye_dx, eye_y, eye_rx, eye_ry, 28), "eye", "head", hc, 0)
        add(f"pupil_{side}", _ellipse(sx * eye_dx, eye_y + eye_ry * 0.2, eye_rx * 0.45,
                                      eye_ry * 0.45, 20), "pupil", f"eye_{side}",
            (sx * eye_dx, eye_y), 0, eye_rx * 0.15)
    add("mouth", _ellipse(0.0, hc[1] + head_ry * 0.62, head_r * 0.12, head_r * 0.06, 16),
        "mouth", "head", hc, 0, accessory=True)
    # bangs: upper head arc with a zig-zag fringe
    fringe_y = hc[1] - head_ry * rng.uniform(0.05, 0.35)
    arc = np.linspace(np.pi, 2 * np.pi, 17)
    top = np.stack([hc[0] + head_r * 1.08 * np.cos(arc), hc[1] + head_ry * 1.08 * np.sin(arc)], 1)
    n_spikes = int(rng.integers(3, 7))
    xs = np.linspace(head_r * 1.08, -head_r * 1.08, 2 * n_spikes + 1)
    zig = np.stack([xs, np.where(np.arange(len(xs)) % 2 == 1, fringe_y + head_ry * 0.25,
                                 fringe_y - head_ry * 0.05)], 1)
    zig[0, 1] = zig[-1, 1] = hc[1] + head_ry * 0.1
    add("bangs", np.concatenate([top, zig]), "hair", "head", hc, 0, shade=True)
    if side_locks:
        for side, sx in (("l", -1), ("r", 1)):
            top_pt = (sx * head_r * 0.95, hc[1] - head_ry * 0.2)
            add(f"lock_{side}", _capsule(*top_pt, np.pi / 2, head_ry * rng.uniform(1.2, 1.9),
                                         head_r * 0.3),
                "hair", "head", top_pt, 12, shade=True)
    if has_clip:
        cx = float(rng.choice([-1, 1])) * head_r * 0.55
        cy = hc[1] - head_ry * 0.75
        add("hair_clip", _ellipse(cx, cy, head_r * 0.22, head_r * 0.12, 20), "clip", "head",
            (cx, cy), 25, 0.004, accessory=True)

    traits = dict(head_radius=round(head_r, 4), torso_width=round(torso_w, 4),
                  torso_length=round(torso_l, 4), long_hair=long_hair, side_locks=side_locks,
                  skirt=skirt, long_sleeves=long_sleeves, buttons=n_buttons, belt=has_belt,
                  hair_clip=has_clip, collar=collar_kind)
    return Character(pal, tuple(parts), shaded, traits)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FramePose:
    """Where a frame puts the character: per-part 3x3 affines (rest coords -> pixels) etc."""

    affines: tuple[np.ndarray, ...]
    hidden: frozenset[str]
    occluder: np.ndarray | None  # (K, 2) polygon in pixels, or None
    background: dict[str, Any] | None
    params: dict[str, Any]


def _pose(
    rng: np.random.Generator,
    character: Character,
    size: int,
    *,
    flip: bool,
    crop: bool,
    joint_scale: float,
    global_rotation_deg: float,
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """Sample joint motion and a global similarity; return per-part affines and parameters."""
    index = {p.name: i for i, p in enumerate(character.parts)}
    local: dict[str, np.ndarray] = {}
    angles: dict[str, float] = {}
    for part in character.parts:
        angle = float(rng.uniform(-1, 1) * part.max_angle * joint_scale)
        off = rng.uniform(-1, 1, size=2) * part.max_offset
        px, py = part.pivot
        local[part.name] = _trans(*off) @ _trans(px, py) @ _rot(angle) @ _trans(-px, -py)
        if part.max_angle:
            angles[part.name] = round(angle, 3)
    posed: dict[str, np.ndarray] = {}

    def resolve(name: str) -> np.ndarray:
        if name not in posed:
            part = character.parts[index[name]]
            parent = resolve(part.parent) if part.parent else np.eye(3)
            posed[name] = parent @ local[name]
        return posed[name]

    scale = size * float(rng.uniform(0.8, 0.95))
    rotation = float(rng.uniform(-1, 1) * global_rotation_deg)
    cx = size / 2 + float(rng.uniform(-0.06, 0.06)) * size
    cy = size / 2 + float(rng.uniform(-0.04, 0.04)) * size
    focus_y = 0.52
    if crop:  # zoom in on the upper body: legs (and more) leave the frame
        scale *= float(rng.uniform(1.4, 1.9))
        focus_y = float(rng.uniform(0.3, 0.45))
        cx += float(rng.uniform(-0.12, 0.12)) * size
    mirror = _scale(-scale if flip else scale, scale)
    g = _trans(cx, cy) @ _rot(rotation) @ mirror @ _trans(0.0, -focus_y)
    affines = tuple(g @ resolve(p.name) for p in character.parts)
    params = dict(scale=round(scale / size, 4), rotation_deg=round(rotation, 3), flip=flip,
                  crop=crop, center=[round(cx, 2), round(cy, 2)], joint_angles_deg=angles)
    return affines, params
