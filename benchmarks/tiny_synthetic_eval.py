"""Evaluate the tiny synthetic MangaNinja (docs/reproduce.md) with the project's benchmark.

    manganinja benchmark synth --out data/bench256-seed1 --pairs 16 --size 256 --seed 1
    python benchmarks/tiny_synthetic_eval.py --part main      # and: swapped, points, ablation
    python benchmarks/tiny_synthetic_eval.py --part table     # -> runs/eval_tiny/tables.md

Parts (each resumable; results under ``--out``):

- ``main``: the benchmark protocol (both directions, 0 and 5 guide points, XDoG line art of the
  target) for the engines mean-color, reference, flat and ninja (``--model``; its raw output, or
  with ``--snap`` its colors snapped to the line art's regions, as ``manganinja colorize``
  paints by default).
- ``swapped``: the same with each run's reference replaced by the next pair's picture of the same
  side (another character): a->b runs on a copy with the ``a`` pictures swapped, b->a runs on one
  with the ``b`` pictures swapped, so every run keeps its target, line art and mask. (Until the
  seventh attempt only ``a`` was swapped, so the b->a runs changed the target instead.)
- ``points``: point control, direction a->b: the scored points are fixed by the 20-point split of
  :func:`manganinja.evaluation.benchmark.split_points`; the model gets 0, the first 5 or all 20
  guide points, with ``guidance_scale_point`` at the model's recommended value and at 0; and
  the floor: the target itself through the model's autoencoder at its resolution (an oracle: no
  sampler of this autoencoder can paint the scored points closer).
- ``ablation``: ``main`` and ``points`` for the stage-1 model (no stage 2) and for the stage-1
  model trained without patch shuffle (``--stage1``, ``--noshuffle``); ``ablation-stage1`` /
  ``ablation-noshuffle`` run one of them (to run both at once in two processes).
- ``hard``: from ``main``'s runs (0 guide points), flat against ninja on the hard runs, those
  whose reference misses a part of the target (cropped, occluded or hidden), and on the others.
  A run is hard when more than 2 % of the target's character pixels belong to parts the
  reference does not show; the part maps come from regenerating each pair
  (:func:`manganinja.evaluation.hard_runs.synthetic_pairs`: by the seed in the benchmark's
  manifest, checked against its pictures).
- ``point-errors``: where the model's error at the scored points of ``points`` comes from
  (a->b, no guides, the model's recommended settings). Each scored point's 3x3 error is taken for
  the model and for the floor (the target through the autoencoder), and the model's color there
  (the patch mean) is called a *wrong part* when a color of another part of the target (its flat
  colors, base and shadow) is nearer than any of the point's own part. Printed: the shares of
  points and of the model's excess over the floor on wrong-part points, and two upper bounds of
  what guides could do: every wrong part color fixed (those points at the floor), and every
  point of a part that holds one of the 20 guides at the floor. Part maps come from
  regenerating the pairs as in ``hard``. Per-point rows in
  ``out/point_errors.csv``. Also scored: the resizing's floor (bicubic to the working size and
  back: a perfect autoencoder), with the bound of every guided part's point at it; and with
  ``--floor-vae DIR``, another autoencoder's floor in place of the model's own.
- ``table``: the markdown tables of all parts (``hard`` too, from ``main``'s runs).

The ninja engine samples every model with the recommended settings of ``--model``
(``model_index.json`` ``recommended``: resolution, steps, guidance scales); seed 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from manganinja.cli import run_script
from manganinja.colorize import prepare
from manganinja.engines import BuiltEngine, NinjaEngine, build_engine
from manganinja.evaluation import benchmark as B
from manganinja.evaluation import hard_runs as H
from manganinja.evaluation.metrics import mean_ci95
from manganinja.evaluation.report import summary_table, write_report
from manganinja.images import ImageInput, resize_round_trip, write_bytes_atomic
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.requests import RequestError, check_input_folder, check_report_path
from manganinja.settings import LoadSettings, NinjaSettings

EXTRACTOR_NAME = "manganinja.lines.extract_lineart(method='xdog')"
POINT_CONDITIONS = ((0, "default"), (5, "default"), (20, "default"), (5, "zero"), (20, "zero"))
#: The ``points`` part's oracle row: the target itself through the model's autoencoder
#: (:meth:`~manganinja.pipeline.MangaNinjaPipeline.autoencode`), the lowest error any sampler of
#: this autoencoder and resolution can reach at the scored points.
FLOOR = ("floor", "oracle")


def xdog(image: ImageInput) -> Lines:
    """The benchmark's line art of a picture: XDoG, at the picture's size."""
    return Lines.from_picture(image, "xdog")


def hard_table(data: Path, runs_csv: Path) -> list[str]:
    """Markdown lines: flat and ninja PSNR (0 guide points) on the hard and the other runs of
    ``runs_csv`` (:mod:`manganinja.evaluation.hard_runs`; module doc, part ``hard``)."""
    rows = [r for r in B.read_runs(runs_csv) if r["n_guide_points"] == 0 and r["engine"] in ("flat", "ninja")]
    if not rows:
        raise RequestError(f"{runs_csv}: no runs; run --part main first")
    psnr = {engine: {(r["pair"], r["direction"]): r["psnr"] for r in rows if r["engine"] == engine} for engine in ("flat", "ninja")}
    groups = H.compare_on_hard_runs(H.synthetic_missing_shares(data), psnr["flat"], psnr["ninja"])
    return [f"Flat against ninja, 0 guide points, {data} (PSNR, dB; hard: the reference misses parts covering more than "
            f"{H.HARD_THRESHOLD:.0%} of the target's character)", "", *H.comparison_markdown(groups, "flat", "ninja")]


def recommended(model: Path) -> dict[str, Any]:
    """The model folder's recommended sampling settings (``model_index.json``)."""
    index = json.loads((model / "model_index.json").read_text())
    if "recommended" not in index:
        raise RequestError(f"{model}/model_index.json has no 'recommended' entry; package the model first "
                           "(benchmarks/tiny_synthetic_package.py or manganinja reproduce tiny)")
    return dict(index["recommended"])


def ninja(model: Path, rec: dict[str, Any], guidance_scale_point: float | None = None, snap: bool = False) -> NinjaEngine:
    """The ninja engine on ``model`` (raw output, no snapping; ``snap``: snapped to the line art's
    regions, as ``manganinja colorize`` paints by default) with the sampling settings ``rec`` (a
    ``recommended`` dict; ``guidance_scale_point`` overrides its point scale)."""
    settings = NinjaSettings(
        steps=int(rec["steps"]), resolution=int(rec["resolution"]), guidance_scale_ref=float(rec["guidance_scale_ref"]),
        guidance_scale_point=float(rec["guidance_scale_point"] if guidance_scale_point is None else guidance_scale_point),
        snap=snap, progress=False)
    engine = build_engine("ninja", ninja=settings, load=LoadSettings(model=str(model), device="cpu"))
    assert isinstance(engine, NinjaEngine)
    return engine


def colorize_one(engine: BuiltEngine, reference: Image.Image, lines: Lines, points: PointPairs | None) -> np.ndarray:
    """One result of ``engine`` (seed as built): uint8 ``(H, W, 3)`` at the line art's size."""
    return prepare(engine, [reference]).colorize(lines, points).composite


def write_swapped(data: Path, out: Path, side: str) -> Path:
    """A benchmark folder like ``data`` whose pair ``i`` has pair ``i+1``'s picture ``side``
    ("a" or "b": another character) and its mask; the other picture and the points are pair
    ``i``'s. Only the direction whose reference is ``side`` (a->b for "a", b->a for "b") compares
    the same target with another character's reference; in the other direction the target itself
    is replaced."""
    if (out / B.MANIFEST).is_file():
        return out
    names = B.read_manifest(data)["pairs"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for i, name in enumerate(names):
        pair, other = B.load_pair(data, name), B.load_pair(data, names[(i + 1) % len(names)])
        if side == "a":
            B.write_pair(tmp, name, other.a, pair.b, other.a_mask, pair.b_mask, pair.points)
        else:
            B.write_pair(tmp, name, pair.a, other.b, pair.a_mask, other.b_mask, pair.points)
    B.write_manifest(tmp, names, source=str(data), swap=f"{side} of pair i+1 (another character)")
    tmp.rename(out)
    return out


#: For each swapped picture, the direction in which it is the reference (module docstring).
SWAPPED_DIRECTIONS = {"a": "a->b", "b": "b->a"}


def run_swapped(data: Path, out: Path, engines: list[BuiltEngine]) -> None:
    """``--part swapped``: the protocol on a copy with the ``a`` pictures swapped and on one with
    the ``b`` pictures swapped; ``out/swapped/runs.csv`` keeps the runs whose *reference* is the
    swapped picture (a->b from the first, b->a from the second), so each run has the same target
    and line art as its run in ``main``."""
    rows: list[dict[str, Any]] = []
    for side, direction in SWAPPED_DIRECTIONS.items():
        folder = write_swapped(data, out / f"data_swapped_{side}", side)
        run_protocol(folder, out / f"swapped_{side}", engines)
        rows += [r for r in B.read_runs(out / f"swapped_{side}" / "runs.csv") if r["direction"] == direction]
    merged = out / "swapped"
    merged.mkdir(parents=True, exist_ok=True)
    with (out / "swapped_a" / "runs.csv").open() as f:
        columns = next(csv.reader(f))
    B.write_csv(rows, columns, merged / "runs.csv")
    shutil.copyfile(out / "swapped_a" / "settings.json", merged / "settings.json")
    write_report(merged, rows, [], data, command="python benchmarks/tiny_synthetic_eval.py --part swapped", examples=0)


def run_protocol(data: Path, out: Path, engines: list[BuiltEngine]) -> None:
    rows, problems = B.evaluate(data, out, engines, xdog, EXTRACTOR_NAME, guide_points=5, seeds=[0], progress=True)
    write_report(out, rows, problems, data, command="python benchmarks/tiny_synthetic_eval.py", examples=4)


def run_points(data: Path, out: Path, model: Path, rec: dict[str, Any]) -> None:
    """Point control (module docstring); rows appended to ``out/points.csv`` (resumable)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "points.csv"
    done = {(r["pair"], r["k"], r["gp"]) for r in csv.DictReader(path.open())} if path.is_file() else set()
    engines = {"default": ninja(model, rec), "zero": ninja(model, rec, guidance_scale_point=0.0)}
    rows = list(csv.DictReader(path.open())) if path.is_file() else []
    for name in B.read_manifest(data)["pairs"]:
        reference, target, mask, points = B.load_pair(data, name).direction("a->b")
        guide_idx, scored_idx = B.split_points(len(points), 20, name, 0)
        lineart = xdog(target)
        scored = points.lineart_xy[scored_idx]
        for k, gp in (*POINT_CONDITIONS, FLOOR):
            if (name, str(k), gp) in done:
                continue
            if (k, gp) == FLOOR:
                result = np.asarray(engines["default"].pipe.autoencode(target, int(rec["resolution"])))
            else:
                guide = PointPairs([points[int(i)] for i in guide_idx[:k]]) if k else None
                result = colorize_one(engines[gp], reference, lineart, guide)
            s = B.score(result, np.asarray(target), mask, scored)
            rows.append({"pair": name, "k": str(k), "gp": gp, "n_scored": len(scored), "point_mse": s["point_mse"], "psnr": s["psnr"]})
            B.write_csv(rows, ["pair", "k", "gp", "n_scored", "point_mse", "psnr"], path)


def points_table(path: Path, default_gp: float) -> str:
    rows = list(csv.DictReader(path.open()))
    lines = ["| guide points | guidance_scale_point | runs | point MSE | PSNR (dB) |", "|---|---|---|---|---|"]
    for k, gp in POINT_CONDITIONS:
        sel = [r for r in rows if r["k"] == str(k) and r["gp"] == gp]
        if not sel:
            continue
        mse = mean_ci95([float(r["point_mse"]) for r in sel])
        psnr = mean_ci95([float(r["psnr"]) for r in sel])
        scale = "—" if k == 0 else (f"{default_gp:g}" if gp == "default" else "0")
        lines.append(f"| {k} | {scale} | {len(sel)} | {mse[0]:.4f} ± {mse[1]:.4f} | {psnr[0]:.2f} ± {psnr[1]:.2f} |")
    floor = [r for r in rows if (r["k"], r["gp"]) == FLOOR]
    if floor:
        mse = mean_ci95([float(r["point_mse"]) for r in floor])
        psnr = mean_ci95([float(r["psnr"]) for r in floor])
        lines.append(f"| floor: the target through the autoencoder | — | {len(floor)} | {mse[0]:.4f} ± {mse[1]:.4f} | {psnr[0]:.2f} ± {psnr[1]:.2f} |")
    return "\n".join(lines) + "\n"


def part_palette(flat: np.ndarray, parts: np.ndarray, colors_per_part: int = 2) -> dict[int, np.ndarray]:
    """The flat colors of each character part: ``{part id: (K, 3) colors in [0, 1]}``, the
    ``colors_per_part`` most frequent colors of ``flat`` (H, W, 3 uint8; the frame without
    outlines) on the pixels of ``parts`` (H, W; 0 background, 255 the prop) equal to the id."""
    palette = {}
    for part in np.unique(parts):
        if part in (0, 255):
            continue
        colors, counts = np.unique(flat[parts == part].reshape(-1, 3), axis=0, return_counts=True)
        palette[int(part)] = colors[np.argsort(-counts)[:colors_per_part]].astype(np.float64) / 255.0
    return palette


def wrong_part(color: np.ndarray, part: int, palette: dict[int, np.ndarray]) -> bool:
    """Whether ``color`` (3,) in [0, 1] is strictly nearer a color of another part of ``palette``
    than every color of ``part`` (ties count as the right part: two parts may share a color)."""
    own = float(np.min(np.linalg.norm(palette[part] - color, axis=1)))
    others = [float(np.min(np.linalg.norm(c - color, axis=1))) for p, c in palette.items() if p != part]
    return bool(others) and min(others) < own


def patch_mean(image: np.ndarray, xy: np.ndarray, patch: int = 3) -> np.ndarray:
    """Mean color in [0, 1] of the ``patch`` x ``patch`` patch of ``image`` (H, W, 3 uint8) at
    ``xy`` = (column, row), cut at the border as in :func:`~manganinja.evaluation.metrics.point_mse`."""
    r, (col, row) = patch // 2, (int(round(xy[0])), int(round(xy[1])))
    cut = image[max(row - r, 0):row + r + 1, max(col - r, 0):col + r + 1].reshape(-1, 3)
    return cut.astype(np.float64).mean(axis=0) / 255.0


def point_error_rows(pair: str, target: np.ndarray, model: np.ndarray, floor: np.ndarray, resized: np.ndarray,
                     flat: np.ndarray, parts: np.ndarray, points_xy: np.ndarray, point_parts: np.ndarray,
                     guided_parts: set[int]) -> list[dict[str, Any]]:
    """One row per point of ``points_xy`` (N, 2) (x, y) in the target: its part, whether that
    part holds a guide, the 3x3 point MSE of ``model``, of ``floor`` (the target through the
    autoencoder) and of ``resized`` (the target through the resizing alone: a perfect
    autoencoder's floor) against ``target`` (all H, W, 3 uint8), and whether the model and the
    floor paint a wrong part's color there (:func:`wrong_part` against :func:`part_palette` of
    ``flat`` and ``parts``)."""
    from manganinja.evaluation.metrics import point_mse

    palette = part_palette(flat, parts)
    rows = []
    for xy, part in zip(points_xy, point_parts):
        rows.append({"pair": pair, "part": int(part), "guided": int(int(part) in guided_parts),
                     "mse_model": point_mse(model, target, [xy]), "mse_floor": point_mse(floor, target, [xy]),
                     "mse_resize": point_mse(resized, target, [xy]),
                     "wrong_model": int(wrong_part(patch_mean(model, xy), int(part), palette)),
                     "wrong_floor": int(wrong_part(patch_mean(floor, xy), int(part), palette))})
    return rows


def point_error_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of the ``point-errors`` part from :func:`point_error_rows`'s rows (values
    may be strings, as read back from the CSV). Point MSEs are means over each pair's points,
    then over pairs, as in ``points``."""
    by_pair: dict[str, list[dict[str, float]]] = {}
    for r in rows:
        by_pair.setdefault(str(r["pair"]), []).append({k: float(v) for k, v in r.items() if k != "pair"})

    def pair_means(value) -> tuple[float, float, int]:
        return mean_ci95([float(np.mean([value(p) for p in pts])) for pts in by_pair.values()])

    model = pair_means(lambda p: p["mse_model"])
    floor = pair_means(lambda p: p["mse_floor"])
    fixed_wrong = pair_means(lambda p: p["mse_floor"] if p["wrong_model"] else p["mse_model"])
    fixed_guided = pair_means(lambda p: p["mse_floor"] if p["guided"] else p["mse_model"])
    fixed_guided_resize = pair_means(lambda p: p["mse_resize"] if p["guided"] else p["mse_model"])
    resize = pair_means(lambda p: p["mse_resize"])
    pts = [p for v in by_pair.values() for p in v]
    excess = np.array([p["mse_model"] - p["mse_floor"] for p in pts])
    wrong = np.array([bool(p["wrong_model"]) for p in pts])
    lines = [f"Where the error at the scored points comes from ({len(by_pair)} pairs, {len(pts)} points, a->b, no guides)", "",
             "| | point MSE |", "|---|---|",
             f"| model, no guides | {model[0]:.4f} ± {model[1]:.4f} |",
             f"| the issue's bar, 0.7x | {0.7 * model[0]:.4f} |",
             f"| bound: every wrong part color fixed (those points at the floor) | {fixed_wrong[0]:.4f} ± {fixed_wrong[1]:.4f} |",
             f"| bound: every point of a guided part at the floor | {fixed_guided[0]:.4f} ± {fixed_guided[1]:.4f} |",
             f"| bound: every point of a guided part at the resizing's floor (a perfect autoencoder) | "
             f"{fixed_guided_resize[0]:.4f} ± {fixed_guided_resize[1]:.4f} |",
             f"| floor: the target through the autoencoder | {floor[0]:.4f} ± {floor[1]:.4f} |",
             f"| floor of the resizing alone (a perfect autoencoder) | {resize[0]:.4f} ± {resize[1]:.4f} |", "",
             f"- points where the model paints a wrong part's color: {wrong.mean():.1%} ({int(wrong.sum())} of {len(pts)}); "
             f"the floor: {np.mean([bool(p['wrong_floor']) for p in pts]):.1%}",
             f"- their share of the model's excess over the floor: {excess[wrong].sum() / excess.sum():.1%}",
             f"- points on a part that holds a guide: {np.mean([bool(p['guided']) for p in pts]):.1%}"]
    return lines


def run_point_errors(data: Path, out: Path, model: Path, rec: dict[str, Any], floor_vae: Path | None = None) -> list[str]:
    """``--part point-errors`` (module docstring): ``out/point_errors.csv`` and the table.
    ``floor_vae``: an ``AutoencoderKL`` folder whose floor is scored instead of the model's own
    (what the bounds would be with that autoencoder under the same model errors)."""
    from manganinja.training.reproduce import autoencoder_pipeline

    engine = ninja(model, rec)
    floor_pipe = engine.pipe if floor_vae is None else autoencoder_pipeline(floor_vae)
    rows: list[dict[str, Any]] = []
    for name, stored, pair in H.synthetic_pairs(data):
        reference, target, mask, points = stored.direction("a->b")
        guide_idx, scored_idx = B.split_points(len(points), 20, name, 0)
        result = colorize_one(engine, reference, xdog(target), None)
        floor = np.asarray(floor_pipe.autoencode(target, int(rec["resolution"])))
        resized = np.asarray(resize_round_trip(target.convert("RGB"), int(rec["resolution"])))
        rows += point_error_rows(name, np.asarray(target.convert("RGB")), result, floor, resized, pair.target_flat,
                                 pair.target_parts, points.lineart_xy[scored_idx], pair.point_parts[scored_idx],
                                 {int(p) for p in pair.point_parts[guide_idx]})
    B.write_csv(rows, list(rows[0]), out / "point_errors.csv")
    return point_error_table(rows)


def check_args(args: argparse.Namespace) -> None:
    """Refuse, in one line before any model is loaded, a missing benchmark or model folder and an
    ``--out`` that is or lies inside one of them (the results would be written into it).

    Raises:
        RequestError, BenchmarkError: naming the option and the fix.
    """
    if args.snap and args.part != "main":
        raise RequestError(f"--snap is for --part main (got --part {args.part}); run main with it into its own --out")
    check_input_folder(args.data, "--data", "benchmark")
    seed = B.read_manifest(args.data).get("seed")
    if args.seed is not None and args.seed != seed:
        raise RequestError(f"--seed {args.seed} is not the seed of --data {args.data} ({seed}, its manifest); "
                           "drop --seed or give the benchmark drawn with it")
    models = [("--model", args.model)]
    if args.part in ("ablation", "ablation-stage1"):
        models.append(("--stage1", args.stage1))
    if args.part in ("ablation", "ablation-noshuffle"):
        models.append(("--noshuffle", args.noshuffle))
    for option, folder in models:
        check_input_folder(folder, option, "pipeline")
    if args.floor_vae is not None:
        check_input_folder(args.floor_vae, "--floor-vae", "AutoencoderKL")
    inputs = [("benchmark folder", args.data)] + [(f"{option} folder", folder) for option, folder in models]
    if args.floor_vae is not None:
        inputs.append(("--floor-vae folder", args.floor_vae))
    check_report_path(args.out, "--out", inputs, folder=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", required=True, choices=["main", "swapped", "points", "ablation", "ablation-stage1", "ablation-noshuffle", "hard", "point-errors", "table"])
    ap.add_argument("--seed", type=int, default=None,
                    help="--part hard, point-errors: the benchmark's generator seed, checked against its manifest (the "
                         "manifest's seed is used; this option only guards against the wrong --data)")
    ap.add_argument("--data", type=Path, default=Path("data/bench256-seed1"))
    ap.add_argument("--out", type=Path, default=Path("runs/eval_tiny"))
    ap.add_argument("--model", type=Path, default=Path("models/tiny-synthetic"))
    ap.add_argument("--stage1", type=Path, default=Path("runs/tiny_synthetic_stage1/final"))
    ap.add_argument("--noshuffle", type=Path, default=Path("runs/tiny_synthetic_stage1_noshuffle/final"))
    ap.add_argument("--floor-vae", type=Path, default=None,
                    help="--part point-errors: score this autoencoder's floor instead of the model's own")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--snap", action="store_true",
                    help="--part main: the model's colors snapped to the line art's regions (colorize's default), not its raw output")
    args = ap.parse_args()
    check_args(args)
    import torch

    torch.set_num_threads(args.threads)
    plain = [build_engine(n) for n in ("mean-color", "reference", "flat")]
    rec = recommended(args.model)  # the same sampling settings for every model compared
    if args.part == "main":
        run_protocol(args.data, args.out / "main", plain + [ninja(args.model, rec, snap=args.snap)])
    elif args.part == "swapped":
        run_swapped(args.data, args.out, plain + [ninja(args.model, rec)])
    elif args.part == "points":
        run_points(args.data, args.out / "points_final", args.model, rec)
    elif args.part == "point-errors":
        args.out.mkdir(parents=True, exist_ok=True)
        print("\n".join(run_point_errors(args.data, args.out, args.model, rec, args.floor_vae)))
    elif args.part == "hard":
        print("\n".join(hard_table(args.data, args.out / "main" / "runs.csv")))
    elif args.part in ("ablation", "ablation-stage1", "ablation-noshuffle"):
        models = {"stage1": args.stage1, "noshuffle": args.noshuffle}
        tags = list(models) if args.part == "ablation" else [args.part.split("-")[1]]
        for tag in tags:
            run_protocol(args.data, args.out / f"main_{tag}", [ninja(models[tag], rec)])
            run_points(args.data, args.out / f"points_{tag}", models[tag], rec)
    else:
        gp = float(recommended(args.model)["guidance_scale_point"])
        parts = [f"# Tiny synthetic MangaNinja: evaluation tables\n\nData: {args.data} ({len(B.read_manifest(args.data)['pairs'])} pairs)\n"]
        for title, folder in (("Reference following (benchmark protocol, both directions)", "main"),
                              ("Reference replaced by another character's", "swapped"),
                              ("Stage 1 only (no stage 2)", "main_stage1"),
                              ("Stage 1 only, without patch shuffle", "main_noshuffle")):
            if (args.out / folder / "runs.csv").is_file():
                parts.append(f"## {title}\n\n" + summary_table(B.read_runs(args.out / folder / "runs.csv"),
                                                              {"clip": "absent", "dino": "absent", "lpips": "absent"}))
        if (args.out / "main" / "runs.csv").is_file() and "seed" in B.read_manifest(args.data):
            parts.append("## The hard runs (part hard)\n\n" + "\n".join(hard_table(args.data, args.out / "main" / "runs.csv")) + "\n")
        for title, folder in (("Point control: final model", "points_final"), ("Point control: stage 1 only", "points_stage1"),
                              ("Point control: stage 1 without patch shuffle", "points_noshuffle")):
            if (args.out / folder / "points.csv").is_file():
                parts.append(f"## {title} (a->b, scored on the points outside the 20-point guide set)\n\n"
                             + points_table(args.out / folder / "points.csv", gp))
        write_bytes_atomic("\n".join(parts).encode("utf-8"), args.out / "tables.md")
        print("\n".join(parts))


if __name__ == "__main__":
    run_script(main)
