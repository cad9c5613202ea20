"""The one engine contract: prepare(references) -> P, colorize(P, Lines, points) -> Layers, for
the model, the weight-free engine and the benchmark's baselines."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from manganinja.engines import (
    ENGINE_NAMES,
    EngineError,
    FlatEngine,
    build_engine,
    lineart_silhouette,
    reference_foreground,
)
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.settings import LoadSettings, NinjaSettings


def test_registry():
    assert set(ENGINE_NAMES) == {"reference", "mean-color", "ninja", "flat"}
    with pytest.raises(EngineError, match="'nope'"):
        build_engine("nope")
    with pytest.raises(ValueError, match="--engine flat"):
        build_engine("ninja", load=LoadSettings())  # no model: says how to run without weights


def test_reference_engine_resizes_to_the_lineart():
    ref = Image.fromarray(np.full((20, 10, 3), (10, 200, 30), np.uint8))
    engine = build_engine("reference")
    out = engine.colorize(engine.prepare([ref]), Lines(np.zeros((7, 9), np.float32)), None).composite
    assert out.shape == (7, 9, 3) and out.dtype == np.uint8
    assert (out == (10, 200, 30)).all()


def test_silhouette_fills_a_closed_outline_and_foreground_ignores_the_border_color():
    lines = np.zeros((20, 20), np.float32)
    lines[5, 5:15] = lines[14, 5:15] = lines[5:15, 5] = lines[5:15, 14] = 1.0
    sil = lineart_silhouette(Lines(lines))
    assert sil[5:15, 5:15].all() and sil.sum() == 100
    pic = np.full((10, 10, 3), (0, 0, 255), np.uint8)  # blue background
    pic[3:6, 3:6] = (250, 250, 250)
    fg = reference_foreground(pic)
    assert fg.sum() == 9 and fg[3:6, 3:6].all()


def test_ninja_engine_matches_the_pipeline(official_tiny):
    import torch

    from manganinja import MangaNinjaPipeline

    ckpt = official_tiny / "checkpoints"
    load = LoadSettings(official=ckpt, device="cpu")
    engine = build_engine("ninja", ninja=NinjaSettings(steps=1, resolution=64, snap=False, progress=False), load=load)
    assert engine.describe()["steps"] == 1 and engine.describe()["resolution"] == 64
    ref = Image.open(official_tiny / "inputs" / "reference.png").convert("RGB")
    line_img = Image.open(official_tiny / "inputs" / "lineart.png").convert("L")
    lines = Lines.from_input(line_img)
    points = PointPairs.from_json(official_tiny / "inputs" / "points.json")
    prepared = engine.prepare([ref])
    got = engine.with_seed(3).colorize(prepared, lines, points).composite
    assert got.shape == (*lines.array.shape, 3) and got.dtype == np.uint8
    pipe = MangaNinjaPipeline.from_official(ckpt)
    expected = pipe(reference=ref, lineart=line_img, points=points, num_inference_steps=1,
                    generator=torch.Generator().manual_seed(3), output_type="np", resolution=64,
                    progress=False).images[0]
    np.testing.assert_array_equal(got, expected)
    # no points differs from points (the point branch is live); the seed is used
    assert not np.array_equal(engine.with_seed(3).colorize(prepared, lines, None).composite, got)
    assert not np.array_equal(engine.with_seed(4).colorize(prepared, lines, points).composite, got)


def _exact_point_hits(image: np.ndarray, target: np.ndarray, xy: np.ndarray) -> list[bool]:
    """Per line-art point ``xy`` (N, 2): is ``image`` within 8 levels of ``target`` there?"""
    return [bool(np.abs(image[y, x].astype(int) - target[y, x].astype(int)).max() <= 8)
            for x, y in xy.round().astype(int)]


def test_flat_engine_colors_a_synthetic_pair_and_obeys_its_points():
    """The engine's own behaviour, not a comparison with the function it calls: at the 5 guided
    points the result has the ground truth's color (without the points 2 of them are wrong, so
    the points reach the engine), and the other 45 exact points are mostly right too."""
    from manganinja.data.synthetic import generate_pair

    pair = generate_pair(np.random.default_rng([0, 1]), size=128)
    lines = Lines((pair.lineart > 0).astype(np.float32))
    engine = build_engine("flat")
    assert engine.describe() == {"two_tone": True, "gap_radius": 3, "background_share": 0.25, "border_cover": 0.5}
    prepared = engine.prepare([Image.fromarray(pair.reference)])
    got = engine.colorize(prepared, lines, pair.points[:5]).composite
    assert got.shape == (128, 128, 3) and got.dtype == np.uint8
    xy = pair.points.lineart_xy
    assert _exact_point_hits(got, pair.target, xy[:5]) == [True] * 5
    unguided = engine.colorize(prepared, lines, None).composite
    assert not all(_exact_point_hits(unguided, pair.target, xy[:5]))
    # measured: 32 of the 45 other points (0.71); a blank or misaligned result scores near 0
    assert np.mean(_exact_point_hits(got, pair.target, xy[5:])) >= 0.6


def test_ninja_snap_fills_the_guides_regions_with_their_reference_colors(official_tiny):
    """Snapped (colorize's default), the model's picture obeys a person's guides as the flat
    engine does: the region that holds a guide takes the reference's color at the guide's
    reference point, read on the reference the pair names. Random weights paint the guided points
    wrong by themselves (``guide_fill`` off), so the colors there come from the guides."""
    from manganinja.data.synthetic import generate_pair

    pair = generate_pair(np.random.default_rng([0, 1]), size=128)
    lines = Lines((pair.lineart > 0).astype(np.float32))
    load = LoadSettings(official=official_tiny / "checkpoints", device="cpu")
    engine = build_engine("ninja", ninja=NinjaSettings(steps=1, resolution=64, progress=False), load=load)
    assert engine.settings.snap and engine.settings.guide_fill  # the defaults a user gets
    ref = Image.fromarray(pair.reference)
    guides = pair.points[:5]
    xy = guides.lineart_xy
    got = engine.colorize(engine.prepare([ref]), lines, guides).composite
    assert _exact_point_hits(got, pair.target, xy) == [True] * 5
    unfilled = engine.with_settings(engine.settings.model_copy(update={"guide_fill": False}))
    assert not all(_exact_point_hits(unfilled.colorize(unfilled.prepare([ref]), lines, guides).composite, pair.target, xy))
    # the second of two references: its pairs read their colors on it, not on the first
    blank = Image.new("RGB", (128, 128), (255, 255, 255))
    second = PointPairs.from_arrays(guides.reference_xy, xy, reference_index=[1] * 5)
    both = engine.colorize(engine.prepare([blank, ref]), lines, second).composite
    assert _exact_point_hits(both, pair.target, xy) == [True] * 5


def test_flat_engine_stitches_several_references_and_checks_their_points():
    """The benchmark and the CLI share FlatEngine: two references are stitched side by side and
    a pair's reference point moves onto the canvas with its reference."""
    from manganinja.data.synthetic import generate_pair

    pair = generate_pair(np.random.default_rng([0, 1]), size=128)
    ref = Image.fromarray(pair.reference)
    blank = Image.new("RGB", (64, 128), (255, 255, 255))
    engine = FlatEngine()
    prepared = engine.prepare([blank, ref])
    assert prepared.picture.size == (64 + 128, 128) and prepared.placements == [(0, 0, 1.0), (64, 0, 1.0)]
    pts = PointPairs.from_arrays(pair.points.reference_xy[:5], pair.points.lineart_xy[:5], reference_index=[1] * 5)
    alone = engine.colorize(engine.prepare([ref]), Lines((pair.lineart > 0).astype(np.float32)), pair.points[:5])
    both = engine.colorize(prepared, Lines((pair.lineart > 0).astype(np.float32)), pts)
    target = pair.target.astype(int)
    xy = pair.points.lineart_xy[:5].round().astype(int)
    hits = lambda img: sum(np.abs(img[y, x].astype(int) - target[y, x]).max() <= 8 for x, y in xy)  # noqa: E731
    # every guided point takes its reference color, stitched or alone (no point may be lost)
    assert hits(alone.composite) == 5 and hits(both.composite) == 5
    # the reference_index is honored: the same points sent to the blank reference paint white
    blank_pts = PointPairs.from_arrays(np.clip(pts.reference_xy, 0, 63), pts.lineart_xy, reference_index=[0] * 5)
    on_blank = engine.colorize(prepared, Lines((pair.lineart > 0).astype(np.float32)), blank_pts).composite
    assert all((on_blank[y, x] == 255).all() for x, y in xy)
    with pytest.raises(ValueError, match="reference_index 2"):
        engine.colorize(prepared, Lines(np.zeros((128, 128), np.float32)),
                        PointPairs.from_arrays([[1, 1]], [[1, 1]], reference_index=[2]))


def test_flat_takes_line_art_only_as_lines(tmp_path):
    """The flat code does not normalize line art again: a Lines (or its float array) is used as it
    is; a path or a uint8 drawing is refused with the fix."""
    import numpy as np
    from PIL import Image

    from manganinja.flat.engine import colorize_flat
    from manganinja.flat.inputs import FlatInputError, load_lines
    from manganinja.lines import Lines

    drawing = np.zeros((32, 32), np.uint8)
    drawing[8, :] = 255
    lines = Lines.from_input(drawing)
    assert load_lines(lines) is lines.array
    Image.fromarray(drawing).save(tmp_path / "line.png")
    for bad in (tmp_path / "line.png", drawing, Image.fromarray(drawing)):
        with pytest.raises(FlatInputError, match="Lines.from_input"):
            load_lines(bad)
    with pytest.raises(FlatInputError, match=r"\[0, 1\]"):
        load_lines(np.full((4, 4), 2.0, np.float32))
    with pytest.raises(FlatInputError, match="Lines.from_input"):
        colorize_flat(np.zeros((32, 32, 3), np.uint8), tmp_path / "line.png")
