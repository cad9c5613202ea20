"""Package the trained tiny synthetic MangaNinja into ``models/tiny-synthetic`` (docs/reproduce.md).

    python benchmarks/tiny_synthetic_package.py

Loads the stage-2 pipeline (``runs/tiny_synthetic_stage2/final``), records its working
resolution and sampling settings as the pipeline config entry ``recommended`` (saved in
``model_index.json``), saves it with ``save_pretrained`` (safetensors) and writes a README.md
with the configs, the data seeds, the commands and the measured time of each part. The folder is
written under a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

#: Sampling settings the tiny model is used with: its training resolution and 10 DDIM steps; the
#: guidance scales are ``--guidance-scale-ref`` / ``--guidance-scale-point``, chosen on the
#: validation pairs (``benchmarks/tiny_synthetic_validate.py``, generator seed 3), never on the
#: benchmark pairs.
RECOMMENDED = {"resolution": 64, "steps": 10}

#: The commit whose code and configs trained the autoencoder and the stages (docs/reproduce.md).
TRAINING_COMMIT = "d80f00b"

COMMANDS = """\
manganinja synth --out data/synth256-train --pairs 4000 --size 256 --seed 0
manganinja synth --out data/synth256-aeval --pairs 64 --size 256 --seed 2
manganinja train-autoencoder --config configs/tiny_synthetic_autoencoder.yaml
manganinja train --config configs/tiny_synthetic_stage1.yaml
manganinja train --config configs/tiny_synthetic_stage2.yaml
python benchmarks/tiny_synthetic_package.py"""


def gnu_time(log: Path) -> dict[str, float]:
    """Wall and CPU seconds from the ``/usr/bin/time -v`` report at the end of ``log``."""
    text = log.read_text(errors="replace")
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    return {"wall_s": seconds, "cpu_s": user + system}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage2", type=Path, default=Path("runs/tiny_synthetic_stage2/final"))
    ap.add_argument("--out", type=Path, default=Path("models/tiny-synthetic"))
    ap.add_argument("--logs", type=Path, default=Path("runs"), help="folder of ae.log, stage1.log, stage2.log (/usr/bin/time -v)")
    ap.add_argument("--guidance-scale-ref", type=float, required=True,
                    help="the reference guidance scale chosen on the validation pairs (tiny_synthetic_validate.py)")
    ap.add_argument("--guidance-scale-point", type=float, default=15.0,
                    help="the point guidance scale chosen on the validation pairs (default: the official 15)")
    args = ap.parse_args()
    from manganinja.pipeline import MangaNinjaPipeline

    recommended = {**RECOMMENDED, "guidance_scale_ref": args.guidance_scale_ref, "guidance_scale_point": args.guidance_scale_point}
    pipe = MangaNinjaPipeline.from_pretrained(args.stage2)
    pipe.set_recommended(**recommended)
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    configs = Path("configs")
    times = {name: gnu_time(args.logs / f"{name}.log") for name in ("ae", "stage1", "stage2") if (args.logs / f"{name}.log").is_file()}
    ae_metrics = json.loads((Path("runs/tiny_synthetic_autoencoder/final/metrics.json")).read_text())
    params = {n: sum(p.numel() for p in getattr(pipe, n).parameters())
              for n in ("vae", "reference_unet", "denoising_unet", "controlnet", "point_net", "image_encoder")}
    rows = "\n".join(f"| {name} | {t['wall_s'] / 60:.1f} | {t['cpu_s'] / 60:.1f} |" for name, t in times.items())
    readme = f"""# tiny-synthetic: a miniature MangaNinja for the synthetic domain

Trained from scratch on this project's synthetic cartoon pairs (`manganinja synth`) at **64 px**
with the paper's recipe in miniature (docs/reproduce.md, third attempt): stage 1 trains the reference U-Net,
the denoising U-Net, the line-art ControlNet and PointNet together with progressive patch
shuffle, 0..24 point pairs per sample and condition dropping; stage 2 trains PointNet only. The
VAE is a small `AutoencoderKL` trained on the synthetic frames (held-out PSNR
{ae_metrics['holdout_psnr_db']:.2f} dB at 64 px); the CLIP image encoder is a tiny *random*
vision tower (frozen), so the reference reaches the model through the attention bank only.
Not SD1.5's noise schedule: v-prediction with a zero terminal SNR and trailing timesteps (with
SD1.5's schedule the last timestep still shows the target's colors to the model, which then
learns to read them from the noise instead of the reference; docs/reproduce.md). Both U-Nets
start from one random initialisation and the ControlNet from zero outputs, the shape of the
paper's start from SD1.5.

It is a demonstration that the recipe trains, not a colorizer for real line art.

```bash
manganinja colorize --model models/tiny-synthetic -r reference.png --image target.png --extractor xdog -o out.png
```

Recommended settings (`model_index.json` -> `recommended`; every entry point uses them as
defaults; the reference guidance scale was chosen on validation pairs, generator seed 3):
`{json.dumps(recommended)}`.

What it does and does not do, measured on held-out pairs: docs/reproduce.md.

Parameters: {', '.join(f'{k} {v:,}' for k, v in params.items())}.

## How it was made

Training data: `manganinja synth --seed 0` (4000 pairs drawn at 256 px, line art extracted
there, resized to 64 px); autoencoder hold-out: seed 2;
evaluation: `manganinja benchmark synth --seed 1` (pairs never seen in training). The stages ran
with the code and configs of commit `{TRAINING_COMMIT}` (the autoencoder with an earlier commit
whose autoencoder code is the same).

```bash
{COMMANDS}
```

Time of each part (the project's 2-core CPU; the autoencoder alone with 2 torch threads, stage 1
and its ablation side by side with 1 thread each, stage 2 alone; `/usr/bin/time -v`):

| part | wall (min) | CPU (min) |
|---|---|---|
{rows}

## Configs

"""
    for name in ("tiny_synthetic_autoencoder.yaml", "tiny_synthetic_stage1.yaml", "tiny_synthetic_stage2.yaml"):
        readme += f"### configs/{name}\n\n```yaml\n{(configs / name).read_text().rstrip()}\n```\n\n"
    (tmp / "README.md").write_text(readme)
    if args.out.exists():
        shutil.rmtree(args.out)
    tmp.rename(args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"saved {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
