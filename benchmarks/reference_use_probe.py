"""Does a trained tiny model use its reference, and where does the reference path stop?

Library: :mod:`manganinja.training.reference_use` (what is measured and why). On held-out
synthetic pairs (e.g. ``manganinja synth --output-dir data/synth256-seed1 --pairs 256 --seed 1``),
prints the v-prediction loss with the pair's own reference, another character's and the target
itself (copy), and per token grid of the denoising U-Net the attention share on the bank, its
entropy and how much the bank's values differ between references.

    python benchmarks/reference_use_probe.py models/tiny-synthetic --data data/synth256-seed1
    python benchmarks/reference_use_probe.py random:models/tiny-synthetic/vae --data data/synth256-seed1

``random:VAE`` is the paper-shaped random start (both U-Nets from one initialisation) with that
VAE. Run with the package installed, as the README installs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from manganinja.cli import run_script
from manganinja.requests import check_at_least, check_input_folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved pipeline folder, or random:VAE_DIR")
    parser.add_argument("--data", action="append", required=True, help="synthetic pair folder (repeatable)")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=None,
                        help="working size (default: the model's recommended one; the tiny model's for random:VAE)")
    args = parser.parse_args(argv)
    check_at_least({"--batches": args.batches, "--batch-size": args.batch_size, "--threads": args.threads}, 1)
    if args.model.startswith("random"):  # random, or random:VAE_DIR
        vae = args.model.partition(":")[2]
        if vae:
            check_input_folder(Path(vae), "", "AutoencoderKL")
    else:
        check_input_folder(Path(args.model), "", "pipeline")

    import torch

    from manganinja.training.reference_use import markdown, measure_reference_use, probe_config
    from manganinja.training.reproduce import TINY_RESOLUTION
    from manganinja.training.trainer import Trainer

    torch.set_num_threads(args.threads)
    resolution = args.resolution if args.resolution is not None or not args.model.startswith("random") else TINY_RESOLUTION
    try:  # a bad model or data folder: one line (ConfigError and TrainingError are ValueErrors)
        trainer = Trainer(probe_config(args.model, args.data, batch_size=args.batch_size, resolution=resolution))
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    print("\n".join(markdown(args.model, measure_reference_use(trainer, args.batches))))


if __name__ == "__main__":
    run_script(main)
