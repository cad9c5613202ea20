"""The weight-free engine on synthetic drawings: accuracy, user points, fallbacks, bad input."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from manganinja.cli import app
from manganinja.flat.engine import FlatEngineError, colorize_flat, suggest_points
from manganinja.flat.inputs import FlatInputError
from manganinja.flat.layers import compose
from manganinja.images import ImageInputError
from manganinja.points import PointPairs, PointsError

from ._drawings import annotated_points, flat_drawing, similarity, transformed

TOL = 24  # levels per channel: the palette's colors are far further apart than this


def _correct(result_rgb: np.ndarray, truth_rgb: np.ndarray, xy: np.ndarray) -> np.ndarray:
    pix = np.rint(xy).astype(int)
    got = result_rgb[pix[:, 1], pix[:, 0]].astype(int)
    want = truth_rgb[pix[:, 1], pix[:, 0]].astype(int)
    return np.abs(got - want).max(axis=1) <= TOL


@pytest.fixture(scope="module")
def pair() -> dict:
    rgb, _ = flat_drawing(256, seed=1)
    m = similarity(256, angle=20.0, scale=0.85, shift=(5, -3))
    target, target_lines = transformed(rgb, m)
    target_xy, ref_xy = annotated_points(target, m, n=50, seed=1)
    return dict(ref=rgb, target=target, lines=target_lines, matrix=m, target_xy=target_xy, ref_xy=ref_xy)


def test_similarity_pair_colored_right_at_90_percent_of_50_points(pair: dict) -> None:
    result = colorize_flat(pair["ref"], pair["lines"])
    ok = _correct(result.composite, pair["target"], pair["target_xy"])
    assert ok.mean() >= 0.9, f"{ok.sum()}/50 points right"
    d = result.diagnostics
    assert d.mapping in ("tps", "affine") and not d.fell_back and d.n_inliers >= 12 and d.n_matches >= d.n_inliers
    assert result.composite.shape == (256, 256, 3) and result.color_layer.shape == (256, 256, 3)
    assert result.labels.shape == (256, 256) and d.n_regions == result.labels.max()
    # Its layers recompose: composite == black lines over the color layer.
    assert (compose(result.color_layer, pair["lines"]) == result.composite).all()
    # The mapping agrees with the true transform at the annotated points (within 3 pixels).
    err = np.linalg.norm(result.mapping(pair["target_xy"]) - pair["ref_xy"], axis=1)
    assert np.median(err) < 3.0


def test_user_points_fix_regions_the_engine_got_wrong(pair: dict) -> None:
    # A mirrored reference: SIFT is not mirror-invariant, so the engine aligns it wrongly.
    ref = pair["ref"][:, ::-1].copy()
    ref_xy = pair["ref_xy"].copy()
    ref_xy[:, 0] = ref.shape[1] - 1 - ref_xy[:, 0]
    before = colorize_flat(ref, pair["lines"])
    wrong = ~_correct(before.composite, pair["target"], pair["target_xy"])
    assert wrong.sum() >= 5, "the mirrored case should defeat the matcher"
    # One point pair in each of (up to) 6 wrongly colored regions.
    chosen, seen = [], set()
    for i in np.nonzero(wrong)[0]:
        x, y = np.rint(pair["target_xy"][i]).astype(int)
        label = int(before.labels[y, x])
        if label not in seen:
            seen.add(label)
            chosen.append(i)
        if len(chosen) == 6:
            break
    points = PointPairs.from_arrays(ref_xy[chosen], pair["target_xy"][chosen])
    after = colorize_flat(ref, pair["lines"], points)
    assert _correct(after.composite, pair["target"], pair["target_xy"][chosen]).all()
    assert after.diagnostics.n_user_points == len(chosen)


def test_one_point_forces_its_region_only(pair: dict) -> None:
    base = colorize_flat(pair["ref"], pair["lines"])
    x, y = np.rint(pair["target_xy"][0]).astype(int)
    label = int(base.labels[y, x])
    # Pair the line-art point with a reference point of another color.
    target_color = pair["target"][y, x].astype(int)
    ys, xs = np.nonzero(np.abs(pair["ref"].astype(int) - (0, 0, 0)).max(axis=2) > 100)
    far = [(xx, yy) for xx, yy in zip(xs[::97], ys[::97])
           if np.abs(pair["ref"][yy, xx].astype(int) - target_color).max() > 60
           and np.abs(pair["ref"][yy, xx].astype(int) - 255).max() > 60]
    rx, ry = far[0]
    forced = colorize_flat(pair["ref"], pair["lines"], PointPairs.from_arrays([[rx, ry]], [[x, y]]))
    assert np.abs(forced.region_colors[label].astype(int) - pair["ref"][ry, rx]).max() <= 2
    others = np.arange(1, len(base.region_colors)) != label
    assert (forced.region_colors[1:][others] == base.region_colors[1:][others]).all()


def test_reference_without_features_falls_back_to_boxes(caplog: pytest.LogCaptureFixture) -> None:
    ref = np.full((128, 128, 3), 255, np.uint8)
    cv2.circle(ref, (64, 64), 40, (200, 60, 60), -1)
    ref = cv2.GaussianBlur(ref, (0, 0), 6)  # soft blob, no lines, no corners
    lines = np.zeros((96, 96), np.float32)
    cv2.circle(lines, (48, 48), 30, 1.0, 2)
    with caplog.at_level(logging.WARNING, logger="manganinja.flat"):
        result = colorize_flat(ref, lines)
    d = result.diagnostics
    assert d.fell_back and d.mapping == "bbox"
    assert any("bounding boxes" in w for w in d.warnings)
    assert any("bounding boxes" in r.getMessage() for r in caplog.records)
    # Box-to-box alignment still paints the disk red-ish and the outside white.
    assert result.composite[48, 48, 0] > 150 and result.composite[48, 48, 2] < 120
    assert (result.composite[2, 2] >= 240).all()


def test_lineart_with_no_closed_region_gives_one_color() -> None:
    rgb, _ = flat_drawing(128, seed=2)
    lines = np.zeros((128, 128), np.float32)
    lines[30, 20:100] = 1.0
    result = colorize_flat(rgb, lines)
    assert result.diagnostics.n_regions == 1
    assert any("1 region" in w for w in result.diagnostics.warnings)
    paper = lines < 0.5
    assert len(np.unique(result.composite[paper].reshape(-1, 3), axis=0)) == 1


def test_points_outside_images_are_dropped_or_refused(pair: dict) -> None:
    points = PointPairs.from_arrays([[10, 10], [999, 5]], [[40, 40], [50, 60]])
    result = colorize_flat(pair["ref"], pair["lines"], points)
    assert result.diagnostics.n_user_points == 1
    assert any("pair 2" in w and "outside" in w for w in result.diagnostics.warnings)
    with pytest.raises(PointsError, match="outside the 256x256"):
        colorize_flat(pair["ref"], pair["lines"], points, strict_points=True)


def test_bad_inputs_have_clear_errors(tmp_path) -> None:
    with pytest.raises(ImageInputError, match="not found"):
        colorize_flat(tmp_path / "missing.png", np.zeros((8, 8), np.float32))
    with pytest.raises(FlatInputError, match="NaN"):
        colorize_flat(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), np.nan, np.float32))
    with pytest.raises(FlatEngineError, match="k must be"):
        suggest_points(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32), 0)


def test_suggest_points_are_true_correspondences(pair: dict) -> None:
    pairs = suggest_points(pair["ref"], pair["lines"], k=8)
    assert len(pairs) == 8
    inv = cv2.invertAffineTransform(pair["matrix"])
    truth = pairs.lineart_xy @ inv[:, :2].T + inv[:, 2]
    err = np.linalg.norm(truth - pairs.reference_xy, axis=1)
    assert (err <= 4.0).mean() >= 0.75, err
    pairs.validate([(256, 256)], (256, 256))  # inside, no duplicate line-art pixels


def test_points_suggest_cli(pair: dict, tmp_path) -> None:
    cv2.imwrite(str(tmp_path / "ref.png"), pair["ref"][..., ::-1])
    cv2.imwrite(str(tmp_path / "line.png"), (255 * (1 - pair["lines"])).astype(np.uint8))
    out = tmp_path / "points.json"
    res = CliRunner().invoke(
        app, ["points", "suggest", str(tmp_path / "ref.png"), str(tmp_path / "line.png"), "--out", str(out), "-k", "5"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert len(data["pairs"]) == 5
    assert len(PointPairs.from_json(out)) == 5
    res = CliRunner().invoke(app, ["points", "suggest", str(tmp_path / "nope.png"), str(tmp_path / "line.png"), "--out", str(out)])
    assert res.exit_code == 2 and "nope.png" in res.output


def _cropped_figure_on_a_photograph() -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """A 64 x 64 reference whose figure's hair runs off the top (the border's most frequent color,
    on the top side only) in front of a photograph-like background of 8 x 8 blocks of many colors,
    with one wall color on the left and the bottom. Returns it, the hair mask and the wall color."""
    rng = np.random.default_rng(3)
    blocks = rng.integers(60, 250, (8, 8, 3))
    rgb = np.kron(blocks, np.ones((8, 8, 1))).astype(np.uint8)  # no block color holds 5 % of two sides and beats the wall
    wall = (120, 140, 160)
    rgb[8:40, :12] = wall  # 32 px of the left side
    rgb[56:, :12] = wall  # and 12 px of the bottom side: 44 border pixels on two sides
    hair = np.zeros((64, 64), np.uint8)
    cv2.ellipse(hair, (34, 0), (30, 18), 0, 0, 360, 1, -1)  # 60 px of the top side
    face = np.zeros((64, 64), np.uint8)
    cv2.circle(face, (34, 28), 12, 1, -1)
    rgb[face > 0] = (250, 220, 190)
    rgb[hair > 0] = (230, 150, 170)
    outline = np.zeros((64, 64), np.uint8)
    for mask in (hair, face):
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(outline, contours, -1, 1, 1)
    outline[0] = 0  # where the frame cuts the hair there is no drawn line
    rgb[outline > 0] = (20, 20, 20)
    return rgb, (hair > 0) & (outline == 0), wall


def test_a_figure_cropped_by_the_frame_is_not_the_background_a_color_on_two_sides_is():
    """The hair holds the most border pixels but only on the top side; the background is the color
    seen on two sides (the left and the bottom), as on the official case's kitchen photograph."""
    from manganinja.flat.engine import border_color_code, reference_background

    rgb, hair, wall = _cropped_figure_on_a_photograph()
    codes, best = border_color_code(rgb)
    hair_code = (230 >> 4 << 8) | (150 >> 4 << 4) | (170 >> 4)
    assert np.bincount(codes).argmax() == hair_code  # the most frequent border color: the hair's
    assert best == (wall[0] >> 4 << 8) | (wall[1] >> 4 << 4) | (wall[2] >> 4)
    background, color, flat = reference_background(rgb)
    assert not background[hair].any()
    assert background[(rgb == wall).all(axis=2)].all()
    assert np.abs(color.astype(int) - wall).max() < 16  # the median of the border's pixels of the wall's code
    plain = np.full((32, 32, 3), 200, np.uint8)
    plain[8:24, 8:24] = (10, 200, 10)
    assert border_color_code(plain)[1] == (200 >> 4 << 8) | (200 >> 4 << 4) | (200 >> 4)  # a plain background: its own color
    one_side = np.full((32, 32, 3), 90, np.uint8)
    one_side[:, 16:] = np.arange(16)[None, :, None] * 10 + 40  # every color on one side at most but the 90 gray
    assert border_color_code(one_side)[1] == (90 >> 4 << 8) | (90 >> 4 << 4) | (90 >> 4)


def test_the_official_cases_hair_cropped_by_the_frame_is_painted_not_left_as_background(official_cases):
    """hz0's hair runs off the top of the frame and is its border's most frequent color (7 % of
    the border, all on the top side, before a kitchen photograph); it was taken for the
    background, and hz1's hair was left white. It takes the hair's pink now."""
    from manganinja.flat.engine import reference_background
    from manganinja.flat.inputs import load_rgb
    from manganinja.lines import Lines

    background, _, _ = reference_background(load_rgb(official_cases / "hz0.png", "reference"))
    assert background[:60, 150:350].mean() < 0.05  # the hair along the top, middle of the frame
    result = colorize_flat(official_cases / "hz0.png", Lines.from_input(official_cases / "hz1_lineart_official.png"))
    assert not result.background[40, 250]  # hz1's hair
    r, g, b = result.color_layer[40, 250].astype(int)
    assert r > g + 25 and r > b + 25 and min(r, g, b) > 120  # a light pink, not white, not a dark
