"""Short autoencoder probes behind the second tiny-model attempt (docs/reproduce.md): a small
AutoencoderKL (the config's architecture) trained for a few hundred steps on the first 4000
training frames, printing the batch MSE every 50 steps and the held-out PSNR at the end.

    python benchmarks/tiny_synthetic_ae_probe.py TRAIN HOLDOUT THREADS LR MODE STEPS BATCH [CHANNELS]
    # TRAIN, HOLDOUT: folders written by `manganinja synth` (the second attempt: data/synth64-train,
    # data/synth64-aeval); MODE: sample (decode a posterior sample), det (the posterior mean),
    # detl1 (mean, L1 loss), a "cos" suffix for a one-cycle lr; CHANNELS e.g. 32,64,64
    python benchmarks/tiny_synthetic_ae_probe.py data/synth64-train data/synth64-aeval 1 2e-3 sample 300 8
    python benchmarks/tiny_synthetic_ae_probe.py data/synth64-train data/synth64-aeval 1 2e-3 det 600 2

A documented diagnostic (run with the package installed, as the README installs it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from manganinja.cli import run_script
from manganinja.requests import RequestError, check_at_least
from manganinja.training.autoencoder import (AutoencoderModelSection, load_frames, new_autoencoder,
                                             reconstruction_psnr, to_signed)

MODES = ("sample", "det", "detl1", "samplecos", "detcos", "detl1cos")


def probe(train_dir: Path, holdout_dir: Path, lr: float, mode: str, steps: int, batch: int, channels: list[int]) -> float:
    """Train a random autoencoder of ``channels`` (the config's other settings) for ``steps`` steps
    of ``batch`` frames (64 px, the first 4000 of ``train_dir``); prints the batch MSE every 50
    steps and returns the held-out PSNR (dB) on ``holdout_dir``'s frames."""
    frames = load_frames([str(train_dir)], 64)[:4000]
    hold = load_frames([str(holdout_dir)], 64)
    torch.manual_seed(0)
    vae = new_autoencoder(AutoencoderModelSection(block_out_channels=channels), 64)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05) if mode.endswith("cos") else None
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    for s in range(1, steps + 1):
        x = to_signed(frames[torch.randint(len(frames), (batch,), generator=g)])
        post = vae.encode(x).latent_dist
        z = post.mode() if mode.startswith("det") else post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        mse = (rec - x).square().mean()
        loss = mse if "l1" not in mode else (rec - x).abs().mean()
        loss = loss + 1e-6 * post.kl().mean() / x[0].numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        if s % 50 == 0:
            print(s, float(mse.detach()), f"{time.time() - t0:.0f}s", flush=True)
    vae.eval()
    return reconstruction_psnr(vae, hold)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train", type=Path, help="training frames (a manganinja synth folder)")
    p.add_argument("holdout", type=Path, help="held-out frames (a manganinja synth folder)")
    p.add_argument("threads", type=int)
    p.add_argument("lr", type=float)
    p.add_argument("mode", choices=MODES)
    p.add_argument("steps", type=int)
    p.add_argument("batch", type=int)
    p.add_argument("channels", nargs="?", default="32,64,64", help="block widths, e.g. 32,64,64")
    args = p.parse_args(argv)
    try:
        channels = [int(c) for c in args.channels.split(",")]
    except ValueError:
        raise RequestError(f"CHANNELS {args.channels!r}: give widths separated by commas, e.g. 32,64,64") from None
    check_at_least({"THREADS": args.threads, "STEPS": args.steps, "BATCH": args.batch, "CHANNELS": min(channels)}, 1)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    psnr = probe(args.train, args.holdout, args.lr, args.mode, args.steps, args.batch, channels)
    print("RESULT", [args.threads, args.lr, args.mode, args.steps, args.batch, args.channels], "holdout", psnr,
          "time", time.time() - t0, flush=True)


if __name__ == "__main__":
    run_script(main)
