"""Time the synthetic data generator: ``python benchmarks/bench_synth.py [--pairs 100 --size 256]``.

Prints the wall time of ``write_dataset`` (generation + PNG/JSON writing, one process, one core
for the Python code) and of generation alone, plus the point counts of the set.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least
from manganinja.data.synthetic import generate_pair, write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    check_at_least({"--pairs": args.pairs, "--size": args.size}, 1)

    start = time.perf_counter()
    for i in range(args.pairs):
        generate_pair(np.random.default_rng([args.seed, i]), args.size)
    generate_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = write_dataset(Path(tmp) / "set", args.pairs, size=args.size, seed=args.seed)
        total_s = time.perf_counter() - start
        manifest = json.loads((out / "manifest.json").read_text())
        counts = [entry["n_points"] for entry in manifest["pairs"]]
        n_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())

    print(f"pairs={args.pairs} size={args.size} seed={args.seed}")
    print(f"generate only : {generate_s:.2f} s ({1000 * generate_s / args.pairs:.1f} ms/pair)")
    print(f"write_dataset : {total_s:.2f} s ({1000 * total_s / args.pairs:.1f} ms/pair, "
          f"{n_bytes / 1e6:.1f} MB on disk)")
    print(f"points/pair   : min {min(counts)}, mean {np.mean(counts):.1f}, max {max(counts)}")


if __name__ == "__main__":
    run_script(main)
