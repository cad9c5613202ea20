"""``manganinja synth``: write a synthetic cel-animation data set (manganinja.data.synthetic)."""

from __future__ import annotations

from pathlib import Path

import typer

from manganinja.cli import app, flag, user_errors
from manganinja.data.synthetic import write_dataset


@app.command("synth")
@user_errors
def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (created; must be empty or new)."),
    pairs: int = typer.Option(100, "--pairs", help="Number of reference/target pairs (>= 1)."),
    size: int = typer.Option(256, "--size", help="Image side in pixels (multiple of 8, >= 64)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives the same bytes."),
    overwrite: bool = flag(False, "overwrite", "Replace an existing data set written by this command."),
) -> None:
    """Generate pairs of frames of procedural characters with line art and exact point pairs."""
    path = write_dataset(out, pairs, size=size, seed=seed, overwrite=overwrite)
    typer.echo(f"wrote {pairs} pairs ({size}x{size}, seed {seed}) to {path}")
