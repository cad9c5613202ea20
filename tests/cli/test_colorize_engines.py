"""`manganinja colorize` with the weight-free engine, snapping and layered output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app
from manganinja.data.synthetic import write_dataset
from manganinja.flat.layers import compose
from manganinja.pipeline import build_pipeline
from manganinja.point_regions import reference_colors
from manganinja.points import PointPairs


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    root = write_dataset(tmp_path_factory.mktemp("syn") / "set", n_pairs=1, size=128, seed=3)
    return next(p for p in root.iterdir() if p.is_dir())


def invoke(*args) -> object:
    return CliRunner().invoke(app, ["colorize", *map(str, args)])


def test_flat_engine_needs_no_model_and_writes_layers(pair, tmp_path):
    out = tmp_path / "page.png"
    res = invoke("--engine", "flat", "-r", pair / "reference.png", "-l", pair / "lineart.png",
                 "-p", pair / "points.json", "-o", out, "--layers")
    assert res.exit_code == 0, res.output
    composite = np.asarray(Image.open(out).convert("RGB"))
    color = np.asarray(Image.open(tmp_path / "page_color.png").convert("RGB"))
    lines = np.asarray(Image.open(tmp_path / "page_lines.png"))
    assert lines.shape[-1] == 4 and composite.shape == color.shape == (128, 128, 3)
    recomposed = compose(color, lines[..., 3].astype(np.float32) / 255.0)
    assert np.abs(recomposed.astype(int) - composite.astype(int)).max() <= 1
    # the flat engine obeys the user's points: most annotated target colours are right
    target = np.asarray(Image.open(pair / "target.png").convert("RGB")).astype(int)
    import json

    pts = json.loads((pair / "points.json").read_text())["pairs"]
    hits = sum(np.abs(composite[y, x].astype(int) - target[y, x]).max() <= 8 for x, y in (p["lineart"] for p in pts))
    assert hits / len(pts) >= 0.9


def test_flat_engine_accepts_black_on_white_line_art(pair, tmp_path):
    ink = tmp_path / "ink.png"
    Image.fromarray(255 - np.asarray(Image.open(pair / "lineart.png").convert("L"))).save(ink)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert invoke("--engine", "flat", "-r", pair / "reference.png", "-l", pair / "lineart.png", "-o", a).exit_code == 0
    assert invoke("--engine", "flat", "-r", pair / "reference.png", "-l", ink, "-o", b).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_engine_option_errors(pair, tmp_path):
    res = invoke("--engine", "magic", "-r", pair / "reference.png", "-l", pair / "lineart.png", "-o", tmp_path / "o.png")
    assert res.exit_code == 2 and "--engine must be 'ninja' or 'flat', got 'magic'" in res.output
    res = invoke("--engine", "flat", "--model", tmp_path, "-r", pair / "reference.png", "-l", pair / "lineart.png",
                 "-o", tmp_path / "o.png")
    assert res.exit_code == 2 and "needs no model" in res.output


def test_ninja_snap_layers_at_line_art_resolution(pair, tmp_path):
    model = tmp_path / "model"
    build_pipeline("tiny", seed=0).save_pretrained(model)
    big = tmp_path / "big_line.png"
    Image.open(pair / "lineart.png").resize((256, 256), Image.Resampling.NEAREST).save(big)
    out = tmp_path / "snapped.png"
    res = invoke("--model", model, "-r", pair / "reference.png", "-l", big, "-o", out, "--steps", "1",
                 "--resolution", "64", "--layers", "--quiet")
    assert res.exit_code == 0, res.output
    composite = np.asarray(Image.open(out).convert("RGB"))
    assert composite.shape == (256, 256, 3)
    lines = np.asarray(Image.open(big).convert("L")) > 128
    assert (composite[lines] < 40).all()  # the original lines drawn on top, in black
    assert (tmp_path / "snapped_color.png").is_file() and (tmp_path / "snapped_lines.png").is_file()
    res = invoke("--model", model, "-r", pair / "reference.png", "-l", big, "-o", out, "--no-snap", "--layers")
    assert res.exit_code == 2 and "--layers needs --snap" in res.output
    # a guide's region takes its reference color unless --no-guide-fill says to keep the model's
    drawn = PointPairs.from_json(pair / "points.json")
    paper = np.asarray(Image.open(big).convert("L")) < 60
    k = next(i for i, (x, y) in enumerate(drawn.lineart_xy.round().astype(int) * 2) if paper[y - 3:y + 4, x - 3:x + 4].all())
    ref_xy, line_xy = drawn.reference_xy[k], drawn.lineart_xy[k] * 2
    points = tmp_path / "points.json"
    PointPairs.from_arrays([ref_xy], [line_xy]).to_json(points)
    for flag, name in (("--guide-fill", "filled.png"), ("--no-guide-fill", "unfilled.png")):
        res = invoke("--model", model, "-r", pair / "reference.png", "-l", big, "--points", points, "-o",
                     tmp_path / name, "--steps", "1", "--resolution", "64", flag, "--quiet")
        assert res.exit_code == 0, res.output
    reference = np.asarray(Image.open(pair / "reference.png").convert("RGB"))
    wanted = reference_colors(reference, ref_xy[None])[0]
    x, y = line_xy.round().astype(int)
    filled, unfilled = (np.asarray(Image.open(tmp_path / n).convert("RGB")) for n in ("filled.png", "unfilled.png"))
    assert (filled[y, x] == wanted).all() and not (unfilled[y, x] == wanted).all()


def test_ninja_colorizes_a_picture_with_snapping_and_layers(pair, tmp_path):
    model = tmp_path / "model"
    build_pipeline("tiny", seed=0).save_pretrained(model)
    out = tmp_path / "from_picture.png"
    res = invoke("--model", model, "-r", pair / "reference.png", "--image", pair / "target.png", "-o", out,
                 "--steps", "1", "--resolution", "64", "--layers", "--quiet")
    assert res.exit_code == 0, res.output
    assert Image.open(out).size == (128, 128)
    assert (tmp_path / "from_picture_color.png").is_file() and (tmp_path / "from_picture_lines.png").is_file()
    raw = tmp_path / "raw.png"
    res = invoke("--model", model, "-r", pair / "reference.png", "--image", pair / "target.png", "-o", raw,
                 "--steps", "1", "--resolution", "64", "--no-snap", "--quiet")
    assert res.exit_code == 0, res.output
    assert Image.open(raw).size == (128, 128)
    res = invoke("--model", model, "-r", pair / "reference.png", "--image", pair / "target.png", "-o", raw,
                 "--steps", "1", "--resolution", "64", "--extractor", "informative", "--quiet")
    assert res.exit_code == 2 and "needs the official extractor weights" in res.output  # before loading
