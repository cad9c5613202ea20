"""Engines of the benchmark: the baselines, the adapters' contracts, the ninja adapter on the
tiny official fixture."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from manganinja.evaluation.engines import (
    ENGINE_NAMES,
    EngineError,
    as_uint8_rgb,
    lineart_silhouette,
    make_engine,
    reference_foreground,
)
from manganinja.points import PointPairs


def test_registry():
    assert set(ENGINE_NAMES) == {"reference", "mean-color", "ninja", "flat"}
    with pytest.raises(EngineError, match="'nope'"):
        make_engine("nope")
    with pytest.raises(EngineError, match="steps"):
        make_engine("reference", steps=3)
    with pytest.raises(EngineError, match="--model"):
        make_engine("ninja")


def test_reference_engine_resizes_to_the_lineart():
    ref = Image.fromarray(np.full((20, 10, 3), (10, 200, 30), np.uint8))
    out = make_engine("reference")(ref, np.zeros((7, 9), np.float32), None)
    assert out.shape == (7, 9, 3) and out.dtype == np.uint8
    assert (out == (10, 200, 30)).all()


def test_as_uint8_rgb():
    out = as_uint8_rgb(np.full((1, 4, 6, 3), 0.5), (3, 2))
    assert out.shape == (2, 3, 3) and (out == 128).all()
    with pytest.raises(EngineError, match=r"\(4, 6\)"):
        as_uint8_rgb(np.zeros((4, 6)), (6, 4))


def test_silhouette_fills_a_closed_outline_and_foreground_ignores_the_border_color():
    lines = np.zeros((20, 20), np.float32)
    lines[5, 5:15] = lines[14, 5:15] = lines[5:15, 5] = lines[5:15, 14] = 1.0
    sil = lineart_silhouette(lines)
    assert sil[5:15, 5:15].all() and sil.sum() == 100
    pic = np.full((10, 10, 3), (0, 0, 255), np.uint8)  # blue background
    pic[3:6, 3:6] = (250, 250, 250)
    fg = reference_foreground(pic)
    assert fg.sum() == 9 and fg[3:6, 3:6].all()


def test_ninja_adapter_matches_the_pipeline(official_tiny):
    import torch

    from manganinja import MangaNinjaPipeline

    ckpt = official_tiny / "checkpoints"
    engine = make_engine("ninja", model=str(ckpt), steps=1, resolution=64)
    assert engine.settings["loader"] == "from_official" and engine.settings["steps"] == 1
    ref = Image.open(official_tiny / "inputs" / "reference.png").convert("RGB")
    line_img = Image.open(official_tiny / "inputs" / "lineart.png").convert("L")
    lineart = np.asarray(line_img, np.float32) / 255.0
    points = PointPairs.from_json(official_tiny / "inputs" / "points.json")
    got = engine(ref, lineart, points, seed=3)
    assert got.shape == (*lineart.shape, 3) and got.dtype == np.uint8
    pipe = MangaNinjaPipeline.from_official(ckpt)
    expected = pipe(reference=ref, lineart=line_img, points=points, num_inference_steps=1,
                    generator=torch.Generator().manual_seed(3), output_type="np", resolution=64,
                    progress=False).images[0]
    np.testing.assert_array_equal(got, expected)
    # no points differs from points (the point branch is live)
    assert not np.array_equal(engine(ref, lineart, None, seed=3), got)
    assert not np.array_equal(engine(ref, lineart, points, seed=4), got)  # the run's seed is used


def test_flat_engine_runs_on_a_synthetic_pair():
    from manganinja.data.synthetic import generate_pair
    from manganinja.flat.engine import colorize_flat

    pair = generate_pair(np.random.default_rng([0, 1]), size=128)
    lineart = (pair.lineart > 0).astype(np.float32)
    ref = Image.fromarray(pair.reference)
    engine = make_engine("flat")
    assert engine.settings == {"output": "composite"}
    got = engine(ref, lineart, pair.points[:5])
    assert got.shape == (128, 128, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, colorize_flat(ref, lineart, points=pair.points[:5]).composite)
