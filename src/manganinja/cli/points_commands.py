"""``manganinja points ...``: check point files."""

from __future__ import annotations

from pathlib import Path

import typer

from manganinja.cli import app

points_app = typer.Typer(help="Point pairs: draw a point file to check it, or suggest pairs without a model.", no_args_is_help=True)
app.add_typer(points_app, name="points")


@points_app.command("draw")
def draw(
    reference: Path = typer.Argument(..., help="Reference image the pairs point into."),
    lineart: Path = typer.Argument(..., help="Line art image."),
    points: Path = typer.Argument(..., help="Point file (JSON: {\"pairs\": [...]})."),
    out: Path = typer.Option(..., "--out", help="Output image, e.g. check.png."),
    reference_index: int = typer.Option(
        0, help="Which reference REFERENCE is; pairs of other references are not drawn."
    ),
) -> None:
    """Draw numbered markers (one color per pair) on the reference and the line art, side by side."""
    from manganinja.images import save_image
    from manganinja.points import PointPairs
    from manganinja.points_draw import draw_points

    try:
        pairs = PointPairs.from_json(points)
        canvas = draw_points(reference, lineart, pairs, reference_index=reference_index)
        save_image(canvas, out)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    drawn = sum(p.reference_index == reference_index for p in pairs)
    typer.echo(f"wrote {out} ({drawn} of {len(pairs)} pairs drawn)")
