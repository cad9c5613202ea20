"""Overfit check of the tiny model (docs/reproduce.md, second attempt): PSNR (whole 64 px frame,
10 DDIM steps, seed 0, no points) of the model on the first 8 pair folders under ROOT with each
pair's own reference and with the next pair's, and of the mean-color baseline; at
``guidance_scale_ref`` 1 and 3.

    python benchmarks/tiny_synthetic_overfit_check.py MODEL ROOT

A documented diagnostic (run with the package installed, or PYTHONPATH=src from a checkout).
"""
import glob
import sys

import numpy as np
import torch
from PIL import Image
from manganinja.colorize import prepare
from manganinja.engines import build_engine
from manganinja.lines import Lines
from manganinja.settings import LoadSettings, NinjaSettings
from manganinja.evaluation import benchmark as B
torch.set_num_threads(1)
if len(sys.argv) != 3:
    sys.exit(f"usage: {sys.argv[0]} MODEL ROOT (a pipeline folder and a folder of pair_* folders)")
model, root = sys.argv[1], sys.argv[2]
pairs = sorted(glob.glob(root + "/pair_*"))[:8]
for gs in (1.0, 3.0):
    eng = build_engine("ninja", ninja=NinjaSettings(steps=10, resolution=64, guidance_scale_ref=gs, snap=False, progress=False), load=LoadSettings(model=model, device="cpu"))
    own, other, mean = [], [], []
    for i, p in enumerate(pairs):
        ref = Image.open(p + "/reference.png").convert("RGB"); tgt = Image.open(p + "/target.png").convert("RGB")
        ref2 = Image.open(pairs[(i + 1) % len(pairs)] + "/reference.png").convert("RGB")
        lines = Lines.from_picture(tgt, "xdog"); t = np.asarray(tgt)
        own.append(B.score(prepare(eng, [ref]).colorize(lines).composite, t, None, np.zeros((0, 2)))["psnr"])
        other.append(B.score(prepare(eng, [ref2]).colorize(lines).composite, t, None, np.zeros((0, 2)))["psnr"])
        m = build_engine("mean-color"); mean.append(B.score(prepare(m, [ref]).colorize(lines).composite, t, None, np.zeros((0, 2)))["psnr"])
    print(f"gs {gs}: own ref {np.mean(own):.2f} dB, other ref {np.mean(other):.2f} dB, mean-color {np.mean(mean):.2f}", flush=True)
