"""Copy-task diagnostic of the tiny model's reference path (docs/reproduce.md, third attempt).

The target is the reference itself and the line art is its own, so colors can be copied from
the same positions of the bank: the easiest correspondence there is. A model trained on this
(``configs/tiny_synthetic_copy.yaml``) that still ignores the reference would point at the path;
one that copies shows that the path can carry colors and that the real task (another pose) is
what is not learned in the budget.

    python benchmarks/tiny_synthetic_copy_task.py --make-data       # data/copy256-train
    python benchmarks/tiny_synthetic_copy_task.py --make-data --with-points --pairs 1500 --out data/copyid256-train
    manganinja train --config configs/tiny_synthetic_copy.yaml
    python benchmarks/tiny_synthetic_copy_task.py runs/tiny_synthetic_copy/final

Evaluation: the 16 benchmark pairs' ``a`` pictures (seed 1, never trained on), each colorized
from the XDoG line art of itself with itself as the reference ("own") and with the next pair's
``a`` ("another"); PSNR on the foreground composited on white (64 px, 10 DDIM steps, seed 0,
guidance 1 / 1, raw output), and the mean-color engine's.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least, check_input_folder

SOURCE = Path("data/synth256-train")
COPY = Path("data/copy256-train")
PAIRS = 2000
#: Written into every copy folder: only such a folder is replaced by another --make-data.
MARKER = "copy_task.json"


def make_data(source: Path = SOURCE, out: Path = COPY, pairs: int = PAIRS, with_points: bool = False) -> None:
    """``out`` (new, or one this function wrote: anything else is refused): the first ``pairs``
    pairs' references of ``source``, each as reference and target;
    ``with_points``: also a ``points.json`` mapping each of the pair's reference points to itself
    (without it the folder has no points file)."""
    if out.exists() and not (out / MARKER).is_file():
        raise ValueError(f"--out {out} exists and was not written by --make-data; give a new --out folder")
    chosen = sorted(p for p in source.glob("pair_*") if p.is_dir())[:pairs]
    if not chosen:
        raise ValueError(f"--source {source} holds no pair_* folders; give training pairs of manganinja synth")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for pair in chosen:
            (tmp / pair.name).mkdir()
            shutil.copy(pair / "reference.png", tmp / pair.name / "reference.png")
            shutil.copy(pair / "reference.png", tmp / pair.name / "target.png")
            if with_points:
                points = json.loads((pair / "points.json").read_text())
                points["pairs"] = [{"reference": p["reference"], "lineart": p["reference"]} for p in points["pairs"]]
                (tmp / pair.name / "points.json").write_text(json.dumps(points))
    except BaseException:  # nothing half-written is left (an interrupt included)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / MARKER).write_text(json.dumps({"source": str(source), "pairs": len(chosen), "with_points": with_points}))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wrote {len(chosen)} copy pairs to {out}")


def evaluate(model: str, data: Path) -> None:
    import torch

    from manganinja.colorize import prepare
    from manganinja.engines import build_engine
    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.settings import LoadSettings, NinjaSettings

    torch.set_num_threads(2)
    engine = build_engine("ninja", ninja=NinjaSettings(steps=10, resolution=64, guidance_scale_ref=1.0, guidance_scale_point=1.0,
                                                       snap=False, progress=False), load=LoadSettings(model=model, device="cpu"))
    mean_color = build_engine("mean-color")
    names = B.read_manifest(data)["pairs"]
    scores: dict[str, list[float]] = {"own": [], "another": [], "mean-color": []}
    for i, name in enumerate(names):
        pair, other = B.load_pair(data, name), B.load_pair(data, names[(i + 1) % len(names)])
        picture, mask = pair.a, pair.a_mask
        target = np.asarray(picture.convert("RGB"))
        lines = Lines.from_picture(picture, "xdog")
        none = np.zeros((0, 2))
        for label, reference in (("own", picture), ("another", other.a)):
            result = prepare(engine, [reference]).colorize(lines).composite
            scores[label].append(B.score(result, target, mask, none)["psnr"])
        flat = prepare(mean_color, [picture]).colorize(lines).composite
        scores["mean-color"].append(B.score(flat, target, mask, none)["psnr"])
    d = np.array(scores["own"]) - np.array(scores["another"])
    for label, values in scores.items():
        print(f"{label}: PSNR {np.mean(values):.2f} dB over {len(values)} pictures")
    print(f"own - another: {d.mean():+.2f} ± {1.96 * d.std(ddof=1) / np.sqrt(len(d)):.2f} dB, own better in {int((d > 0).sum())}/{len(d)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--make-data", action="store_true")
    ap.add_argument("--source", type=Path, default=SOURCE, help="--make-data: the training pairs to copy from")
    ap.add_argument("--out", type=Path, default=COPY, help="--make-data: the copy folder to write")
    ap.add_argument("--pairs", type=int, default=PAIRS, help="--make-data: how many pairs")
    ap.add_argument("--with-points", action="store_true", help="--make-data: identity point pairs (points.json)")
    ap.add_argument("--data", type=Path, default=Path("data/bench256-seed1"))
    args = ap.parse_args()
    check_at_least({"--pairs": args.pairs}, 1)
    if args.model:
        check_input_folder(Path(args.model), "", "pipeline")
    if args.make_data:
        make_data(args.source, args.out, args.pairs, args.with_points)
    elif args.model:
        evaluate(args.model, args.data)
    else:
        ap.error("give MODEL or --make-data")


if __name__ == "__main__":
    run_script(main)
