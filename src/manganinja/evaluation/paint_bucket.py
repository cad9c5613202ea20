"""Paint-bucket metrics for colored shot frames, after BasicPBC.

The segment-level metrics follow the evaluation code of BasicPBC (Dai et al., "Learning Inclusion
Matching for Animation Paint Bucket Colorization", CVPR 2024; ``paint/utils.py``, ``eval_json``
in github.com/ykdai/BasicPBC), with our segments and our way of reading a segment's color:

- **Segments** are the regions enclosed by the ground-truth frame's line art
  (:func:`manganinja.flat.regions.label_regions`, colored lines are boundaries too); line pixels
  belong to no segment and are never scored.
- A segment's color, in the ground truth and in the result, is the most common exact RGBA color
  of its pixels; pixels with alpha < 128 count as *background* (one color for all).

Per frame (``N`` segments, ``n_s`` pixels in segment ``s``, ``ok_s`` = result color equals
ground-truth color exactly):

- ``acc``: ``mean_s ok_s`` (segment accuracy).
- ``acc_thres``: ``mean ok_s`` over segments with more than ``threshold`` = 10 pixels.
- ``pix_acc``: ``sum n_s ok_s / sum n_s`` (pixel accuracy; line pixels excluded).
- ``pix_acc_fg``: the same over segments whose ground truth is not background (BasicPBC's
  ``pix_acc_wobg``).
- ``miou_fg``: background-excluded mean IoU over colors: for each ground-truth character color
  ``c`` in the frame, IoU of the pixels the result paints ``c`` and the pixels the ground truth
  paints ``c`` (segment colors, line pixels excluded); the mean over those colors.
- ``bg_iou``: segments that are background in both / segments that are background in either
  (BasicPBC's ``bmiou``, counted in segments; 1 when neither has background).
- ``pix_bg_iou``: the same counted in pixels (BasicPBC's ``pix_bmiou``).
- ``psnr`` and ``ms_ssim``: the paper's image metrics (:mod:`manganinja.evaluation.metrics`) of the
  result against the ground truth, both composited on white.

Two ways to pick and average the frames (``convention``):

- ``frames`` (ours): every frame with ground truth that is not a keyframe; the mean over all
  those frames (of every shot together) and the mean per distance from the keyframe.
- ``basicpbc`` (BasicPBC's ``eval_json_folder`` + ``evaluate``, "Default" mode): in each shot
  every frame with ground truth except the first one (by frame number; BasicPBC's reference
  frame), keyframes other than the first included; the mean per shot, then the mean of the shots'
  means (each shot counts once, whatever its length). Reported under BasicPBC's names: ``acc``,
  ``acc_thres``, ``pix_acc``, ``pix_acc_wobg``, ``bmiou``, ``pix_bmiou``. The segments are still
  ours (regions of the line art, colors by majority), where BasicPBC reads its own label maps and
  color JSONs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from manganinja.evaluation.metrics import ms_ssim, psnr
from manganinja.flat.propagate import region_modes
from manganinja.flat.regions import label_regions

#: Segments with more pixels than this count in ``acc_thres`` (BasicPBC's threshold).
SEGMENT_THRESHOLD = 10
METRICS = ("acc", "acc_thres", "pix_acc", "pix_acc_fg", "miou_fg", "bg_iou", "pix_bg_iou", "psnr", "ms_ssim")
#: Our metrics that BasicPBC's ``eval_json`` reports, under its names.
BASICPBC_NAMES = {"acc": "acc", "acc_thres": "acc_thres", "pix_acc": "pix_acc", "pix_acc_fg": "pix_acc_wobg",
                  "bg_iou": "bmiou", "pix_bg_iou": "pix_bmiou"}
Convention = Literal["frames", "basicpbc"]
CONVENTIONS = ("frames", "basicpbc")
_BACKGROUND = -1


def segment_colors(labels: np.ndarray, count: int, rgba: np.ndarray) -> np.ndarray:
    """int64 ``(count + 1,)``: each segment's most common exact RGBA color as ``R<<16|G<<8|B``,
    ``-1`` for background (alpha < 128); row 0 unused (-2)."""
    return region_modes(labels, count, rgba)


def _on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return np.rint(rgba[..., :3] * a + 255.0 * (1 - a)).astype(np.uint8)


def frame_metrics(result: np.ndarray, truth: np.ndarray, lines: np.ndarray,
                  threshold: int = SEGMENT_THRESHOLD) -> dict[str, float]:
    """The metrics of one frame (module docstring).

    Args:
        result, truth: uint8 ``(H, W, 4)`` RGBA.
        lines: float32 ``(H, W)`` in [0, 1], the frame's line art (1 = line).
    """
    if result.shape != truth.shape or truth.shape[:2] != lines.shape:
        raise ValueError(f"result {result.shape}, ground truth {truth.shape} and line art {lines.shape} differ in size")
    regions = label_regions(lines)
    n = regions.areas().astype(np.float64)
    gt = segment_colors(regions.labels, regions.count, truth)
    pr = segment_colors(regions.labels, regions.count, result)
    seg = np.arange(1, regions.count + 1)
    ok = gt[seg] == pr[seg]
    ns = n[seg]
    big = ns > threshold
    fg = gt[seg] != _BACKGROUND
    gt_bg, pr_bg = ~fg, pr[seg] == _BACKGROUND
    either = gt_bg | pr_bg
    ious = []
    for c in np.unique(gt[seg][fg]):
        inter = ns[(gt[seg] == c) & (pr[seg] == c)].sum()
        union = ns[(gt[seg] == c) | (pr[seg] == c)].sum()
        ious.append(inter / union if union else 1.0)
    res_rgb, gt_rgb = _on_white(result), _on_white(truth)
    return {
        "acc": float(ok.mean()) if len(ok) else 1.0,
        "acc_thres": float(ok[big].mean()) if big.any() else 1.0,
        "pix_acc": float(ns[ok].sum() / max(ns.sum(), 1)),
        "pix_acc_fg": float(ns[ok & fg].sum() / ns[fg].sum()) if fg.any() else 1.0,
        "miou_fg": float(np.mean(ious)) if ious else 1.0,
        "bg_iou": float((gt_bg & pr_bg).sum() / either.sum()) if either.any() else 1.0,
        "pix_bg_iou": float(ns[gt_bg & pr_bg].sum() / ns[either].sum()) if either.any() else 1.0,
        "psnr": psnr(res_rgb, gt_rgb),
        "ms_ssim": ms_ssim(res_rgb, gt_rgb),
    }


@dataclass
class ShotEvaluation:
    """Per-frame rows (``shot``, ``stem``, ``distance`` and each metric), the frames with no
    result, and the ``convention`` that picked the frames (module doc)."""

    rows: list[dict[str, object]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    convention: Convention = "frames"

    def summary(self) -> dict[str, object]:
        return summarize(self.rows, self.convention)


def _mean(rows: list[dict[str, object]], names: dict[str, str]) -> dict[str, float]:
    """``{name: mean of metric}`` over ``rows`` for each ``metric -> name`` of ``names``."""
    return {name: float(np.mean([float(r[m]) for r in rows])) for m, name in names.items()} if rows else {}


def summarize(rows: list[dict[str, object]], convention: Convention = "frames") -> dict[str, object]:
    """The means of ``rows`` as ``convention`` says (module doc): ``frames``: over all rows and
    per distance from the keyframe; ``basicpbc``: per shot (``row["shot"]``), and the mean of
    the shots' means, under BasicPBC's names."""
    if convention == "basicpbc":
        by_shot: dict[str, list[dict[str, object]]] = {}
        for r in rows:
            by_shot.setdefault(str(r.get("shot", "")), []).append(r)
        shots = {name: {"frames": len(rs), **_mean(rs, BASICPBC_NAMES)} for name, rs in sorted(by_shot.items())}
        mean = ({k: float(np.mean([float(v[k]) for v in shots.values()])) for k in BASICPBC_NAMES.values()}
                if shots else {})
        return {"convention": convention, "frames": len(rows), "shots": shots, "mean": mean}
    names = {m: m for m in METRICS}
    by: dict[int, list[dict[str, object]]] = {}
    for r in rows:
        by.setdefault(int(r["distance"]), []).append(r)  # type: ignore[arg-type]
    return {
        "convention": convention,
        "frames": len(rows),
        "mean": _mean(rows, names),
        "by_distance": {str(d): {"frames": len(by[d]), **_mean(by[d], names)} for d in sorted(by)},
    }


def is_shot_set(root: str | Path) -> bool:
    """Whether ``root`` is a folder of shot folders (no ``line/`` of its own, some subfolder with one)."""
    root = Path(root)
    return (root.is_dir() and not (root / "line").is_dir()
            and any((p / "line").is_dir() for p in root.iterdir() if p.is_dir()))


def evaluate_shot(shot_root: str | Path, results: str | Path, keyframes: list[str] | None = None,
                  convention: Convention = "frames") -> ShotEvaluation:
    """Score the frames of a shot that have ground truth (``gt/``) against ``results``; which
    frames: ``convention`` (module doc).

    Keyframes and distances come from the run's record (``results/shot_run.json``) when present,
    else from ``keyframes`` (or the shot's own declaration).
    """
    from manganinja.shots.format import ShotError, load_colored_frame, load_line_frame, read_shot
    from manganinja.shots.plan import plan, read_run_record

    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got '{convention}'")
    results = Path(results)
    if not results.is_dir():
        raise ShotError(f"results folder '{results}' not found")
    record = read_run_record(results) if keyframes is None else None
    shot = read_shot(shot_root, list(record.keyframes) if record is not None else keyframes)
    distances = record.distances if record is not None else {t.stem: t.distance for t in plan(shot, "keyframe")}
    with_truth = [f for f in shot.frames if f.gt is not None]
    if convention == "basicpbc":
        scored = with_truth[1:]  # frames are in number order; BasicPBC skips the first
    else:
        scored = [f for f in with_truth if f.stem not in shot.keyframes]
    ev = ShotEvaluation(convention=convention)
    for frame in scored:
        out = results / f"{frame.stem}.png"
        if not out.is_file():
            ev.missing.append(frame.stem)
            continue
        lines = load_line_frame(frame.line, f"line frame '{frame.stem}'").lines.array
        scores = frame_metrics(load_colored_frame(out, f"result '{frame.stem}'"),
                               load_colored_frame(frame.gt, f"ground truth '{frame.stem}'"), lines)  # type: ignore[arg-type]
        ev.rows.append({"shot": shot.root.name, "stem": frame.stem, "distance": distances.get(frame.stem, -1), **scores})
    return ev


def evaluate_shots(root: str | Path, results: str | Path, convention: Convention = "frames") -> ShotEvaluation:
    """Score a shot folder, or every shot of a folder of shots (:func:`is_shot_set`;
    ``results/<shot>`` holds each one's results, a shot without them is missing as a whole:
    ``<shot>/*``); one evaluation with the rows of all of them."""
    root, results = Path(root), Path(results)
    if not is_shot_set(root):
        return evaluate_shot(root, results, convention=convention)
    ev = ShotEvaluation(convention=convention)
    for shot in sorted(p for p in root.iterdir() if (p / "line").is_dir()):
        if not (results / shot.name).is_dir():
            ev.missing.append(f"{shot.name}/*")
            continue
        one = evaluate_shot(shot, results / shot.name, convention=convention)
        ev.rows += one.rows
        ev.missing += [f"{shot.name}/{m}" for m in one.missing]
    return ev


def rows_csv(rows: list[dict[str, object]]) -> str:
    """CSV text of per-frame rows."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def _cell(name: str, value: float) -> str:
    return f"{value:.2f}" if name == "psnr" else f"{value:.4f}"


def summary_markdown(summary: dict[str, object]) -> str:
    """A markdown table: ``frames``: one row for the mean, one per distance; ``basicpbc``: one row
    per shot and the mean of the shots."""
    if summary.get("convention") == "basicpbc":
        names = list(BASICPBC_NAMES.values())
        text = "| shot | frames | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 2) + "\n"
        shots: dict[str, dict[str, float]] = summary["shots"]  # type: ignore[assignment]
        for name, vals in shots.items():
            text += f"| {name} | {int(vals['frames'])} | " + " | ".join(_cell(m, vals[m]) for m in names) + " |\n"
        if summary.get("mean"):
            mean: dict[str, float] = summary["mean"]  # type: ignore[assignment]
            text += (f"| mean of {len(shots)} shot(s) | {summary['frames']} | "
                     + " | ".join(_cell(m, mean[m]) for m in names) + " |\n")
        return text
    head = "| frames | distance | " + " | ".join(METRICS) + " |\n|" + "---|" * (len(METRICS) + 2) + "\n"

    def line(label: str, d: dict[str, float], n: object) -> str:
        return f"| {n} | {label} | " + " | ".join(_cell(m, d[m]) for m in METRICS) + " |\n"

    text = head
    if summary.get("mean"):
        text += line("all", summary["mean"], summary["frames"])  # type: ignore[arg-type]
    for d, vals in summary["by_distance"].items():  # type: ignore[union-attr]
        text += line(d, vals, vals["frames"])
    return text
