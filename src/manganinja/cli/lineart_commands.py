"""``manganinja lineart ...``: normalize or extract line art (white lines on black PNGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from manganinja.cli import app

lineart_app = typer.Typer(
    help="Line art: bring a drawing to the model's convention, or draw one from a picture.",
    no_args_is_help=True,
)
app.add_typer(lineart_app, name="lineart")


def _save_lines(lines: np.ndarray, out: Path) -> None:
    """Write a ``(H, W)`` [0, 1] line map as an 8-bit gray image, atomically."""
    from manganinja.images import save_image

    save_image((np.clip(lines, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), out)


@lineart_app.command("normalize")
def normalize(
    image: Path = typer.Argument(..., help="Line art in any form (ink on paper, transparent, ...)."),
    out: Path = typer.Argument(..., help="Output image (white lines on black), e.g. out.png."),
    polarity: str = typer.Option("auto", help="auto, dark-on-light or light-on-dark."),
) -> None:
    """Bring a line art to white lines on black, as the model reads it."""
    from manganinja.lineart import normalize_lineart

    try:
        lines = normalize_lineart(image, polarity=polarity)
        _save_lines(lines, out)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out}")


@lineart_app.command("extract")
def extract(
    image: Path = typer.Argument(..., help="Color or gray picture, e.g. an anime frame."),
    out: Path = typer.Argument(..., help="Output image (white lines on black), e.g. out.png."),
    method: str = typer.Option(
        "auto", help="auto (informative when weights are found, else xdog), xdog or informative."
    ),
    weights: Path | None = typer.Option(None, help="Official extractor weights (sk_model.pth)."),
    checkpoints: Path | None = typer.Option(
        None, help="Official checkpoints folder; its models/Annotators/sk_model.pth is used if present."
    ),
) -> None:
    """Draw a line art from a picture (weight-free XDoG, or the official extractor)."""
    from manganinja.lineart import extract_lineart, find_official_extractor

    if weights is None and method != "xdog":
        weights = find_official_extractor(checkpoints)
    try:
        lines = extract_lineart(image, method=method, weights=weights)
        _save_lines(lines, out)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out}")
