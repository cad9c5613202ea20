"""The shot table of the README and docs/shots.md: ``propagate`` vs ``keyframe`` vs the mean-color
baseline on synthetic shots, per paint-bucket metric and by distance from the keyframe.

    python benchmarks/shot_table.py --work bench/shots20 [--shots 20 --frames 12 --size 512 --seed 0]

Drift (``--drift``): flat ``propagate`` only, per family (``--family character`` and/or effect
families, repeatable), pixel metrics by distance from the keyframe: character pixel accuracy
(non-line ground-truth character pixels painted in exactly their color) and background IoU (non-line
pixels transparent in both / in either)::

    python benchmarks/shot_table.py --drift --work bench/drift --shots 6 --frames 51 \
        --size 384 --seed 0 --family character --family effects

``--set NAME=VALUE`` (repeatable) sets a field of the flat shot engine's settings
(:class:`manganinja.settings.FlatShotSettings`, e.g. ``--set unsure_power=0.5``); the others keep
their defaults.

Writes the shots to WORK/shots (``manganinja synth --shots``), results to WORK/<method>/<shot>/,
and WORK/table.md + WORK/table.json; prints the markdown. Every number comes from
``manganinja.shots.run.colorize_shot`` and ``manganinja.evaluation.paint_bucket.evaluate_shot``,
the code behind ``manganinja shot colorize`` / ``shot evaluate``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.data.synthetic_shots import ShotOptions, write_shots
from manganinja.images import load_image, write_bytes_atomic, write_json_atomic
from manganinja.evaluation.paint_bucket import METRICS, evaluate_shot, summarize
from manganinja.flat.review import flag_precision, needs_look
from manganinja.settings import FlatShotSettings, describe_error
from manganinja.shots.engines import FlatShotEngine, MeanColorShotEngine
from manganinja.shots.format import read_shot
from manganinja.shots.run import colorize_shot

def flat_settings(pairs: list[str] | None) -> FlatShotSettings:
    """The flat shot engine's settings from ``NAME=VALUE`` strings (``--set``); exits with one
    line naming a bad one."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        name, eq, value = pair.partition("=")
        if not eq:
            sys.exit(f"error: --set takes NAME=VALUE (a field of FlatShotSettings), got {pair!r}")
        values[name.strip()] = value.strip()
    try:
        return FlatShotSettings(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        sys.exit(f"error: --set: {describe_error(exc)}")


def methods(settings: FlatShotSettings) -> dict[str, tuple[object, str]]:
    """Method name -> (engine factory, mode)."""
    flat = FlatShotEngine.factory(settings)
    return {"flat propagate": (flat, "propagate"), "flat keyframe": (flat, "keyframe"),
            "mean-color": (MeanColorShotEngine, "keyframe")}


def pixel_scores(result: np.ndarray, gt: np.ndarray, line: np.ndarray) -> tuple[float, float]:
    """(character pixel accuracy, background IoU) of an RGBA ``result`` against an RGBA ``gt``
    (uint8 ``(H, W, 4)`` each), on the pixels where the RGBA line frame ``line`` has no line."""
    paper = line[..., 3] < 128
    gt_bg = gt[..., 3] < 128
    res_bg = result[..., 3] < 128
    char = paper & ~gt_bg & (gt[..., :3].astype(np.int32).sum(-1) > 0)
    right = (result[..., :3] == gt[..., :3]).all(-1) & ~res_bg
    acc = float(right[char].mean()) if char.any() else 1.0
    union = (gt_bg | res_bg) & paper
    iou = float((gt_bg & res_bg & paper).sum() / union.sum()) if union.any() else 1.0
    return acc, iou


def drift(args: argparse.Namespace, settings: FlatShotSettings) -> None:
    """Pixel metrics by distance from the keyframe for flat propagate, per family."""
    text = ""
    report: dict[str, dict[str, dict[str, float]]] = {}
    for family in args.family or ["character"]:
        shots_dir = args.work / family / "shots"
        if not (shots_dir / "manifest.json").is_file():
            write_shots(shots_dir, args.shots, ShotOptions(size=args.size, frames=args.frames, family=family),
                        seed=args.seed)
        by_d: dict[int, list[tuple[float, float]]] = {}
        listed: list[str] = []
        wrong: list[str] = []
        t0 = time.perf_counter()
        for i in range(args.shots):
            root = shots_dir / f"shot_{i:05d}"
            shot = read_shot(root)
            out = args.work / family / "propagate" / root.name
            run = colorize_shot(shot, FlatShotEngine.factory(settings), out, mode="propagate", progress=False,
                                overwrite=True)
            look = {r.stem for r in run.reviews if needs_look(r)}
            for task in run.tasks:
                if task.distance == 0:
                    continue
                fr = shot.frame(task.stem)
                res = np.asarray(load_image(out / f"{task.stem}.png").convert("RGBA"))
                gt = np.asarray(load_image(fr.gt).convert("RGBA"))
                ln = np.asarray(load_image(fr.line).convert("RGBA"))
                acc, iou = pixel_scores(res, gt, ln)
                by_d.setdefault(task.distance, []).append((acc, iou))
                key = f"{root.name}/{task.stem}"
                if task.stem in look:
                    listed.append(key)
                if acc < 0.9 or iou < 0.95:
                    wrong.append(key)
            print(f"{family}: shot {i + 1}/{args.shots} done", flush=True)
        seconds = time.perf_counter() - t0
        ds = sorted(by_d)
        rows = {str(d): {"char_acc": float(np.mean([a for a, _ in by_d[d]])),
                         "bg_iou": float(np.mean([b for _, b in by_d[d]])),
                         "frames": len(by_d[d])} for d in ds}
        report[family] = rows
        precision, recall = flag_precision(listed, wrong)
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        worst = {k: min(r[k] for r in rows.values()) for k in ("char_acc", "bg_iou")}
        upto25 = {k: min(r[k] for d, r in rows.items() if int(d) <= 25) for k in ("char_acc", "bg_iou")}
        text += (f"\n{family}: {args.shots} shots x {args.frames} frames, {args.size} px, seed {args.seed}; "
                 f"flat propagate ({seconds:.0f} s). Lowest up to distance 25: character pixel accuracy "
                 f"{upto25['char_acc']:.3f}, background IoU {upto25['bg_iou']:.3f}; at any distance: "
                 f"{worst['char_acc']:.3f}, {worst['bg_iou']:.3f}. Review flags: {len(listed)} frames listed "
                 f"for a look, {len(wrong)} wrong (character pixel accuracy < 0.9 or background IoU < 0.95): "
                 f"precision {fmt(precision)}, recall {fmt(recall)}.\n\n")
        shown = [d for d in ds if d <= 10 or d % 5 == 0 or d == ds[-1]]
        text += "| metric | " + " | ".join(str(d) for d in shown) + " |\n|" + "---|" * (len(shown) + 1) + "\n"
        for k, name in (("char_acc", "character pixel accuracy"), ("bg_iou", "background IoU")):
            text += f"| {name} | " + " | ".join(f"{rows[str(d)][k]:.3f}" for d in shown) + " |\n"
    write_bytes_atomic(text.encode("utf-8"), args.work / "drift.md")
    write_json_atomic({"by_distance": report, "args": vars(args) | {"work": str(args.work)}, "settings": settings.model_dump()},
                      args.work / "drift.json")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--shots", type=int, default=20)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drift", action="store_true", help="pixel metrics by distance, flat propagate only")
    ap.add_argument("--family", action="append", help="with --drift: shot family (repeatable)")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE",
                    help="a field of the flat shot engine's settings (FlatShotSettings; repeatable)")
    args = ap.parse_args()
    settings = flat_settings(args.set)
    if args.drift:
        drift(args, settings)
        return
    chosen = methods(settings)
    shots_dir = args.work / "shots"
    if not (shots_dir / "manifest.json").is_file():
        write_shots(shots_dir, args.shots, ShotOptions(size=args.size, frames=args.frames), seed=args.seed)
    rows: dict[str, list[dict[str, object]]] = {m: [] for m in chosen}
    seconds: dict[str, float] = {m: 0.0 for m in chosen}
    for i in range(args.shots):
        root = shots_dir / f"shot_{i:05d}"
        shot = read_shot(root)
        for name, (factory, mode) in chosen.items():
            out = args.work / name.replace(" ", "_") / root.name
            t = time.perf_counter()
            colorize_shot(shot, factory, out, mode=mode, progress=False, overwrite=True)
            seconds[name] += time.perf_counter() - t
            ev = evaluate_shot(root, out)
            rows[name] += [{**r, "shot": root.name} for r in ev.rows]
        print(f"shot {i + 1}/{args.shots} done", flush=True)
    summaries = {m: summarize(r) for m, r in rows.items()}
    text = f"Synthetic shots: {args.shots} shots x {args.frames} frames, {args.size} px, seed {args.seed}, keyframe = first frame.\n\n"
    text += "| method | frames | " + " | ".join(METRICS) + " |\n|" + "---|" * (len(METRICS) + 2) + "\n"
    for m, s in summaries.items():
        vals = [f"{s['mean'][k]:.2f}" if k == "psnr" else f"{s['mean'][k]:.3f}" for k in METRICS]
        text += f"| {m} | {s['frames']} | " + " | ".join(vals) + " |\n"
    distances = sorted({int(d) for s in summaries.values() for d in s["by_distance"]})
    for metric in ("acc", "pix_acc_fg", "miou_fg"):
        text += f"\n{metric} by distance from the keyframe:\n\n| method | " + " | ".join(str(d) for d in distances)
        text += " |\n|" + "---|" * (len(distances) + 1) + "\n"
        for m, s in summaries.items():
            text += f"| {m} | " + " | ".join(f"{s['by_distance'][str(d)][metric]:.3f}" for d in distances) + " |\n"
    text += "\nColoring time (all shots, this machine): " + ", ".join(f"{m} {v:.0f} s" for m, v in seconds.items()) + "\n"
    write_bytes_atomic(text.encode("utf-8"), args.work / "table.md")
    write_json_atomic({"summaries": summaries, "seconds": seconds, "args": vars(args) | {"work": str(args.work)},
                       "settings": settings.model_dump()}, args.work / "table.json")
    print(text)


if __name__ == "__main__":
    run_script(main)
