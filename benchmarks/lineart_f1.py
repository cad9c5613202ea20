"""Line-art extraction against the official extractor's output on the official hz1 case.

Prints precision / recall / F1 (2-pixel tolerance, see ``manganinja.evaluation.line_metrics.line_f1``) of
``extract_lineart(hz1.png)`` against ``hz1_lineart_official.png``, binarized at 0.5 and at the
model's cutoff 0.24, and the extraction time. ``--grid`` reruns the XDoG parameter search that
chose the defaults (it ranks by F1 at the threshold given by ``--grid-threshold``).

    python benchmarks/lineart_f1.py [--cases ../shared/data/official_cases]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least
from manganinja.images import load_image, to_rgb
from manganinja.evaluation.line_metrics import line_f1
from manganinja.lines import XDoGParams, extract_lineart, xdog_lines

DEFAULT_CASES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "official_cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--method", default="xdog", choices=["xdog", "informative"])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--tolerance", type=float, default=2.0)
    parser.add_argument("--grid", action="store_true", help="rerun the XDoG parameter search")
    parser.add_argument("--grid-threshold", type=float, default=0.24)
    args = parser.parse_args()

    official = np.asarray(load_image(args.cases / "hz1_lineart_official.png").convert("L"), np.float32) / 255.0
    start = time.perf_counter()
    ours = extract_lineart(args.cases / "hz1.png", method=args.method, weights=args.weights)
    seconds = time.perf_counter() - start
    print(f"method={args.method} image=hz1.png {ours.shape[1]}x{ours.shape[0]} extract {seconds * 1000:.0f} ms")
    for threshold in (0.5, 0.24):
        p, r, f = line_f1(ours, official, tolerance=args.tolerance, threshold=threshold)
        print(f"threshold {threshold}: precision {p:.3f} recall {r:.3f} F1 {f:.3f} (tolerance {args.tolerance:g} px)")

    if args.grid:
        rgb = np.asarray(to_rgb(load_image(args.cases / "hz1.png")), np.float32) / 255.0
        rows = []
        for s, k, tau, eps, phi in itertools.product(
            [0.4, 0.5, 0.6, 0.8, 1.0], [1.3, 1.6, 2.0, 2.5], [0.98, 0.99, 1.0], [-0.01, -0.005, 0.0], [20, 60, 200]
        ):
            params = XDoGParams(sigma=s, k=k, tau=tau, eps=eps, phi=phi)
            lines = xdog_lines(rgb, params)
            f_grid = line_f1(lines, official, args.tolerance, args.grid_threshold)[2]
            f_half = line_f1(lines, official, args.tolerance, 0.5)[2]
            rows.append((f_grid, f_half, params))
        rows.sort(key=lambda row: -row[0])
        print(f"top 5 of {len(rows)} by F1 at threshold {args.grid_threshold} (F1 at 0.5 beside it):")
        for f_grid, f_half, params in rows[:5]:
            print(f"  {f_grid:.4f} {f_half:.4f} {params}")


if __name__ == "__main__":
    run_script(main)
