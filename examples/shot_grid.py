"""Picture of a shot colored by propagation: the keyframe, three later line frames, their results.

    python examples/shot_grid.py --out docs/images/shot_grid.png [--seed 0 --shot 4]

Top row: the colored keyframe (frame 0) and the line frames 3, 7 and 11 as the painter gets them
(black outlines, red shadow lines). Bottom row: the keyframe's line frame, then the flat engine's
``propagate`` results for frames 3, 7 and 11 (composites on white; the red lines are painted over).
The shot is ``manganinja.data.synthetic_shots`` shot ``--shot`` of ``--seed`` (12 frames, 512 px).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from manganinja.data.synthetic_shots import ShotOptions, generate_shot, write_shot
from manganinja.images import save_image
from manganinja.shots.engines import FlatShotEngine
from manganinja.shots.format import load_colored_frame, read_shot
from manganinja.shots.run import colorize_shot

FRAMES = (3, 7, 11)


def _on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return np.rint(rgba[..., :3] * a + 255.0 * (1 - a)).astype(np.uint8)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shot", type=int, default=4)
    args = ap.parse_args()
    shot = generate_shot(np.random.default_rng([args.seed, args.shot]), ShotOptions(size=512, frames=12))
    with tempfile.TemporaryDirectory() as tmp:
        root = write_shot(shot, Path(tmp) / "shot")
        colorize_shot(read_shot(root), FlatShotEngine, Path(tmp) / "out", progress=False)
        results = [load_colored_frame(Path(tmp) / "out" / f"{t:04d}.png") for t in FRAMES]
    top = [_label(_on_white(shot.gt[0]), "keyframe 0")]
    top += [_label(_on_white(shot.lines[t]), f"line {t}") for t in FRAMES]
    bottom = [_label(_on_white(shot.lines[0]), "line 0")]
    bottom += [_label(_on_white(r), f"result {t}") for t, r in zip(FRAMES, results)]
    sep = np.full((512, 4, 3), 128, np.uint8)

    def row(images: list[np.ndarray]) -> np.ndarray:
        parts: list[np.ndarray] = []
        for im in images:
            parts += [im, sep]
        return np.concatenate(parts[:-1], axis=1)

    grid = np.concatenate([row(top), np.full((4, row(top).shape[1], 3), 128, np.uint8), row(bottom)], axis=0)
    save_image(grid, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
