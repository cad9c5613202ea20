"""Small synthetic drawings for the flat tests: flat-colored shapes with black outlines."""

from __future__ import annotations

import cv2
import numpy as np

PALETTE = [
    (220, 60, 60), (60, 170, 70), (50, 90, 210), (240, 200, 40), (160, 70, 190),
    (40, 190, 200), (240, 140, 60), (120, 80, 40), (250, 160, 190), (90, 120, 90),
    (30, 40, 110), (200, 220, 120),
]


def flat_drawing(size: int = 192, seed: int = 0, n_shapes: int = 10, thick: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(size, size, 3)`` RGB (white paper, flat fills, black outlines) and its float32
    line art (1 = line). Shapes are random polygons and ellipses, painted in order."""
    rng = np.random.default_rng(seed)
    rgb = np.full((size, size, 3), 255, np.uint8)
    for i in range(n_shapes):
        color = PALETTE[i % len(PALETTE)]
        r = int(rng.integers(size // 12, size // 6))
        # Keep shapes well inside, so a rotated, shrunk copy still holds them whole.
        cx, cy = (int(v) for v in rng.integers(size // 5 + r, size - size // 5 - r, 2))
        if i % 2 == 0:
            k = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = r * rng.uniform(0.6, 1.0, k)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(rgb, [pts], color)
            cv2.polylines(rgb, [pts], True, (0, 0, 0), thick)
        else:
            axes = (r, int(r * rng.uniform(0.4, 1.0)))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(rgb, (cx, cy), axes, angle, 0, 360, color, -1)
            cv2.ellipse(rgb, (cx, cy), axes, angle, 0, 360, (0, 0, 0), thick)
    return rgb, lines_of(rgb)


def lines_of(rgb: np.ndarray) -> np.ndarray:
    """float32 line art of a drawing: 1 where the pixel is (near) black."""
    return (rgb.max(axis=2) < 60).astype(np.float32)


def similarity(size: int, angle: float = 15.0, scale: float = 0.85, shift: tuple[float, float] = (6, -4)) -> np.ndarray:
    """2x3 matrix of a rotation by ``angle`` degrees and ``scale`` about the centre, then ``shift``."""
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += shift
    return m


def transformed(rgb: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The drawing warped by ``matrix`` (nearest neighbour, white outside) and its line art."""
    h, w = rgb.shape[:2]
    out = cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=(255, 255, 255))
    return out, lines_of(out)


def annotated_points(
    target: np.ndarray, matrix: np.ndarray, n: int = 50, seed: int = 0, clearance: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pixels on the shapes of ``target`` (RGB; not white paper) at least ``clearance`` px
    from any line, and their exact reference positions (inverse of ``matrix``); returns
    ``(target_xy, reference_xy)``, each ``(n, 2)``."""
    rng = np.random.default_rng(seed)
    paper = (lines_of(target) < 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(paper, cv2.DIST_L2, 5)
    ys, xs = np.nonzero((dist >= clearance) & (target.min(axis=2) < 250))
    pick = rng.choice(len(ys), n, replace=False)
    target = np.stack([xs[pick], ys[pick]], 1).astype(np.float64)
    inv = cv2.invertAffineTransform(matrix)
    reference = target @ inv[:, :2].T + inv[:, 2]
    return target, reference
