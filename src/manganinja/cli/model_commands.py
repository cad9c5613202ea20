"""``manganinja convert`` and ``manganinja colorize``."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app

log = logging.getLogger("manganinja")


def fail(message: str) -> None:
    """Print a one-line error and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def convert(
    official: Path = typer.Option(..., "--official", help="Official checkpoint folder (StableDiffusion/, models/, MangaNinjia/)."),
    output: Path = typer.Option(..., "--output", help="Folder for the converted model (diffusers layout, safetensors)."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Convert the official release into one diffusers-layout folder (no text encoder needed)."""
    from manganinja.models.loading import CheckpointError
    from manganinja.pipeline import MangaNinjaPipeline

    if output.exists() and any(output.iterdir()) and not overwrite:
        fail(f"output folder '{output}' exists and is not empty; pass --overwrite to replace it")
    try:
        pipe = MangaNinjaPipeline.from_official(official)
    except CheckpointError as exc:
        fail(str(exc))
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
def colorize(
    reference: list[Path] = typer.Option(..., "--reference", "-r", help="Reference image; repeat for several."),
    lineart: Optional[list[str]] = typer.Option(None, "--lineart", "-l", help="Line art file(s), folder or glob; more pages may follow as arguments."),
    pages: Optional[list[str]] = typer.Argument(None, help="More line-art pages (after --lineart)."),
    image: Optional[Path] = typer.Option(None, "--image", help="A color/gray picture to extract line art from."),
    points: Optional[Path] = typer.Option(None, "--points", "-p", help="Point pairs JSON."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image (one page)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Output folder (many pages)."),
    model: Optional[str] = typer.Option(None, "--model", help="Converted model folder (or Hugging Face id)."),
    official: Optional[Path] = typer.Option(None, "--official", help="Official checkpoint folder."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Denoising steps (default 50; 20 with --fast)."),
    fast: bool = typer.Option(False, "--fast", help="DPM-Solver++ 20 steps; on a GPU also fp16 and torch.compile."),
    offload: str = typer.Option("none", "--offload", help="none, reference or model (CPU offload)."),
    attention_chunk: Optional[int] = typer.Option(None, "--attention-chunk", help="Attention slicing: queries per slice."),
    vae_tiling: bool = typer.Option(False, "--vae-tiling", help="Tile the VAE (large outputs)."),
    guidance_ref: float = typer.Option(9.0, "--guidance-ref", help="Reference guidance scale."),
    guidance_point: float = typer.Option(15.0, "--guidance-point", help="Point guidance scale."),
    guidance: str = typer.Option("official", "--guidance", help="Guidance formula: official or paper."),
    seed: int = typer.Option(0, "--seed"),
    resolution: int = typer.Option(512, "--resolution", help="Processing long side (multiple of 64)."),
    reference_mode: str = typer.Option("concat", "--reference-mode", help="Several references: concat or stitch."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, fp16 or bf16."),
    latents: Optional[Path] = typer.Option(None, "--latents", help="Initial noise (.safetensors, [1,4,h/8,w/8])."),
    polarity: str = typer.Option("auto", "--polarity", help="Line-art polarity: auto, dark-on-light or light-on-dark."),
    extractor: str = typer.Option("auto", "--extractor", help="For --image: auto, xdog or informative."),
    extractor_weights: Optional[Path] = typer.Option(None, "--extractor-weights", help="sk_model.pth of the official extractor."),
    engine_name: str = typer.Option("ninja", "--engine", "-e", help="ninja (the model) or flat (weight-free, no model needed)."),
    snap: bool = typer.Option(True, "--snap/--no-snap", help="ninja: snap colors to the line art's regions at full resolution."),
    keep_shading: bool = typer.Option(False, "--keep-shading", help="With --snap: keep the lightness variation inside regions."),
    layers: bool = typer.Option(False, "--layers", help="Also write NAME_color.png (fills) and NAME_lines.png (lines)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo pages whose output exists."),
    processes: int = typer.Option(1, "--processes", help="Worker processes (e.g. one per GPU); the pages are shared among them."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Colorize line art after one or more references (one page or a whole chapter)."""
    import torch
    from accelerate import PartialState
    from safetensors.torch import load_file

    from manganinja.batch import expand_pages, output_paths, run_pages, shard, single_file
    from manganinja.engines import Engine, FlatEngine, NinjaEngine, NinjaSettings, load_pipeline
    from manganinja.flat.layers import layer_paths, write_layers
    from manganinja.images import ImageInputError, save_image
    from manganinja.models.loading import CheckpointError
    from manganinja.points import PointPairs, PointsError
    from manganinja.workers import launch, launched_worker, stop_with_launcher, write_report

    sources = list(lineart or []) + list(pages or [])
    if image is not None and sources:
        fail("give either --lineart pages or --image, not both")
    if image is None and not sources:
        fail("give --lineart (one or more pages) or --image")
    if (output is None) == (output_dir is None):
        fail("give exactly one of --output (one page) or --output-dir (many pages)")
    if engine_name not in ("ninja", "flat"):
        fail(f"--engine must be 'ninja' or 'flat', got {engine_name!r}")
    if engine_name == "flat" and (model is not None or official is not None):
        fail("--engine flat needs no model; drop --model/--official")
    if engine_name == "flat" and image is not None:
        fail("--engine flat colorizes line art; extract it first with `manganinja lineart extract`")
    if layers and engine_name == "ninja" and not snap:
        fail("--layers needs --snap with the ninja engine (the fills come from the line art's regions)")
    try:
        page_paths = [image] if image is not None else expand_pages(sources)
        if output is not None and len(page_paths) != 1:
            fail(f"--output takes one page but {len(page_paths)} were given; use --output-dir")
        outputs = [output] if output is not None else output_paths(page_paths, output_dir)  # type: ignore[arg-type]
        pairs = PointPairs.from_json(points) if points is not None else None
        initial = None
        if latents is not None:
            tensors = load_file(str(latents))
            initial = tensors["initial_noise"] if "initial_noise" in tensors else next(iter(tensors.values()))
        settings = NinjaSettings(
            steps=steps, guidance_scale_ref=guidance_ref, guidance_scale_point=guidance_point,
            guidance=guidance, seed=seed, resolution=resolution, reference_mode=reference_mode,
            lineart_polarity=polarity, fast=fast, latents=initial, extractor=extractor,
            extractor_weights=extractor_weights, progress=not quiet,
        )
        if steps is not None and steps < 1:
            raise ValueError(f"--steps must be >= 1, got {steps}")
        if processes < 1:
            raise ValueError(f"--processes must be >= 1, got {processes}")
        if processes > 1 and not launched_worker():
            code, summary = launch(sys.argv[1:], processes)  # the workers rerun this command
            typer.echo(summary, err=code != 0)
            raise typer.Exit(code)
        # One process per device under `accelerate launch` / torchrun / --processes; pages are sharded below.
        stop_with_launcher()
        state = PartialState(cpu=device == "cpu" or not torch.cuda.is_available())
        if device == "auto":
            device = str(state.device)
        engine: Engine
        if engine_name == "flat":
            engine = FlatEngine(lineart_polarity=polarity)
        else:
            on_gpu = device.startswith("cuda")
            if fast and on_gpu and dtype == "fp32":
                dtype = "fp16"
            pipe = load_pipeline(model, official, device, dtype, offload=offload, attention_chunk=attention_chunk,
                                 vae_tiling=vae_tiling, compile=fast and on_gpu)
            settings.snap, settings.keep_shading = snap, keep_shading
            engine = NinjaEngine(pipe, settings)
        prepared = engine.prepare(reference)
    except (ValueError, ImageInputError, PointsError, CheckpointError) as exc:
        fail(str(exc))

    mine = shard(list(zip(page_paths, outputs)), state.process_index, state.num_processes)
    source = {"picture": True} if image is not None else {}  # only the ninja engine takes pictures
    if layers:
        def colorize_page(page: Path):  # noqa: ANN202
            return engine.layers(prepared, page, pairs, **source)  # type: ignore[attr-defined]
    else:
        def colorize_page(page: Path):  # noqa: ANN202
            return engine.colorize(prepared, page, pairs, **source)

    def write(result, path: Path) -> None:  # noqa: ANN001
        if layers:
            write_layers(path, result.composite, result.color, result.lines[..., 3].astype("float32") / 255.0)
        else:
            save_image(result, path)

    # What a page's result depends on, recorded in the output folder's manifest.
    recorded = {
        "engine": engine_name, "references": [str(r) for r in reference], "points": points, "model": model,
        "official": official, "steps": steps, "fast": fast, "guidance_ref": guidance_ref,
        "guidance_point": guidance_point, "guidance": guidance, "seed": seed, "resolution": resolution,
        "reference_mode": reference_mode, "polarity": polarity, "dtype": dtype, "latents": latents,
        "extractor": extractor, "extractor_weights": extractor_weights, "snap": snap, "keep_shading": keep_shading,
    }
    results = run_pages(
        [p for p, _ in mine], [o for _, o in mine], colorize_page,
        overwrite=overwrite or output is not None, progress=not quiet and len(mine) > 1, write=write,
        files=layer_paths if layers else single_file, settings=recorded, manifest=output_dir is not None,
    )
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    prefix = f"[process {state.process_index}] " if state.num_processes > 1 else ""
    for r in failed:
        typer.echo(f"{prefix}failed: {r.page}: {r.error}", err=True)
    if len(results) == 1 and not failed:
        typer.echo(f"{prefix}wrote {results[0].output}")
    else:
        typer.echo(f"{prefix}{done} written, {skipped} skipped, {len(failed)} failed")
    if write_report({"done": done, "skipped": skipped, "failed": len(failed)}):
        return  # the --processes launcher sums the reports and sets the exit code
    if state.num_processes > 1:
        state.wait_for_everyone()  # a worker exiting 1 makes the launcher stop the others: finish together
    if failed:
        raise typer.Exit(1)
