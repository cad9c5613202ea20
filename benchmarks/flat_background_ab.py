"""Where the flat engine's benchmark PSNR goes when the line art's background is no longer painted:
foreground PSNR (as ``manganinja evaluate`` scores it: the target's mask, white outside) on
synthetic pairs in both directions, line art by XDoG, with the background filled white (the
engine) or, for comparison only, with the reference's dominant border color.

    python benchmarks/flat_background_ab.py --pairs 12 [--fill border]

Run it with ``PYTHONPATH`` pointing at an older tree's ``src`` (without ``--fill``) for the
figure before the change.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least
from manganinja.data.synthetic import generate_pair
from manganinja.flat import engine as flat_engine
from manganinja.lines import extract_lineart


def foreground_psnr(result: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    a = np.where(mask[..., None], result, 255).astype(np.float64)
    b = np.where(mask[..., None], target, 255).astype(np.float64)
    return float(10 * np.log10(255.0 ** 2 / max(((a - b) ** 2).mean(), 1e-10)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--fill", choices=["engine", "border"], default="engine")
    args = ap.parse_args()
    check_at_least({"--pairs": args.pairs}, 1)
    warnings.simplefilter("ignore")
    if args.fill == "border":  # comparison only: fill with the reference's dominant border color
        found = flat_engine.reference_background
        flat_engine.reference_background = lambda rgb, **kw: (lambda r: (r[0], r[1], True))(found(rgb, **kw))
    vals = []
    for i in range(args.pairs):
        p = generate_pair([0, i], size=256)
        for ref, tgt, mask in ((p.reference, p.target, p.target_mask), (p.target, p.reference, p.reference_mask)):
            result = flat_engine.colorize_flat(ref, extract_lineart(tgt, method="xdog"))
            vals.append(foreground_psnr(result.composite, tgt, mask))
    print(f"fill {args.fill}: mean foreground PSNR {np.mean(vals):.3f} dB over {len(vals)} runs")


if __name__ == "__main__":
    run_script(main)
