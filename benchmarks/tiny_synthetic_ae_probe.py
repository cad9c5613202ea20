"""Short autoencoder probes behind the second tiny-model attempt (docs/reproduce.md): a small
AutoencoderKL (the config's architecture) trained for a few hundred steps on the first 4000
training frames, printing the batch MSE every 50 steps and the held-out PSNR at the end.

    python benchmarks/tiny_synthetic_ae_probe.py TRAIN HOLDOUT THREADS LR MODE STEPS BATCH [CHANNELS]
    # TRAIN, HOLDOUT: folders written by `manganinja synth` (the second attempt: data/synth64-train,
    # data/synth64-aeval); MODE: sample (decode a posterior sample), det (the posterior mean),
    # detl1 (mean, L1 loss), a "cos" suffix for a one-cycle lr; CHANNELS e.g. 32,64,64
    python benchmarks/tiny_synthetic_ae_probe.py data/synth64-train data/synth64-aeval 1 2e-3 sample 300 8
    python benchmarks/tiny_synthetic_ae_probe.py data/synth64-train data/synth64-aeval 1 2e-3 det 600 2

A documented diagnostic (run with the package installed, or PYTHONPATH=src from a checkout).
"""
import sys
import time

import torch
from manganinja.training.autoencoder import load_frames, to_signed, reconstruction_psnr
from diffusers import AutoencoderKL
if len(sys.argv) < 8:
    sys.exit(f"usage: {sys.argv[0]} TRAIN HOLDOUT THREADS LR MODE STEPS BATCH [CHANNELS] (see the docstring)")
train_dir, holdout_dir = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
torch.set_num_threads(int(sys.argv[1])); lr=float(sys.argv[2]); mode=sys.argv[3]; steps=int(sys.argv[4]); bs=int(sys.argv[5])
chans=[int(c) for c in sys.argv[6].split(",")] if len(sys.argv)>6 else [32,64,64]
frames = load_frames([train_dir], 64)[:4000]
hold = load_frames([holdout_dir], 64)
torch.manual_seed(0)
n=len(chans)
vae = AutoencoderKL(in_channels=3,out_channels=3,down_block_types=["DownEncoderBlock2D"]*n,up_block_types=["UpDecoderBlock2D"]*n,
    block_out_channels=chans,layers_per_block=1,latent_channels=4,norm_num_groups=16,sample_size=64)
opt=torch.optim.AdamW(vae.parameters(), lr=lr)
sched=torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05) if mode.endswith("cos") else None
g=torch.Generator().manual_seed(0); t0=time.time()
for s in range(1,steps+1):
    x=to_signed(frames[torch.randint(len(frames),(bs,),generator=g)])
    post=vae.encode(x).latent_dist
    z = post.mode() if mode.startswith("det") else post.mean+post.std*torch.randn(post.mean.shape,generator=g)
    rec=vae.decode(z).sample
    mse=(rec-x).square().mean()
    loss=mse if "l1" not in mode else (rec-x).abs().mean()
    loss = loss + 1e-6*post.kl().mean()/x[0].numel()
    opt.zero_grad(); loss.backward(); opt.step()
    if sched: sched.step()
    if s%50==0: print(s, float(mse.detach()), f"{time.time()-t0:.0f}s", flush=True)
vae.eval(); print("RESULT", sys.argv[1:], "holdout", reconstruction_psnr(vae, hold), "time", time.time()-t0, flush=True)
