"""Overfit check of the tiny model (docs/reproduce.md, second attempt): PSNR (whole 64 px frame,
10 DDIM steps, seed 0, no points) of the model on the first 8 pair folders under ROOT with each
pair's own reference and with the next pair's, and of the mean-color baseline; at
``guidance_scale_ref`` 1 and 3.

    python benchmarks/tiny_synthetic_overfit_check.py MODEL ROOT

A documented diagnostic (run with the package installed, as the README installs it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from manganinja.cli import run_script
from manganinja.colorize import prepare
from manganinja.engines import build_engine
from manganinja.evaluation import benchmark as B
from manganinja.lines import Lines
from manganinja.requests import RequestError, check_input_folder
from manganinja.settings import LoadSettings, NinjaSettings


def score(image: np.ndarray, target: np.ndarray) -> float:
    """Whole-frame PSNR (dB) of ``image`` against ``target`` (H, W, 3) uint8, no points."""
    return B.score(image, target, None, np.zeros((0, 2)))["psnr"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a MangaNinja pipeline folder")
    p.add_argument("root", type=Path, help="a folder of pair_* folders (reference.png, target.png)")
    args = p.parse_args(argv)
    check_input_folder(Path(args.model), "", "pipeline")
    pairs = sorted(d for d in args.root.glob("pair_*") if d.is_dir())[:8]
    if len(pairs) < 2:
        raise RequestError(f"{args.root} holds {len(pairs)} pair_* folders; another pair's reference needs at least 2")
    torch.set_num_threads(1)
    mean_color = build_engine("mean-color")
    for gs in (1.0, 3.0):
        eng = build_engine("ninja", ninja=NinjaSettings(steps=10, resolution=64, guidance_scale_ref=gs, snap=False, progress=False),
                           load=LoadSettings(model=args.model, device="cpu"))
        own, other, mean = [], [], []
        for i, pair in enumerate(pairs):
            ref = Image.open(pair / "reference.png").convert("RGB")
            tgt = Image.open(pair / "target.png").convert("RGB")
            ref2 = Image.open(pairs[(i + 1) % len(pairs)] / "reference.png").convert("RGB")
            lines, t = Lines.from_picture(tgt, "xdog"), np.asarray(tgt)
            own.append(score(prepare(eng, [ref]).colorize(lines).composite, t))
            other.append(score(prepare(eng, [ref2]).colorize(lines).composite, t))
            mean.append(score(prepare(mean_color, [ref]).colorize(lines).composite, t))
        print(f"gs {gs}: own ref {np.mean(own):.2f} dB, other ref {np.mean(other):.2f} dB, mean-color {np.mean(mean):.2f}", flush=True)


if __name__ == "__main__":
    run_script(main)
