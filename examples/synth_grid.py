"""Draw a grid of synthetic pairs: reference | line art | target, with matching points.

    python examples/synth_grid.py --out docs/images/synth_grid.png

Each row is one pair from ``manganinja.data.synthetic.generate_pair``; the same coloured dot marks
a point on the reference and its exact correspondence on the line art and the target.
"""

from __future__ import annotations

import argparse
import colorsys

import cv2
import numpy as np

from manganinja.data.synthetic import SynthOptions, generate_pair
from manganinja.images import save_image


def _dot_colors(n: int) -> list[tuple[int, int, int]]:
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.9, 1.0)) for i in range(n)]


def _draw_points(image: np.ndarray, xy: np.ndarray, radius: int) -> np.ndarray:
    out = image.copy()
    for (x, y), color in zip(xy.astype(int), _dot_colors(len(xy))):
        cv2.circle(out, (int(x), int(y)), radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(out, (int(x), int(y)), radius, color, -1, cv2.LINE_AA)
    return out


def make_grid(seed: int, rows: int, size: int, shown_points: int) -> np.ndarray:
    """``(rows * size, 3 * size, 3)`` uint8 grid of ``rows`` pairs (reference, line art, target)."""
    options = SynthOptions(size=size, crop_prob=0.5, occlusion_prob=0.5)
    lines = []
    for i in range(rows):
        pair = generate_pair(np.random.default_rng([seed, i]), size, options)
        pts = pair.points[:shown_points]
        lineart = np.repeat(pair.lineart_soft[..., None], 3, axis=2)
        radius = max(2, size // 72)
        lines.append(np.concatenate([
            _draw_points(pair.reference, pts.reference_xy, radius),
            _draw_points(lineart, pts.lineart_xy, radius),
            _draw_points(pair.target, pts.lineart_xy, radius),
        ], axis=1))
    return np.concatenate(lines, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Grid of synthetic pairs with their points.")
    parser.add_argument("--out", required=True, help="output PNG path")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--points", type=int, default=12, help="points drawn per pair")
    args = parser.parse_args()
    grid = make_grid(args.seed, args.rows, args.size, args.points)
    print(f"wrote {save_image(grid, args.out)} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
