"""``manganinja shot colorize|evaluate``: color an animation cut from its keyframes and score it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import app, fail, flag, hide_library_progress, refuse_options, user_errors
from manganinja.cli import options
from manganinja.settings import RunSettings

shot_app = typer.Typer(help="Animation cuts (shots): color every frame from keyframes, and score the results.",
                       no_args_is_help=True)
app.add_typer(shot_app, name="shot")


#: ``shot colorize`` options of the model alone (refused with another engine, not ignored).
SHOT_NINJA_ONLY = ("model", "official", "steps", "fast", "guidance_ref", "guidance_point", "guidance", "seed",
                   "resolution", "reference_mode", "device", "dtype")


@shot_app.command("colorize")
@user_errors
def colorize(
    ctx: typer.Context,
    shot: Path = typer.Argument(..., help="Shot folder: line/<frame>.png, gt/<keyframe>.png, optional points/<from>_<to>.json."),
    output_dir: Path = typer.Option(..., "--output-dir", help="Where OUT/<frame>.png results go."),
    engine: str = typer.Option("flat", "--engine", metavar="[flat|ninja|mean-color]", help="flat (weight-free), ninja (the model) or mean-color (baseline). The default is flat here (ninja in colorize): a shot's keyframes give exact colors, which the weight-free engine carries from frame to frame without any model."),
    mode: str = typer.Option("propagate", "--mode", metavar="[propagate|keyframe]", help="propagate (frame by frame from each keyframe) or keyframe (each frame from its nearest keyframe)."),
    keyframe: Optional[list[str]] = typer.Option(None, "--keyframe", help="Stem of a gt frame to use as keyframe; repeat (default: shot.json, else every gt frame)."),
    layers: bool = flag(False, "layers", "Also write <frame>_color.png, _lines.png, _regions.png (uint16 labels) and _palette.json."),
    keep_color_lines: bool = flag(False, "keep-color-lines", "Draw colored (color-trace) lines in the composite instead of painting them over."),
    overwrite: bool = flag(False, "overwrite", "Redo frames whose result exists."),
    model: Optional[str] = options.MODEL,
    official: Optional[Path] = options.OFFICIAL,
    steps: Optional[int] = options.STEPS,
    fast: bool = options.FAST,
    guidance_ref: Optional[float] = options.GUIDANCE_REF,
    guidance_point: Optional[float] = options.GUIDANCE_POINT,
    guidance: str = options.GUIDANCE,
    seed: int = options.SEED,
    resolution: Optional[int] = options.RESOLUTION,
    reference_mode: str = options.REFERENCE_MODE,
    device: str = options.DEVICE,
    dtype: str = options.DTYPE,
    quiet: bool = flag(False, "quiet", "No progress bar."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", hidden=True, help="Old name of --no-quiet/--quiet."),
) -> None:
    """Color every line frame of SHOT into OUTPUT_DIR/<frame>.png (RGBA), keyframes included.

    A rerun skips the frames already made with the same settings from the same inputs, and
    redoes those whose chain passes through a changed or added keyframe (gt/), point file or
    setting (one line says which and why)."""
    from manganinja.requests import check_shot_output
    from manganinja.shots.engines import ENGINE_NAMES, EngineAdapter, FlatShotEngine, MeanColorShotEngine
    from manganinja.shots.format import read_shot
    from manganinja.shots.plan import MODES
    from manganinja.shots.run import colorize_shot

    if engine not in ENGINE_NAMES:
        fail(f"--engine must be one of {', '.join(ENGINE_NAMES)}, got '{engine}'")
    if mode not in MODES:
        fail(f"--mode must be one of {', '.join(MODES)}, got '{mode}'")
    if engine != "ninja":
        refuse_options(ctx, SHOT_NINJA_ONLY, f"to --engine ninja only, not {engine}")
    elif quiet or progress is False:
        hide_library_progress()
    if engine == "ninja" and (model is None) == (official is None):
        fail("--engine ninja needs exactly one of --model or --official")
    # The model's settings, checked before anything is read or loaded. The shot engine snaps the
    # model's output to the keyframes' palette itself, so the engine's own region snap is off.
    run_settings = RunSettings.from_options(
        engine="ninja", model=model, official=official, device=device, dtype=dtype, steps=steps,
        guidance_ref=guidance_ref, guidance_point=guidance_point, guidance=guidance, seed=seed,
        resolution=resolution, reference_mode=reference_mode, fast=fast, snap=False, progress=False,
    )
    if engine == "ninja":
        from manganinja.engines import check_model_source

        check_model_source(run_settings.load)  # the model folder, without loading it
    checked = read_shot(shot, keyframe)  # every check before any model is loaded or frame computed
    check_shot_output(checked, output_dir, layers)
    for stem, message in checked.problems:
        typer.echo(f"error: {message} (frame skipped)", err=True)

    if engine == "ninja":
        from manganinja.colorize import engine_for

        ninja = engine_for(run_settings)
        factory = lambda palette: EngineAdapter(ninja, palette)  # noqa: E731
    elif engine == "mean-color":
        factory = MeanColorShotEngine
    else:
        factory = FlatShotEngine
    run = colorize_shot(checked, factory, output_dir, mode=mode, layers=layers,
                        keep_color_lines=keep_color_lines, overwrite=overwrite,
                        progress=not quiet if progress is None else progress)
    counts = {s: sum(r.status == s for r in run.results) for s in ("done", "skipped", "failed")}
    for r in run.failed:
        if r.error and (r.page.stem, r.error) not in set(checked.problems):
            typer.echo(f"error: frame '{r.page.stem}': {r.error}", err=True)
    redo = run.redo_line()
    if redo:
        typer.echo(redo)
    typer.echo(f"{counts['done']} frame(s) colored, {counts['skipped']} skipped (already done), "
               f"{counts['failed']} failed -> {output_dir}")
    from manganinja.flat.review import describe, worth_a_look

    look = worth_a_look(run.reviews, n=5, keyframes=checked.keyframes, only_needed=True)
    if look:
        typer.echo("worth a look (lowest confidence first): " + ", ".join(describe(r) for r in look))
    if counts["failed"]:
        raise typer.Exit(1)


@shot_app.command("evaluate")
@user_errors
def evaluate(
    shot: Path = typer.Argument(..., help="Shot folder with ground truth in gt/ for the frames to score, or a folder of shot folders."),
    results: Path = typer.Option(..., "--results", help="Folder written by 'shot colorize' (for a folder of shots: one subfolder per shot, same names)."),
    keyframe: Optional[list[str]] = typer.Option(None, "--keyframe", help="Keyframe stems (default: from RESULTS/shot_run.json); one shot only."),
    convention: str = typer.Option("frames", "--convention", help="frames: every non-keyframe, means over frames and per distance; basicpbc: as BasicPBC's eval_json (first frame skipped, mean per shot, then over shots)."),
    out: Optional[Path] = typer.Option(None, "--output-dir", "--out", metavar="DIR", help="Folder for frames.csv and summary.json / summary.md (default: RESULTS/evaluation)."),
) -> None:
    """Score the colored frames against their ground truth: segment and pixel accuracy,
    background-excluded mIoU, background IoU (segments and pixels), PSNR and MS-SSIM; per frame
    and as means (see --convention)."""
    from manganinja.evaluation.paint_bucket import CONVENTIONS, evaluate_shot, evaluate_shots, is_shot_set, rows_csv, summary_markdown
    from manganinja.images import write_bytes_atomic, write_json_atomic
    from manganinja.requests import check_output_folder

    folder = out or results / "evaluation"
    check_output_folder(folder, "--output-dir")
    if convention not in CONVENTIONS:
        fail(f"--convention must be one of {', '.join(CONVENTIONS)}, got '{convention}'")
    if keyframe and is_shot_set(shot):
        fail(f"--keyframe applies to one shot, but '{shot}' is a folder of shots; leave it out (each shot's run record says its keyframes)")
    if keyframe:
        ev = evaluate_shot(shot, results, keyframe, convention=convention)  # type: ignore[arg-type]
    else:
        ev = evaluate_shots(shot, results, convention=convention)  # type: ignore[arg-type]
    if not ev.rows:
        fail(f"no frame to score in '{shot}': it needs ground truth (gt/) for frames that are not keyframes"
             + (f", and results for them in '{results}'" if ev.missing else ""))
    summary = ev.summary()
    summary["missing_results"] = ev.missing
    write_bytes_atomic(rows_csv(ev.rows).encode(), folder / "frames.csv")
    write_json_atomic(summary, folder / "summary.json")
    table = summary_markdown(summary)
    write_bytes_atomic(table.encode(), folder / "summary.md")
    typer.echo(table, nl=False)
    from manganinja.flat.review import flags_report

    # The review flags' precision, per shot (each shot's results hold its own review file).
    shots = sorted({str(r["shot"]) for r in ev.rows})
    for name in shots:
        where = results / name if is_shot_set(shot) else results
        flags = flags_report(where, [r for r in ev.rows if r["shot"] == name])
        if flags:
            typer.echo(f"{name}: {flags}" if len(shots) > 1 else flags)
    if ev.missing:
        typer.echo(f"warning: {len(ev.missing)} frame(s) have no result: {', '.join(ev.missing)}", err=True)
    typer.echo(f"wrote {folder}")
