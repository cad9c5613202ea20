"""Fast mode against exact mode on synthetic pairs.

Exact mode is the official sampler (DDIM, 50 steps); fast mode is DPM-Solver++ (20 steps). Both
sample the same model from the same initial noise, so the fast result should approximate the exact
one: we report PSNR / MS-SSIM of fast against exact, and seconds per image for each.

With no real weights here the model is the tiny random one (``--size tiny``); on a machine with
the release, pass ``--model DIR`` (a converted folder) to measure the real model.

    python benchmarks/bench_fast_quality.py --pairs 10 --size 128
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from manganinja.cli import run_script
from manganinja.requests import check_at_least, check_input_folder
from manganinja.data.synthetic import write_dataset
from manganinja.evaluation.metrics import ms_ssim, psnr
from manganinja.pipeline import MangaNinjaPipeline, build_pipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--size", type=int, default=128, help="synthetic image size")
    ap.add_argument("--resolution", type=int, default=128, help="processing long side")
    ap.add_argument("--model", type=Path, default=None, help="converted model folder (default: tiny random)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--exact-steps", type=int, default=50)
    ap.add_argument("--fast-steps", type=int, default=20)
    args = ap.parse_args()
    check_at_least({"--pairs": args.pairs, "--size": args.size, "--resolution": args.resolution,
                    "--exact-steps": args.exact_steps, "--fast-steps": args.fast_steps}, 1)
    if args.model is not None:
        check_input_folder(args.model, "--model", "pipeline")

    pipe = MangaNinjaPipeline.from_pretrained(args.model) if args.model else build_pipeline("tiny", seed=0)
    pipe.to(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = write_dataset(Path(tmp) / "set", n_pairs=args.pairs, size=args.size, seed=0)
        for pair in sorted(p for p in root.iterdir() if p.is_dir()):
            ref = Image.open(pair / "reference.png").convert("RGB")
            line = Image.open(pair / "lineart.png")
            encoding = pipe.encode_reference(ref, resolution=args.resolution)
            out = {}
            for mode, steps in (("exact", args.exact_steps), ("fast", args.fast_steps)):
                start = time.perf_counter()
                out[mode] = pipe(reference_encoding=encoding, lineart=line, num_inference_steps=steps,
                                 fast=mode == "fast", resolution=args.resolution, progress=False,
                                 output_type="np", generator=torch.Generator().manual_seed(0)).images[0]
                out[mode + "_s"] = time.perf_counter() - start
            rows.append({
                "pair": pair.name,
                "psnr_fast_vs_exact": psnr(out["fast"], out["exact"]),
                "ms_ssim_fast_vs_exact": ms_ssim(out["fast"], out["exact"]),
                "exact_seconds": out["exact_s"],
                "fast_seconds": out["fast_s"],
            })
    summary = {
        "model": str(args.model) if args.model else "tiny random (manganinja.models.factory)",
        "pairs": len(rows),
        "size": args.size,
        "resolution": args.resolution,
        "exact": f"DDIM {args.exact_steps} steps",
        "fast": f"DPM-Solver++ {args.fast_steps} steps",
        "psnr_fast_vs_exact_mean": round(statistics.mean(r["psnr_fast_vs_exact"] for r in rows), 2),
        "psnr_fast_vs_exact_min": round(min(r["psnr_fast_vs_exact"] for r in rows), 2),
        "ms_ssim_fast_vs_exact_mean": round(statistics.mean(r["ms_ssim_fast_vs_exact"] for r in rows), 4),
        "exact_seconds_per_image": round(statistics.median(r["exact_seconds"] for r in rows), 3),
        "fast_seconds_per_image": round(statistics.median(r["fast_seconds"] for r in rows), 3),
    }
    print(json.dumps(summary, indent=1))



if __name__ == "__main__":
    run_script(main)
