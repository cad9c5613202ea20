"""The point path on its own: with no line art (as a dropped line-art condition in training) and
20 guide points, does a trained tiny model paint, at the target points, the colors of their
reference points?

For each held-out synthetic pair (generator ``--seed``, drawn at 256 px, direction a->b), the
model samples from a blank line art with the pair's reference, once without points and once with
20 guide points (the benchmark's guide split), and with the line art too. Printed: the mean
squared RGB error (in [0, 1]) at the 20 guide target points between the output and the color the
reference has at their reference points (which equals the target's color there), for each run;
the paired difference (20 points - none) with its 95 % interval and how many pairs improved.

    python benchmarks/tiny_point_path.py models/tiny-synthetic [--pairs 16] [--steps 10]

Run with the package installed (or ``PYTHONPATH=src`` from a checkout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def point_colors(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] of ``image`` (H, W, 3) uint8 at the integer points ``xy`` (N, 2) = (x, y)."""
    xy = np.asarray(xy, dtype=np.int64)
    return np.asarray(image, np.float64)[xy[:, 1], xy[:, 0], :3] / 255.0


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and 95 % half-width (normal approximation) of ``values``."""
    arr = np.asarray(values, np.float64)
    half = 1.96 * arr.std(ddof=1) / np.sqrt(len(arr)) if len(arr) > 1 else float("nan")
    return float(arr.mean()), float(half)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a MangaNinja pipeline folder, e.g. models/tiny-synthetic")
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--seed", type=int, default=1, help="generator seed of the held-out pairs (default 1)")
    p.add_argument("--points", type=int, default=20)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guidance-point", type=float, default=None, help="point guidance scale (default: the model's)")
    p.add_argument("--json", default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if not (Path(args.model) / "model_index.json").is_file():
        p.exit(2, f"error: {args.model} is not a pipeline folder (no model_index.json)\n")

    import tempfile

    import torch

    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.points import PointPairs

    torch.set_num_threads(args.threads)
    pipe = MangaNinjaPipeline.from_pretrained(args.model)
    runs: dict[str, list[float]] = {"blank, none": [], "blank, guides": [], "lines, none": [], "lines, guides": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = B.write_synthetic_benchmark(Path(tmp) / "bench", pairs=args.pairs, seed=args.seed, size=256)
        for name in B.read_manifest(data)["pairs"]:
            reference, target, _, points = B.load_pair(data, name).direction("a->b")
            guide_idx, _ = B.split_points(len(points), args.points, name, 0)
            guide = PointPairs([points[int(i)] for i in guide_idx])
            wanted = point_colors(np.asarray(reference.convert("RGB")), guide.reference_xy)
            lines = Lines.from_picture(target, "xdog")
            blank = Lines(np.zeros_like(lines.array))
            for (tag, line), pts in [((t, ln), pp) for t, ln in (("blank", blank), ("lines", lines))
                                     for pp in (None, guide)]:
                out = pipe(reference=reference, lineart=line, points=pts, generator=torch.Generator().manual_seed(0),
                           num_inference_steps=args.steps, guidance_scale_point=args.guidance_point,
                           output_type="np", progress=False).images[0]
                got = point_colors(out, guide.lineart_xy)
                runs[f"{tag}, {'guides' if pts is not None else 'none'}"].append(float(((got - wanted) ** 2).mean()))
    print(f"# point path: {args.model}, {args.pairs} pairs of seed {args.seed} (a->b), {args.points} guide points, "
          f"{args.steps} steps; MSE at the guide target points vs their reference colors")
    print("| line art | no points | with guides | paired (guides - none) | pairs improved |")
    print("|---|---|---|---|---|")
    summary = {}
    for tag in ("blank", "lines"):
        none, guided = runs[f"{tag}, none"], runs[f"{tag}, guides"]
        diff = [g - n for g, n in zip(guided, none)]
        (mn, hn), (mg, hg), (md, hd) = interval(none), interval(guided), interval(diff)
        better = sum(d < 0 for d in diff)
        summary[tag] = {"none": mn, "guides": mg, "diff": md, "diff_half": hd, "better": better, "runs": len(diff)}
        print(f"| {tag} | {mn:.4f} ± {hn:.4f} | {mg:.4f} ± {hg:.4f} | {md:+.4f} ± {hd:.4f} | {better} / {len(diff)} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "summary": summary, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
