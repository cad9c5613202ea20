"""Paint-bucket metrics (manganinja.evaluation.paint_bucket)."""

from __future__ import annotations

import numpy as np
import pytest

from pathlib import Path

from manganinja.evaluation.paint_bucket import (
    METRICS,
    evaluate_shot,
    evaluate_shots,
    frame_metrics,
    segment_colors,
    summarize,
    summary_markdown,
)


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
    for k in ("acc", "acc_thres", "pix_acc", "pix_acc_fg", "miou_fg", "bg_iou", "pix_bg_iou", "ms_ssim"):
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
    rows = [{"stem": "1", "distance": 1, **{k: 1.0 for k in METRICS}},
            {"stem": "2", "distance": 2, **{k: 0.5 for k in METRICS}}]
    s = summarize(rows)
    assert s["frames"] == 2 and s["mean"]["acc"] == 0.75
    assert s["by_distance"]["1"]["acc"] == 1.0 and s["by_distance"]["2"]["frames"] == 1


def test_pixel_background_iou_weighs_segments_by_area() -> None:
    """Two background segments, 10 and 30 px wide; the narrow one painted: BasicPBC's bmiou
    counts segments (1/2), pix_bmiou pixels (30/40)."""
    lines = np.zeros((20, 83), np.float32)
    lines[:, [10, 41, 62]] = 1
    gt = np.zeros((20, 83, 4), np.uint8)
    gt[:, 42:62] = (255, 0, 0, 255)
    gt[:, 63:] = (0, 0, 255, 255)
    gt[:, [10, 41, 62]] = (0, 0, 0, 255)
    res = gt.copy()
    res[:, :10] = (255, 0, 0, 255)
    m = frame_metrics(res, gt, lines)
    assert m["bg_iou"] == pytest.approx(1 / 2)
    assert m["pix_bg_iou"] == pytest.approx(30 / 40)
    assert m["acc"] == pytest.approx(3 / 4) and m["pix_acc"] == pytest.approx(70 / 80)


def test_basicpbc_convention_averages_per_shot_then_over_shots() -> None:
    def row(shot: str, value: float) -> dict[str, object]:
        return {"shot": shot, "stem": "x", "distance": 1, **{k: value for k in METRICS}}

    rows = [row("a", 1.0), row("b", 0.5), row("b", 0.5), row("b", 0.5)]
    ours = summarize(rows)
    assert ours["mean"]["acc"] == pytest.approx(0.625)  # pooled over frames
    theirs = summarize(rows, "basicpbc")
    assert theirs["shots"]["a"]["frames"] == 1 and theirs["shots"]["b"]["acc"] == pytest.approx(0.5)
    assert theirs["mean"]["acc"] == pytest.approx(0.75)  # each shot counts once
    assert set(theirs["mean"]) == {"acc", "acc_thres", "pix_acc", "pix_acc_wobg", "bmiou", "pix_bmiou"}
    table = summary_markdown(theirs)
    assert "| pix_bmiou |" in table and "| mean of 2 shot(s) | 4 |" in table


@pytest.fixture(scope="module")
def shots_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two synthetic 4-frame shots (keyframes first and last, ground truth for every frame) and
    their results: the ground truth itself, but frame 0002 of shot 0 blanked."""
    import shutil

    from manganinja.data.synthetic_shots import ShotOptions, write_shots

    root = tmp_path_factory.mktemp("set")
    write_shots(root / "data", 2, ShotOptions(size=64, frames=4, keyframes=2), seed=4)
    results = root / "results"
    for shot in ("shot_00000", "shot_00001"):
        shutil.copytree(root / "data" / shot / "gt", results / shot)
    blank = np.zeros((64, 64, 4), np.uint8)
    from PIL import Image

    Image.fromarray(blank, "RGBA").save(results / "shot_00000" / "0002.png")
    return root / "data", results


def test_basicpbc_convention_skips_the_first_frame_and_keeps_later_keyframes(shots_set: tuple[Path, Path]) -> None:
    data, results = shots_set
    ours = evaluate_shot(data / "shot_00000", results / "shot_00000")
    assert [r["stem"] for r in ours.rows] == ["0001", "0002"]  # keyframes 0000 and 0003 left out
    theirs = evaluate_shot(data / "shot_00000", results / "shot_00000", convention="basicpbc")
    assert [r["stem"] for r in theirs.rows] == ["0001", "0002", "0003"]
    both = evaluate_shots(data, results, convention="basicpbc")
    assert [(r["shot"], r["stem"]) for r in both.rows] == [
        (s, f) for s in ("shot_00000", "shot_00001") for f in ("0001", "0002", "0003")]
    summary = both.summary()
    assert summary["shots"]["shot_00001"]["acc"] == pytest.approx(1.0)  # the ground truth itself
    blanked = summary["shots"]["shot_00000"]["pix_acc"]
    assert blanked < 1.0
    assert summary["mean"]["pix_acc"] == pytest.approx((blanked + 1.0) / 2)


def test_the_metrics_do_not_import_the_runner() -> None:
    """Scoring reads the run's record through the plan module, not through the run itself."""
    import ast

    import manganinja.evaluation.paint_bucket as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"manganinja.shots.run", "manganinja.batch", "manganinja.shots.engines"}
