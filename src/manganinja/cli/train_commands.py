"""``manganinja train``: run a training stage from a YAML config (manganinja.training).

Single process: ``manganinja train --config configs/tiny_cpu.yaml``. Several GPUs or nodes:
``accelerate launch -m manganinja train --config configs/paper_stage1.yaml`` (accelerate's own
options choose devices, processes and mixed precision defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app, user_errors


@app.command("train")
@user_errors
def train(
    config: Path = typer.Option(..., "--config", help="Training config (YAML); see configs/."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Override train.output_dir."),
    resume: Optional[str] = typer.Option(None, "--resume", help="'latest' or a checkpoint folder (train.resume)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override train.steps."),
) -> None:
    """Train MangaNinja (stage 1 or 2, as the config says); checkpoints are resumable."""
    from manganinja.training.config import load_config
    from manganinja.training.trainer import train as run_training

    overrides: dict = {"train": {}}
    if output_dir is not None:
        overrides["train"]["output_dir"] = str(output_dir)
    if resume is not None:
        overrides["train"]["resume"] = resume
    if steps is not None:
        overrides["train"]["steps"] = steps
    cfg = load_config(config, overrides)  # ConfigError, DatasetError, TrainingError, ...: one line
    result = run_training(cfg)
    where = result.final_dir or (result.checkpoints[-1] if result.checkpoints else cfg.train.output_dir)
    typer.echo(f"trained to step {result.step} ({result.seconds_per_step:.3f} s/step); saved {where}")


@app.command("train-autoencoder")
@user_errors
def train_autoencoder(
    config: Path = typer.Option(..., "--config", help="Autoencoder config (YAML), e.g. configs/tiny_synthetic_autoencoder.yaml."),
) -> None:
    """Train a small AutoencoderKL on synthetic frames (the VAE of a tiny MangaNinja)."""
    from manganinja.training.autoencoder import load_autoencoder_config, train_autoencoder as run

    cfg = load_autoencoder_config(config)  # AutoencoderConfigError, a ValueError: one line (user_errors)
    metrics = run(cfg)
    typer.echo(f"held-out PSNR {metrics['holdout_psnr_db']} dB; saved {cfg.train.output_dir}/final")


reproduce_app = typer.Typer(help="Run a whole reproduction chain (resumable).", no_args_is_help=True)
app.add_typer(reproduce_app, name="reproduce")


@reproduce_app.command("tiny")
@user_errors
def reproduce_tiny(
    out: Path = typer.Option(Path("runs/reproduce"), "--output-dir", "--out", metavar="DIR", help="Folder of the run (data, stages, model, tables, report)."),
    configs: Path = typer.Option(Path("configs"), "--configs", metavar="DIR", help="The repository's configs/ folder."),
    scale: str = typer.Option("full", "--scale", metavar="[full|short|smoke]",
                              help="'full' (the configs as they are: 102 min measured on 2 CPU cores), 'short' (the autoencoder at "
                                   "10000 of 14000 steps, the rest as the configs say: shorter by about a quarter of the autoencoder; "
                                   "docs/reproduce.md) or 'smoke' (seconds; a test)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads of the training parts (default: all the cores this process may use; the parts run one after another)."),
    autoencoder_config: Optional[Path] = typer.Option(
        None, "--autoencoder-config", metavar="FILE",
        help="The autoencoder's config (default: DIR/tiny_synthetic_autoencoder.yaml of --configs); the shipped model used "
             "configs/tiny_synthetic_autoencoder_long.yaml."),
    ablation: bool = typer.Option(
        False, "--ablation",
        help="After the chain, the ablation: stage 1 again with the paper's patch shuffle, stage 2 from it, and the four "
             "models (shuffle or not, stage 2 or not) scored alike (ablation.md; about 65 min more on 2 cores)."),
) -> None:
    """The tiny synthetic MangaNinja from nothing: data, autoencoder, stage 0, stage 1, stage 2,
    hints, validation, packaging and the evaluation tables, in order; a finished part is skipped."""
    from manganinja.training.reproduce import SCALES, Chain, ReproduceError

    if scale not in SCALES:
        raise ReproduceError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if threads is not None and threads < 1:
        raise ReproduceError(f"--threads must be >= 1, got {threads}")
    chain = Chain(out=out, configs=configs, scale=SCALES[scale], threads=threads, say=typer.echo,
                  autoencoder_config=autoencoder_config, ablation=ablation)
    chain.run()
    typer.echo(f"report: {out / 'report.md'}; tables: {out / 'tables.md'}" + (f"; ablation: {out / 'ablation.md'}" if ablation else ""))
