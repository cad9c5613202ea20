"""Package a tiny synthetic MangaNinja trained by hand, one command per part, into
``models/tiny-synthetic`` (docs/reproduce.md; the seventh attempt's model was made this way). The
driver, ``manganinja reproduce tiny``, packages its own run with the same model card
(:func:`manganinja.training.reproduce.model_card`); the shipped model is such a run since the
eleventh attempt.

    python benchmarks/tiny_synthetic_package.py --stage2 RUN/final --guidance-scale-ref REF \
        --guidance-scale-point POINT --time stage0=MIN --time stage1=MIN ...

Loads the stage-2 pipeline (``--stage2``), records its working
resolution and sampling settings as the pipeline config entry ``recommended`` (saved in
``model_index.json``), saves it with ``save_pretrained`` (safetensors) and writes a README.md
with the configs, the data seeds, the commands and the measured time of each part. The folder is
written under a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from manganinja.cli import run_script
from manganinja.requests import check_input_folder
from manganinja.training.reproduce import AUTOENCODER_CONFIG, STAGE_CONFIGS, TINY_RECOMMENDED

# Sampling settings the tiny model is used with: the driver's (TINY_RECOMMENDED: its training
# resolution and 10 DDIM steps); the guidance scales are ``--guidance-scale-ref`` /
# ``--guidance-scale-point``, chosen on the validation pairs (``benchmarks/tiny_synthetic_validate.py``,
# generator seed 3), never on the benchmark pairs.

#: The commit whose training code trained the stages (unchanged since; docs/reproduce.md, seventh attempt).
TRAINING_COMMIT = "5906a25"

#: The configs of the chain, in order (listed in the model's README): the driver's.
CONFIGS = (AUTOENCODER_CONFIG, *STAGE_CONFIGS.values())

COMMANDS = """\
manganinja synth --output-dir data/synth256-train --pairs 4000 --size 256 --seed 0
manganinja synth --output-dir data/synth256-aeval --pairs 64 --size 256 --seed 2
manganinja benchmark synth --out data/val256-seed3 --pairs 8 --size 256 --seed 3
manganinja train-autoencoder --config configs/tiny_synthetic_autoencoder.yaml
manganinja train --config configs/tiny_synthetic_stage0.yaml
manganinja train --config configs/tiny_synthetic_stage1_match.yaml
manganinja train --config configs/tiny_synthetic_stage2.yaml
python benchmarks/tiny_synthetic_validate.py runs/tiny_synthetic_stage2/final
python benchmarks/tiny_synthetic_package.py --stage2 runs/tiny_synthetic_stage2/final --ae-psnr 27.31 \\
    --guidance-scale-ref REF --guidance-scale-point POINT --time stage0=MIN ..."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage2", type=Path, default=Path("runs/tiny_synthetic_stage2/final"))
    ap.add_argument("--out", type=Path, default=Path("models/tiny-synthetic"))
    ap.add_argument("--time", action="append", default=[], metavar="PART=MIN",
                    help="wall minutes of a part as measured (repeatable; e.g. stage1=21.1)")
    ap.add_argument("--ae-psnr", type=float, default=None,
                    help="the autoencoder's held-out PSNR (default: from runs/tiny_synthetic_autoencoder/final/metrics.json)")
    ap.add_argument("--guidance-scale-ref", type=float, required=True,
                    help="the reference guidance scale chosen on the validation pairs (tiny_synthetic_validate.py)")
    ap.add_argument("--guidance-scale-point", type=float, default=15.0,
                    help="the point guidance scale chosen on the validation pairs (default: the official 15)")
    args = ap.parse_args()
    # every argument checked before the model is loaded or anything is written
    times = {}
    for item in args.time:
        name, _, minutes = item.partition("=")
        try:
            times[name] = float(minutes)
        except ValueError:
            ap.error(f"--time {item!r}: give PART=MINUTES, e.g. stage1=21.1")
    metrics_file = Path("runs/tiny_synthetic_autoencoder/final/metrics.json")
    if args.ae_psnr is not None:
        ae_metrics = {"holdout_psnr_db": args.ae_psnr}
    elif metrics_file.is_file():
        ae_metrics = json.loads(metrics_file.read_text())
    else:
        ap.error(f"{metrics_file} not found: give the autoencoder's held-out PSNR with --ae-psnr")
    check_input_folder(args.stage2, "--stage2", "pipeline")
    if args.out.resolve() == args.stage2.resolve():
        ap.error(f"--out {args.out} is the --stage2 folder: it would be replaced; give another folder")
    from manganinja.pipeline import MangaNinjaPipeline

    recommended = {**TINY_RECOMMENDED, "guidance_scale_ref": args.guidance_scale_ref, "guidance_scale_point": args.guidance_scale_point}
    pipe = MangaNinjaPipeline.from_pretrained(args.stage2)
    pipe.set_recommended(**recommended)
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    from manganinja.training.reproduce import model_card

    configs = Path("configs")
    readme = model_card(
        pipe, ae_psnr=float(ae_metrics["holdout_psnr_db"]), configs=[configs / name for name in CONFIGS],
        made=f"by hand, one command per part, with the training code of commit `{TRAINING_COMMIT}` (unchanged since; "
             "stage 0 is the sixth attempt's run) and the configs below; the autoencoder is the third attempt's",
        commands=COMMANDS, times=times,
        time_note="the project's 2-core CPU, 1 torch thread per run, two or three runs side by side; the trainer's own "
                  "count of seconds per step times the steps")
    (tmp / "README.md").write_text(readme)
    if args.out.exists():
        shutil.rmtree(args.out)
    tmp.rename(args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"saved {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    run_script(main)
