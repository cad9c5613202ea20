"""``manganinja convert`` and ``manganinja colorize``."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional, get_args

import typer

from manganinja.cli import FLAG_VALUES, app, choices, fail, flag, hide_library_progress, refuse_options, user_errors
from manganinja.cli import options
from manganinja.settings import EngineName, RunSettings, option_default

if TYPE_CHECKING:
    from manganinja.requests import ColorizeRequest

log = logging.getLogger("manganinja")

#: ``colorize`` options of the model alone (refused with ``--engine flat``, not ignored).
NINJA_ONLY = ("steps", "fast", "offload", "attention_chunk", "vae_tiling", "guidance_ref",
              "guidance_point", "guidance", "seed", "resolution", "reference_mode", "device", "dtype", "latents",
              "snap", "keep_shading", "guide_fill")



@app.command()
@user_errors
def convert(
    official: Path = typer.Option(..., "--official", help="Official checkpoint folder (StableDiffusion/, models/, MangaNinjia/)."),
    output: Path = typer.Option(..., "--output-dir", "--output", metavar="DIR", help="Folder for the converted model (diffusers layout, safetensors)."),
    overwrite: bool = flag(False, "overwrite", "Replace an existing output folder."),
) -> None:
    """Convert the official release into one diffusers-layout folder (no text encoder needed)."""
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.requests import check_folder_kept, check_folder_writable

    check_folder_kept(output, [("--official folder", official)], "choose another --output-dir")
    check_folder_writable(output.parent, f"--output-dir '{output}'")  # staging is made beside it
    if output.exists() and any(output.iterdir()) and not overwrite:
        fail(f"output folder '{output}' exists and is not empty; pass --overwrite to replace it")
    pipe = MangaNinjaPipeline.from_official(official)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        pipe.save_pretrained(staging)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    typer.echo(f"wrote {output}")


@app.command()
@user_errors
def colorize(
    ctx: typer.Context,
    reference: list[Path] = typer.Option(..., "--reference", "-r", help="Reference image; repeat for several."),
    lineart: Optional[list[str]] = typer.Option(None, "--lineart", "-l", help="Line art file(s), folder or glob; more pages may follow as arguments."),
    pages: Optional[list[str]] = typer.Argument(None, help="More line-art pages (after --lineart)."),
    image: Optional[Path] = typer.Option(None, "--image", help="A color/gray picture to extract line art from (any engine)."),
    points: Optional[Path] = typer.Option(None, "--points", "-p", help="Point pairs JSON."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image (one page)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Output folder (many pages)."),
    engine_name: str = typer.Option("ninja", "--engine", "-e", metavar=choices(get_args(EngineName)), help="ninja (the model) or flat (weight-free, no model needed)."),
    model: Optional[str] = options.MODEL,
    official: Optional[Path] = options.OFFICIAL,
    steps: Optional[int] = options.STEPS,
    fast: bool = options.FAST,
    offload: str = typer.Option(option_default("offload"), "--offload", help="none, reference or model (CPU offload)."),
    attention_chunk: Optional[int] = typer.Option(None, "--attention-chunk", help="Attention slicing: queries per slice."),
    vae_tiling: bool = flag(option_default("vae_tiling"), "vae-tiling", "Tile the VAE (large outputs)."),
    guidance_ref: Optional[float] = options.GUIDANCE_REF,
    guidance_point: Optional[float] = options.GUIDANCE_POINT,
    guidance: str = options.GUIDANCE,
    seed: int = options.SEED,
    resolution: Optional[int] = options.RESOLUTION,
    reference_mode: str = options.REFERENCE_MODE,
    device: str = options.DEVICE,
    dtype: str = options.DTYPE,
    latents: Optional[Path] = typer.Option(None, "--latents", help="Initial noise (.safetensors, [1,4,h/8,w/8])."),
    polarity: str = typer.Option(option_default("polarity"), "--polarity", help="Line-art polarity: auto, dark-on-light or light-on-dark."),
    extractor: str = typer.Option(option_default("extractor"), "--extractor", help="For --image: auto, xdog or informative."),
    extractor_weights: Optional[Path] = typer.Option(None, "--extractor-weights", help="sk_model.pth of the official extractor."),
    snap: bool = flag(option_default("snap"), "snap", "ninja: snap colors to the line art's regions at full resolution."),
    keep_shading: bool = flag(option_default("keep_shading"), "keep-shading", "With --snap: keep the lightness variation inside regions."),
    guide_fill: bool = flag(option_default("guide_fill"), "guide-fill", "With --snap: a region holding a guide's line-art point takes the guide's reference color."),
    layers: bool = flag(False, "layers", "Also write NAME_color.png (fills) and NAME_lines.png (lines)."),
    overwrite: bool = flag(False, "overwrite", "Redo pages whose output exists."),
    processes: int = typer.Option(1, "--processes", help="Worker processes (e.g. one per GPU); the pages are shared among them."),
    quiet: bool = flag(False, "quiet", "No progress bars."),
) -> None:
    """Colorize line art after one or more references (one page or a whole chapter).

    Everything is checked before the model is loaded; errors are one line."""
    from manganinja.requests import validate_colorize

    sources = list(lineart or []) + list(pages or [])
    if processes < 1:
        fail(f"--processes must be >= 1, got {processes}")
    stray = [s for s in (pages or []) if s.lower() in FLAG_VALUES and not Path(s).exists()]
    if stray:
        fail(f"'{stray[0]}' was read as a page: on/off options take no value; write --layers or --no-layers (likewise --snap/--no-snap ...)")
    if engine_name not in ("ninja", "flat"):
        fail(f"--engine must be 'ninja' or 'flat', got {engine_name!r}")
    if engine_name == "flat":
        refuse_options(ctx, NINJA_ONLY, "to the ninja engine only (the flat engine has no model)")
    elif quiet:
        hide_library_progress()
    run = RunSettings.from_options(
        engine=engine_name, model=model, official=official, device=device, dtype=dtype, offload=offload,
        attention_chunk=attention_chunk, vae_tiling=vae_tiling, steps=steps, guidance_ref=guidance_ref,
        guidance_point=guidance_point, guidance=guidance, seed=seed, resolution=resolution,
        reference_mode=reference_mode, fast=fast, snap=snap, keep_shading=keep_shading, guide_fill=guide_fill,
        progress=not quiet,
        polarity=polarity, extractor=extractor, extractor_weights=extractor_weights,
    )
    request = validate_colorize(
        engine=run.engine, references=reference, lineart=sources, image=image, points=points,
        output=output, output_dir=output_dir, layers=layers, overwrite=overwrite or output is not None,
        ninja=run.ninja, flat=run.flat, inputs=run.inputs, load=run.load, latents=latents,
    )
    _run_colorize(request, quiet, processes)


def _run_colorize(request: "ColorizeRequest", quiet: bool, processes: int = 1) -> None:
    """Run the request through the library (:func:`manganinja.colorize.run_colorize`) and report:
    one line per failed page and a summary; exit 1 when a page failed. With ``processes`` > 1
    (outside a launcher) the command is rerun as that many workers, which share the pages."""
    from manganinja.colorize import run_colorize
    from manganinja.workers import launch, launched_worker, write_report

    if processes > 1 and not launched_worker():
        code, summary = launch(sys.argv[1:], processes)  # the workers rerun this command
        typer.echo(summary, err=code != 0)
        raise typer.Exit(code)
    outcome = run_colorize(request, progress=not quiet)
    results, counts = outcome.results, outcome.counts()
    prefix = f"[process {outcome.index}] " if outcome.count > 1 else ""
    for r in results:
        if r.status == "failed":
            typer.echo(f"{prefix}failed: {r.page}: {r.error}", err=True)
    if len(results) == 1 and not counts["failed"]:
        typer.echo(f"{prefix}wrote {results[0].output}")
    else:
        typer.echo(f"{prefix}{counts['done']} written, {counts['skipped']} skipped, {counts['failed']} failed")
    if write_report(counts):
        return  # the --processes launcher sums the reports and sets the exit code
    outcome.wait_for_others()  # a worker exiting 1 makes the launcher stop the others: finish together
    if counts["failed"]:
        raise typer.Exit(1)
