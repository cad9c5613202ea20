"""The shot table of the README and docs/shots.md: ``propagate`` vs ``keyframe`` vs the mean-color
baseline on synthetic shots, per paint-bucket metric and by distance from the keyframe.

    PYTHONPATH=src python benchmarks/shot_table.py --work bench/shots20 [--shots 20 --frames 12 --size 512 --seed 0]

Writes the shots to WORK/shots (``manganinja synth --shots``), results to WORK/<method>/<shot>/,
and WORK/table.md + WORK/table.json; prints the markdown. Every number comes from
``manganinja.shots.run.colorize_shot`` and ``manganinja.evaluation.paint_bucket.evaluate_shot``,
the code behind ``manganinja shot colorize`` / ``shot evaluate``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from manganinja.data.synthetic_shots import ShotOptions, write_shots
from manganinja.evaluation.paint_bucket import METRICS, evaluate_shot, summarize
from manganinja.shots.engines import FlatShotEngine, MeanColorShotEngine
from manganinja.shots.format import read_shot
from manganinja.shots.run import colorize_shot

METHODS = {
    "flat propagate": (FlatShotEngine, "propagate"),
    "flat keyframe": (FlatShotEngine, "keyframe"),
    "mean-color": (MeanColorShotEngine, "keyframe"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--shots", type=int, default=20)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shots_dir = args.work / "shots"
    if not (shots_dir / "manifest.json").is_file():
        write_shots(shots_dir, args.shots, ShotOptions(size=args.size, frames=args.frames), seed=args.seed)
    rows: dict[str, list[dict[str, object]]] = {m: [] for m in METHODS}
    seconds: dict[str, float] = {m: 0.0 for m in METHODS}
    for i in range(args.shots):
        root = shots_dir / f"shot_{i:05d}"
        shot = read_shot(root)
        for name, (factory, mode) in METHODS.items():
            out = args.work / name.replace(" ", "_") / root.name
            t = time.perf_counter()
            colorize_shot(shot, factory, out, mode=mode, progress=False, overwrite=True)
            seconds[name] += time.perf_counter() - t
            ev = evaluate_shot(root, out)
            rows[name] += [{**r, "shot": root.name} for r in ev.rows]
        print(f"shot {i + 1}/{args.shots} done", flush=True)
    summaries = {m: summarize(r) for m, r in rows.items()}
    text = f"Synthetic shots: {args.shots} shots x {args.frames} frames, {args.size} px, seed {args.seed}, keyframe = first frame.\n\n"
    text += "| method | frames | " + " | ".join(METRICS) + " |\n|" + "---|" * (len(METRICS) + 2) + "\n"
    for m, s in summaries.items():
        vals = [f"{s['mean'][k]:.2f}" if k == "psnr" else f"{s['mean'][k]:.3f}" for k in METRICS]
        text += f"| {m} | {s['frames']} | " + " | ".join(vals) + " |\n"
    distances = sorted({int(d) for s in summaries.values() for d in s["by_distance"]})
    for metric in ("acc", "pix_acc_fg", "miou_fg"):
        text += f"\n{metric} by distance from the keyframe:\n\n| method | " + " | ".join(str(d) for d in distances)
        text += " |\n|" + "---|" * (len(distances) + 1) + "\n"
        for m, s in summaries.items():
            text += f"| {m} | " + " | ".join(f"{s['by_distance'][str(d)][metric]:.3f}" for d in distances) + " |\n"
    text += "\nColoring time (all shots, this machine): " + ", ".join(f"{m} {v:.0f} s" for m, v in seconds.items()) + "\n"
    (args.work / "table.md").write_text(text)
    (args.work / "table.json").write_text(json.dumps({"summaries": summaries, "seconds": seconds, "args": vars(args) | {"work": str(args.work)}}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
