"""Weight-free correspondences between a reference and a line art, and the smooth mapping they fit.

Matching works in the line-art domain: the reference's own line art (``extract_lineart``) and the
target line art are both drawn as dark lines on white, SIFT keypoints are detected on each, matched
with the ratio test and a mutual-best check, and gross outliers are removed with RANSAC on a global
similarity. The mapping sends line-art pixels to reference pixels: a thin-plate spline
(:class:`scipy.interpolate.RBFInterpolator`, smoothed, with iterative residual rejection) when there
are enough matches, else the robust global similarity, else a box-to-box fit of the two
foregrounds. User point pairs are trusted: they join every fit unsmoothed and are never rejected.

All coordinates are ``(x, y)`` = (column, row) pixels of their own image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from manganinja.points import rescale_centres

logger = logging.getLogger(__name__)

#: Fewer RANSAC inliers than this and the feature matches are not trusted at all.
MIN_GLOBAL_INLIERS = 6
#: Fewer inliers than this and no thin-plate spline is fitted (the global fit is used).
MIN_TPS_MATCHES = 12


@dataclass(frozen=True)
class Matches:
    """Feature correspondences. ``lineart_xy`` / ``reference_xy``: float64 ``(N, 2)``;
    ``ratio``: float64 ``(N,)`` Lowe ratio of each match (lower = more distinctive)."""

    lineart_xy: np.ndarray
    reference_xy: np.ndarray
    ratio: np.ndarray
    n_keypoints_reference: int = 0
    n_keypoints_lineart: int = 0

    def __len__(self) -> int:
        return len(self.ratio)

    def subset(self, keep: np.ndarray) -> "Matches":
        return Matches(
            self.lineart_xy[keep], self.reference_xy[keep], self.ratio[keep],
            self.n_keypoints_reference, self.n_keypoints_lineart,
        )


def _work_image(lines: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """Dark-lines-on-white uint8 image at ``long_side`` pixels (up- or downscaled) and the factor
    from its pixels to the original's."""
    h, w = lines.shape
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = (255.0 * (1.0 - np.clip(lines, 0.0, 1.0))).astype(np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    img = cv2.resize(img, size, interpolation=interp)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    return img, 1.0 / scale


@dataclass(frozen=True)
class Features:
    """SIFT keypoints of one line art: ``xy`` float64 ``(N, 2)`` in the line art's own pixels,
    ``descriptors`` float32 ``(N, 128)`` (None when nothing was found)."""

    xy: np.ndarray
    descriptors: np.ndarray | None

    def __len__(self) -> int:
        return len(self.xy)


def detect_features(lines: np.ndarray, *, work_long_side: int = 768, max_features: int = 2500) -> Features:
    """SIFT keypoints of a line art (float ``(H, W)`` in [0, 1], 1 = line), detected after
    resampling its long side to ``work_long_side``; coordinates in the input's pixels."""
    sift = cv2.SIFT_create(nfeatures=max_features)
    img, factor = _work_image(lines, work_long_side)
    kp, des = sift.detectAndCompute(img, None)
    xy = np.array([k.pt for k in kp], np.float64).reshape(-1, 2)
    # Work-image pixel centres back to the original image's pixel centres.
    return Features(rescale_centres(xy, factor), des)


def match_detected(reference: Features, lineart: Features, *, ratio: float = 0.8) -> Matches:
    """Matches between detected features: Lowe's ratio test and mutual nearest neighbours."""
    empty = Matches(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), len(reference), len(lineart))
    des_r, des_l = reference.descriptors, lineart.descriptors
    if des_r is None or des_l is None or len(reference) < 2 or len(lineart) < 2:
        return empty
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    forward = matcher.knnMatch(des_l, des_r, k=2)
    backward = matcher.match(des_r, des_l)
    best_back = {m.queryIdx: m.trainIdx for m in backward}
    li, ri, rat = [], [], []
    for pair in forward:
        if len(pair) < 2:
            continue
        m, n = pair
        if n.distance <= 0 or m.distance >= ratio * n.distance:
            continue
        if best_back.get(m.trainIdx) != m.queryIdx:
            continue
        li.append(m.queryIdx)
        ri.append(m.trainIdx)
        rat.append(m.distance / n.distance)
    if not li:
        return empty
    return Matches(lineart.xy[li], reference.xy[ri], np.array(rat), len(reference), len(lineart))


def match_features(
    reference_lines: np.ndarray,
    lineart: np.ndarray,
    *,
    work_long_side: int = 768,
    ratio: float = 0.8,
    max_features: int = 2500,
) -> Matches:
    """SIFT matches between two line arts (float ``(H, W)`` in [0, 1], 1 = line).

    Both are resampled so their long side is ``work_long_side`` before detection; matches pass
    Lowe's ratio test (``ratio``) and are mutual nearest neighbours. Coordinates are returned in
    each input's own pixels. (:func:`detect_features` + :func:`match_detected`, for callers that
    reuse one line art's features.)
    """
    ref = detect_features(reference_lines, work_long_side=work_long_side, max_features=max_features)
    art = detect_features(lineart, work_long_side=work_long_side, max_features=max_features)
    return match_detected(ref, art, ratio=ratio)


@dataclass
class Mapping:
    """A map from line-art pixels to reference pixels.

    Attributes:
        kind: ``"tps"`` (thin-plate spline over the matches), ``"affine"`` (global fit) or
            ``"bbox"`` (foreground box to foreground box; no usable matches).
        affine: float64 ``(2, 3)``: the global part, ``ref = affine @ [x, y, 1]``.
        tps: the spline (line-art xy -> reference xy) when ``kind == "tps"``.
        used: bool ``(N,)`` over the feature matches: which ones the final fit kept.
        notes: what happened, for diagnostics (e.g. why it fell back).
        fell_back: True when the feature matches could not carry the fit (too few or none): the
            mapping then comes from a global fit to few matches, the user's pairs, or the boxes.
    """

    kind: str
    affine: np.ndarray
    tps: Callable[[np.ndarray], np.ndarray] | None = None
    used: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    notes: list[str] = field(default_factory=list)
    fell_back: bool = False

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        """float64 ``(N, 2)`` reference coordinates of line-art points ``xy`` ``(N, 2)``."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        if self.tps is not None:
            return self.tps(xy)
        return xy @ self.affine[:, :2].T + self.affine[:, 2]

    def dense(self, size: tuple[int, int], step: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``(H, W)`` maps ``(map_x, map_y)`` for ``cv2.remap`` at line-art ``size``
        (width, height). The global part is exact per pixel; the spline's deviation from it is
        evaluated on a grid every ``step`` pixels and interpolated (it is smooth)."""
        w, h = size
        xs = np.arange(w, dtype=np.float32)
        ys = np.arange(h, dtype=np.float32)
        a = self.affine.astype(np.float32)
        map_x = a[0, 0] * xs[None, :] + a[0, 1] * ys[:, None] + a[0, 2]
        map_y = a[1, 0] * xs[None, :] + a[1, 1] * ys[:, None] + a[1, 2]
        if self.tps is None:
            return map_x, map_y
        gw, gh = max(2, -(-w // step)), max(2, -(-h // step))
        # Grid node j stands for pixel (j + 0.5) * w / gw - 0.5, as cv2.resize maps it.
        gx = rescale_centres(np.arange(gw), w / gw)
        gy = rescale_centres(np.arange(gh), h / gh)
        grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        delta = (self.tps(grid) - (grid @ self.affine[:, :2].T + self.affine[:, 2])).reshape(gh, gw, 2)
        delta = cv2.resize(delta.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return map_x + delta[..., 0], map_y + delta[..., 1]


def _similarity_lsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (or translation for one point) ``(2, 3)`` from src to dst."""
    if len(src) == 1:
        return np.array([[1.0, 0.0, dst[0, 0] - src[0, 0]], [0.0, 1.0, dst[0, 1] - src[0, 1]]])
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if m is None:
        m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        m[:, 2] = dst.mean(0) - src.mean(0)
    return m


def bbox_affine(lineart_box: tuple[int, int, int, int], reference_box: tuple[int, int, int, int]) -> np.ndarray:
    """``(2, 3)`` axis-aligned map sending box ``(x, y, w, h)`` of the line art onto the
    reference's box (each axis scaled separately)."""
    lx, ly, lw, lh = lineart_box
    rx, ry, rw, rh = reference_box
    sx, sy = rw / max(lw, 1), rh / max(lh, 1)
    return np.array([[sx, 0.0, rx - sx * lx + 0.5 * (sx - 1)], [0.0, sy, ry - sy * ly + 0.5 * (sy - 1)]])


def fit_mapping(
    matches: Matches,
    lineart_size: tuple[int, int],
    reference_size: tuple[int, int],
    *,
    user_lineart_xy: np.ndarray | None = None,
    user_reference_xy: np.ndarray | None = None,
    fallback_boxes: tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None = None,
    ransac_threshold: float = 0.02,
    smoothing: float = 0.1,
    reject_sigmas: float = 3.0,
) -> Mapping:
    """Fit the line-art -> reference mapping.

    Args:
        matches: feature matches (:func:`match_features`).
        lineart_size, reference_size: (width, height) of the two images.
        user_lineart_xy, user_reference_xy: trusted pairs, ``(K, 2)`` each.
        fallback_boxes: foreground boxes ``(x, y, w, h)`` of line art and reference, used when
            neither matches nor user pairs give a fit (default: the whole images).
        ransac_threshold: RANSAC inlier distance for the global similarity, as a fraction of the
            reference's diagonal.
        smoothing: thin-plate spline smoothing for feature matches (coordinates are normalized by
            the line art's long side); user pairs are interpolated exactly.
        reject_sigmas: a match whose spline residual exceeds this many robust standard deviations
            (and the RANSAC threshold) is dropped, and the spline refitted.
    """
    notes: list[str] = []
    ux = np.zeros((0, 2)) if user_lineart_xy is None else np.asarray(user_lineart_xy, np.float64).reshape(-1, 2)
    ur = np.zeros((0, 2)) if user_reference_xy is None else np.asarray(user_reference_xy, np.float64).reshape(-1, 2)
    n = len(matches)
    used = np.zeros(n, bool)
    diag = float(np.hypot(*reference_size))
    thr = ransac_threshold * diag

    affine = None
    features_ok = False
    if n >= 3:
        src = np.vstack([matches.lineart_xy, ux])
        dst = np.vstack([matches.reference_xy, ur])
        m, inl = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=thr, maxIters=5000, confidence=0.999
        )
        if m is not None:
            inl = inl.ravel().astype(bool)
            scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
            n_in = int(inl[:n].sum())
            if n_in >= MIN_GLOBAL_INLIERS and 0.05 < scale < 20:
                affine = m
                used = inl[:n].copy()
                features_ok = True
            else:
                notes.append(f"only {n_in} of {n} feature matches agree on a global similarity")
    elif n:
        notes.append(f"only {n} feature match(es)")
    else:
        notes.append("no feature matches")

    if affine is None and len(ux):
        affine = _similarity_lsq(ux, ur) if len(ux) < 3 else cv2.estimateAffine2D(ux, ur, method=cv2.LMEDS)[0]
        if affine is None:
            affine = _similarity_lsq(ux, ur)
        notes.append(f"global fit from the {len(ux)} user point pair(s)")
    if affine is None:
        lw, lh = lineart_size
        rw, rh = reference_size
        boxes = fallback_boxes or ((0, 0, lw, lh), (0, 0, rw, rh))
        notes.append("aligned by the foregrounds' bounding boxes")
        return Mapping("bbox", bbox_affine(*boxes), used=used, notes=notes, fell_back=True)

    if used.sum() + len(ux) < MIN_TPS_MATCHES:
        notes.append(f"{int(used.sum())} inlier matches: too few for a spline, global fit used")
        return Mapping("affine", np.asarray(affine, np.float64), used=used, notes=notes, fell_back=True)

    # Thin-plate spline of the deviation from the global fit, over the matches within a loose
    # gate of it, refitted while matches with large residuals are dropped.
    glob = Mapping("affine", np.asarray(affine, np.float64))
    gate = np.linalg.norm(glob(matches.lineart_xy) - matches.reference_xy, axis=1) <= 5 * thr
    if not features_ok:
        gate[:] = False  # the global fit came from the user's pairs; the features disagree
    keep = gate.copy()
    norm = float(max(lineart_size))
    tps = None
    for _ in range(4):
        if keep.sum() + len(ux) < MIN_TPS_MATCHES:
            break
        src = np.vstack([matches.lineart_xy[keep], ux])
        dst = np.vstack([matches.reference_xy[keep], ur]) - glob(src)
        smooth = np.concatenate([np.full(int(keep.sum()), smoothing), np.zeros(len(ux))])
        src, dst, smooth = _dedupe(src / norm, dst, smooth)
        try:
            spline = RBFInterpolator(src, dst, kernel="thin_plate_spline", smoothing=smooth)
        except (np.linalg.LinAlgError, ValueError) as exc:
            notes.append(f"spline fit failed ({exc}); global fit used")
            tps = None
            break
        tps = _Deviation(glob, spline, norm)
        resid = np.linalg.norm(tps(matches.lineart_xy) - matches.reference_xy, axis=1)
        r_in = resid[keep]
        sigma = 1.4826 * float(np.median(r_in)) if len(r_in) else 0.0
        limit = max(reject_sigmas * sigma, 0.5 * thr)
        new_keep = gate & (resid <= limit)
        if (new_keep == keep).all():
            break
        keep = new_keep
    if tps is None:
        return Mapping("affine", np.asarray(affine, np.float64), used=used, notes=notes, fell_back=True)
    if features_ok and not _spline_generalizes(glob, matches.lineart_xy[keep], matches.reference_xy[keep], norm, smoothing):
        notes.append("a spline does not predict held-out matches better than the global fit; global fit used")
        return Mapping("affine", np.asarray(affine, np.float64), used=keep, notes=notes, fell_back=not features_ok)
    return Mapping("tps", np.asarray(affine, np.float64), tps=tps, used=keep, notes=notes, fell_back=False)


def _spline_generalizes(
    glob: Mapping, src: np.ndarray, dst: np.ndarray, norm: float, smoothing: float, folds: int = 5
) -> bool:
    """True when a spline of the deviation from ``glob`` predicts held-out matches (``folds``-fold
    cross-validation, median error) at least 10% better than ``glob`` alone: the target is then
    really deformed, not just a similar copy with noisy keypoints."""
    n = len(src)
    if n < 2 * folds:
        return True
    fold = np.arange(n) % folds
    spline_err, glob_err = [], []
    for f in range(folds):
        train, test = fold != f, fold == f
        s, d, sm = _dedupe(src[train] / norm, dst[train] - glob(src[train]), np.full(int(train.sum()), smoothing))
        try:
            spline = RBFInterpolator(s, d, kernel="thin_plate_spline", smoothing=sm)
        except (np.linalg.LinAlgError, ValueError):
            return False
        pred = _Deviation(glob, spline, norm)(src[test])
        spline_err.append(np.linalg.norm(pred - dst[test], axis=1))
        glob_err.append(np.linalg.norm(glob(src[test]) - dst[test], axis=1))
    return float(np.median(np.concatenate(spline_err))) < 0.9 * float(np.median(np.concatenate(glob_err)))


def _dedupe(src: np.ndarray, dst: np.ndarray, smooth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop repeated source points (the spline's system is singular with them); later ones (user
    pairs come last) win."""
    _, idx = np.unique(np.round(src[::-1], 6), axis=0, return_index=True)
    idx = np.sort(len(src) - 1 - idx)
    return src[idx], dst[idx], smooth[idx]


class _Deviation:
    """``glob(xy) + spline(xy / norm)``: a global map plus a spline fitted to its residuals on
    coordinates divided by ``norm``."""

    def __init__(self, glob: "Mapping", spline: RBFInterpolator, norm: float) -> None:
        self.glob = glob
        self.spline = spline
        self.norm = norm

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return self.glob(xy) + self.spline(xy / self.norm)
