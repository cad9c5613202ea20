"""The web page's logic without a browser: uploads, clicks, undo/delete, import, colorize, files."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from manganinja.data.synthetic import generate_pair
from manganinja.engines import FlatEngine
from manganinja.images import save_image
from manganinja.points import PointPair, PointPairs, PointsError
from manganinja.webui import (
    FLAT,
    LINEART,
    REFERENCE,
    Colorizer,
    Session,
    UiLimits,
    UploadError,
    add_click,
    build_app,
    clear_points,
    delete_pair,

    points_json,
    prepare_lineart,
    read_upload,
    render_lineart,
    render_reference,
    undo,
    with_lineart,
    with_points,
    with_references,
    with_suggestions,
    write_outputs,
)

@pytest.fixture(scope="module")
def pair():
    return generate_pair(0, size=96)


@pytest.fixture
def session(pair) -> Session:
    s = with_references(Session(), [Image.fromarray(pair.reference)], UiLimits())
    return with_lineart(s, pair.lineart.astype(np.float32) / 255)


def test_read_upload_limits_name_the_file(tmp_path) -> None:
    path = save_image(np.zeros((30, 40, 3), np.uint8), tmp_path / "a.png")
    assert read_upload(path, "reference 1", UiLimits()).size == (40, 30)
    with pytest.raises(UploadError, match=r"'a\.png': 40x30 = 1200 pixels is over the limit of 1000"):
        read_upload(path, "reference 1", UiLimits(max_pixels=1000))
    with pytest.raises(UploadError, match=r"'a\.png': .* MB is over the 1e-05 MB upload limit"):
        read_upload(path, "reference 1", UiLimits(max_upload_mb=1e-5))
    bad = tmp_path / "b.png"
    bad.write_text("text")
    with pytest.raises(UploadError, match=r"line art 'b\.png': cannot be read as an image") as info:
        read_upload(bad, "line art", UiLimits())
    assert str(tmp_path) not in str(info.value)


def test_clicks_make_numbered_pairs_in_image_pixels(session) -> None:
    with pytest.raises(PointsError, match="click the reference first"):
        add_click(session, LINEART, (5, 5))
    s, msg = add_click(session, REFERENCE, (10, 20))
    assert "Pair 1" in msg and s.pending == (0, (10.0, 20.0))
    s, _ = add_click(s, REFERENCE, (11, 21))  # a second reference click moves the pending point
    s, msg = add_click(s, LINEART, (30, 40))
    assert "Pair 1 added" in msg and s.pending is None
    assert s.points == PointPairs([PointPair((11, 21), (30, 40))])
    with pytest.raises(PointsError, match=r"outside the 96x96 image"):
        add_click(s, REFERENCE, (96, 3))
    assert json.loads(points_json(s)) == {"pairs": [{"reference": [11, 21], "lineart": [30, 40]}]}


def test_undo_delete_clear(session) -> None:
    s = session
    for i in range(3):
        s, _ = add_click(s, REFERENCE, (i, i))
        s, _ = add_click(s, LINEART, (i + 10, i + 10))
    s, _ = add_click(s, REFERENCE, (50, 50))
    s, msg = undo(s)
    assert s.pending is None and len(s.pairs) == 3 and "Pending" in msg
    s, msg = undo(s)
    assert [p.lineart for p in s.pairs] == [(10, 10), (11, 11)] and "Pair 3 removed" in msg
    with pytest.raises(PointsError, match="there is no pair 5"):
        delete_pair(s, 5)
    s, _ = delete_pair(s, 1)
    assert [p.lineart for p in s.pairs] == [(11, 11)]
    assert clear_points(s).pairs == ()


def test_import_checks_points_against_images(session) -> None:
    ok = PointPairs([PointPair((5, 5), (6, 6))])
    assert with_points(session, ok).points == ok
    with pytest.raises(PointsError, match="outside"):
        with_points(session, PointPairs([PointPair((500, 5), (6, 6))]))
    with pytest.raises(PointsError, match="upload the references"):
        with_points(Session(), ok)


def test_new_references_drop_pairs_and_markers_are_drawn(session, pair) -> None:
    s, _ = add_click(session, REFERENCE, (40, 40))
    s, _ = add_click(s, LINEART, (40, 40))
    ref_img, line_img = render_reference(s), render_lineart(s)
    assert ref_img.size == line_img.size == (96, 96)
    assert not np.array_equal(np.asarray(ref_img), pair.reference)  # a marker was drawn
    with pytest.raises(UploadError, match="at most 4"):
        with_references(s, [Image.fromarray(pair.reference)] * 5, UiLimits())
    assert with_references(s, [Image.fromarray(pair.target)], UiLimits()).pairs == ()


def test_colorize_flat_with_layers_writes_recomposable_files(session, tmp_path) -> None:
    colorizer = Colorizer({FLAT: FlatEngine()})
    with pytest.raises(ValueError, match="upload a line art"):
        colorizer.colorize(with_lineart(session, None), colorizer.settings())
    with pytest.raises(ValueError, match="engine 'ninja' is not available"):
        colorizer.colorize(session, colorizer.settings("ninja"))
    result, layers = colorizer.colorize(session, colorizer.settings(snap=True), layers=True)
    assert result.shape == (96, 96, 3) and result.dtype == np.uint8 and result.std() > 5
    names = [p.name for p in write_outputs(result, layers, session.lineart, tmp_path)]
    assert sorted(names) == ["colorized.png", "colorized_color.png", "colorized_lines.png"]
    # The prepared reference is reused for the same references.
    cached = colorizer._cache[FLAT]
    colorizer.colorize(session, colorizer.settings(), layers=False)
    assert colorizer._cache[FLAT] is cached


def test_build_app_has_the_queue_and_limits() -> None:
    demo = build_app({FLAT: FlatEngine()}, limits=UiLimits(max_upload_mb=3))
    assert demo.manganinja_limits.max_upload_bytes == 3 * 1024 * 1024
    assert demo._queue.default_concurrency_limit == 1


def test_suggestions_are_appended_for_review(session) -> None:
    from manganinja.flat.engine import suggest_points

    s, _ = add_click(session, REFERENCE, (40, 40))
    s, _ = add_click(s, LINEART, (41, 41))
    s = with_suggestions(s, suggest_points, 4)
    assert 1 < len(s.pairs) <= 5 and s.pairs[0] == PointPair((40, 40), (41, 41))
    with pytest.raises(PointsError, match="cannot suggest 0"):
        with_suggestions(s, suggest_points, 0)


def test_clicks_on_a_second_reference_carry_its_index(session, pair) -> None:
    s = with_references(session, [Image.fromarray(pair.reference), Image.fromarray(pair.target[:80])], UiLimits())
    s = replace(s, active=1)
    s, _ = add_click(s, REFERENCE, (10, 70))
    with pytest.raises(PointsError, match="outside the 96x80 image"):
        add_click(s, REFERENCE, (10, 85))
    s, _ = add_click(s, LINEART, (20, 20))
    assert s.pairs == (PointPair((10, 70), (20, 20), reference_index=1),)
    assert json.loads(points_json(s))["pairs"][0]["reference_index"] == 1


def test_extract_lineart_from_a_color_picture(pair) -> None:
    lines = prepare_lineart(Image.fromarray(pair.target), extract=True).array
    assert lines.shape == (96, 96) and lines.dtype == np.float32
    assert 0.01 < (lines > 0.5).mean() < 0.5
    same = prepare_lineart(Image.fromarray(255 - pair.lineart), extract=False).array  # ink on paper
    assert np.array_equal(same > 0.5, pair.lineart > 127)


def test_model_engine_settings_snap_and_layers(session, pair, tmp_path) -> None:
    from manganinja.engines import NinjaEngine
    from manganinja.settings import NinjaSettings
    from manganinja.pipeline import build_pipeline

    ninja = NinjaEngine(build_pipeline("tiny"), NinjaSettings(steps=2, resolution=64, progress=False))
    colorizer = Colorizer({"ninja": ninja})
    raw, layers = colorizer.colorize(session, colorizer.settings("ninja", steps=1, snap=False), layers=True)
    assert raw.shape == (96, 96, 3) and not np.array_equal(raw, layers.composite)
    names = sorted(p.name for p in write_outputs(raw, layers, session.lineart, tmp_path / "raw"))
    assert names == ["colorized.png", "layers.png", "layers_color.png", "layers_lines.png"]
    snapped, layers = colorizer.colorize(session, colorizer.settings("ninja", steps=1, snap=True), layers=True)
    assert np.array_equal(snapped, layers.composite)
    # Snapped: one flat color per region (the region under a pixel off the lines has one color).
    assert len(np.unique(snapped.reshape(-1, 3), axis=0)) < len(np.unique(raw.reshape(-1, 3), axis=0))
    # The page's guide-fill box: snapped, each pair's region takes its reference color, or not
    guided = with_points(session, pair.points[:5])
    assert colorizer.settings("ninja", guide_fill=False).ninja.guide_fill is False
    filled, _ = colorizer.colorize(guided, colorizer.settings("ninja", steps=1, snap=True), layers=False)
    unfilled, _ = colorizer.colorize(guided, colorizer.settings("ninja", steps=1, snap=True, guide_fill=False), layers=False)
    assert not np.array_equal(filled, unfilled)


def test_bad_model_settings_are_refused_before_the_engine_runs(session) -> None:
    from manganinja.engines import NinjaEngine
    from manganinja.pipeline import build_pipeline
    from manganinja.settings import NinjaSettings

    calls = []

    class Spy(NinjaEngine):
        def prepare(self, references):
            calls.append("prepare")
            return super().prepare(references)

    ninja = Spy(build_pipeline("tiny"), NinjaSettings(steps=1, resolution=64, progress=False))
    colorizer = Colorizer({"ninja": ninja})
    with pytest.raises(ValueError, match="guidance_scale_ref: must be >= 0"):
        colorizer.colorize(session, colorizer.settings("ninja", guidance_ref=-1.0))
    with pytest.raises(ValueError, match="steps: must be >= 1"):
        colorizer.colorize(session, colorizer.settings("ninja", steps=0))
    too_many = PointPairs([PointPair(reference=(i, 1), lineart=(i, 2)) for i in range(25)])
    with pytest.raises(ValueError, match="at most 24"):
        colorizer.colorize(replace(session, pairs=tuple(too_many)), colorizer.settings("ninja"))
    assert calls == []


def test_the_page_starts_at_the_model_s_recommended_values() -> None:
    from manganinja.engines import NinjaEngine
    from manganinja.pipeline import build_pipeline

    pipe = build_pipeline("tiny")
    pipe.set_recommended(resolution=128, steps=7, guidance_scale_point=11.0)
    colorizer = Colorizer({"ninja": NinjaEngine(pipe)})
    assert colorizer.resolution() == 128
    sampling = colorizer.engines["ninja"].sampling
    assert (sampling.steps, sampling.guidance_scale_ref, sampling.guidance_scale_point) == (7, 9.0, 11.0)
