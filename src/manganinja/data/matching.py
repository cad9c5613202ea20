"""Point pairs between a reference frame and a target frame, for training.

Default matcher: OpenCV SIFT, Lowe's ratio test, then RANSAC on a **fundamental matrix** with a
loose threshold. Why not a homography: anime motion between frames 36 apart is not rigid (limbs,
hair and faces move independently of the background), so a single homography keeps only the
dominant plane (often the background) and throws away the character; the epipolar constraint of a
fundamental matrix only asks each match to lie near a line, which removes gross mismatches while
keeping independently moving parts. With fewer than 8 ratio-test matches RANSAC cannot run, and
the ratio-test matches are returned as they are.

Optional matcher: LightGlue (the paper's choice) through kornia, used only when ``kornia`` is
importable *and* a local weights file is configured; kornia is not a dependency of this package.

Matches are cached per pair as JSON (:class:`~manganinja.points.PointPairs` layout, "reference" in
the reference frame, "lineart" in the target frame).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Strict, field_validator

from manganinja.points import MAX_POINT_PAIRS, PointPairs

logger = logging.getLogger(__name__)


class MatchingError(ValueError):
    """Bad matcher settings (names the bad value)."""


class MatcherConfig(BaseModel):
    """Matcher settings (the ``data.matcher`` section of a training config). ``method``:
    "sift", "lightglue" (fails without kornia and weights) or "auto" (LightGlue when available,
    else SIFT). ``lightglue_weights``: a local weights file for kornia's LightGlue (with DISK
    features)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    method: Literal["auto", "sift", "lightglue"] = "auto"
    ratio: float = 0.75
    ransac_threshold: float = 3.0
    max_features: Annotated[int, Strict()] = 2000
    max_matches: Annotated[int, Strict()] = 256
    lightglue_weights: str | None = None

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if not 0.0 < value < 1.0:
            raise ValueError(f"must be in (0, 1), got {value!r}")
        return value


def lightglue_available(config: MatcherConfig) -> bool:
    """True when kornia is importable and ``config.lightglue_weights`` names an existing file."""
    return (
        config.lightglue_weights is not None
        and Path(config.lightglue_weights).is_file()
        and importlib.util.find_spec("kornia") is not None
    )


def match_sift(reference: np.ndarray, target: np.ndarray, config: MatcherConfig = MatcherConfig()) -> PointPairs:
    """SIFT + ratio test + fundamental-matrix RANSAC between two uint8 RGB ``(H, W, 3)`` frames.
    Returns the surviving matches, best (lowest descriptor distance) first, at most
    ``config.max_matches``."""
    sift = cv2.SIFT_create(nfeatures=config.max_features)
    gray_r = cv2.cvtColor(np.ascontiguousarray(reference), cv2.COLOR_RGB2GRAY)
    gray_t = cv2.cvtColor(np.ascontiguousarray(target), cv2.COLOR_RGB2GRAY)
    kp_r, des_r = sift.detectAndCompute(gray_r, None)
    kp_t, des_t = sift.detectAndCompute(gray_t, None)
    if des_r is None or des_t is None or len(kp_r) < 2 or len(kp_t) < 2:
        return PointPairs()
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_r, des_t, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < config.ratio * m[1].distance]
    good.sort(key=lambda m: m.distance)
    src = np.float64([kp_r[m.queryIdx].pt for m in good]).reshape(-1, 2)
    dst = np.float64([kp_t[m.trainIdx].pt for m in good]).reshape(-1, 2)
    if len(good) >= 8:
        _, mask = cv2.findFundamentalMat(src, dst, cv2.FM_RANSAC, config.ransac_threshold, 0.99)
        if mask is not None:
            keep = mask.ravel().astype(bool)
            src, dst = src[keep], dst[keep]
    src, dst = _unique_targets(src, dst)
    return PointPairs.from_arrays(src[: config.max_matches], dst[: config.max_matches])


def distinct_pixel_mask(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Bool (N,) mask keeping pair i unless its reference pixel or its target pixel (pixel of
    (x, y) = floor(x + 0.5), floor(y + 0.5), as point maps draw it) repeats an earlier kept
    pair's: a point map holds one value per pixel."""
    ps = np.floor(np.asarray(src, dtype=np.float64).reshape(-1, 2) + 0.5).astype(np.int64)
    pt = np.floor(np.asarray(dst, dtype=np.float64).reshape(-1, 2) + 0.5).astype(np.int64)
    seen_s: set = set()
    seen_t: set = set()
    keep = np.zeros(len(ps), dtype=bool)
    for i, (s_, t_) in enumerate(zip(map(tuple, ps), map(tuple, pt))):
        if s_ in seen_s or t_ in seen_t:
            continue
        seen_s.add(s_)
        seen_t.add(t_)
        keep[i] = True
    return keep


def _unique_targets(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = distinct_pixel_mask(src, dst)
    return src[keep], dst[keep]


def match_lightglue(reference: np.ndarray, target: np.ndarray, config: MatcherConfig) -> PointPairs:
    """DISK + LightGlue matches through kornia, from the local weights file in ``config``."""
    if not lightglue_available(config):
        raise MatchingError(
            "LightGlue needs the optional package 'kornia' and a local weights file "
            f"(lightglue_weights={config.lightglue_weights!r})"
        )
    import kornia.feature as KF  # optional; not a dependency
    import torch

    def to_tensor(img: np.ndarray) -> "torch.Tensor":
        return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0

    disk = KF.DISK.from_pretrained("depth")
    matcher = KF.LightGlue("disk")
    matcher.load_state_dict(torch.load(config.lightglue_weights, map_location="cpu", weights_only=True))
    with torch.inference_mode():
        feats = disk(torch.cat([to_tensor(reference), to_tensor(target)]), config.max_features, pad_if_not_divisible=True)
        f0, f1 = feats
        out = matcher(
            {
                "image0": {"keypoints": f0.keypoints[None], "descriptors": f0.descriptors[None]},
                "image1": {"keypoints": f1.keypoints[None], "descriptors": f1.descriptors[None]},
            }
        )
    idx = out["matches"][0].cpu().numpy()
    src = f0.keypoints[idx[:, 0]].cpu().numpy()
    dst = f1.keypoints[idx[:, 1]].cpu().numpy()
    src, dst = _unique_targets(src, dst)
    return PointPairs.from_arrays(src[: config.max_matches], dst[: config.max_matches])


def match_frames(reference: np.ndarray, target: np.ndarray, config: MatcherConfig = MatcherConfig()) -> PointPairs:
    """Point pairs from ``reference`` to ``target`` with the configured matcher ("auto" uses
    LightGlue when :func:`lightglue_available`, else SIFT)."""
    if config.method == "lightglue" or (config.method == "auto" and lightglue_available(config)):
        return match_lightglue(reference, target, config)
    return match_sift(reference, target, config)


def cached_match(
    key: str,
    reference: np.ndarray,
    target: np.ndarray,
    config: MatcherConfig,
    cache_dir: str | os.PathLike | None,
) -> PointPairs:
    """:func:`match_frames`, cached as ``<cache_dir>/matches/<hash of key and settings>.json``
    (no cache when ``cache_dir`` is None). ``key`` identifies the pair (clip path, frames,
    signature)."""
    if cache_dir is None:
        return match_frames(reference, target, config)
    method = "lightglue" if config.method == "lightglue" or (config.method == "auto" and lightglue_available(config)) else "sift"
    digest = hashlib.sha1(f"{key}|{method}|{config!r}".encode()).hexdigest()[:20]
    path = Path(cache_dir) / "matches" / f"{digest}.json"
    if path.exists():
        try:
            return PointPairs.from_json(path)
        except ValueError as exc:
            logger.warning("recomputing unreadable match cache %s: %s", path, exc)
    pairs = match_frames(reference, target, config)
    pairs.to_json(path)
    return pairs


def sample_pairs(pairs: PointPairs, rng: np.random.Generator, max_pairs: int = MAX_POINT_PAIRS) -> PointPairs:
    """A random subset of ``pairs``: a count uniform in ``0..min(max_pairs, len(pairs))``, drawn
    without replacement, in random order."""
    n = int(rng.integers(0, min(max_pairs, len(pairs)) + 1))
    if n == 0:
        return PointPairs()
    chosen = rng.choice(len(pairs), size=n, replace=False)
    return PointPairs([pairs[int(i)] for i in chosen])
