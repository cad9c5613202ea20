"""Choose the tiny model's reference guidance scale on VALIDATION pairs (generator seed 3; the
benchmark uses seed 1, training seed 0), direction a->b, no points, 10 steps, seed 0.

    manganinja benchmark synth --out data/val256-seed3 --pairs 8 --size 256 --seed 3
    python benchmarks/tiny_synthetic_validate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from manganinja.engines import build_engine
from manganinja.evaluation import benchmark as B
from manganinja.lines import Lines
from manganinja.settings import LoadSettings, NinjaSettings

SCALES = (1.0, 2.0, 4.0, 9.0)


def main(model: str = "models/tiny-synthetic", data: Path = Path("data/val256-seed3")) -> None:
    torch.set_num_threads(1)
    names = B.read_manifest(data)["pairs"]
    base = build_engine("ninja", ninja=NinjaSettings(steps=10, resolution=64, snap=False, progress=False),
                        load=LoadSettings(model=model, device="cpu"))
    for scale in SCALES:
        engine = base.with_settings(base.settings.model_copy(update={"guidance_scale_ref": scale}))
        psnr = []
        for name in names:
            reference, target, mask, _ = B.load_pair(data, name).direction("a->b")
            result = engine.colorize(engine.prepare([reference]), Lines.from_picture(target, "xdog")).composite
            psnr.append(B.score(result, np.asarray(target), mask, np.zeros((0, 2)))["psnr"])
        print(f"guidance_scale_ref {scale:g}: PSNR {np.mean(psnr):.2f} dB over {len(psnr)} validation pairs", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2])
