"""Choose the tiny model's guidance scales on VALIDATION pairs (generator seed 3; the benchmark
uses seed 1, training seed 0), direction a->b, 10 steps, seed 0: the reference scale by PSNR
without points, then the point scale by the point MSE with 5 guide points (scored on the pairs'
other points), at the chosen reference scale (``--ref``, default: the best PSNR).

    manganinja benchmark synth --out data/val256-seed3 --pairs 8 --size 256 --seed 3
    python benchmarks/tiny_synthetic_validate.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from manganinja.cli import run_script
from manganinja.colorize import prepare
from manganinja.engines import build_engine
from manganinja.evaluation import benchmark as B
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.requests import check_input_folder
from manganinja.settings import LoadSettings, NinjaSettings

SCALES = (1.0, 2.0, 4.0, 9.0)
POINT_SCALES = (1.0, 3.0, 6.0, 15.0)


def main(model: str = "models/tiny-synthetic", data: Path = Path("data/val256-seed3"), ref: float | None = None) -> None:
    torch.set_num_threads(1)
    names = B.read_manifest(data)["pairs"]
    base = build_engine("ninja", ninja=NinjaSettings(steps=10, resolution=64, snap=False, progress=False),
                        load=LoadSettings(model=model, device="cpu"))
    by_scale = {}
    for scale in SCALES:
        engine = base.with_settings(base.settings.model_copy(update={"guidance_scale_ref": scale}))
        psnr = []
        for name in names:
            reference, target, mask, _ = B.load_pair(data, name).direction("a->b")
            result = prepare(engine, [reference]).colorize(Lines.from_picture(target, "xdog")).composite
            psnr.append(B.score(result, np.asarray(target), mask, np.zeros((0, 2)))["psnr"])
        by_scale[scale] = float(np.mean(psnr))
        print(f"guidance_scale_ref {scale:g}: PSNR {np.mean(psnr):.2f} dB over {len(psnr)} validation pairs", flush=True)
    ref = max(by_scale, key=by_scale.get) if ref is None else ref
    point_mse = {}
    for scale in POINT_SCALES:
        engine = base.with_settings(base.settings.model_copy(update={"guidance_scale_ref": ref, "guidance_scale_point": scale}))
        mse = []
        for name in names:
            reference, target, mask, points = B.load_pair(data, name).direction("a->b")
            guide_idx, scored_idx = B.split_points(len(points), 5, name, 0)
            guide = PointPairs([points[int(i)] for i in guide_idx])
            result = prepare(engine, [reference]).colorize(Lines.from_picture(target, "xdog"), guide).composite
            mse.append(B.score(result, np.asarray(target), mask, points.lineart_xy[scored_idx])["point_mse"])
        point_mse[scale] = float(np.mean(mse))
        print(f"guidance_scale_ref {ref:g}, guidance_scale_point {scale:g}: point MSE {np.mean(mse):.4f} with 5 guide points", flush=True)
    print(f"chosen: --guidance-scale-ref {ref:g} --guidance-scale-point {min(point_mse, key=point_mse.get):g}")


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="models/tiny-synthetic", help="a MangaNinja pipeline folder")
    p.add_argument("data", nargs="?", type=Path, default=Path("data/val256-seed3"),
                   help="the validation pairs (manganinja benchmark synth --seed 3)")
    p.add_argument("ref", nargs="?", type=float, default=None, help="the reference scale (default: the best PSNR)")
    args = p.parse_args(argv)
    check_input_folder(Path(args.model), "", "pipeline")
    check_input_folder(args.data, "", "benchmark")
    main(args.model, args.data, args.ref)


if __name__ == "__main__":
    run_script(cli)
