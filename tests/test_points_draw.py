"""Drawing point pairs to check a point file (library and `manganinja points draw`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app
from manganinja.points import PointPair, PointPairs, PointsError
from manganinja.points_draw import PANEL_GAP, draw_points, marker_centres, pair_color

runner = CliRunner()


def test_markers_share_a_color_on_both_panels() -> None:
    ref = Image.new("RGB", (120, 80), (255, 255, 255))
    line = Image.new("L", (60, 40), 0)  # half the size: scaled up to the same height
    pairs = PointPairs([PointPair((30, 20), (15, 10)), PointPair((90, 60), (45, 30))])
    canvas = draw_points(ref, line, pairs)
    assert canvas.mode == "RGB" and canvas.size == (120 + PANEL_GAP + 120, 80)
    arr = np.asarray(canvas).astype(int)
    centres = marker_centres(pairs, ref.size, line.size)
    assert [c[0] for c in centres] == [1, 2]
    assert centres[0][2] == pytest.approx((120 + PANEL_GAP + 30.5, 20.5))
    for number, ref_xy, line_xy in centres:
        color = np.array(pair_color(number - 1))
        for x, y in (ref_xy, line_xy):
            # The ring of this pair's color passes within radius + 2 px of the centre.
            y0, x0 = int(round(y)), int(round(x))
            patch = arr[max(0, y0 - 8) : y0 + 9, max(0, x0 - 8) : x0 + 9]
            assert (np.abs(patch - color).sum(axis=-1) < 30).any(), (number, x, y)
    assert pair_color(0) != pair_color(1)


def test_other_references_are_skipped_and_bad_pairs_rejected() -> None:
    ref = np.full((40, 40, 3), 255, np.uint8)
    line = np.zeros((40, 40), np.uint8)
    pairs = PointPairs([PointPair((5, 5), (5, 5)), PointPair((100, 100), (6, 6), reference_index=1)])
    assert [c[0] for c in marker_centres(pairs, (40, 40), (40, 40))] == [1]
    draw_points(ref, line, pairs)  # pair 2 points into another (larger) reference: not checked here
    with pytest.raises(PointsError, match="outside the 40x40"):
        draw_points(ref, line, pairs, reference_index=1)
    with pytest.raises(PointsError, match="line-art point"):
        draw_points(ref, line, PointPairs([PointPair((5, 5), (50, 5))]))


def test_cli_points_draw(tmp_path: Path) -> None:
    Image.new("RGB", (60, 40), (200, 100, 50)).save(tmp_path / "ref.png")
    Image.new("L", (30, 20), 0).save(tmp_path / "line.png")
    points = {
        "pairs": [
            {"reference": [10, 10], "lineart": [5, 5]},
            {"reference": [50, 30], "lineart": [25, 15], "reference_index": 1},
        ]
    }
    (tmp_path / "p.json").write_text(json.dumps(points))
    args = ["points", "draw", str(tmp_path / "ref.png"), str(tmp_path / "line.png"), str(tmp_path / "p.json")]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "check.png")])
    assert result.exit_code == 0, result.output
    assert "1 of 2 pairs" in result.output
    assert Image.open(tmp_path / "check.png").size == (60 + PANEL_GAP + 60, 40)
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "c1.png"), "--reference-index", "1"])
    assert result.exit_code == 0 and "1 of 2 pairs" in result.output

    (tmp_path / "bad.json").write_text('{"pairs": [')
    args[-1] = str(tmp_path / "bad.json")
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "c2.png")])
    assert result.exit_code == 2 and "malformed JSON" in result.output
    assert not (tmp_path / "c2.png").exists()
    args[-1] = str(tmp_path / "p.json")
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "c3.png"), "--reference-index", "2"])
    assert result.exit_code == 0 and "0 of 2 pairs" in result.output


def test_draw_official_case(official_cases: Path, tmp_path: Path) -> None:
    pairs = PointPairs.from_official_maps(official_cases / "hz01_0.npy", official_cases / "hz01_1.npy")
    canvas = draw_points(official_cases / "hz0.png", official_cases / "hz1_lineart_official.png", pairs)
    assert canvas.size == (512 + PANEL_GAP + 512, 512) and len(pairs) == 14
