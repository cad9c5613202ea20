"""Training augmentations: flip/rotation of the reference, progressive patch shuffle, condition
dropping.

All functions are pure: randomness comes from an explicit ``numpy.random.Generator``. Images are
``(H, W, C)`` or ``(H, W)`` arrays of any dtype; points are ``(N, 2)`` float arrays of (x, y) =
(column, row) pixel coordinates in that image (pixel centres at integer coordinates, as in
:mod:`manganinja.points`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Sequence

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Strict, field_validator


class AugmentError(ValueError):
    """An augmentation setting is invalid (names the bad value)."""


# --------------------------------------------------------------------------------------------
# Progressive patch shuffle
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShuffleSchedule:
    """Grid size of the patch shuffle as a function of the training step.

    ``milestones`` are ``(step, grid)`` pairs sorted by step: from ``step`` on, the reference is
    cut into ``grid x grid`` patches (``grid == 1`` means no shuffle). Before the first milestone
    the grid is 1. ``probability`` is the chance that a sample is shuffled at all.
    """

    milestones: tuple[tuple[int, int], ...] = ((0, 2),)
    probability: float = 1.0

    def __post_init__(self) -> None:
        steps = [int(s) for s, _ in self.milestones]
        if steps != sorted(steps):
            raise AugmentError(f"shuffle milestones must be sorted by step, got {self.milestones!r}")
        for step, grid in self.milestones:
            if int(step) < 0 or int(grid) < 1:
                raise AugmentError(f"bad shuffle milestone (step={step}, grid={grid})")
        if not 0.0 <= self.probability <= 1.0:
            raise AugmentError(f"shuffle probability must be in [0, 1], got {self.probability!r}")

    @classmethod
    def progressive(
        cls,
        total_steps: int,
        start_grid: int = 2,
        end_grid: int = 32,
        start_step: int = 0,
        probability: float = 1.0,
    ) -> "ShuffleSchedule":
        """The paper's coarse-to-fine scheme: the grid doubles from ``start_grid`` to ``end_grid``
        (2, 4, 8, 16, 32 by default) at equally spaced steps between ``start_step`` and
        ``total_steps``; the last grid is reached at ``start_step + k*(total_steps-start_step)/n``
        for the last of ``n`` levels."""
        if start_grid < 1 or end_grid < start_grid:
            raise AugmentError(f"need 1 <= start_grid <= end_grid, got {start_grid}, {end_grid}")
        if total_steps <= start_step:
            raise AugmentError(f"total_steps ({total_steps}) must exceed start_step ({start_step})")
        grids = [start_grid]
        while grids[-1] * 2 <= end_grid:
            grids.append(grids[-1] * 2)
        span = (total_steps - start_step) / len(grids)
        milestones = tuple((start_step + int(round(i * span)), g) for i, g in enumerate(grids))
        return cls(milestones=milestones, probability=probability)

    @classmethod
    def from_config(cls, value: "ShuffleSchedule | dict | Sequence | None") -> "ShuffleSchedule":
        """Build from a config value: a schedule, ``None`` (no shuffle), a list of ``[step, grid]``
        pairs, or a dict with ``milestones`` (and ``probability``) or with ``total_steps`` (and the
        other arguments of :meth:`progressive`)."""
        if isinstance(value, ShuffleSchedule):
            return value
        if value is None:
            return cls(milestones=((0, 1),))
        if isinstance(value, dict):
            if "milestones" in value:
                extra = set(value) - {"milestones", "probability"}
                if extra:
                    raise AugmentError(f"unknown patch-shuffle keys {sorted(extra)}")
                ms = tuple((int(s), int(g)) for s, g in value["milestones"])
                return cls(milestones=ms, probability=float(value.get("probability", 1.0)))
            try:
                return cls.progressive(**value)
            except TypeError as exc:
                raise AugmentError(f"bad patch-shuffle settings {value!r}: {exc}") from None
        return cls(milestones=tuple((int(s), int(g)) for s, g in value))


class ShuffleConfig(BaseModel):
    """Progressive patch shuffle as configured (the ``data.patch_shuffle`` section): the grid
    doubles from ``start_grid`` to ``end_grid`` at equal intervals over ``total_steps`` (default:
    the run's steps), unless ``milestones`` (a list of ``[step, grid]``) is given.
    ``probability``: chance a sample is shuffled at all; ``enabled: false`` turns it off."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    start_grid: Annotated[int, Strict()] = 2
    end_grid: Annotated[int, Strict()] = 32
    total_steps: Annotated[int, Strict()] | None = None
    milestones: list[list[Annotated[int, Strict()]]] | None = None
    probability: float = 1.0
    enabled: bool = True

    def schedule(self, run_steps: int) -> ShuffleSchedule:
        """The schedule of a run of ``run_steps`` steps."""
        if not self.enabled:
            return ShuffleSchedule.from_config(None)
        if self.milestones is not None:
            return ShuffleSchedule.from_config({"milestones": self.milestones, "probability": self.probability})
        return ShuffleSchedule.progressive(
            total_steps=self.total_steps or run_steps,
            start_grid=self.start_grid,
            end_grid=self.end_grid,
            probability=self.probability,
        )


def shuffle_grid_size(step: int, schedule: ShuffleSchedule) -> int:
    """The patch-shuffle grid (patches per side) at training ``step`` under ``schedule``."""
    grid = 1
    for start, g in schedule.milestones:
        if step >= start:
            grid = int(g)
        else:
            break
    return grid


def patch_shuffle(
    image: np.ndarray,
    points_xy: np.ndarray,
    grid: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``image`` into ``grid x grid`` patches of ``(H // grid, W // grid)`` pixels and permute
    them at random; pixels of the right/bottom remainder (when H or W is not a multiple of
    ``grid``) stay in place.

    Returns ``(shuffled, moved_points, permutation)``: ``permutation[k]`` is the row-major index of
    the source patch now shown in slot ``k``; each point moves with its patch (same offset inside
    it), so ``shuffled`` at a moved point has the colour ``image`` had at the original point.
    Points in the remainder do not move. ``grid == 1`` returns copies unchanged.
    """
    height, width = image.shape[:2]
    if grid < 1 or grid > min(height, width):
        raise AugmentError(f"patch-shuffle grid {grid} does not fit an image of {width}x{height}")
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2).copy()
    n = grid * grid
    permutation = np.arange(n) if grid == 1 else rng.permutation(n)
    if grid == 1:
        return image.copy(), pts, permutation
    ph, pw = height // grid, width // grid
    core = image[: ph * grid, : pw * grid]
    # (grid, ph, grid, pw, ...) -> (grid*grid, ph, pw, ...) in row-major patch order
    patches = core.reshape(grid, ph, grid, pw, *image.shape[2:]).swapaxes(1, 2)
    patches = patches.reshape(n, ph, pw, *image.shape[2:])
    shuffled_core = patches[permutation].reshape(grid, grid, ph, pw, *image.shape[2:])
    shuffled_core = shuffled_core.swapaxes(1, 2).reshape(ph * grid, pw * grid, *image.shape[2:])
    out = image.copy()
    out[: ph * grid, : pw * grid] = shuffled_core

    if len(pts):
        slot_of = np.empty(n, dtype=np.int64)
        slot_of[permutation] = np.arange(n)
        col = np.floor((pts[:, 0] + 0.5) / pw).astype(np.int64)
        row = np.floor((pts[:, 1] + 0.5) / ph).astype(np.int64)
        inside = (col >= 0) & (col < grid) & (row >= 0) & (row < grid)
        src = row[inside] * grid + col[inside]
        dst = slot_of[src]
        pts[inside, 0] += (dst % grid - col[inside]) * pw
        pts[inside, 1] += (dst // grid - row[inside]) * ph
    return out, pts, permutation


# --------------------------------------------------------------------------------------------
# Flip and rotation
# --------------------------------------------------------------------------------------------


def flip_rotate(
    image: np.ndarray,
    points_xy: np.ndarray,
    flip: bool,
    angle_deg: float,
    fill: int | float = 255,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror ``image`` left-right when ``flip``, then rotate it by ``angle_deg`` (counter-clockwise,
    about the centre, same size, uncovered corners filled with ``fill``).

    Returns ``(image, points, keep)``: points moved with the pixels, and a boolean ``(N,)`` mask of
    the points still inside the image (callers drop the others from both sides of the pair).
    """
    height, width = image.shape[:2]
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2).copy()
    out = image
    if flip:
        out = out[:, ::-1].copy()
        pts[:, 0] = (width - 1) - pts[:, 0]
    if angle_deg:
        centre = ((width - 1) / 2.0, (height - 1) / 2.0)
        matrix = cv2.getRotationMatrix2D(centre, float(angle_deg), 1.0)
        channels = 1 if out.ndim == 2 else out.shape[2]
        out = cv2.warpAffine(
            np.ascontiguousarray(out),
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(fill,) * min(channels, 4),
        )
        if len(pts):
            pts = pts @ matrix[:, :2].T + matrix[:, 2]
    else:
        out = out.copy() if out is image else out
    keep = (
        (pts[:, 0] >= -0.5) & (pts[:, 0] < width - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] < height - 0.5)
    )
    return out, pts, keep


class FlipRotateConfig(BaseModel):
    """Random flip/rotation of the reference: flip with ``flip_probability``; rotate with
    ``rotate_probability`` by an angle uniform in ``[-max_angle, max_angle]`` degrees."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    flip_probability: float = 0.5
    rotate_probability: float = 0.5
    max_angle: float = 30.0

    @field_validator("flip_probability", "rotate_probability")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"must be in [0, 1], got {value!r}")
        return value


def random_flip_rotate(
    image: np.ndarray,
    points_xy: np.ndarray,
    config: FlipRotateConfig,
    rng: np.random.Generator,
    fill: int | float = 255,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`flip_rotate` with flip and angle drawn from ``rng`` under ``config``."""
    flip = bool(rng.random() < config.flip_probability)
    angle = 0.0
    if rng.random() < config.rotate_probability:
        angle = float(rng.uniform(-config.max_angle, config.max_angle))
    return flip_rotate(image, points_xy, flip, angle, fill=fill)


# --------------------------------------------------------------------------------------------
# Condition dropping
# --------------------------------------------------------------------------------------------


class DropConfig(BaseModel):
    """Independent probabilities of dropping each condition of a training sample."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    reference: float = 0.1
    points: float = 0.1
    lineart: float = 0.1

    @field_validator("reference", "points", "lineart")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"must be in [0, 1], got {value!r}")
        return value


@dataclass(frozen=True)
class DropFlags:
    """Which conditions a sample goes without (True = dropped)."""

    reference: bool
    points: bool
    lineart: bool

    def as_tensor_dict(self) -> dict[str, bool]:
        return {"drop_reference": self.reference, "drop_points": self.points, "drop_lineart": self.lineart}


def draw_drop_flags(config: DropConfig, rng: np.random.Generator) -> DropFlags:
    """Draw the three drop flags independently (three uniforms from ``rng``, in the order
    reference, points, line art)."""
    u = rng.random(3)
    return DropFlags(
        reference=bool(u[0] < config.reference),
        points=bool(u[1] < config.points),
        lineart=bool(u[2] < config.lineart),
    )
