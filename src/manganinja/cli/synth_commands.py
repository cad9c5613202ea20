"""``manganinja synth``: write a synthetic cel-animation data set (manganinja.data.synthetic), or
synthetic animation shots (manganinja.data.synthetic_shots)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app, choices, flag, user_errors
from manganinja.data.synthetic import MOTIONS, SyntheticDataError, write_dataset
from manganinja.data.synthetic_shots import FAMILIES, ShotOptions, write_shots


@app.command("synth")
@user_errors
def synth(
    out: Path = typer.Option(..., "--output-dir", "--out", metavar="DIR", help="Output folder (created; must be empty or new)."),
    pairs: int = typer.Option(100, "--pairs", help="Number of reference/target pairs (>= 1)."),
    size: int = typer.Option(256, "--size", help="Image side in pixels (multiple of 8, >= 64)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives the same bytes."),
    overwrite: bool = flag(False, "overwrite", "Replace an existing data set written by this command."),
    shots: Optional[int] = typer.Option(
        None, "--shots", help="Write N animation shots (line/ and gt/ per frame) instead of pairs."
    ),
    frames: int = typer.Option(12, "--frames", help="Frames per shot (with --shots)."),
    motion: str = typer.Option(
        "full", "--motion", metavar=choices(MOTIONS),
        help="Pairs: how far the target moves from the reference (small: a curriculum's middle stage).",
    ),
    family: str = typer.Option(
        "character", "--family", metavar=choices(FAMILIES),
        help="With --shots: character, or an effect (effects = one of smoke, explosion, splash per shot).",
    ),
) -> None:
    """Generate pairs of frames of procedural characters with line art and exact point pairs,
    or (--shots N) animation cuts with ground truth for every frame."""
    if motion not in MOTIONS:
        raise SyntheticDataError(f"--motion {motion} is not one of {', '.join(MOTIONS)}")
    if shots is not None and motion != "full":
        raise SyntheticDataError(f"--motion {motion} applies to pairs, not to --shots; drop one of them")
    if shots is not None:
        path = write_shots(out, shots, ShotOptions(size=size, frames=frames, family=family), seed=seed,
                           overwrite=overwrite)
        typer.echo(f"wrote {shots} {family} shots of {frames} frames ({size}x{size}, seed {seed}) to {path}")
        return
    if family != "character":
        raise SyntheticDataError(f"--family {family} needs --shots N (pairs are always characters); add --shots N or drop --family")
    path = write_dataset(out, pairs, size=size, seed=seed, overwrite=overwrite, options=MOTIONS[motion])
    typer.echo(f"wrote {pairs} pairs ({size}x{size}, seed {seed}, {motion} motion) to {path}")
