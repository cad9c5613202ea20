"""Correspondence probe (DIFT-style): do a U-Net's self-attention features match the same part
across the two frames of a synthetic pair, before any MangaNinja training?

For each pair (generator ``--seed``, drawn at ``--draw-size`` px; up to 50 exact point pairs
each), both frames go through the VAE at the model's working size, are noised at ``--timestep``
(``--ensemble`` noises, features averaged) and run once through the chosen U-Net with the
unconditional token; the hidden states entering ``attn1`` of the chosen up blocks are matched by
cosine (see :mod:`manganinja.training.correspondence`). Printed per layer set: the share of
target points whose match lies on the point's part, within 0.1 x size (PCK@0.1) and within
``--k`` px, pooled over pairs; plus the color-only baseline (nearest RGB).

    python benchmarks/correspondence_probe.py random --vae models/tiny-synthetic/vae
    python benchmarks/correspondence_probe.py runs/tiny_synthetic_stage0/final
    python benchmarks/correspondence_probe.py models/tiny-synthetic --unet denoising_unet

MODEL: a pipeline folder (``save_pretrained`` layout: a trained stage, the shipped model) or
``random``: the tiny start of the configs (``model.tiny_start: paper``, ``--init-seed``,
``--unet-channels``, the ``--vae`` given), with the stage configs' noise schedule.
Run with the package installed, as the README installs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from manganinja.cli import run_script
from manganinja.images import write_json_atomic
from manganinja.requests import check_at_least, check_input_folder, check_report_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="pipeline folder, or 'random' (the tiny paper-shaped start)")
    p.add_argument("--pairs", type=int, default=16, help="pairs to probe (default 16)")
    p.add_argument("--seed", type=int, default=1, help="generator seed of the pairs (default 1: never trained on)")
    p.add_argument("--draw-size", type=int, default=256, help="size the pairs are drawn and scored at (default 256)")
    p.add_argument("--resolution", type=int, default=64, help="the model's working size in px (default 64)")
    p.add_argument("--timestep", type=int, default=261, help="noise timestep of both frames (default 261, DIFT's)")
    p.add_argument("--ensemble", type=int, default=4, help="noises averaged per frame (default 4)")
    p.add_argument("--k", type=float, default=12.0, help="the small PCK radius in drawn px (default 12)")
    p.add_argument("--unet", default="denoising_unet", choices=["denoising_unet", "reference_unet"])
    p.add_argument("--layers", nargs="+", default=None,
                   help="block prefixes to probe, each alone and all together (default: every up block)")
    p.add_argument("--vae", default="models/tiny-synthetic/vae", help="the VAE of a 'random' start")
    p.add_argument("--init-seed", type=int, default=0, help="seed of a 'random' start (default 0, the configs')")
    p.add_argument("--unet-channels", type=int, nargs="+", default=[32, 64], help="U-Net widths of a 'random' start")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    source = ("model folder", Path(args.model)) if args.model != "random" else ("--vae folder", Path(args.vae))
    if args.model == "random":
        check_input_folder(Path(args.vae), "--vae", "AutoencoderKL")
    else:
        check_input_folder(Path(args.model), "", "pipeline")
    check_at_least({"--pairs": args.pairs, "--ensemble": args.ensemble}, 1)
    if args.json is not None:
        check_report_path(Path(args.json), "--json", [source])
    return args


def load_model(args: argparse.Namespace):
    """The pipeline to probe."""
    from manganinja.pipeline import MangaNinjaPipeline

    if args.model != "random":
        return MangaNinjaPipeline.from_pretrained(args.model)
    from manganinja.training.config import resolve_config
    from manganinja.training.trainer import build_pipeline

    cfg = resolve_config({"model": {
        "init": "tiny", "seed": args.init_seed, "vae": args.vae, "unet_channels": args.unet_channels,
        "tiny_start": "paper",
        "schedule": {"prediction_type": "v_prediction", "zero_terminal_snr": True, "timestep_spacing": "trailing"},
    }})
    return build_pipeline(cfg)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from manganinja.training import correspondence as C

    torch.set_num_threads(args.threads)
    pipe = load_model(args)
    unet = getattr(pipe, args.unet).eval()
    prefixes = args.layers or [f"up_blocks.{i}" for i in range(len(unet.up_blocks))]
    try:
        layer_sets = [[p] for p in prefixes] + ([prefixes] if len(prefixes) > 1 else [])
        for s in layer_sets:
            C.attention_block_names(unet, s)
    except ValueError as exc:
        print(f"error: --layers: {exc}", file=sys.stderr)
        return 2
    pairs = C.synthetic_probe_pairs(args.seed, args.pairs, args.draw_size)
    rows = []
    started = time.perf_counter()
    for s in layer_sets:
        blocks = C.attention_block_names(unet, s)
        feats = C.unet_features(pipe, unet, blocks, args.timestep, args.resolution, args.ensemble, seed=0)
        res = C.run_probe(pairs, feats, k=args.k).summary()
        rows.append({"features": "+".join(s), **res})
    rows.append({"features": "pixels (RGB, nearest color)", **C.run_probe(pairs, C.pixel_features, k=args.k, metric="l2").summary()})
    print(f"# correspondence probe: {args.model} ({args.unet}), {args.pairs} pairs of seed {args.seed} "
          f"drawn at {args.draw_size} px, model at {args.resolution} px, t={args.timestep}, ensemble {args.ensemble} "
          f"({time.perf_counter() - started:.0f} s)")
    print(f"| features | points | right part | PCK@0.1 ({0.1 * args.draw_size:.0f} px) | PCK@{args.k:g} px |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['features']} | {int(r['points'])} | {r['part']:.3f} | {r['pck10']:.3f} | {r['pck_k']:.3f} |")
    if args.json:
        write_json_atomic({"args": vars(args), "rows": rows}, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
