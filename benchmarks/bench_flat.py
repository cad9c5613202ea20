"""Speed of the weight-free machinery: regions of a page, and the flat engine end to end.

Run: ``python benchmarks/bench_flat.py [--repeat 3] [--threads 1]``

Prints the best-of-``repeat`` wall time of :func:`manganinja.flat.regions.label_regions` on a
synthetic 2048x2048 page (hundreds of outlined shapes with small gaps), of
:func:`manganinja.flat.snap.snap_to_regions` from a 512 px result onto an A4 300 dpi line art
(2480x3508) with the process's peak memory, and of :func:`manganinja.flat.engine.colorize_flat`
on a 512 and a 2048 page. ``--threads 1`` (default)
pins OpenCV to one thread so the figure is a one-core figure.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Callable

import cv2
import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least


def synthetic_page(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An RGB uint8 ``(size, size, 3)`` page of flat-colored, black-outlined shapes and its line
    art (float32, 1 = line). About one shape per 120x120 pixels, with a few 2-pixel gaps."""
    rng = np.random.default_rng(seed)
    rgb = np.full((size, size, 3), 255, np.uint8)
    lines = np.zeros((size, size), np.uint8)
    n = max(4, (size // 120) ** 2)
    thick = max(1, size // 512)
    for _ in range(n):
        color = tuple(int(v) for v in rng.integers(0, 230, 3))
        cx, cy = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(size // 60, size // 12))
        if rng.random() < 0.5:
            cv2.circle(rgb, (cx, cy), r, color, -1)
            cv2.circle(lines, (cx, cy), r, 255, thick)
        else:
            cv2.rectangle(rgb, (cx - r, cy - r), (cx + r, cy + r), color, -1)
            cv2.rectangle(lines, (cx - r, cy - r), (cx + r, cy + r), 255, thick)
        if rng.random() < 0.3:  # a small gap in this outline
            lines[cy - 1 : cy + 1, max(0, cx - r - thick) : cx - r + thick + 1] = 0
    rgb[lines > 0] = 0
    return rgb, lines.astype(np.float32) / 255.0


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core)")
    parser.add_argument("--skip-engine", action="store_true", help="time the regions only")
    args = parser.parse_args()
    check_at_least({"--repeat": args.repeat, "--threads": args.threads}, 1)
    cv2.setNumThreads(args.threads)

    from manganinja.flat.regions import label_regions

    _, art = synthetic_page(2048)
    regions = label_regions(art)
    t = best_of(lambda: label_regions(art), args.repeat)
    print(f"label_regions 2048x2048: {t:.3f} s  ({regions.count} regions, opencv threads={args.threads})")

    from manganinja.flat.snap import snap_to_regions

    page_rgb, page_art = synthetic_page(3508, seed=2)
    page_rgb, page_art = page_rgb[:, :2480].copy(), page_art[:, :2480].copy()  # A4 at 300 dpi
    model_out = cv2.resize(page_rgb, (362, 512), interpolation=cv2.INTER_AREA)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = best_of(lambda: snap_to_regions(model_out, page_art), args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"snap_to_regions 362x512 -> 2480x3508: {t:.3f} s  (peak RSS {peak / 1024:.0f} MB, "
          f"{(peak - before) / 1024:.0f} MB above the process's earlier peak)")
    # 24 guides (the model's most) at random paper pixels, each bringing a color: the fill colorize
    # adds to the snap when points are given
    from manganinja.flat.regions import GuideFills

    rng = np.random.default_rng(0)
    paper = np.argwhere(page_art < 0.25)
    xy = paper[rng.choice(len(paper), 24, replace=False)][:, ::-1].astype(float)
    guides = GuideFills(xy, rng.integers(0, 256, (24, 3)))
    t = best_of(lambda: snap_to_regions(model_out, page_art, guides=guides), args.repeat)
    print(f"snap_to_regions 362x512 -> 2480x3508 with 24 guides filling their regions: {t:.3f} s")
    del page_rgb, page_art

    if args.skip_engine:
        return
    from manganinja.flat.engine import colorize_flat

    for size in (512, 2048):
        ref, _ = synthetic_page(size, seed=1)
        angle, scale = 12.0, 0.9
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        target = cv2.warpAffine(ref, m, (size, size), flags=cv2.INTER_NEAREST, borderValue=(255, 255, 255))
        line = (target.max(axis=2) < 40).astype(np.float32)
        result = colorize_flat(ref, line)
        t = best_of(lambda: colorize_flat(ref, line), args.repeat)
        d = result.diagnostics
        print(
            f"colorize_flat {size}x{size}: {t:.3f} s  (matches={d.n_matches}, inliers={d.n_inliers}, "
            f"mapping={d.mapping}, regions={d.n_regions})"
        )


if __name__ == "__main__":
    run_script(main)
