"""Synthetic pairs: options, the pair value and :func:`generate_pair`, for
:mod:`manganinja.data.synthetic` (which describes how the pairs are exact).

A pair is two frames of one :mod:`~manganinja.data.synthetic_character` character (reference and
target) drawn by :mod:`~manganinja.data.synthetic_render`, with the exact point correspondences
from reference to target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from manganinja.data.synthetic_character import FramePose, _pose, random_character
from manganinja.data.synthetic_render import (
    _background,
    _character_mask,
    _color_lut,
    _occluder,
    _render_frame,
    _sample_points,
    _soft_lineart,
)
from manganinja.points import PointPairs


class SyntheticDataError(ValueError):
    """Invalid generator settings or output folder; the message names the bad value."""


# --------------------------------------------------------------------------------------------
# Options and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthOptions:
    """Knobs of the generator. Probabilities are per pair; angles in degrees.

    ``size`` is the side of the square images in pixels (a multiple of 8, at least 64).
    ``n_points`` is how many correspondences to return (fewer only when the visible overlap is too
    small to hold them; mostly at size 64). ``point_margin`` is the least distance in pixels from
    a point to any outline or colour boundary, in both frames; ``None`` means 2 px for sizes
    >= 128 and 1 px below (a point then still has all four neighbours in its own colour region).
    """

    size: int = 256
    n_points: int = 50
    point_margin: float | None = None
    flip_prob: float = 0.3
    shading_prob: float = 0.6
    background_prob: float = 0.5
    occlusion_prob: float = 0.35
    crop_prob: float = 0.3
    hide_accessory_prob: float = 0.35
    global_rotation_deg: float = 15.0
    joint_scale: float = 1.0

    @property
    def margin(self) -> float:
        """The point margin in pixels that applies at :attr:`size`."""
        if self.point_margin is not None:
            return float(self.point_margin)
        return 2.0 if self.size >= 128 else 1.0

    def validate(self) -> None:
        """Raise :class:`SyntheticDataError` naming the first bad value."""
        check_size(self.size)
        if not isinstance(self.n_points, int) or self.n_points < 1:
            raise SyntheticDataError(f"n_points must be an integer >= 1, got {self.n_points!r}")
        if self.point_margin is not None and not self.point_margin >= 1.0:
            raise SyntheticDataError(f"point_margin must be >= 1 pixel, got {self.point_margin!r}")
        for name in ("flip_prob", "shading_prob", "background_prob", "occlusion_prob",
                     "crop_prob", "hide_accessory_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SyntheticDataError(f"{name} must be in [0, 1], got {value!r}")
        if not 0.0 <= self.joint_scale <= 3.0:
            raise SyntheticDataError(f"joint_scale must be in [0, 3], got {self.joint_scale!r}")


#: Motion presets of ``manganinja synth --motion`` (a curriculum's stages, issue 19): ``full``, the
#: default knobs; ``small``, the same characters with less motion:
#: joints at 0.3 of their range, at most 5 degrees of global rotation, and no flip, crop,
#: occluder or hidden accessory (the target is the reference slightly moved).
MOTIONS: dict[str, SynthOptions] = {
    "full": SynthOptions(),
    "small": SynthOptions(joint_scale=0.3, global_rotation_deg=5.0, flip_prob=0.0, crop_prob=0.0,
                          occlusion_prob=0.0, hide_accessory_prob=0.0),
}


def check_size(size: int) -> int:
    """Return ``size`` if it is an int >= 64 and a multiple of 8, else raise."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise SyntheticDataError(f"size must be an integer, got {size!r}")
    if size < 64 or size % 8 != 0:
        raise SyntheticDataError(
            f"size {size} is invalid: it must be a multiple of 8 and at least 64"
        )
    return int(size)


@dataclass(frozen=True)
class SyntheticPair:
    """Two frames of one synthetic character with their exact correspondences.

    All images are ``(size, size)`` or ``(size, size, 3)`` ``uint8`` arrays unless noted.

    Attributes:
        reference: RGB reference frame with black outlines, ``(H, W, 3)`` uint8.
        target: RGB target frame (the colour ground truth for ``lineart``), ``(H, W, 3)`` uint8.
        reference_mask / target_mask: character foreground, ``(H, W)`` bool: its parts and the
            outline pixels around them (not the background, nor the prop in front of it).
        lineart: white lines (255) on black (0): exactly the outline pixels of ``target``.
        lineart_soft: anti-aliased version (rendered at 2x, area-downsampled), values 0..255.
        lineart_binary: ``lineart_soft`` thresholded at 128, values {0, 255}.
        reference_lineart: the outline pixels of ``reference``, white on black.
        reference_flat / target_flat: the frames without outlines (flat colours only).
        reference_parts / target_parts: part maps, ``(H, W)`` uint8: 0 background, ``1..P`` the
            character's parts (index ``p - 1`` in ``part_names``), 255 the prop.
        reference_shade / target_shade: ``(H, W)`` bool, pixels painted in a part's shadow colour.
        points: correspondences; ``reference`` is ``(x, y)`` in ``reference``, ``lineart`` is
            ``(x, y)`` in ``target``/``lineart`` (integer pixel positions).
        point_parts: ``(N,)`` int, the part id of each point (same in both frames).
        part_names: name of each part, in draw order.
        missing_in_reference: names of parts visible in the target but not in the reference.
        params: JSON-ready description of how the pair was generated (for the manifest).
    """

    reference: np.ndarray
    target: np.ndarray
    reference_mask: np.ndarray
    target_mask: np.ndarray
    lineart: np.ndarray
    lineart_soft: np.ndarray
    lineart_binary: np.ndarray
    reference_lineart: np.ndarray
    reference_flat: np.ndarray
    target_flat: np.ndarray
    reference_parts: np.ndarray
    target_parts: np.ndarray
    reference_shade: np.ndarray
    target_shade: np.ndarray
    points: PointPairs
    point_parts: np.ndarray
    part_names: tuple[str, ...]
    missing_in_reference: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Side of the square images in pixels."""
        return int(self.target.shape[0])


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def generate_pair(
    rng_or_seed: np.random.Generator | int | tuple[int, ...] | list[int],
    size: int | None = None,
    options: SynthOptions | None = None,
) -> SyntheticPair:
    """Generate one reference/target pair of a new random character.

    Args:
        rng_or_seed: a ``numpy.random.Generator`` (consumed) or a seed for
            ``np.random.default_rng`` (an int or a sequence of ints, e.g. ``[seed, index]``).
        size: image side in pixels (multiple of 8, >= 64); overrides ``options.size``.
        options: generator knobs (defaults: :class:`SynthOptions`).

    Returns:
        A :class:`SyntheticPair`; the same seed always gives the same arrays.
    """
    options = options or SynthOptions()
    if size is not None:
        options = SynthOptions(**{**asdict(options), "size": check_size(size)})
    options.validate()
    size = options.size
    if isinstance(rng_or_seed, np.random.Generator):
        rng = rng_or_seed
    else:
        rng = np.random.default_rng(rng_or_seed)

    character = random_character(rng, options.shading_prob)
    k = size / 256.0
    inner_w = max(1, int(round(float(rng.uniform(1.0, 2.6)) * k)))
    outer_w = max(inner_w + 1, int(round(float(rng.uniform(2.0, 4.0)) * k)))
    flip = bool(rng.random() < options.flip_prob)
    crop = bool(rng.random() < options.crop_prob)
    occlude = bool(rng.random() < options.occlusion_prob)
    accessories = [p.name for p in character.parts if p.accessory]
    hidden: list[str] = []
    if accessories and rng.random() < options.hide_accessory_prob:
        n_hide = int(rng.integers(1, min(2, len(accessories)) + 1))
        hidden = sorted(str(a) for a in rng.choice(accessories, n_hide, replace=False))

    common = dict(joint_scale=options.joint_scale, global_rotation_deg=options.global_rotation_deg)
    ref_aff, ref_params = _pose(rng, character, size, flip=False, crop=crop, **common)
    tgt_aff, tgt_params = _pose(rng, character, size, flip=flip, crop=False, **common)
    occ = _occluder(rng, size) if occlude else None
    ref_bg = _background(rng, size) if rng.random() < options.background_prob else None
    tgt_bg = _background(rng, size) if rng.random() < options.background_prob else None
    ref_pose = FramePose(ref_aff, frozenset(hidden), occ, ref_bg, ref_params)
    tgt_pose = FramePose(tgt_aff, frozenset(), None, tgt_bg, tgt_params)

    lut = _color_lut(character)
    ref = _render_frame(character, ref_pose, size, lut, inner_w, outer_w)
    tgt = _render_frame(character, tgt_pose, size, lut, inner_w, outer_w)
    soft = _soft_lineart(character, tgt_pose, size, inner_w, outer_w)
    ref_pts, tgt_pts, point_parts = _sample_points(
        rng, character, ref, tgt, ref_pose, tgt_pose, options.n_points, options.margin)

    names = tuple(p.name for p in character.parts)
    n_parts = len(names)
    in_ref = np.bincount(ref.parts.ravel(), minlength=256)
    in_tgt = np.bincount(tgt.parts.ravel(), minlength=256)
    missing = tuple(names[i - 1] for i in range(1, n_parts + 1) if in_tgt[i] and not in_ref[i])

    params: dict[str, Any] = dict(
        palette={k2: list(v) for k2, v in character.palette.items()},
        traits=character.traits,
        shaded=character.shaded,
        parts=[dict(name=p.name, color=p.color, shaded=p.shade is not None)
               for p in character.parts],
        line_width=dict(inner=inner_w, outer=outer_w),
        reference=dict(**ref_params, hidden=hidden, occluder=occlude, background=ref_bg),
        target=dict(**tgt_params, background=tgt_bg),
        missing_in_reference=list(missing),
        n_points=int(len(tgt_pts)),
    )
    line_u8 = tgt.lines.astype(np.uint8) * 255
    return SyntheticPair(
        reference=ref.image,
        target=tgt.image,
        reference_mask=_character_mask(ref, n_parts, outer_w),
        target_mask=_character_mask(tgt, n_parts, outer_w),
        lineart=line_u8,
        lineart_soft=soft,
        lineart_binary=np.where(soft >= 128, 255, 0).astype(np.uint8),
        reference_lineart=ref.lines.astype(np.uint8) * 255,
        reference_flat=ref.flat,
        target_flat=tgt.flat,
        reference_parts=ref.parts,
        target_parts=tgt.parts,
        reference_shade=ref.shade,
        target_shade=tgt.shade,
        points=PointPairs.from_arrays(ref_pts, tgt_pts),
        point_parts=np.asarray(point_parts, dtype=np.intp),
        part_names=names,
        missing_in_reference=missing,
        params=params,
    )
