"""``manganinja points suggest``: the weight-free matcher's most reliable point pairs, for review."""

from __future__ import annotations

from pathlib import Path

import typer

from manganinja.cli.points_commands import points_app


@points_app.command("suggest")
def suggest(
    reference: Path = typer.Argument(..., help="Colored reference image."),
    lineart: Path = typer.Argument(..., help="Line art (dark lines on light, or white on black)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the point pairs (JSON)."),
    k: int = typer.Option(12, "-k", "--k", help="How many pairs to suggest."),
) -> None:
    """Suggest the K most reliable point pairs (reference -> line art) found without any model,
    and write them as a point-pairs JSON file to review and edit."""
    from manganinja.flat.engine import suggest_points

    try:
        pairs = suggest_points(reference, lineart, k)
        path = pairs.to_json(out)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not pairs:
        typer.echo("warning: no reliable correspondences found; wrote an empty list", err=True)
    typer.echo(f"wrote {len(pairs)} point pair(s) to {path}")
