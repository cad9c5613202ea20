"""Synthetic animation cuts (shots) with ground truth for every frame.

Each shot is one procedural character (:func:`manganinja.data.synthetic.random_character`) moving
through ``F`` frames: every jointed part swings smoothly (a sine per part, period 8-24 frames), the
whole figure drifts, turns and scales a little from frame to frame, and a few *large changes*
happen at random frames (a limb snaps to a new angle, or the figure jumps sideways). A prop may
cross the frame in front of the character (*occlusions*: parts hide and reappear). Shaded parts
have a one-step cel shadow whose boundary is drawn as a **red color-trace line**
(:data:`SHADOW_LINE_RGB`), the way production line art separates shadow areas.

Written in the PaintBucket-Character layout (:mod:`manganinja.shots.format`)::

    shot_00000/line/0000.png   black outlines + red shadow lines, on white or on transparency
    shot_00000/gt/0000.png     RGBA ground truth of EVERY frame: flat colors (shadows included),
                               black outlines, red lines painted with the color beneath them,
                               transparent background ([255, 255, 255, 0])
    shot_00000/shot.json       {"keyframes": ["0000"]}: which gt frames a run colors from
    manifest.json              generator, seed, options, per-shot parameters

Shot ``i`` of seed ``s`` is generated from ``np.random.default_rng([s, i])`` alone.

**Effect shots** (``ShotOptions(family="smoke" | "explosion" | "splash" | "effects")``,
:func:`generate_effect_shot`): the stand-in for effect animation (smoke, explosions, splashes).
A cluster of blobs (each a circle whose radius wobbles with a few harmonics whose phases move
every frame, so every outline changes from frame to frame) grows from a small puff to most of the
frame. Each blob has a highlight and a shadow (the crescent away from the light), separated by a
red color-trace line; black outlines between blobs and around the cluster; the line art is always
on a fully transparent sheet, and the one keyframe is the first or the last frame (the big end,
as in production, when ``keyframe_end`` is ``"last"``). ``"effects"`` picks one of the three per
shot.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from manganinja.data.synthetic import (
    BACKGROUND_ID,
    OCCLUDER_ID,
    Character,
    FramePose,
    SyntheticDataError,
    _color_lut,
    _disk,
    _ellipse,
    _outlines,
    _render_parts,
    _rot,
    _scale,
    _trans,
    build_folder_atomically,
    check_output_folder,
    check_size,
    random_character,
)
from manganinja.images import save_image, write_json_atomic

GENERATOR_NAME = "manganinja.data.synthetic_shots"
GENERATOR_VERSION = "1.1"
#: Color of the shadow-boundary (color-trace) lines in the line frames.
SHADOW_LINE_RGB = (255, 0, 0)
#: RGBA of the background in the ground truth (as PaintBucket-Character writes it).
BACKGROUND_RGBA = (255, 255, 255, 0)
#: Effect families (:func:`generate_effect_shot`); ``"effects"`` draws one of them per shot.
EFFECT_FAMILIES = ("smoke", "explosion", "splash")
#: Every ``ShotOptions.family``.
FAMILIES = ("character", *EFFECT_FAMILIES, "effects")


@dataclass(frozen=True)
class ShotOptions:
    """Knobs of the shot generator. ``size``: square side in pixels (multiple of 8, >= 64);
    ``frames``: frames per shot (>= 2); probabilities are per shot."""

    size: int = 512
    frames: int = 12
    keyframes: int = 1
    shading_prob: float = 0.9
    occlusion_prob: float = 0.5
    transparent_prob: float = 0.5
    max_large_changes: int = 2
    motion: float = 1.0
    family: str = "character"
    keyframe_end: str = "random"

    def validate(self) -> None:
        check_size(self.size)
        if self.family not in FAMILIES:
            raise SyntheticDataError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.keyframe_end not in ("first", "last", "random"):
            raise SyntheticDataError(f"keyframe_end must be first, last or random, got {self.keyframe_end!r}")
        if not isinstance(self.frames, int) or self.frames < 2:
            raise SyntheticDataError(f"frames per shot must be an integer >= 2, got {self.frames!r}")
        if self.keyframes not in (1, 2):
            raise SyntheticDataError(f"keyframes must be 1 (first frame) or 2 (first and last), got {self.keyframes!r}")
        for name in ("shading_prob", "occlusion_prob", "transparent_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise SyntheticDataError(f"{name} must be in [0, 1], got {v!r}")


@dataclass(frozen=True)
class SyntheticShot:
    """Frames of one shot. ``lines``: uint8 ``(F, H, W, 4)`` RGBA line frames; ``gt``: uint8
    ``(F, H, W, 4)`` ground truth; ``parts``: uint8 ``(F, H, W)`` part maps; ``keyframes``: frame
    indices meant as keyframes; ``params``: JSON-ready description."""

    lines: np.ndarray
    gt: np.ndarray
    parts: np.ndarray
    keyframes: tuple[int, ...]
    params: dict[str, Any]


def _trajectory(rng: np.random.Generator, character: Character, options: ShotOptions) -> tuple[list[dict[str, float]], list[tuple[float, ...]], list[dict[str, Any]]]:
    """Per frame: joint angles (deg), the global similarity (cx, cy, scale, rotation), events."""
    f, size, m = options.frames, options.size, options.motion
    joints = [p for p in character.parts if p.max_angle > 0]
    amp = {p.name: float(rng.uniform(0.3, 1.0)) * p.max_angle * m for p in joints}
    period = {p.name: float(rng.uniform(8, 24)) for p in joints}
    phase = {p.name: float(rng.uniform(0, 2 * np.pi)) for p in joints}
    cx0 = size / 2 + float(rng.uniform(-0.05, 0.05)) * size
    cy0 = size / 2 + float(rng.uniform(-0.03, 0.03)) * size
    s0 = size * float(rng.uniform(0.72, 0.85))
    r0 = float(rng.uniform(-6, 6))
    vx = float(rng.uniform(-1, 1)) * 0.006 * size * m
    vy = float(rng.uniform(-1, 1)) * 0.003 * size * m
    vr = float(rng.uniform(-1, 1)) * 0.6 * m
    vs = float(rng.uniform(-1, 1)) * 0.006 * m
    events: list[dict[str, Any]] = []
    n_big = int(rng.integers(0, options.max_large_changes + 1)) if f > 3 else 0
    limbs = [p.name for p in joints if p.max_angle >= 20]
    jump_angle: dict[str, list[tuple[int, float]]] = {}
    jump_shift: list[tuple[int, float]] = []
    for _ in range(n_big):
        t = int(rng.integers(2, f))
        if limbs and rng.random() < 0.6:
            name = str(rng.choice(limbs))
            delta = float(rng.choice([-1, 1]) * rng.uniform(30, 55))
            jump_angle.setdefault(name, []).append((t, delta))
            events.append(dict(frame=t, kind="limb", part=name, degrees=round(delta, 2)))
        else:
            dx = float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.09)) * size
            jump_shift.append((t, dx))
            events.append(dict(frame=t, kind="shift", pixels=round(dx, 1)))
    angles, glob = [], []
    for t in range(f):
        a = {}
        for p in joints:
            v = amp[p.name] * np.sin(2 * np.pi * t / period[p.name] + phase[p.name])
            v += sum(d for (tj, d) in jump_angle.get(p.name, []) if t >= tj)
            a[p.name] = float(v)
        angles.append(a)
        shift = sum(d for (tj, d) in jump_shift if t >= tj)
        glob.append((cx0 + vx * t + shift, cy0 + vy * t, s0 * (1 + vs * t), r0 + vr * t))
    return angles, glob, events


def _affines(character: Character, angles: dict[str, float], g: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    index = {p.name: i for i, p in enumerate(character.parts)}
    posed: dict[str, np.ndarray] = {}

    def resolve(name: str) -> np.ndarray:
        if name not in posed:
            part = character.parts[index[name]]
            px, py = part.pivot
            local = _trans(px, py) @ _rot(angles.get(name, 0.0)) @ _trans(-px, -py)
            parent = resolve(part.parent) if part.parent else np.eye(3)
            posed[name] = parent @ local
        return posed[name]

    cx, cy, s, r = g
    glob = _trans(cx, cy) @ _rot(r) @ _scale(s, s) @ _trans(0.0, -0.52)
    return tuple(glob @ resolve(p.name) for p in character.parts)


def _shadow_lines(parts: np.ndarray, shade: np.ndarray, width: int) -> np.ndarray:
    """bool ``(H, W)``: the shadow boundary inside each part, ``width`` px wide."""
    edge = np.zeros(parts.shape, bool)
    same_x = parts[:, 1:] == parts[:, :-1]
    same_y = parts[1:, :] == parts[:-1, :]
    edge[:, :-1] |= (shade[:, 1:] != shade[:, :-1]) & same_x & (parts[:, 1:] != BACKGROUND_ID)
    edge[:-1, :] |= (shade[1:, :] != shade[:-1, :]) & same_y & (parts[1:, :] != BACKGROUND_ID)
    if width > 1:
        edge = cv2.dilate(edge.astype(np.uint8), _disk(width)).astype(bool)
    return edge


def generate_shot(rng_or_seed: np.random.Generator | int | list[int], options: ShotOptions | None = None) -> SyntheticShot:
    """One synthetic shot (module docstring); the same seed gives the same arrays. An effect
    ``options.family`` gives :func:`generate_effect_shot`."""
    options = options or ShotOptions()
    options.validate()
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
    if options.family != "character":
        return generate_effect_shot(rng, options)
    size, f = options.size, options.frames
    character = random_character(rng, options.shading_prob)
    k = size / 256.0
    inner_w = max(1, int(round(float(rng.uniform(1.0, 1.8)) * k)))
    outer_w = max(inner_w + 1, int(round(float(rng.uniform(2.0, 3.0)) * k)))
    color_w = max(1, inner_w - 1)
    transparent = bool(rng.random() < options.transparent_prob)
    angles, glob, events = _trajectory(rng, character, options)
    occluder = None
    if rng.random() < options.occlusion_prob:
        # An ellipse inside the frame (radii w, h) crossing it from one side to the other.
        w, h = float(rng.uniform(0.06, 0.1)) * size, float(rng.uniform(0.1, 0.18)) * size
        y = float(rng.uniform(0.45, 0.7)) * size
        x0 = float(rng.choice([0.13, 0.87])) * size
        x1 = size - x0
        occluder = dict(w=round(w, 1), h=round(h, 1), y=round(y, 1), x0=round(x0, 1), x1=round(x1, 1))
    lut = _color_lut(character)
    lines = np.zeros((f, size, size, 4), np.uint8)
    gt = np.zeros((f, size, size, 4), np.uint8)
    parts_all = np.zeros((f, size, size), np.uint8)
    for t in range(f):
        occ = None
        if occluder is not None:
            x = occluder["x0"] + (occluder["x1"] - occluder["x0"]) * t / max(f - 1, 1)
            occ = _ellipse(x, occluder["y"], occluder["w"], occluder["h"], 40)
        pose = FramePose(_affines(character, angles[t], glob[t]), frozenset(), occ, None, {})
        parts, shade = _render_parts(character, pose, size)
        black = _outlines(parts, inner_w, outer_w)
        red = _shadow_lines(parts, shade, color_w) & ~black
        fg = parts != BACKGROUND_ID
        flat = np.zeros((size, size, 3), np.uint8)
        flat[fg] = lut[parts[fg], shade[fg].astype(np.intp)]
        g = np.zeros((size, size, 4), np.uint8)
        g[:] = BACKGROUND_RGBA
        g[fg, :3] = flat[fg]
        g[fg, 3] = 255
        g[black] = (0, 0, 0, 255)
        ln = np.zeros((size, size, 4), np.uint8)
        ln[:] = (255, 255, 255, 0 if transparent else 255)
        ln[black] = (0, 0, 0, 255)
        ln[red] = (*SHADOW_LINE_RGB, 255)
        lines[t], gt[t], parts_all[t] = ln, g, parts
    keyframes = (0,) if options.keyframes == 1 else (0, f - 1)
    params = dict(
        palette={k2: list(v) for k2, v in character.palette.items()}, traits=character.traits,
        shaded=character.shaded, line_width=dict(inner=inner_w, outer=outer_w, color=color_w),
        transparent_lines=transparent, occluder=occluder, large_changes=events,
        parts=[p.name for p in character.parts], occluder_id=OCCLUDER_ID,
    )
    return SyntheticShot(lines, gt, parts_all, keyframes, params)


#: Per effect family: (blobs min, max), harmonic amplitude, outline wobble (rad/frame), drift of
#: the cluster per frame (fraction of the size: x, y), spread of the blobs (fraction of the radius).
_EFFECT_STYLE: dict[str, dict[str, Any]] = {
    "smoke": dict(blobs=(4, 7), amp=(0.06, 0.16), wobble=(0.25, 0.6), drift=(0.0, -0.004), spread=0.55),
    "explosion": dict(blobs=(5, 9), amp=(0.08, 0.22), wobble=(0.35, 0.8), drift=(0.0, 0.0), spread=0.7),
    "splash": dict(blobs=(3, 5), amp=(0.05, 0.14), wobble=(0.3, 0.7), drift=(0.0, 0.002), spread=0.45),
}


def _blob_polygon(cx: float, cy: float, radius: float, amps: np.ndarray, phases: np.ndarray,
                  n: int = 96) -> np.ndarray:
    """int32 ``(n, 2)`` outline of a wobbly circle: ``r(a) = radius * (1 + sum_k amps[k] *
    sin((k + 2) a + phases[k]))``."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * (1 + (amps[:, None] * np.sin((np.arange(len(amps))[:, None] + 2) * a[None] + phases[:, None])).sum(0))
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1).round().astype(np.int32)


def generate_effect_shot(rng: np.random.Generator, options: ShotOptions) -> SyntheticShot:
    """One effect shot (module docstring): ``options.family`` is an effect family or
    ``"effects"``; uses ``size``, ``frames`` and ``keyframe_end`` (``keyframes=2`` gives both
    ends)."""
    family = options.family if options.family != "effects" else str(rng.choice(EFFECT_FAMILIES))
    style = _EFFECT_STYLE[family]
    size, f = options.size, options.frames
    k = size / 256.0
    inner_w = max(1, int(round(float(rng.uniform(1.0, 1.8)) * k)))
    outer_w = max(inner_w + 1, int(round(float(rng.uniform(2.0, 3.0)) * k)))
    color_w = max(1, inner_w - 1)
    n_blobs = int(rng.integers(style["blobs"][0], style["blobs"][1] + 1))
    n_harm = 4
    # The cluster: a center, a growing radius (small puff -> most of the frame).
    cx0 = size * float(rng.uniform(0.42, 0.58))
    cy0 = size * float(rng.uniform(0.45, 0.6))
    r_small = size * float(rng.uniform(0.07, 0.11))
    r_large = size * float(rng.uniform(0.3, 0.38))
    # Blobs: direction and distance from the cluster center (in cluster radii), own size.
    angle = rng.uniform(0, 2 * np.pi, n_blobs)
    if family == "smoke":
        angle = -np.pi / 2 + rng.uniform(-1.2, 1.2, n_blobs)  # puffs pile up
    dist = rng.uniform(0.15, 1.0, n_blobs) * style["spread"]
    dist[0] = 0.0
    rel = rng.uniform(0.45, 0.75, n_blobs)
    rel[0] = 0.8
    amps = rng.uniform(*style["amp"], (n_blobs, n_harm)) / np.arange(1, n_harm + 1)
    phase0 = rng.uniform(0, 2 * np.pi, (n_blobs, n_harm))
    omega = rng.uniform(*style["wobble"], (n_blobs, n_harm)) * rng.choice([-1, 1], (n_blobs, n_harm))
    light = float(rng.uniform(0, 2 * np.pi))
    shadow_depth = float(rng.uniform(0.25, 0.45))
    drift = np.array(style["drift"]) * size
    hi = np.array(_effect_color(rng, family), np.uint8)
    lo = np.array([max(0, int(c * 0.62)) for c in hi], np.uint8)
    lines = np.zeros((f, size, size, 4), np.uint8)
    gt = np.zeros((f, size, size, 4), np.uint8)
    parts_all = np.zeros((f, size, size), np.uint8)
    for t in range(f):
        u = t / max(f - 1, 1)
        grow = r_small + (r_large - r_small) * (1 - (1 - u) ** 1.6)
        ccx, ccy = cx0 + drift[0] * t, cy0 + drift[1] * t
        parts = np.zeros((size, size), np.uint8)
        shade = np.zeros((size, size), bool)
        for b in range(n_blobs):
            spread = dist[b] * (1.0 + (0.5 * u if family == "splash" else 0.0))
            bx = ccx + grow * spread * np.cos(angle[b])
            by = ccy + grow * spread * np.sin(angle[b])
            rb = grow * rel[b] * (1.0 - (0.45 * u if family == "splash" and b > 0 else 0.0))
            poly = _blob_polygon(bx, by, rb, amps[b], phase0[b] + omega[b] * t)
            blob = np.zeros((size, size), np.uint8)
            cv2.fillPoly(blob, [poly], 1)
            # The shadow: the blob minus itself moved toward the light (the crescent away from it).
            d = shadow_depth * rb
            m = np.float32([[1, 0, d * np.cos(light)], [0, 1, d * np.sin(light)]])
            lit = cv2.warpAffine(blob, m, (size, size), flags=cv2.INTER_NEAREST)
            on = blob > 0
            parts[on] = b + 1
            shade[on] = lit[on] == 0
        black = _outlines(parts, inner_w, outer_w)
        red = _shadow_lines(parts, shade, color_w) & ~black
        fg = parts != BACKGROUND_ID
        g = np.zeros((size, size, 4), np.uint8)
        g[:] = BACKGROUND_RGBA
        g[fg, :3] = np.where(shade[fg][:, None], lo, hi)
        g[fg, 3] = 255
        g[black] = (0, 0, 0, 255)
        ln = np.zeros((size, size, 4), np.uint8)
        ln[:] = (255, 255, 255, 0)
        ln[black] = (0, 0, 0, 255)
        ln[red] = (*SHADOW_LINE_RGB, 255)
        lines[t], gt[t], parts_all[t] = ln, g, parts
    end = options.keyframe_end if options.keyframe_end != "random" else str(rng.choice(["first", "last"]))
    if options.keyframes == 2:
        keyframes: tuple[int, ...] = (0, f - 1)
    else:
        keyframes = (0,) if end == "first" else (f - 1,)
    params = dict(family=family, blobs=n_blobs, palette=dict(highlight=hi.tolist(), shadow=lo.tolist()),
                  line_width=dict(inner=inner_w, outer=outer_w, color=color_w), transparent_lines=True,
                  radius=dict(small=round(r_small, 1), large=round(r_large, 1)), keyframe_end=end)
    return SyntheticShot(lines, gt, parts_all, keyframes, params)


def _effect_color(rng: np.random.Generator, family: str) -> tuple[int, int, int]:
    """A highlight color typical of the family (gray-blue smoke, orange fire, blue water)."""
    import colorsys

    hue = {"smoke": rng.uniform(0.5, 0.7), "explosion": rng.uniform(0.02, 0.12), "splash": rng.uniform(0.52, 0.62)}[family]
    sat = {"smoke": rng.uniform(0.05, 0.25), "explosion": rng.uniform(0.6, 0.9), "splash": rng.uniform(0.4, 0.8)}[family]
    val = float(rng.uniform(0.8, 0.98))
    r, g, b = colorsys.hsv_to_rgb(float(hue), float(sat), val)
    return int(r * 255), int(g * 255), int(b * 255)


def frame_stem(t: int) -> str:
    return f"{t:04d}"


def shot_dir_name(index: int) -> str:
    return f"shot_{index:05d}"


def write_shot(shot: SyntheticShot, out_dir: str | os.PathLike) -> Path:
    """Write one shot in the PaintBucket layout (module docstring)."""
    out = Path(out_dir)
    for t in range(len(shot.lines)):
        save_image(shot.lines[t], out / "line" / f"{frame_stem(t)}.png")
        save_image(shot.gt[t], out / "gt" / f"{frame_stem(t)}.png")
    meta = dict(keyframes=[frame_stem(t) for t in shot.keyframes])
    write_json_atomic(meta, out / "shot.json")
    return out


def check_shots_args(out_dir: str | os.PathLike, n_shots: int, options: ShotOptions, seed: int, overwrite: bool) -> Path:
    """Validate :func:`write_shots` arguments without writing anything; returns the folder."""
    if isinstance(n_shots, bool) or not isinstance(n_shots, (int, np.integer)) or n_shots < 1:
        raise SyntheticDataError(f"number of shots must be an integer >= 1, got {n_shots!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SyntheticDataError(f"seed must be an integer >= 0, got {seed!r}")
    options.validate()
    return check_output_folder(out_dir, overwrite, GENERATOR_NAME)


def write_shots(out_dir: str | os.PathLike, n_shots: int, options: ShotOptions | None = None, seed: int = 0,
                overwrite: bool = False) -> Path:
    """Generate ``n_shots`` shots into ``out_dir`` (``shot_00000/`` ... and ``manifest.json``),
    built in a temporary sibling folder and moved into place (nothing is left on error)."""
    options = options or ShotOptions()
    out = check_shots_args(out_dir, n_shots, options, seed, overwrite)

    def build(tmp: Path) -> None:
        entries = []
        for i in range(int(n_shots)):
            shot = generate_shot(np.random.default_rng([int(seed), i]), options)
            write_shot(shot, tmp / shot_dir_name(i))
            entries.append(dict(index=i, dir=shot_dir_name(i), params=shot.params))
        manifest = dict(generator=GENERATOR_NAME, version=GENERATOR_VERSION, seed=int(seed),
                        n_shots=int(n_shots), rng="numpy.random.default_rng([seed, shot_index])",
                        options=asdict(options), shots=entries)
        write_json_atomic(manifest, tmp / "manifest.json", sort_keys=True)

    return build_folder_atomically(out, build)
