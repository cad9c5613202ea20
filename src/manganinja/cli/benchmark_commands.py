"""``manganinja benchmark synth`` and ``manganinja evaluate``: the paper's evaluation protocol.

Thin layer over :mod:`manganinja.evaluation`; see :mod:`manganinja.evaluation.benchmark` for the
folder formats and the protocol.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from manganinja.cli import app, choices, flag, user_errors
from manganinja.cli import options
from manganinja.engines import ENGINE_NAMES, EngineError, build_engine, check_model_source

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from manganinja.evaluation.benchmark import Extractor, Scorers

benchmark_app = typer.Typer(help="Benchmark folders for `manganinja evaluate`.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("synth")
@user_errors
def synth(
    out: Path = typer.Option(..., "--output-dir", "--out", metavar="DIR", help="Benchmark folder to write."),
    pairs: int = typer.Option(50, "--pairs", min=1, help="Number of pairs (>= 1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the generator (>= 0)."),
    size: int = typer.Option(256, "--size", min=64, help="Image side in pixels (a multiple of 8, >= 64)."),
    overwrite: bool = flag(False, "overwrite", "Replace an existing benchmark folder."),
) -> None:
    """Write a benchmark folder of synthetic pairs (masks and exact annotated points included)."""
    from manganinja.evaluation.benchmark import write_synthetic_benchmark

    write_synthetic_benchmark(out, pairs=pairs, seed=seed, size=size, overwrite=overwrite)
    typer.echo(f"wrote {pairs} pairs to {out}")


def _extractor(method: str) -> tuple[Extractor, str]:
    """The benchmark's fixed line-art extractor (RGB picture -> Lines) and its recorded name."""
    from manganinja.lines import Lines
    from manganinja.settings import InputSettings

    settings = InputSettings(extractor=method)

    def extract(image: Image.Image) -> Lines:
        return Lines.from_picture(image, settings.extractor)

    return extract, f"manganinja.lines.extract_lineart(method={method!r})"


@app.command("evaluate")
@user_errors
def evaluate(
    data: Path = typer.Option(..., "--data", help="Benchmark folder (manifest.json + pair folders)."),
    out: Path = typer.Option(..., "--output-dir", "--out", metavar="DIR", help="Results folder (resumed if it exists)."),
    engine: List[str] = typer.Option(..., "--engine", metavar=choices(ENGINE_NAMES), help="Engine to score; repeat for several."),
    guide_points: int = typer.Option(0, "--guide-points", min=0, help="K: also run with K annotated points as guidance (>= 0)."),
    seed: List[int] = typer.Option([0], "--seed", help="Seed(s); each is a separate run."),
    model: Optional[str] = options.MODEL,
    official: Optional[Path] = options.OFFICIAL,
    steps: Optional[int] = typer.Option(None, "--steps", help="ninja: denoising steps (default: the model's recommendation, else 50)."),
    resolution: Optional[int] = options.RESOLUTION,
    device: Optional[str] = typer.Option(None, "--device", help="ninja and feature models: torch device."),
    extractor: str = typer.Option("xdog", "--extractor", help="Line-art extraction method (fixed for a results folder)."),
    clip: Optional[Path] = typer.Option(None, "--clip", help="Local CLIP folder for CLIP-I (absent otherwise)."),
    dino: Optional[Path] = typer.Option(None, "--dino", help="Local DINO/DINOv2 folder for DINO-I (absent otherwise)."),
    lpips: Optional[Path] = typer.Option(None, "--lpips", help="Local LPIPS weights folder (absent otherwise)."),
    max_runs: Optional[int] = typer.Option(None, "--max-runs", min=1, help="Stop after this many new runs (>= 1)."),
    examples: int = typer.Option(4, "--examples", min=1, help="Pairs in examples.png (>= 1)."),
) -> None:
    """Run the paper's protocol: both directions, 0 and K guidance points, scored on the foreground."""
    from manganinja.colorize import engine_for
    from manganinja.evaluation import benchmark as B
    from manganinja.evaluation.report import write_report
    from manganinja.settings import RunSettings

    start = time.perf_counter()
    extract, extractor_name = _extractor(extractor)
    # Everything the user gave is checked before any model is loaded. The model engine's
    # settings: the benchmark scores the model's own picture (no snap), without progress bars.
    run = RunSettings.from_options(model=model, official=official, device=device, steps=steps,
                                   resolution=resolution, snap=False, progress=False)
    names = list(dict.fromkeys(engine))
    unknown = [n for n in names if n not in ENGINE_NAMES]
    if unknown:
        raise EngineError(f"unknown engine '{unknown[0]}'; choose one of {', '.join(ENGINE_NAMES)}")
    if "ninja" in names:
        check_model_source(run.load)  # the one place that decides what --model/--official hold
    engines = [engine_for(run.model_copy(update={"engine": name})) if name in ("ninja", "flat")
               else build_engine(name) for name in names]
    scorers, scorer_names = _scorers(clip, dino, lpips, device or "cpu")
    rows, problems = B.evaluate(data, out, engines, extract, extractor_name, guide_points, seed,
                                scorers, scorer_names, max_new_runs=max_runs, progress=True)
    command = "manganinja " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = write_report(out, rows, problems, data, command=command, examples=examples)
    typer.echo(summary.read_text(encoding="utf-8").split("## Settings")[0].rstrip())
    typer.echo(f"{len(rows)} runs, {len(problems)} problems, {time.perf_counter() - start:.1f} s; "
               f"results in {out}")


def _scorers(clip: Path | None, dino: Path | None, lpips: Path | None, device: str) -> tuple[Scorers, dict[str, str]]:
    from manganinja.evaluation.benchmark import Scorers

    kwargs: dict[str, Any] = {}
    names: dict[str, str] = {}
    if clip is not None:
        from manganinja.evaluation.features import load_clip_embedder

        kwargs["clip"], names["clip"] = load_clip_embedder(clip, device), str(clip)
    if dino is not None:
        from manganinja.evaluation.features import load_dino_embedder

        kwargs["dino"], names["dino"] = load_dino_embedder(dino, device), str(dino)
    if lpips is not None:
        from manganinja.evaluation.features import load_lpips

        kwargs["lpips"], names["lpips"] = load_lpips(lpips, device), str(lpips)
    return Scorers(**kwargs), names
