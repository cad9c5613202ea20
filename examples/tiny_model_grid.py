"""Grid of the tiny synthetic MangaNinja on held-out pairs (docs/reproduce.md).

    python examples/tiny_model_grid.py            # -> docs/images/tiny_model_grid.png

Rows: the first ``--pairs`` pairs of the benchmark folder (``manganinja benchmark synth --seed 1``,
never seen in training), direction a->b. Columns: XDoG line art of the target, reference, the
model without points, the model with 5 guide points (drawn on the reference and the result), the
flat engine, the ground truth. Each picture is enlarged 3x (nearest) for viewing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from manganinja.colorize import prepare
from manganinja.engines import build_engine
from manganinja.evaluation import benchmark as B
from manganinja.images import save_image
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.settings import LoadSettings, NinjaSettings

SCALE = 1  # the pairs are drawn at 256 px
HEADER = ("line art", "reference", "model", "model + 5 pts", "flat", "ground truth")


def titled_grid(rows: list[list[Image.Image]], header: Sequence[str]) -> Image.Image:
    """The cells of ``rows`` (all of one size) on a white canvas, one title above each column."""
    w, h = rows[0][0].size
    canvas = Image.new("RGB", (w * len(header), 14 + h * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, title in enumerate(header):
        draw.text((j * w + 4, 1), title, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            canvas.paste(img, (j * w, 14 + i * h))
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/tiny-synthetic"))
    ap.add_argument("--data", type=Path, default=Path("data/bench256-seed1"))
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("docs/images/tiny_model_grid.png"))
    args = ap.parse_args()
    # the model's raw output with its recommended sampling settings (model_index.json)
    ninja = build_engine("ninja", ninja=NinjaSettings(snap=False, progress=False), load=LoadSettings(model=str(args.model), device="cpu"))
    flat = build_engine("flat")
    rows = []
    for name in B.read_manifest(args.data)["pairs"][: args.pairs]:
        reference, target, _, points = B.load_pair(args.data, name).direction("a->b")
        lines = Lines.from_picture(target, "xdog")
        guide_idx, _ = B.split_points(len(points), 5, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        encoded, flat_prepared = prepare(ninja, [reference]), prepare(flat, [reference])
        cells = [np.asarray(lines.to_image().convert("RGB")), np.asarray(reference),
                 encoded.colorize(lines).composite, encoded.colorize(lines, guide).composite,
                 flat_prepared.colorize(lines, guide).composite, np.asarray(target)]
        big = [Image.fromarray(c).resize((c.shape[1] * SCALE, c.shape[0] * SCALE), Image.NEAREST) for c in cells]
        for img, xy in ((big[1], guide.reference_xy), (big[3], guide.lineart_xy)):
            draw = ImageDraw.Draw(img)
            for i, (x, y) in enumerate(xy):
                cx, cy = (x + 0.5) * SCALE, (y + 0.5) * SCALE
                draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), outline=(255, 0, 0), width=1)
        rows.append(big)
    save_image(np.asarray(titled_grid(rows, HEADER)), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
