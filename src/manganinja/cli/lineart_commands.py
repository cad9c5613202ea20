"""``manganinja lineart ...``: normalize or extract line art (white lines on black PNGs)."""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING, Optional

import typer

from manganinja.cli import app, fail, user_errors

if TYPE_CHECKING:
    from manganinja.lines import Lines

lineart_app = typer.Typer(
    help="Line art: bring a drawing to the model's convention, or draw one from a picture.",
    no_args_is_help=True,
)
app.add_typer(lineart_app, name="lineart")


def _save_lines(lines: "Lines", out: Path) -> None:
    """Write a line art as an 8-bit gray image (white lines on black), atomically."""
    from manganinja.images import save_image

    save_image(lines.to_image(), out)


def _check_output(image: Path, output: Path | None, old: Path | None) -> Path:
    """The output path (``-o/--output``, or the old second argument): a writable image path that
    is not the input (inputs are never overwritten)."""
    from manganinja.requests import check_inputs_kept, check_output_path

    if (output is None) == (old is None):
        fail("give the output image once, as -o/--output FILE")
    out = output if output is not None else old
    assert out is not None
    check_inputs_kept([out], [("input image", image)], "choose another --output")
    check_output_path(out)
    return out


@lineart_app.command("normalize")
@user_errors
def normalize(
    image: Path = typer.Argument(..., help="Line art in any form (ink on paper, transparent, ...)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE", help="Output image (white lines on black), e.g. out.png."),
    out: Optional[Path] = typer.Argument(None, hidden=True, help="Old place of --output (one release)."),
    polarity: str = typer.Option("auto", help="auto, dark-on-light or light-on-dark."),
) -> None:
    """Bring a line art to white lines on black, as the model reads it."""
    from manganinja.lines import Lines
    from manganinja.settings import InputSettings

    settings = InputSettings(polarity=polarity)
    out = _check_output(image, output, out)
    _save_lines(Lines.from_input(image, settings.polarity), out)
    typer.echo(f"wrote {out}")


@lineart_app.command("extract")
@user_errors
def extract(
    image: Path = typer.Argument(..., help="Color or gray picture, e.g. an anime frame."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE", help="Output image (white lines on black), e.g. out.png."),
    out: Optional[Path] = typer.Argument(None, hidden=True, help="Old place of --output (one release)."),
    method: str = typer.Option(
        "auto", help="auto (informative when weights are found, else xdog), xdog or informative."
    ),
    weights: Path | None = typer.Option(None, help="Official extractor weights (sk_model.pth)."),
    checkpoints: Path | None = typer.Option(
        None, help="Official checkpoints folder; its models/Annotators/sk_model.pth is used if present."
    ),
) -> None:
    """Draw a line art from a picture (weight-free XDoG, or the official extractor)."""
    from manganinja.lines import Lines, find_official_extractor

    out = _check_output(image, output, out)
    if weights is None and method != "xdog":
        weights = find_official_extractor(checkpoints)
    _save_lines(Lines.from_picture(image, method, weights), out)
    typer.echo(f"wrote {out}")
