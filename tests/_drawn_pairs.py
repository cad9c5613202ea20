"""Tiny benchmark pairs drawn with OpenCV, shared by the benchmark's library and CLI tests
(``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from manganinja.evaluation import benchmark as B
from manganinja.points import PointPairs

SIZE = 64


def draw_character(shift: tuple[int, int], colors: tuple, size: int = SIZE):
    """A head (ellipse) over a body (rectangle), black outlines on white; returns the RGB uint8
    image, its bool mask and 4 annotated (x, y) points (head and body centres, two more)."""
    dx, dy = shift
    img = np.full((size, size, 3), 255, np.uint8)
    mask = np.zeros((size, size), np.uint8)
    head, body = (20 + dx, 18 + dy), ((10 + dx, 30 + dy), (30 + dx, 56 + dy))
    for target, value in ((img, colors[0]), (mask, 1)):
        cv2.ellipse(target, head, (10, 9), 0, 0, 360, value, -1)
    cv2.rectangle(img, *body, colors[1], -1)
    cv2.rectangle(mask, *body, 1, -1)
    cv2.ellipse(img, head, (10, 9), 0, 0, 360, (0, 0, 0), 1)
    cv2.rectangle(img, *body, (0, 0, 0), 1)
    pts = [(head[0], head[1]), (20 + dx, 43 + dy), (15 + dx, 35 + dy), (25 + dx, 50 + dy)]
    return img, mask.astype(bool), pts


def make_benchmark(root: Path, n: int = 3) -> Path:
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        colors = tuple(tuple(int(c) for c in rng.integers(40, 220, 3)) for _ in range(2))
        a, a_mask, pa = draw_character((int(rng.integers(0, 8)), 0), colors)
        b, b_mask, pb = draw_character((int(rng.integers(10, 20)), int(rng.integers(0, 4))), colors)
        name = f"{i:04d}"
        B.write_pair(root, name, a, b, a_mask, b_mask, PointPairs.from_arrays(pa, pb))
        names.append(name)
    B.write_manifest(root, names, source="test drawing")
    return root
