"""What 20 guide points change in the picture ``manganinja colorize`` gives with the tiny
synthetic MangaNinja (docs/reproduce.md, twenty-fourth attempt).

    python examples/tiny_guide_fill_grid.py --data runs/full20/data/bench   # -> docs/images/tiny_guide_fill.png

Rows: the first ``--pairs`` pairs of a benchmark folder (``manganinja benchmark synth --seed 1``,
never seen in training), direction a->b. Columns: the target's XDoG line art and the reference,
each with the benchmark's 20 guide points (red circles); the model snapped to the line art's
regions without points, with the 20 points but their regions left to the model
(``--no-guide-fill``), and with the points filling their regions (colorize's default); the
ground truth. The model's recommended sampling settings, seed 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from manganinja.cli import run_script
from manganinja.colorize import prepare
from manganinja.engines import build_engine
from manganinja.evaluation import benchmark as B
from manganinja.images import save_image
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.requests import check_at_least, check_input_folder, check_report_path
from manganinja.settings import LoadSettings, NinjaSettings
from tiny_model_grid import titled_grid  # examples/, beside this script

HEADER = ("line art + 20 points", "reference", "no points", "points, not filling", "points filling (default)", "ground truth")


def circles(picture: np.ndarray, xy: np.ndarray) -> Image.Image:
    """``picture`` (uint8 (H, W, 3)) with a red circle around each point of ``xy`` ((n, 2), x, y)."""
    img = Image.fromarray(picture)
    draw = ImageDraw.Draw(img)
    for x, y in xy:
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), outline=(255, 0, 0), width=1)
    return img


def grid_rows(model: Path, data: Path, pairs: int) -> list[list[Image.Image]]:
    """The figure's cells, one row per pair (see the module doc)."""
    ninja = build_engine("ninja", ninja=NinjaSettings(progress=False), load=LoadSettings(model=str(model), device="cpu"))
    unfilled = ninja.with_settings(ninja.settings.model_copy(update={"guide_fill": False}))
    rows = []
    for name in B.read_manifest(data)["pairs"][:pairs]:
        reference, target, _, points = B.load_pair(data, name).direction("a->b")
        lines = Lines.from_picture(target, "xdog")
        guide_idx, _ = B.split_points(len(points), 20, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        filled_prep, unfilled_prep = prepare(ninja, [reference]), prepare(unfilled, [reference])
        rows.append([
            circles(np.asarray(lines.to_image().convert("RGB")), guide.lineart_xy),
            circles(np.asarray(reference.convert("RGB")), guide.reference_xy),
            Image.fromarray(filled_prep.colorize(lines).composite),
            Image.fromarray(unfilled_prep.colorize(lines, guide).composite),
            Image.fromarray(filled_prep.colorize(lines, guide).composite),
            Image.fromarray(np.asarray(target.convert("RGB"))),
        ])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/tiny-synthetic"))
    ap.add_argument("--data", type=Path, default=Path("data/bench256-seed1"))
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("docs/images/tiny_guide_fill.png"))
    args = ap.parse_args(argv)
    check_input_folder(args.model, "--model", "pipeline")
    check_input_folder(args.data, "--data", "benchmark")
    check_at_least({"--pairs": args.pairs}, 1)
    check_report_path(args.out, "--out", [("model folder", args.model), ("benchmark", args.data)])
    save_image(np.asarray(titled_grid(grid_rows(args.model, args.data, args.pairs), HEADER)), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main)
