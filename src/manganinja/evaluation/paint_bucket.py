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
- ``psnr`` and ``ms_ssim``: the paper's image metrics (:mod:`manganinja.evaluation.metrics`) of the
  result against the ground truth, both composited on white.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from manganinja.evaluation.metrics import ms_ssim, psnr
from manganinja.flat.propagate import region_modes
from manganinja.flat.regions import label_regions

#: Segments with more pixels than this count in ``acc_thres`` (BasicPBC's threshold).
SEGMENT_THRESHOLD = 10
METRICS = ("acc", "acc_thres", "pix_acc", "pix_acc_fg", "miou_fg", "bg_iou", "psnr", "ms_ssim")
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
        "psnr": psnr(res_rgb, gt_rgb),
        "ms_ssim": ms_ssim(res_rgb, gt_rgb),
    }


@dataclass
class ShotEvaluation:
    """Per-frame rows (``stem``, ``distance`` and each metric) and frames with no result."""

    rows: list[dict[str, object]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return summarize(self.rows)


def summarize(rows: list[dict[str, object]]) -> dict[str, object]:
    """Mean of each metric over ``rows``, overall and per distance from the keyframe."""
    def mean(rs: list[dict[str, object]]) -> dict[str, float]:
        return {m: float(np.mean([float(r[m]) for r in rs])) for m in METRICS} if rs else {}

    by: dict[int, list[dict[str, object]]] = {}
    for r in rows:
        by.setdefault(int(r["distance"]), []).append(r)  # type: ignore[arg-type]
    return {
        "frames": len(rows),
        "mean": mean(rows),
        "by_distance": {str(d): {"frames": len(by[d]), **mean(by[d])} for d in sorted(by)},
    }


def evaluate_shot(shot_root: str | Path, results: str | Path, keyframes: list[str] | None = None) -> ShotEvaluation:
    """Score every non-keyframe of a shot that has ground truth (``gt/``) against ``results``.

    Keyframes and distances come from ``results/shot_run.json`` when present, else from
    ``keyframes`` (or the shot's own declaration).
    """
    from manganinja.shots.format import ShotError, load_colored_frame, load_line_frame, read_shot
    from manganinja.shots.run import RUN_FILE, plan

    results = Path(results)
    if not results.is_dir():
        raise ShotError(f"results folder '{results}' not found")
    run_file = results / RUN_FILE
    distances: dict[str, int] = {}
    if keyframes is None and run_file.is_file():
        record = json.loads(run_file.read_text(encoding="utf-8"))
        keyframes = list(record["keyframes"])
        distances = {f["stem"]: int(f["distance"]) for f in record["frames"]}
    shot = read_shot(shot_root, keyframes)
    if not distances:
        distances = {t.stem: t.distance for t in plan(shot, "keyframe")}
    ev = ShotEvaluation()
    for frame in shot.frames:
        if frame.gt is None or frame.stem in shot.keyframes:
            continue
        out = results / f"{frame.stem}.png"
        if not out.is_file():
            ev.missing.append(frame.stem)
            continue
        lines = load_line_frame(frame.line, f"line frame '{frame.stem}'").lines.array
        scores = frame_metrics(load_colored_frame(out, f"result '{frame.stem}'"),
                               load_colored_frame(frame.gt, f"ground truth '{frame.stem}'"), lines)
        ev.rows.append({"stem": frame.stem, "distance": distances.get(frame.stem, -1), **scores})
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


def summary_markdown(summary: dict[str, object]) -> str:
    """A markdown table: one row for the mean, one per distance."""
    head = "| frames | distance | " + " | ".join(METRICS) + " |\n|" + "---|" * (len(METRICS) + 2) + "\n"

    def line(label: str, d: dict[str, float], n: object) -> str:
        vals = [f"{d[m]:.2f}" if m == "psnr" else f"{d[m]:.4f}" for m in METRICS]
        return f"| {n} | {label} | " + " | ".join(vals) + " |\n"

    text = head
    if summary.get("mean"):
        text += line("all", summary["mean"], summary["frames"])  # type: ignore[arg-type]
    for d, vals in summary["by_distance"].items():  # type: ignore[union-attr]
        text += line(d, vals, vals["frames"])
    return text
