"""``manganinja ui``: serve the point-clicking web page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app, fail, user_errors
from manganinja.settings import RunSettings, option_default


@app.command()
@user_errors
def ui(
    model: Optional[str] = typer.Option(None, "--model", help="Converted model folder (enables the 'ninja' engine)."),
    official: Optional[Path] = typer.Option(None, "--official", help="Official checkpoint folder (instead of --model)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; 0.0.0.0 exposes the page to the network."),
    port: int = typer.Option(7860, help="Port to listen on."),
    device: str = typer.Option(option_default("device"), help="auto, cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option(option_default("dtype"), help="fp32, fp16 or bf16."),
    max_upload_mb: float = typer.Option(25.0, help="Largest accepted upload, in MB."),
    max_pixels: int = typer.Option(4096 * 4096, help="Largest accepted image, in pixels (width x height)."),
) -> None:
    """Serve the web page: upload references and a line art, click point pairs, colorize.

    Without --model/--official only the weight-free 'flat' engine is offered. The model is loaded
    once; requests are queued and run one at a time. The page's URL is printed."""
    from manganinja.engines import check_model_source
    from manganinja.webui import UiLimits, check_port, launch

    if max_upload_mb <= 0 or max_pixels <= 0:
        fail(f"limits must be positive (max-upload-mb={max_upload_mb}, max-pixels={max_pixels})")
    load = RunSettings.from_options(model=model, official=official, device=device, dtype=dtype).load
    check_port(host, port)  # before the model is loaded
    if model is not None or official is not None:
        check_model_source(load)
    launch(load, host=host, port=port, limits=UiLimits(max_upload_mb=max_upload_mb, max_pixels=max_pixels),
           announce=typer.echo)
