"""Draw what the README's quick start makes, from its outputs.

    python examples/quickstart_grid.py --outputs outputs --out docs/images/quickstart.png

Run the quick start first (it writes ``outputs/``). Top row: the example pair's reference, its line
art, ``outputs/colored.png`` and the ground truth. Bottom row: the example shot's keyframe, line
frame ``--frame``, that frame colored as a page from the keyframe (``outputs/pages``) and as part
of the cut (``outputs/shot``). Transparent pixels are shown on white.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from manganinja.images import save_image

EXAMPLES = Path(__file__).resolve().parent


def _on_white(path: Path, size: int) -> np.ndarray:
    """``(size, size, 3)`` uint8: the picture at ``path`` over white, resized to ``size``."""
    picture = Image.open(path).convert("RGBA")
    canvas = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    canvas.alpha_composite(picture)
    return np.asarray(canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS))


def make_grid(outputs: Path, frame: str, size: int) -> np.ndarray:
    """``(2 * size, 4 * size, 3)`` uint8 grid of the quick start's inputs and results."""
    pair = EXAMPLES / "synth" / "pair_00000"
    shot = EXAMPLES / "shot" / "shot_00000"
    keyframe = sorted((shot / "gt").glob("*.png"))[0]
    rows = [
        [pair / "reference.png", pair / "lineart.png", outputs / "colored.png", pair / "target.png"],
        [keyframe, shot / "line" / f"{frame}.png", outputs / "pages" / f"{frame}.png", outputs / "shot" / f"{frame}.png"],
    ]
    return np.concatenate([np.concatenate([_on_white(p, size) for p in row], axis=1) for row in rows], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Picture of the README quick start's results.")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"), help="the quick start's output folder")
    parser.add_argument("--out", required=True, help="output PNG path")
    parser.add_argument("--frame", default="0003", help="shot frame shown in the bottom row")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    grid = make_grid(args.outputs, args.frame, args.size)
    print(f"wrote {save_image(grid, args.out)} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
