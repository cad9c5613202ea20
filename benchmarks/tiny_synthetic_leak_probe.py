"""Where does a tiny model take its colors from: the reference, or the noise? (docs/reproduce.md,
third attempt.)

With SD1.5's noise schedule the last training timestep keeps sqrt(abar_T) ~ 0.07 of the target
latent, so the noisy input always shows the target's colors a little, and a model can lower its
loss by reading them there instead of from the reference. At sampling the first input is pure
noise, which shows no colors. This probe samples held-out pairs (a->b, 64 px, 10 DDIM steps,
seed 0, guidance 1/1 with the paper's formula: the POINT branch alone, the layout of training)
once from pure noise and once from noise that carries the target as training's first sampling
timestep would (``sqrt(abar) z + sqrt(1 - abar) n``), and prints the PSNR of both (the
benchmark's score: foreground on white) and the mean-color engine's.

    python benchmarks/tiny_synthetic_leak_probe.py MODEL [BENCH] [PAIRS]
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
from manganinja.pipeline import MangaNinjaPipeline
from manganinja.requests import check_at_least, check_input_folder


def main(model: str, data: str = "data/bench256-seed1", pairs: int = 6) -> None:
    torch.set_num_threads(1)
    pipe = MangaNinjaPipeline.from_pretrained(model)
    pipe.scheduler.set_timesteps(10)
    first = pipe.scheduler.timesteps[0]
    abar = pipe.scheduler.alphas_cumprod[first]
    print(f"{model}: first timestep {int(first)}, sqrt(abar) {float(abar.sqrt()):.4f}")
    scores: dict[str, list[float]] = {"pure noise": [], "noise carrying the target": []}
    mean_color, baseline = build_engine("mean-color"), []
    for name in B.read_manifest(data)["pairs"][:pairs]:
        reference, target, mask, _ = B.load_pair(data, name).direction("a->b")
        small = np.asarray(target.convert("RGB").resize((64, 64), Image.Resampling.BICUBIC), dtype=np.float32)
        pixels = torch.from_numpy(small).permute(2, 0, 1)[None] / 127.5 - 1.0
        with torch.no_grad():
            z = pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
        starts = {"pure noise": noise, "noise carrying the target": abar.sqrt() * z + (1 - abar).sqrt() * noise}
        lines = Lines.from_picture(target, "xdog")
        flat = prepare(mean_color, [reference]).colorize(lines).composite
        baseline.append(B.score(flat, np.asarray(target.convert("RGB")), mask, np.zeros((0, 2)))["psnr"])
        for label, start in starts.items():
            out = pipe(reference=reference, lineart=lines, num_inference_steps=10, resolution=64, latents=start,
                       guidance="paper", guidance_scale_ref=1.0, guidance_scale_point=1.0, output_type="np", progress=False).images[0]
            scores[label].append(B.score(out, np.asarray(target.convert("RGB")), mask, np.zeros((0, 2)))["psnr"])
    for label, values in scores.items():
        print(f"  start from {label}: PSNR {np.mean(values):.2f} dB over {len(values)} pairs")
    print(f"  mean-color engine: PSNR {np.mean(baseline):.2f} dB")


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a MangaNinja pipeline folder")
    p.add_argument("data", nargs="?", default="data/bench256-seed1", help="a benchmark folder (manganinja benchmark synth)")
    p.add_argument("pairs", nargs="?", type=int, default=6, help="pairs to sample (default 6)")
    args = p.parse_args(argv)
    check_input_folder(Path(args.model), "", "pipeline")
    check_input_folder(Path(args.data), "", "benchmark")
    check_at_least({"PAIRS": args.pairs}, 1)
    main(args.model, args.data, args.pairs)


if __name__ == "__main__":
    run_script(cli)
