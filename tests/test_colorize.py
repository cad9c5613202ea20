"""The library's one road (:mod:`manganinja.colorize`): every front end builds its settings tree
with ``RunSettings.from_options`` and goes through ``engine_for`` / ``prepare`` and
``PreparedEngine`` (the in-memory core) / ``run_colorize``; a value given once reaches the pipeline as given, and the pipeline resolves
nothing again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import manganinja.colorize as road
from manganinja.cli import app
from manganinja.colorize import engine_for, load_policy, prepare, run_colorize, settings_of
from manganinja.data.synthetic import generate_pair
from manganinja.engines import FlatEngine, NinjaEngine
from manganinja.lines import Lines
from manganinja.pipeline import MangaNinjaPipeline, build_pipeline
from manganinja.requests import validate_colorize
from manganinja.settings import RUN_OPTIONS, LoadSettings, RunSettings, Sampling, option_default


@pytest.fixture(scope="module")
def tiny() -> MangaNinjaPipeline:
    return build_pipeline("tiny", seed=0)


@pytest.fixture
def page(tmp_path) -> tuple[Path, Path]:
    pair = generate_pair(0, size=64)
    ref, line = tmp_path / "ref.png", tmp_path / "line.png"
    Image.fromarray(pair.reference).save(ref)
    Image.fromarray(255 - pair.lineart).save(line)
    return ref, line


# ----------------------------------------------------------------------------------------------
# The settings tree


def test_from_options_routes_each_option_once_and_defaults_the_rest():
    run = RunSettings.from_options(engine="flat", steps=3, guidance_ref=2.5, device="cpu", two_tone=False,
                                   polarity="dark-on-light", seed=None)
    assert (run.engine, run.ninja.steps, run.ninja.guidance_scale_ref, run.load.device) == ("flat", 3, 2.5, "cpu")
    assert (run.flat.two_tone, run.inputs.polarity, run.ninja.seed) == (False, "dark-on-light", 0)
    assert RunSettings.from_options() == RunSettings()
    assert RunSettings.from_options(**run.options()) == run
    assert option_default("device") == LoadSettings().device and option_default("steps") is None
    with pytest.raises(TypeError, match="unknown run option"):
        RunSettings.from_options(stepz=3)
    with pytest.raises(ValueError, match="steps"):
        RunSettings.from_options(steps=0)
    # every option names a real field of its part
    for option, (part, name) in RUN_OPTIONS.items():
        assert name in type(getattr(RunSettings(), part)).model_fields, option


def test_sampling_is_checked_once_by_its_type():
    with pytest.raises(ValueError):
        Sampling(resolution=64, steps=0, guidance_scale_ref=1.0, guidance_scale_point=1.0)
    with pytest.raises(ValueError):
        Sampling(resolution=100, steps=1, guidance_scale_ref=1.0, guidance_scale_point=1.0)
    with pytest.raises(ValueError):
        Sampling(resolution=64, steps=1, guidance_scale_ref=float("nan"), guidance_scale_point=1.0)


def test_load_policy():
    auto = LoadSettings()
    assert load_policy(auto, fast=False, device="cpu") == auto.model_copy(update={"device": "cpu"})
    gpu_fast = load_policy(auto, fast=True, device="cuda:1")
    assert (gpu_fast.device, gpu_fast.dtype, gpu_fast.compile) == ("cuda:1", "fp16", True)
    cpu_fast = load_policy(auto, fast=True, device="cpu")
    assert (cpu_fast.dtype, cpu_fast.compile) == ("fp32", False)
    kept = load_policy(LoadSettings(device="cpu", dtype="bf16"), fast=True, device="cuda")
    assert (kept.device, kept.dtype, kept.compile) == ("cpu", "bf16", False)  # the user's device wins


# ----------------------------------------------------------------------------------------------
# Values reach the pipeline as given; the pipeline resolves nothing again


def test_a_value_given_once_reaches_the_pipeline_unchanged(tiny, monkeypatch):
    seen: list[dict] = []
    original = MangaNinjaPipeline.__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MangaNinjaPipeline, "__call__", spy)
    run = RunSettings.from_options(engine="ninja", steps=2, guidance_ref=3.5, guidance_point=7.0, resolution=64,
                                   seed=5, snap=False, progress=False)
    engine = engine_for(run, pipe=tiny)
    assert isinstance(engine, NinjaEngine) and engine.settings == run.ninja

    def no_second_resolve(*args, **kwargs):
        raise AssertionError("the pipeline resolved the sampling values again")

    monkeypatch.setattr("manganinja.pipeline.resolve_sampling", no_second_resolve)
    monkeypatch.setattr(MangaNinjaPipeline, "sampling_of", no_second_resolve)
    pair = generate_pair(1, size=64)
    prepare(engine, [Image.fromarray(pair.reference)]).colorize(Lines(pair.lineart.astype(np.float32) / 255))
    assert seen[0]["sampling"] == Sampling(resolution=64, steps=2, guidance_scale_ref=3.5, guidance_scale_point=7.0)
    assert "num_inference_steps" not in seen[0] and "resolution" not in seen[0]


def test_the_pipeline_takes_a_sampling_or_loose_values_not_both(tiny):
    pair = generate_pair(2, size=64)
    s = Sampling(resolution=64, steps=1, guidance_scale_ref=1.0, guidance_scale_point=1.0)
    with pytest.raises(ValueError, match="not both"):
        tiny(reference=Image.fromarray(pair.reference), lineart=Lines((pair.lineart / 255.0).astype(np.float32)), sampling=s,
             num_inference_steps=2, progress=False)


def test_image_and_lineart_of_the_same_picture_give_the_same_result(tiny):
    """One extraction size: ``image=`` extracts at the picture's size, like ``--image``."""
    pair = generate_pair(3, size=64)
    picture, ref = Image.fromarray(pair.target), Image.fromarray(pair.reference)
    kwargs = dict(reference=ref, num_inference_steps=1, resolution=64, progress=False, output_type="np")
    a = tiny(image=picture, extractor="xdog", generator=torch.Generator().manual_seed(0), **kwargs).images[0]
    b = tiny(lineart=Lines.from_picture(picture, "xdog"), generator=torch.Generator().manual_seed(0), **kwargs).images[0]
    assert np.array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# Every front end goes through the road (the guard, ``road_calls``, is in tests/conftest.py: the
# shot tests use it too)


def test_run_colorize_writes_the_pages(page, tmp_path, road_calls):
    ref, line = page
    second = tmp_path / "line2.png"
    second.write_bytes(line.read_bytes())
    request = validate_colorize(engine="flat", references=[ref], lineart=[str(line), str(second)],
                                output_dir=tmp_path / "out")
    assert settings_of(request).engine == "flat"
    outcome = run_colorize(request, progress=False)
    assert outcome.counts() == {"done": 2, "skipped": 0, "failed": 0}
    assert (tmp_path / "out" / "line.png").is_file() and (tmp_path / "out" / "line2.png").is_file()
    assert road_calls == [("prepare", "flat"), ("colorize", "flat"), ("colorize", "flat")]  # references once
    assert run_colorize(request, progress=False).counts()["skipped"] == 2


def test_the_cli_calls_run_colorize_with_the_options_given(page, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(road, "run_colorize", lambda request, progress=True: calls.append(request)
                        or road.ColorizeOutcome([]))
    ref, line = page
    res = CliRunner().invoke(app, ["colorize", "--engine", "flat", "-r", str(ref), "-l", str(line),
                                   "-o", str(tmp_path / "o.png"), "--polarity", "dark-on-light"])
    assert res.exit_code == 0, res.output
    (request,) = calls
    assert settings_of(request) == RunSettings.from_options(engine="flat", polarity="dark-on-light")


def test_the_benchmark_goes_through_the_road(tmp_path, monkeypatch, road_calls):
    built = []
    real_engine_for = road.engine_for
    monkeypatch.setattr(road, "engine_for", lambda s, **kw: built.append(s) or real_engine_for(s, **kw))
    runner = CliRunner()
    assert runner.invoke(app, ["benchmark", "synth", "--out", str(tmp_path / "b"), "--pairs", "1", "--size", "96"]).exit_code == 0
    res = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "b"), "--out", str(tmp_path / "r"),
                              "--engine", "flat", "--engine", "reference", "--seed", "0", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert [s.engine for s in built] == ["flat"]
    # one pair, two directions: the reference prepared once per direction and engine, and
    # colorized once per seed
    for name in ("flat", "reference"):
        assert road_calls.count(("prepare", name)) == 2 and road_calls.count(("colorize", name)) == 4


def test_the_benchmark_takes_official_like_colorize(tmp_path):
    release = tmp_path / "release"
    (release / "MangaNinjia").mkdir(parents=True)
    res = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                   "--engine", "ninja", "--model", str(release)])
    assert res.exit_code == 2 and "official release layout" in res.output and "--official" in res.output


def test_the_web_ui_colorizes_through_the_road(road_calls):
    import manganinja.webui as ui

    pair = generate_pair(4, size=64)
    session = ui.with_lineart(ui.with_references(ui.Session(), [Image.fromarray(pair.reference)], ui.UiLimits()),
                              pair.lineart.astype(np.float32) / 255)
    colorizer = ui.Colorizer(ui.default_engines())
    colorizer.colorize(session, colorizer.settings())
    colorizer.colorize(session, colorizer.settings(), layers=False)
    assert road_calls == [("prepare", "flat"), ("colorize", "flat"), ("colorize", "flat")]
    other = ui.with_references(session, [Image.fromarray(pair.target)], ui.UiLimits())
    colorizer.colorize(other, colorizer.settings())
    assert road_calls[3:] == [("prepare", "flat"), ("colorize", "flat")]  # new references: prepared again


def test_the_web_ui_settings_are_the_run_settings(tiny, road_calls):
    import manganinja.webui as ui

    engine = NinjaEngine(tiny, RunSettings.from_options(resolution=64, progress=False).ninja)
    colorizer = ui.Colorizer({"ninja": engine, "flat": FlatEngine()})
    given = colorizer.settings("ninja", steps=3, guidance_ref=1.5, seed=9, snap=False)
    expected = RunSettings.from_options(**{**colorizer.base().options(), "steps": 3, "guidance_ref": 1.5,
                                           "seed": 9, "snap": False})
    assert given == expected and given.ninja.resolution == 64
    prepared = road.prepare(engine, [Image.new("RGB", (64, 64), "red")])
    configured = prepared.configured(given)
    assert configured.engine.sampling.steps == 3 and configured.engine.settings.seed == 9
    assert configured.state is prepared.state  # sampling values do not prepare again
    assert road_calls == [("prepare", "ninja")]


def test_a_setting_that_changes_the_preparation_prepares_again(tiny, road_calls):
    engine = NinjaEngine(tiny, RunSettings.from_options(resolution=64, progress=False).ninja)
    prepared = road.prepare(engine, [Image.new("RGB", (64, 64), "red")])
    assert prepared.with_seed(3).state is prepared.state and prepared.with_seed(3).engine.settings.seed == 3
    bigger = prepared.configured(RunSettings.from_options(resolution=128, progress=False))
    assert bigger.engine.sampling.resolution == 128 and bigger.state is not prepared.state
    assert road_calls == [("prepare", "ninja"), ("prepare", "ninja")]
    flat = road.prepare(FlatEngine(), [Image.new("RGB", (8, 8), "red")])
    assert flat.with_seed(5) is flat and flat.configured(RunSettings(engine="flat")) is flat
