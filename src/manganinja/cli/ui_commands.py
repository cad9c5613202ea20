"""``manganinja ui``: serve the point-clicking web page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app


@app.command()
def ui(
    model: Optional[Path] = typer.Option(None, "--model", help="Converted model folder (enables the 'ninja' engine)."),
    official: Optional[Path] = typer.Option(None, "--official", help="Official checkpoint folder (instead of --model)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; 0.0.0.0 exposes the page to the network."),
    port: int = typer.Option(7860, help="Port to listen on."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option("fp32", help="fp32, fp16 or bf16."),
    max_upload_mb: float = typer.Option(25.0, help="Largest accepted upload, in MB."),
    max_pixels: int = typer.Option(4096 * 4096, help="Largest accepted image, in pixels (width x height)."),
) -> None:
    """Serve the web page: upload references and a line art, click point pairs, colorize.

    Without --model/--official only the weight-free 'flat' engine is offered. The model is loaded
    once; requests are queued and run one at a time."""
    from manganinja.webui import UiLimits, launch

    if model is not None and official is not None:
        typer.echo("error: give at most one of --model and --official", err=True)
        raise typer.Exit(2)
    if max_upload_mb <= 0 or max_pixels <= 0:
        typer.echo(f"error: limits must be positive (max-upload-mb={max_upload_mb}, max-pixels={max_pixels})", err=True)
        raise typer.Exit(2)
    if not 0 < port < 65536:
        typer.echo(f"error: port must be in 1..65535, got {port}", err=True)
        raise typer.Exit(2)
    try:
        launch(model=model, official=official, host=host, port=port, device=device, dtype=dtype,
               limits=UiLimits(max_upload_mb=max_upload_mb, max_pixels=max_pixels))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
