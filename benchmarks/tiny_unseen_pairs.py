"""A tiny model on pairs of an unseen generator seed: its own reference against another
character's, and 20 guide points against none (issue 19's two bars, docs/reproduce.md).

The pairs are written as ``manganinja benchmark synth --pairs N --size 256 --seed S`` writes them
(into a temporary folder). Scored with the benchmark's own measures
(:func:`manganinja.training.reproduce.measure_scores`, each picture sampled once) at the model's
recommended settings (or ``--scales``), 10 sampling steps, seed 0:

- **reference use**: whole-frame PSNR of every pair in both directions (2N runs) with the pair's
  own reference and with the next pair's picture of the same side (another character); the paired
  difference with its 95 % interval and in how many runs the own reference wins;
- **points**: direction a->b, the point MSE at the points outside the benchmark's 20-point guide
  split, without guides and with the 20; the ratio and in how many pairs the guides win.

    python benchmarks/tiny_unseen_pairs.py models/tiny-synthetic [--seed 4] [--pairs 16] [--threads 2] [--snap [--no-guide-fill]]

Run with the package installed, as the README installs it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from manganinja.cli import run_script
from manganinja.images import write_json_atomic
from manganinja.requests import RequestError, check_at_least, check_input_folder, check_report_path


def score(model: Path, data: Path, steps: int, guides: int, scales: tuple[float, float] | None,
          snap: bool = False, unfilled: bool = False) -> dict[str, list[float]]:
    """Per-run scores of ``model`` on the benchmark folder ``data``: ``own`` / ``other`` (PSNR,
    both directions, 2 per pair, in the same order) and ``none`` / ``guided`` (point MSE a->b
    outside the first ``guides`` guides, without and with them; 1 per pair). ``snap``: the
    model's colors snapped to the line art's regions (colorize's default), not its raw output;
    ``unfilled``: there, the guides' regions left to the model (``guide_fill`` off)."""
    from manganinja.training.reproduce import measure, measure_scores, ninja_engine, with_scales

    engine = ninja_engine(model, steps, snap=snap)
    if unfilled:
        engine = engine.with_settings(engine.settings.model_copy(update={"guide_fill": False}))
    if scales is not None:
        engine = with_scales(engine, *scales)
    runs: dict[str, list[float]] = {"own": [], "other": []}
    for direction in ("a->b", "b->a"):
        plain = measure_scores(engine, data, 0, direction, scored_outside=guides)  # each picture sampled once
        runs["own"] += [float(s["psnr"]) for s in plain]
        runs["other"] += measure(engine, data, 0, "psnr", direction=direction, swap=True)
        if direction == "a->b":
            runs["none"] = [float(s["point_mse"]) for s in plain]
    runs["guided"] = measure(engine, data, guides, "point_mse", scored_outside=guides)
    return runs


def summary(runs: dict[str, list[float]]) -> list[str]:
    """The two printed lines of :func:`score`'s runs."""
    import numpy as np

    from manganinja.evaluation.metrics import mean_ci95

    own, other = np.asarray(runs["own"]), np.asarray(runs["other"])
    none, guided = np.asarray(runs["none"]), np.asarray(runs["guided"])
    mean, half, n = mean_ci95(list(own - other))
    return [
        f"own reference {own.mean():.2f} dB, another character's {other.mean():.2f} dB: "
        f"{mean:+.2f} ± {half:.2f} dB, own better in {int((own > other).sum())}/{n} runs",
        f"point MSE outside the guides: none {none.mean():.4f}, guided {guided.mean():.4f} "
        f"({guided.mean() / none.mean():.3f}x), guided better in {int((guided < none).sum())}/{len(none)} pairs",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a MangaNinja pipeline folder, e.g. models/tiny-synthetic")
    p.add_argument("--seed", type=int, default=4, help="generator seed of the pairs (default 4: training uses 0, "
                   "the chain's benchmark 1, its validation 3)")
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guides", type=int, default=20)
    p.add_argument("--scales", type=float, nargs=2, metavar=("REF", "POINT"), default=None,
                   help="guidance scales (default: the model's recommended)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the per-run scores here")
    p.add_argument("--snap", action="store_true",
                   help="score the model's colors snapped to the line art's regions (colorize's default), not its raw output")
    p.add_argument("--no-guide-fill", action="store_true",
                   help="with --snap: the guides' regions keep the model's colors (colorize --no-guide-fill)")
    args = p.parse_args(argv)
    if args.no_guide_fill and not args.snap:
        raise RequestError("--no-guide-fill is for the snapped picture: add --snap")
    if args.pairs < 2:
        raise RequestError(f"--pairs {args.pairs}: another character's reference needs at least 2 pairs")
    check_input_folder(Path(args.model), "", "pipeline")
    check_at_least({"--steps": args.steps, "--guides": args.guides, "--threads": args.threads}, 1)
    if args.json is not None:
        check_report_path(args.json, "--json", [("model folder", Path(args.model))])

    import torch

    from manganinja.evaluation import benchmark as B

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = B.write_synthetic_benchmark(Path(tmp) / "bench", pairs=args.pairs, seed=args.seed, size=256)
        runs = score(Path(args.model), data, args.steps, args.guides, None if args.scales is None else tuple(args.scales),
                     snap=args.snap, unfilled=args.no_guide_fill)
    print(f"# {args.model}: {args.pairs} pairs of seed {args.seed}, {args.steps} steps, {args.guides} guides"
          + (", snapped to the line art's regions" if args.snap else "")
          + (", the guides' regions left to the model" if args.no_guide_fill else ""))
    print("\n".join(summary(runs)))
    if args.json is not None:
        write_json_atomic(runs, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
