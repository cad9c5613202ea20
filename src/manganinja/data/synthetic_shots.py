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
"""

from __future__ import annotations

import json
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
from manganinja.images import save_image, write_bytes_atomic

GENERATOR_NAME = "manganinja.data.synthetic_shots"
GENERATOR_VERSION = "1.0"
#: Color of the shadow-boundary (color-trace) lines in the line frames.
SHADOW_LINE_RGB = (255, 0, 0)
#: RGBA of the background in the ground truth (as PaintBucket-Character writes it).
BACKGROUND_RGBA = (255, 255, 255, 0)


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

    def validate(self) -> None:
        check_size(self.size)
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
    """One synthetic shot (module docstring); the same seed gives the same arrays."""
    options = options or ShotOptions()
    options.validate()
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
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
    write_bytes_atomic((json.dumps(meta, indent=1) + "\n").encode(), out / "shot.json")
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
        write_bytes_atomic((json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), tmp / "manifest.json")

    return build_folder_atomically(out, build)
