"""Paired differences of the tiny model's evaluation (docs/reproduce.md): per run (pair,
direction, 0 guide points), PSNR of the model minus a baseline's, and of the model with its own
reference minus with another character's; mean, 95% half-width, and how many runs are better.

    python benchmarks/tiny_synthetic_paired.py [runs/eval_tiny]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import RequestError


def psnr_by_run(path: Path, engine: str) -> dict[tuple[str, str], float]:
    rows = csv.DictReader(path.open())
    return {(r["pair"], r["direction"]): float(r["psnr"]) for r in rows if r["engine"] == engine and r["n_guide_points"] == "0"}


def report(label: str, a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]) -> None:
    d = np.array([a[k] - b[k] for k in a if k in b])
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    print(f"{label}: {d.mean():+.2f} ± {half:.2f} dB, better in {int((d > 0).sum())}/{len(d)} runs")


def main(root: Path = Path("runs/eval_tiny")) -> None:
    main_runs, swapped = root / "main" / "runs.csv", root / "swapped" / "runs.csv"
    ninja = psnr_by_run(main_runs, "ninja")
    for baseline in ("mean-color", "flat", "reference"):
        report(f"model - {baseline}", ninja, psnr_by_run(main_runs, baseline))
    for engine in ("ninja", "flat", "mean-color"):
        report(f"{engine}: own reference - another character's", psnr_by_run(main_runs, engine), psnr_by_run(swapped, engine))


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("eval", nargs="?", type=Path, default=Path("runs/eval_tiny"),
                   help="an evaluation folder of tiny_synthetic_eval.py (--part main and swapped run)")
    args = p.parse_args(argv)
    for part in ("main", "swapped"):
        if not (args.eval / part / "runs.csv").is_file():
            raise RequestError(f"{args.eval} has no {part}/runs.csv; run benchmarks/tiny_synthetic_eval.py --part {part} "
                               f"--out {args.eval} first")
    main(args.eval)


if __name__ == "__main__":
    run_script(cli)
