"""How much does the tiny synthetic model's output depend on its reference?

For each of a few held-out synthetic pairs (seed 1, drawn at 256 px), colorize the target's line art with
its own reference and with the next pair's reference (same seed, same settings, raw model output)
and print the mean absolute difference of the two results and their mean colors next to the two
references' mean colors. A model that follows the reference moves its colors with it.

    python benchmarks/tiny_synthetic_reference_probe.py [--model models/tiny-synthetic] [--pairs 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least, check_input_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/tiny-synthetic")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    check_at_least({"--pairs": args.pairs, "--steps": args.steps}, 1)
    check_input_folder(Path(args.model), "--model", "pipeline")

    import torch

    from manganinja.colorize import prepare
    from manganinja.engines import build_engine
    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.settings import LoadSettings, NinjaSettings

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        data = B.write_synthetic_benchmark(Path(tmp) / "bench", pairs=args.pairs, seed=1, size=256)
        ninja = build_engine("ninja", ninja=NinjaSettings(steps=args.steps, snap=False, progress=False),
                             load=LoadSettings(model=args.model, device="cpu"))
        pairs = [B.load_pair(data, n).direction("a->b") for n in B.read_manifest(data)["pairs"]]
    for i, (reference, target, _, _) in enumerate(pairs):
        other = pairs[(i + 1) % len(pairs)][0]
        lines = Lines.from_picture(target, "xdog")
        own = prepare(ninja, [reference]).colorize(lines).composite.astype(np.float64)
        swapped = prepare(ninja, [other]).colorize(lines).composite.astype(np.float64)

        def mean_rgb(image: np.ndarray) -> list[float]:
            return np.asarray(image, np.float64).reshape(-1, 3).mean(0).round(1).tolist()

        print(f"pair {i}: mean |own - swapped| = {np.abs(own - swapped).mean():.2f} levels; "
              f"result mean RGB own {mean_rgb(own)} swapped {mean_rgb(swapped)}; "
              f"reference mean RGB own {mean_rgb(reference.convert('RGB'))} swapped {mean_rgb(other.convert('RGB'))}")


if __name__ == "__main__":
    run_script(main)
