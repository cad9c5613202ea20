"""``manganinja points draw|suggest|convert``: draw a point file to check it, suggest pairs without a
model, or convert the official code's point maps."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app, user_errors

points_app = typer.Typer(help="Point pairs: draw a point file to check it, suggest pairs without a model, or convert the official code's point maps.", no_args_is_help=True)
app.add_typer(points_app, name="points")


@points_app.command("draw")
@user_errors
def draw(
    reference: Path = typer.Argument(..., help="Reference image the pairs point into."),
    lineart: Path = typer.Argument(..., help="Line art image."),
    points: Path = typer.Argument(..., help="Point file (JSON: {\"pairs\": [...]})."),
    out: Path = typer.Option(..., "-o", "--output", "--out", metavar="FILE", help="Output image, e.g. check.png."),
    reference_index: int = typer.Option(
        0, help="Which reference REFERENCE is; pairs of other references are not drawn."
    ),
) -> None:
    """Draw numbered markers (one color per pair) on the reference and the line art, side by side."""
    from manganinja.images import save_image
    from manganinja.points import PointPairs
    from manganinja.points_draw import draw_points
    from manganinja.requests import check_inputs_kept, check_output_path

    check_inputs_kept([out], [("reference", reference), ("line art", lineart), ("points file", points)],
                      "choose another --output")
    check_output_path(out)
    pairs = PointPairs.from_json(points)
    canvas = draw_points(reference, lineart, pairs, reference_index=reference_index)
    save_image(canvas, out)
    drawn = sum(p.reference_index == reference_index for p in pairs)
    typer.echo(f"wrote {out} ({drawn} of {len(pairs)} pairs drawn)")


@points_app.command("suggest")
@user_errors
def suggest(
    reference: Path = typer.Argument(..., help="Colored reference image."),
    lineart: Path = typer.Argument(..., help="Line art (dark lines on light, or white on black)."),
    out: Path = typer.Option(..., "-o", "--output", "--out", metavar="FILE", help="Where to write the point pairs (JSON)."),
    k: int = typer.Option(12, "-k", "--k", min=1, metavar="N", help="How many pairs to suggest (>= 1)."),
) -> None:
    """Suggest the K most reliable point pairs (reference -> line art) found without any model,
    and write them as a point-pairs JSON file to review and edit."""
    from manganinja.flat.engine import suggest_points
    from manganinja.lines import Lines
    from manganinja.requests import check_inputs_kept, check_points_output

    check_inputs_kept([out], [("reference", reference), ("line art", lineart)], "choose another --output")
    check_points_output(out)
    pairs = suggest_points(reference, Lines.from_input(lineart).array, k)
    path = pairs.to_json(out)
    if not pairs:
        typer.echo("warning: no reliable correspondences found; wrote an empty list", err=True)
    typer.echo(f"wrote {len(pairs)} point pair(s) to {path}")


@points_app.command("convert")
@user_errors
def convert(
    reference_map: Path = typer.Argument(..., help="The official code's point map of the reference (.npy)."),
    lineart_map: Path = typer.Argument(..., help="Its point map of the line art (.npy): pair i marked with value i on both."),
    out: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the point pairs (a .json file)."),
    reference: Optional[Path] = typer.Option(
        None, "--reference", "-r", metavar="FILE", help="The reference picture the map was clicked on: points scaled to its size "
        "(default: the map's own pixels, 512 x 512 in the official code)."),
    lineart: Optional[Path] = typer.Option(
        None, "--lineart", "-l", metavar="FILE", help="The line art picture its map was clicked on: points scaled to its size."),
) -> None:
    """Convert the official code's two .npy point maps into a point-pairs JSON file (the format
    `colorize --points`, `points draw` and the web UI read)."""
    from manganinja.points import PointPairs
    from manganinja.requests import check_inputs_kept, check_points_output, image_size

    pictures = (("reference", reference), ("line art", lineart))
    inputs = [("reference map", reference_map), ("line-art map", lineart_map), *((n, p) for n, p in pictures if p is not None)]
    check_inputs_kept([out], inputs, "choose another --output")
    check_points_output(out)
    sizes = [image_size(path, name) if path is not None else None for name, path in pictures]
    pairs = PointPairs.from_official_maps(reference_map, lineart_map, sizes[0], sizes[1])
    path = pairs.to_json(out)
    typer.echo(f"wrote {len(pairs)} point pair(s) to {path}")
