"""Training samples: pair sources (video frame pairs, synthetic pairs) and the torch Dataset.

A sample is addressed by ``(index, step)``: the pair ``index`` and the training ``step`` it is
drawn for. The step sets the patch-shuffle grid (:func:`~manganinja.data.augment.shuffle_grid_size`)
and, with the dataset seed, seeds every random choice of the sample, so a sample is the same in
any worker process and after a resume. Use :class:`StepSampler` to feed such keys to a
``DataLoader``; a plain ``int`` index means step 0.

Tensors of a sample (``R`` = ``config.resolution``):

- ``reference``: float32 (3, R, R) in [-1, 1] (flipped/rotated, patch-shuffled).
- ``target``: float32 (3, R, R) in [-1, 1], never augmented: the same at every step
  (:meth:`PairDataset.target`).
- ``index``: int, the pair's index (what a cache of the targets' latents is looked up by).
- ``lineart``: float32 (3, R, R) in [-1, 1], the model's ControlNet condition: white lines on black
  in [0, 1], values <= 0.24 set to 0, repeated to 3 channels, mapped to [-1, 1]. All -1 (no line)
  when the line art is dropped.
- ``reference_points`` / ``target_points``: float32 (1, R, R), value i at pair i (1-based), zeros
  elsewhere; all zeros when the points or the reference are dropped, or the sample has no pair.
- ``drop_reference`` / ``drop_points`` / ``drop_lineart``: bool; the trainer replaces the reference
  by the unconditional branch when ``drop_reference`` is set.
- ``num_points``: int, pairs drawn in the maps.
- ``grid``: int, the patch-shuffle grid used (1 = none).
- with ``config.match_points = K > 0`` (the attention-matching loss of the trainer):
  ``match_reference_xy`` / ``match_target_xy``: float32 (K, 2) pixel positions (x, y) at ``R`` of
  the pair's exact correspondences, moved like the reference's pixels (flip/rotate, patch
  shuffle); ``match_valid``: bool (K,), False for padding and for pairs that left a square. They
  are drawn from all of the pair's correspondences (not only the guide points) and are not model
  inputs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Iterator, Literal, Protocol, Sequence

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from torch.utils.data import Dataset, Sampler

from manganinja.data.augment import (
    DropConfig,
    FlipRotateConfig,
    ShuffleConfig,
    draw_drop_flags,
    patch_shuffle,
    random_flip_rotate,
    shuffle_grid_size,
)
from manganinja.data.matching import MatcherConfig, cached_match, distinct_pixel_mask, sample_pairs
from manganinja.data.video_pairs import FramePair, PairIndexSettings, build_pair_index, clip_signature, read_frames
from manganinja.images import load_image, to_rgb
from manganinja.lines import Extractor, extract_lineart, model_condition, normalize_lineart, resize_line_map
from manganinja.point_regions import HINT_CHANNELS, fill_regions, hint_map, line_regions, picture_regions, reference_colors
from manganinja.points import MAX_POINT_PAIRS, PointPairs, point_map, rescale_centres

logger = logging.getLogger(__name__)

LineartExtractor = Callable[[np.ndarray], np.ndarray]
#: An integer that is not silently made from a bool, a float or a string.
Int = Annotated[int, Strict()]


class DatasetError(ValueError):
    """The data set is empty or malformed (names the root or the file)."""


@dataclass
class RawPair:
    """One pair before augmentation. ``reference``/``target``: uint8 (H, W, 3) (sizes may
    differ); ``lineart``: float32 (H, W) of the target's size in [0, 1], white lines on black, or
    None to extract it from the target; ``points``: exact pairs ("reference" in reference,
    "lineart" in target pixels), or None to match the frames; ``key``: a stable identity for
    caches."""

    key: str
    reference: np.ndarray
    target: np.ndarray
    lineart: np.ndarray | None = None
    points: PointPairs | None = None


class PairSource(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> RawPair: ...


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _read_lineart_file(path: Path) -> np.ndarray:
    """A stored line art as float32 (H, W) in [0, 1], white lines on black (either polarity is
    accepted on disk; see :func:`manganinja.lines.normalize_lineart`)."""
    return normalize_lineart(path)


def find_synthetic_pairs(root: str | os.PathLike) -> list[Path]:
    """Pair folders under ``root`` (recursively): folders holding ``reference.png`` and
    ``target.png`` (the layout written by ``manganinja synth``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"synthetic data root {root} is not a folder")
    return sorted(p.parent for p in root.rglob("reference.png") if (p.parent / "target.png").is_file())


class SyntheticPairSource:
    """Pairs written by ``manganinja synth``: one folder per pair with ``reference.png``,
    ``target.png``, ``lineart.png`` (target's line art), ``points.json`` (exact pairs:
    "reference" in reference.png, "lineart" in target.png) and ``manifest.json``. A missing
    ``lineart.png`` is extracted from the target; a missing ``points.json`` means no pairs."""

    def __init__(self, root: str | os.PathLike, lineart_file: bool = True) -> None:
        self.root = Path(root)
        self.folders = find_synthetic_pairs(self.root)
        #: False: ignore ``lineart.png`` and extract the target's line art like any picture (as
        #: the benchmark does), so training sees the line art the evaluation gives.
        self.lineart_file = lineart_file

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, index: int) -> RawPair:
        folder = self.folders[index]
        ref = np.asarray(to_rgb(load_image(folder / "reference.png", name="reference")))
        tgt = np.asarray(to_rgb(load_image(folder / "target.png", name="target")))
        use_file = self.lineart_file and (folder / "lineart.png").is_file()
        lineart = _read_lineart_file(folder / "lineart.png") if use_file else None
        if lineart is not None and lineart.shape != tgt.shape[:2]:
            raise DatasetError(f"{folder}: lineart.png is {lineart.shape[::-1]}, target.png {tgt.shape[1::-1]}")
        pts_file = folder / "points.json"
        points = PointPairs.from_json(pts_file) if pts_file.is_file() else PointPairs()
        return RawPair(str(folder), ref, tgt, lineart, points)


class VideoPairSource:
    """Frame pairs of the clips under ``root`` (see :mod:`manganinja.data.video_pairs`); the line
    art is extracted from the target and the points matched (cached) by the dataset."""

    def __init__(
        self,
        root: str | os.PathLike,
        settings: PairIndexSettings = PairIndexSettings(),
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        self.root = Path(root)
        self.pairs: list[FramePair] = build_pair_index(self.root, settings, cache_dir)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> RawPair:
        pair = self.pairs[index]
        frames = read_frames(pair.clip, [pair.reference, pair.target])
        sig = json.dumps(clip_signature(Path(pair.clip)))
        key = f"{pair.clip}|{pair.reference}|{pair.target}|{sig}"
        return RawPair(key, frames[pair.reference], frames[pair.target])


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def square_crop_box(width: int, height: int) -> tuple[int, int, int]:
    """Centre square crop of a ``width x height`` image: ``(x0, y0, side)``."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def _square_crop(image: np.ndarray) -> np.ndarray:
    """The centre square of ``image`` (H, W[, C]) (:func:`square_crop_box`), contiguous."""
    h, w = image.shape[:2]
    x0, y0, side = square_crop_box(w, h)
    return np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])


def fit_square(image: np.ndarray, resolution: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Centre-crop ``image`` (H, W[, C]) to a square and resize it to ``resolution``."""
    crop = _square_crop(image)
    if crop.shape[0] == resolution:
        return crop.copy()
    return cv2.resize(crop, (resolution, resolution), interpolation=interpolation)


def fit_square_lines(lines: np.ndarray, resolution: int) -> np.ndarray:
    """A line map (float ``(H, W)`` in [0, 1]) centre-cropped to a square and resized to
    ``resolution`` the way sampling resizes it (:func:`~manganinja.lines.resize_line_map`);
    float32 ``(R, R)``."""
    return resize_line_map(_square_crop(lines.astype(np.float32)), (resolution, resolution)).copy()


def fit_square_points(xy: np.ndarray, width: int, height: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Move ``(N, 2)`` points of a ``width x height`` image like :func:`fit_square` moves its
    pixels; returns ``(points, inside)`` with a bool mask of points still in the square."""
    x0, y0, side = square_crop_box(width, height)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    scale = resolution / side
    out = rescale_centres(xy - [x0, y0], scale)
    inside = (out[:, 0] >= -0.5) & (out[:, 0] < resolution - 0.5) & (out[:, 1] >= -0.5) & (out[:, 1] < resolution - 0.5)
    return out, inside


def sample_key(key: int | tuple[int, int]) -> tuple[int, int]:
    """A sample's ``(index, step)`` from its key: ``(index, step)`` as :class:`StepSampler` gives
    it, or a plain index (step 0)."""
    return (int(key), 0) if not isinstance(key, (tuple, list)) else (int(key[0]), int(key[1]))


def check_pair_index(index: int, pairs: int) -> None:
    """``IndexError`` naming ``index`` unless ``0 <= index < pairs``."""
    if not 0 <= index < pairs:
        raise IndexError(f"pair {index} out of range ({pairs} pairs)")


def target_tensor(raw: RawPair, resolution: int) -> torch.Tensor:
    """A pair's target as a sample holds it: centre square at ``resolution``, float32
    (3, R, R) in [-1, 1]."""
    return to_signed_tensor(fit_square(raw.target, resolution))


def to_signed_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 127.5 - 1.0


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


class DataConfig(BaseModel):
    """Data sources and sample settings (the ``data`` section of a training config, used as is).

    ``synthetic``: folders written by ``manganinja synth`` (``synthetic_lineart``: ``file`` uses
    their ``lineart.png``, ``extract`` draws the target's line art with ``lineart_method`` as for
    video frames and as the benchmark does); ``videos``: folders (or files) of anime clips / frame
    folders, paired ``interval`` frames apart (``ssim_threshold``, ``max_slack``: see
    :mod:`manganinja.data.video_pairs`). ``max_points``: a sample draws 0..max_points pairs
    (uniform). ``match_points``: correspondences per sample for the trainer's attention-matching
    loss (``train.match_loss``; 0 = none; see the module docstring).

    ``curriculum``: phases ``[from_step, [source, ...]]`` (sorted, the first from step 0): from
    ``from_step`` on, the pairs of a step are drawn only from the listed sources, entries of
    ``synthetic`` or ``videos`` as written there (e.g. copy pairs, then small motion, then the
    full pairs). Unset: every step draws from all sources."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    synthetic: list[str] = []
    synthetic_lineart: Literal["file", "extract"] = "file"
    videos: list[str] = []
    resolution: Int = 512
    max_points: Int = MAX_POINT_PAIRS
    match_points: Int = 0
    interval: Int = 36
    ssim_threshold: float = 0.95
    max_slack: Int = 12
    cache_dir: str | None = None
    lineart_method: Extractor = "auto"
    lineart_weights: str | None = None
    flip_rotate: FlipRotateConfig = Field(default_factory=FlipRotateConfig)
    patch_shuffle: ShuffleConfig = Field(default_factory=ShuffleConfig)
    drop: DropConfig = Field(default_factory=DropConfig)
    matcher: MatcherConfig = Field(default_factory=MatcherConfig)
    num_workers: Int = 0
    curriculum: list[tuple[Int, list[str]]] | None = None

    @model_validator(mode="after")
    def _check_curriculum(self) -> "DataConfig":
        if self.curriculum is None:
            return self
        names = [*self.synthetic, *self.videos]
        steps = [step for step, _ in self.curriculum]
        if not steps or steps[0] != 0:
            raise ValueError(f"data.curriculum must start with a phase at step 0, got steps {steps}")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"data.curriculum steps must increase, got {steps}")
        for step, sources in self.curriculum:
            if not sources:
                raise ValueError(f"data.curriculum phase at step {step} lists no source")
            for name in sources:
                if name not in names:
                    raise ValueError(f"data.curriculum phase at step {step}: {name!r} is not in data.synthetic "
                                     f"or data.videos ({names}); list it there too")
        return self


def curriculum_pools(curriculum: Sequence[tuple[int, Sequence[str]]], names: Sequence[str],
                     offsets: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """The pair indices each phase of ``curriculum`` draws from: ``[(from_step, indices)]``.
    ``names`` are the sources in data-set order and ``offsets`` the data set's cumulative source
    sizes (``PairDataset.offsets``: source ``i`` holds pairs ``offsets[i]..offsets[i+1]-1``).

    Raises :class:`DatasetError` when a phase's sources hold no pair."""
    pools = []
    for step, sources in curriculum:
        idx = [np.arange(offsets[i], offsets[i + 1]) for i, name in enumerate(names) if name in sources]
        pool = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)
        if len(pool) == 0:
            raise DatasetError(f"data.curriculum phase at step {step}: {list(sources)} hold no pair")
        pools.append((int(step), pool.astype(np.int64)))
    return pools


def default_extractor(config: DataConfig) -> LineartExtractor:
    """:func:`manganinja.lines.extract_lineart` with the configured method and weights (the
    official extractor when its weights are given, else the weight-free XDoG)."""

    def extract(rgb: np.ndarray) -> np.ndarray:
        return extract_lineart(rgb, method=config.lineart_method, weights=config.lineart_weights)

    return extract


class PairDataset(Dataset):
    """Training samples from one or more pair sources (concatenated). See the module docstring
    for the sample layout. Raises :class:`DatasetError` when the sources hold no pair."""

    def __init__(
        self,
        sources: Sequence[PairSource],
        config: DataConfig = DataConfig(),
        seed: int = 0,
        run_steps: int | None = None,
        extractor: LineartExtractor | None = None,
        describe: str = "the configured data",
        region_maps: bool = False,
        hints: bool = False,
    ) -> None:
        """``seed`` and the step fix every random choice of a sample; ``run_steps``: the length
        of the run, over which the progressive patch shuffle spreads when
        ``config.patch_shuffle.total_steps`` is not given. ``region_maps``: draw region point
        maps (:mod:`manganinja.point_regions`; the model's ``PointNet.region_maps``) from the
        sample's reference and line-art condition as the model gets them. ``hints``: append the
        guides' color hints to the line-art condition, for a ControlNet of 3 + 4 condition
        channels: drawn as the pipeline draws them (:func:`~manganinja.point_regions.hint_map`),
        from the pair's line art and reference at their stored size, before the resize."""
        self.sources = list(sources)
        self.region_maps = region_maps
        self.hints = hints
        self.config = config
        self.seed = seed
        shuffle = config.patch_shuffle
        if shuffle.enabled and shuffle.milestones is None and not (shuffle.total_steps or run_steps):
            raise DatasetError("the progressive patch shuffle needs data.patch_shuffle.total_steps or the run's steps")
        self.shuffle = shuffle.schedule(run_steps or 0)
        self.extractor = extractor or default_extractor(config)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])
        if self.offsets[-1] == 0:
            raise DatasetError(f"no training pair found in {describe}")

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def raw(self, index: int) -> RawPair:
        check_pair_index(index, len(self))
        s = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return self.sources[s][index - int(self.offsets[s])]

    def target(self, index: int) -> torch.Tensor:
        """The target of pair ``index`` as every sample of it has it: float32 (3, R, R) in
        [-1, 1] (the target is never augmented)."""
        return target_tensor(self.raw(index), self.config.resolution)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, step = sample_key(key)
        cfg = self.config
        res = cfg.resolution
        rng = np.random.default_rng([self.seed, step, index])
        raw = self.raw(index)

        # 1. line art of the target (stored or extracted), points (stored or matched)
        lines = raw.lineart if raw.lineart is not None else self.extractor(raw.target)
        points = raw.points
        if points is None:
            points = cached_match(raw.key, raw.reference, raw.target, cfg.matcher, cfg.cache_dir)
        match = self._match_subset(points, index, step)
        points = sample_pairs(points, rng, cfg.max_points)
        n_guide = len(points)
        if match is not None:  # moved with the guide points (no draw depends on their number)
            points = PointPairs([*points, *match])

        # 2. square crop + resize; keep pairs inside both squares
        ref = fit_square(raw.reference, res)
        source_lines = _square_crop(lines.astype(np.float32)) if self.hints else None  # hints draw at this size
        lines = fit_square_lines(lines, res)
        rxy, r_in = fit_square_points(points.reference_xy, raw.reference.shape[1], raw.reference.shape[0], res)
        txy, t_in = fit_square_points(points.lineart_xy, raw.target.shape[1], raw.target.shape[0], res)

        # 3. reference augmentation: flip/rotate, then the progressive patch shuffle
        ref, rxy, r_kept = random_flip_rotate(ref, rxy, cfg.flip_rotate, rng)
        keep = r_in & t_in & r_kept
        grid = shuffle_grid_size(step, self.shuffle) if rng.random() < self.shuffle.probability else 1
        grid = min(grid, res)
        ref, rxy, _ = patch_shuffle(ref, rxy, grid, rng)
        match_arrays = None
        if match is not None:
            match_arrays = _match_arrays(rxy[n_guide:], txy[n_guide:], keep[n_guide:], cfg.match_points)
            rxy, txy, keep = rxy[:n_guide], txy[:n_guide], keep[:n_guide]
        rxy, txy = rxy[keep], txy[keep]
        distinct = distinct_pixel_mask(rxy, txy)  # pairs that fell on a shared pixel at this size
        rxy, txy = rxy[distinct], txy[distinct]
        kept = np.flatnonzero(keep)[distinct]  # which of the drawn guides these are

        # 4. condition dropping
        flags = draw_drop_flags(cfg.drop, rng)
        size = (res, res)
        if flags.points or flags.reference or len(rxy) == 0:  # no reference: points mean nothing
            ref_map = np.zeros((res, res), np.float32)
            tgt_map = np.zeros((res, res), np.float32)
            n_points = 0
        else:
            ref_map = point_map(rxy, size, size)
            tgt_map = point_map(txy, size, size)
            n_points = len(rxy)
        seen_lines = np.zeros_like(lines) if flags.lineart else lines
        hint = None
        if self.hints:
            if n_points:  # as the pipeline draws them: at the pictures' own size (point_regions.hint_map)
                guides = points[: n_guide]
                colors = reference_colors(raw.reference, guides.reference_xy[kept])
                x0, y0, _ = square_crop_box(raw.target.shape[1], raw.target.shape[0])
                hint_lines = np.zeros_like(source_lines) if flags.lineart else source_lines
                hint = hint_map(hint_lines, guides.lineart_xy[kept] - [x0, y0], colors, size)
            else:
                hint = np.zeros((HINT_CHANNELS, res, res), np.float32)
        if self.region_maps and n_points:
            ref_map = fill_regions(ref_map, picture_regions(ref))
            tgt_map = fill_regions(tgt_map, line_regions(seen_lines))
        condition = model_condition(seen_lines)
        cond = torch.from_numpy(condition if hint is None else np.concatenate([condition, hint]))
        extra = {} if match_arrays is None else match_arrays
        return {**extra,
            "reference": to_signed_tensor(ref),
            "target": target_tensor(raw, res),
            "index": index,
            "lineart": cond,
            "reference_points": torch.from_numpy(ref_map)[None],
            "target_points": torch.from_numpy(tgt_map)[None],
            "drop_reference": flags.reference,
            "drop_points": flags.points,
            "drop_lineart": flags.lineart,
            "num_points": n_points,
            "grid": grid,
        }

    def _match_subset(self, points: PointPairs, index: int, step: int) -> PointPairs | None:
        """Up to ``config.match_points`` of the pair's correspondences for the matching loss, drawn
        with their own generator (the sample's other draws do not change); None when off."""
        k = self.config.match_points
        if k <= 0:
            return None
        if len(points) <= k:
            return points
        chosen = np.random.default_rng([self.seed, step, index, 1]).choice(len(points), size=k, replace=False)
        return PointPairs([points[int(i)] for i in sorted(chosen)])


def _match_arrays(rxy: np.ndarray, txy: np.ndarray, keep: np.ndarray, k: int) -> dict[str, torch.Tensor]:
    """Fixed-size tensors of the matching correspondences (see the module docstring): (k, 2)
    reference and target positions, (k,) validity; rows past the pairs are padding."""
    ref = np.zeros((k, 2), np.float32)
    tgt = np.zeros((k, 2), np.float32)
    valid = np.zeros(k, bool)
    n = min(k, len(rxy))
    ref[:n], tgt[:n], valid[:n] = rxy[:n], txy[:n], keep[:n]
    return {
        "match_reference_xy": torch.from_numpy(ref),
        "match_target_xy": torch.from_numpy(tgt),
        "match_valid": torch.from_numpy(valid),
    }


class StepSampler(Sampler):
    """Yields ``(index, step)`` keys for a ``DataLoader`` over :class:`PairDataset`.

    Per optimizer step, each of ``num_replicas`` processes draws ``accumulation`` micro-batches
    of ``batch_size`` keys; this sampler yields the keys of process ``rank``, steps
    ``start_step .. total_steps-1`` (endless when ``total_steps`` is None). Pair indices come from
    seeded random permutations of the data set, epoch after epoch, so the data position is a pure
    function of the step (resume = start at the saved step).

    ``pools`` (a curriculum, :func:`curriculum_pools`): ``[(from_step, pair indices)]``; the steps
    of a phase draw from its pool only, in seeded permutations of the pool that start afresh at
    the phase's first step.
    """

    def __init__(
        self,
        num_pairs: int,
        batch_size: int,
        seed: int = 0,
        start_step: int = 0,
        total_steps: int | None = None,
        accumulation: int = 1,
        num_replicas: int = 1,
        rank: int = 0,
        pools: Sequence[tuple[int, np.ndarray]] | None = None,
    ) -> None:
        if num_pairs < 1:
            raise DatasetError("cannot sample from an empty data set")
        if not 0 <= rank < num_replicas:
            raise DatasetError(f"rank {rank} out of range for {num_replicas} processes")
        self.n = num_pairs
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.total_steps = total_steps
        self.accumulation = accumulation
        self.num_replicas = num_replicas
        self.rank = rank
        self.pools = [(int(step), np.asarray(pool, dtype=np.int64)) for step, pool in pools] if pools else None
        if self.pools and any(len(p) == 0 or p.min() < 0 or p.max() >= num_pairs for _, p in self.pools):
            raise DatasetError(f"a curriculum pool is empty or indexes outside the {num_pairs} pairs")

    def position(self, step: int, micro: int = 0) -> int:
        """Index, in the endless stream of draws, of this process's first key of micro-batch
        ``micro`` of ``step``."""
        return ((step * self.accumulation + micro) * self.num_replicas + self.rank) * self.batch_size

    def key(self, draw: int, step: int = 0) -> int:
        """Pair index of the ``draw``-th sample, drawn for ``step`` (epoch-wise seeded
        permutations of the data set, or of the step's curriculum pool)."""
        if self.pools is None:
            epoch, offset = divmod(draw, self.n)
            if getattr(self, "_epoch", None) != epoch:
                self._epoch, self._perm = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
            return int(self._perm[offset])
        phase = max(i for i, (start, _) in enumerate(self.pools) if start <= step)
        start, pool = self.pools[phase]
        first = start * self.accumulation * self.num_replicas * self.batch_size  # the phase's first draw, all processes
        epoch, offset = divmod(draw - first, len(pool))
        if getattr(self, "_epoch", None) != (phase, epoch):
            self._epoch = (phase, epoch)
            self._perm = pool[np.random.default_rng([self.seed, epoch, phase]).permutation(len(pool))]
        return int(self._perm[offset])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step = self.start_step
        while self.total_steps is None or step < self.total_steps:
            for micro in range(self.accumulation):
                base = self.position(step, micro)
                for k in range(self.batch_size):
                    yield self.key(base + k, step), step
            step += 1

    def __len__(self) -> int:
        if self.total_steps is None:
            raise TypeError("an endless StepSampler has no length")
        return max(0, self.total_steps - self.start_step) * self.accumulation * self.batch_size
