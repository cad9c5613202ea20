"""Paint-bucket metrics (manganinja.evaluation.paint_bucket)."""

from __future__ import annotations

import numpy as np
import pytest

from manganinja.evaluation.paint_bucket import frame_metrics, segment_colors, summarize


def _frame() -> tuple[np.ndarray, np.ndarray]:
    """Three vertical stripes separated by lines: background | red (20 px wide) | blue."""
    lines = np.zeros((20, 62), np.float32)
    lines[:, 20] = 1
    lines[:, 41] = 1
    gt = np.zeros((20, 62, 4), np.uint8)
    gt[:, 21:41] = (255, 0, 0, 255)
    gt[:, 42:] = (0, 0, 255, 255)
    gt[:, [20, 41]] = (0, 0, 0, 255)
    return lines, gt


def test_perfect_result_scores_one() -> None:
    lines, gt = _frame()
    m = frame_metrics(gt, gt, lines)
    for k in ("acc", "acc_thres", "pix_acc", "pix_acc_fg", "miou_fg", "bg_iou", "ms_ssim"):
        assert m[k] == pytest.approx(1.0)
    assert m["psnr"] == 100.0


def test_one_wrong_segment() -> None:
    lines, gt = _frame()
    res = gt.copy()
    res[:, 42:] = (255, 0, 0, 255)  # blue segment painted red
    m = frame_metrics(res, gt, lines)
    assert m["acc"] == pytest.approx(2 / 3)
    assert m["pix_acc"] == pytest.approx(40 / 60)
    assert m["pix_acc_fg"] == pytest.approx(20 / 40)
    # red: IoU 20/40, blue: 0 -> mean 0.25
    assert m["miou_fg"] == pytest.approx(0.25)
    assert m["bg_iou"] == 1.0


def test_background_painted_counts_against_bg_iou() -> None:
    lines, gt = _frame()
    res = gt.copy()
    res[:, :20] = (255, 0, 0, 255)
    m = frame_metrics(res, gt, lines)
    assert m["bg_iou"] == 0.0 and m["pix_acc_fg"] == 1.0 and m["acc"] == pytest.approx(2 / 3)


def test_segment_colors_mode_and_transparency() -> None:
    labels = np.array([[1, 1, 1, 2, 2]])
    rgba = np.array([[[1, 2, 3, 255], [1, 2, 3, 255], [9, 9, 9, 255], [0, 0, 0, 0], [0, 0, 0, 0]]], np.uint8)
    out = segment_colors(labels, 2, rgba)
    assert out[1] == (1 << 16) | (2 << 8) | 3 and out[2] == -1


def test_summary_by_distance() -> None:
    rows = [{"stem": "1", "distance": 1, **{k: 1.0 for k in ("acc", "acc_thres", "pix_acc", "pix_acc_fg", "miou_fg", "bg_iou", "psnr", "ms_ssim")}},
            {"stem": "2", "distance": 2, **{k: 0.5 for k in ("acc", "acc_thres", "pix_acc", "pix_acc_fg", "miou_fg", "bg_iou", "psnr", "ms_ssim")}}]
    s = summarize(rows)
    assert s["frames"] == 2 and s["mean"]["acc"] == 0.75
    assert s["by_distance"]["1"]["acc"] == 1.0 and s["by_distance"]["2"]["frames"] == 1
