"""Speed of shot coloring with the flat engine: a 24-frame 1920x1080 synthetic shot.

Run: ``taskset -c 0 python benchmarks/bench_shot.py [--frames 24] [--mode propagate] [--profile] [--set NAME=VALUE]``

The shot is :func:`manganinja.data.synthetic_shots.generate_shot` at 1080x1080, padded to
1920x1080 (the character in the middle of a wide frame), written to a temporary folder; then
:func:`manganinja.shots.run.colorize_shot` colors every frame (keyframe = first frame). Prints
seconds per colored frame (keyframe excluded; PNG reading and writing included) and the process's
peak RSS (the shot is generated in a child process, so this is the coloring's peak). OpenCV is pinned to one thread; run it under ``taskset -c 0`` for a one-core figure.
``--profile`` prints the top functions (cProfile, cumulative time). ``--set NAME=VALUE``
(repeatable): a field of the flat shot engine's settings, as in ``benchmarks/shot_table.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import pstats
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least
from manganinja.data.synthetic_shots import ShotOptions, generate_shot
from manganinja.images import save_image
from manganinja.shots.engines import FlatShotEngine
from manganinja.shots.format import read_shot
from manganinja.shots.run import colorize_shot
from shot_table import flat_settings  # benchmarks/ is the script's folder, first on sys.path


def write_wide_shot(root: Path, frames: int, seed: int) -> None:
    shot = generate_shot([seed, 0], ShotOptions(size=1080, frames=frames, transparent_prob=0.0))
    pad = (1920 - 1080) // 2
    for t in range(frames):
        line = np.pad(shot.lines[t], ((0, 0), (pad, pad), (0, 0)), constant_values=255)
        gt = np.pad(shot.gt[t], ((0, 0), (pad, pad), (0, 0)), constant_values=0)
        save_image(line, root / "line" / f"{t:04d}.png")
        if t == 0:
            save_image(gt, root / "gt" / f"{t:04d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--mode", default="propagate", choices=["propagate", "keyframe"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE", help="a field of FlatShotSettings (repeatable)")
    args = ap.parse_args()
    check_at_least({"--frames": args.frames, "--threads": args.threads}, 1)
    settings = flat_settings(args.set)
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shot"
        # Generated in a child process, so the peak RSS below is the coloring's own.
        child = multiprocessing.get_context("spawn").Process(target=write_wide_shot, args=(root, args.frames, args.seed))
        child.start()
        child.join()
        shot = read_shot(root)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        prof = cProfile.Profile() if args.profile else None
        t = time.perf_counter()
        if prof:
            prof.enable()
        run = colorize_shot(shot, FlatShotEngine.factory(settings), Path(tmp) / "out", mode=args.mode, progress=False)
        if prof:
            prof.disable()
        dt = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        done = sum(r.status == "done" for r in run.results)
        print(f"{args.frames} frames 1920x1080, mode {args.mode}, {done} done: {dt:.1f} s total, "
              f"{dt / max(args.frames - 1, 1):.2f} s per colored frame; peak RSS {rss / 1024:.0f} MB "
              f"(before coloring {rss0 / 1024:.0f} MB)")
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    run_script(main)
