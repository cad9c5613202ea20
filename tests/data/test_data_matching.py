"""Point pairs between frames (manganinja.data.matching)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from manganinja.data import matching
from manganinja.data.matching import MatcherConfig, MatchingError, cached_match, match_frames, sample_pairs
from manganinja.points import PointPairs


def textured(size: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 255, np.uint8)
    for _ in range(60):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        center = tuple(int(c) for c in rng.integers(0, size, 2))
        if rng.random() < 0.5:
            cv2.circle(img, center, int(rng.integers(3, 14)), color, -1)
        else:
            cv2.rectangle(img, center, (center[0] + int(rng.integers(4, 20)), center[1] + int(rng.integers(4, 20))), color, -1)
    return img


def test_sift_matches_follow_a_known_motion():
    ref = textured()
    matrix = cv2.getRotationMatrix2D((80, 80), 8.0, 1.0)
    matrix[:, 2] += (6, -4)
    tgt = cv2.warpAffine(ref, matrix, (160, 160), borderValue=(255, 255, 255))
    pairs = match_frames(ref, tgt, MatcherConfig(method="sift"))
    assert len(pairs) >= 15
    expected = pairs.reference_xy @ matrix[:, :2].T + matrix[:, 2]
    err = np.linalg.norm(pairs.lineart_xy - expected, axis=1)
    assert np.median(err) < 1.5
    assert np.mean(err < 4) > 0.9
    # no two pairs share a rounded pixel (point maps hold one value per pixel)
    assert len({tuple(p) for p in np.round(pairs.lineart_xy).astype(int)}) == len(pairs)


def test_blank_frames_give_no_pairs():
    blank = np.full((64, 64, 3), 255, np.uint8)
    assert len(match_frames(blank, blank, MatcherConfig(method="sift"))) == 0


def test_matches_are_cached(tmp_path, monkeypatch):
    ref = textured(seed=1)
    first = cached_match("clip|0|36", ref, ref, MatcherConfig(method="sift"), tmp_path)
    assert len(list((tmp_path / "matches").glob("*.json"))) == 1

    def fail(*_a, **_k):
        raise AssertionError("matched again")

    monkeypatch.setattr(matching, "match_frames", fail)
    assert cached_match("clip|0|36", ref, ref, MatcherConfig(method="sift"), tmp_path) == first
    with pytest.raises(AssertionError, match="matched again"):
        cached_match("clip|1|37", ref, ref, MatcherConfig(method="sift"), tmp_path)


def test_lightglue_is_optional(tmp_path):
    assert not matching.lightglue_available(MatcherConfig())
    # "auto" without weights falls back to SIFT
    ref = textured(seed=2)
    assert len(match_frames(ref, ref, MatcherConfig(method="auto"))) > 0
    weights = tmp_path / "lightglue.pth"
    weights.write_bytes(b"x")
    cfg = MatcherConfig(method="lightglue", lightglue_weights=str(weights))
    if matching.importlib.util.find_spec("kornia") is None:
        with pytest.raises(MatchingError, match="kornia"):
            match_frames(ref, ref, cfg)
    with pytest.raises(ValueError, match="method"):
        MatcherConfig(method="orb")


def test_sample_pairs_draws_0_to_24_uniformly():
    pairs = PointPairs.from_arrays(np.arange(80).reshape(40, 2), np.arange(80).reshape(40, 2) + 1)
    rng = np.random.default_rng(0)
    counts = np.array([len(sample_pairs(pairs, rng, 24)) for _ in range(5000)])
    assert counts.min() == 0 and counts.max() == 24
    hist = np.bincount(counts, minlength=25) / len(counts)
    assert np.all(np.abs(hist - 1 / 25) < 0.015)
    few = PointPairs.from_arrays([[1, 2], [3, 4]], [[5, 6], [7, 8]])
    assert {len(sample_pairs(few, rng, 24)) for _ in range(200)} == {0, 1, 2}
    sub = sample_pairs(pairs, np.random.default_rng(3), 24)
    assert all(p in list(pairs) for p in sub)


def test_distinct_pixel_mask_keeps_one_pair_per_pixel():
    src = np.array([[1.0, 1.0], [1.2, 0.9], [5.0, 5.0], [7.0, 7.0]])
    dst = np.array([[3.0, 3.0], [9.0, 9.0], [3.4, 2.6], [8.0, 8.0]])
    assert matching.distinct_pixel_mask(src, dst).tolist() == [True, False, False, True]
