"""`manganinja colorize`: one path for every input, checked before any work.

Every user mistake is refused in one line, before the model is loaded (the loaders are replaced
by ones that fail the test); the flat engine never imports torch or diffusers; the model gets the
same line art whatever its polarity and however it is snapped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app
from manganinja.pipeline import MangaNinjaPipeline, build_pipeline

from _cli import one_line_error

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    ref = tmp_path / "ref.png"
    Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(ref)
    white = np.zeros((80, 64), np.uint8)  # white lines on black
    white[10:70:7, 5:60] = 255
    white[20:60, 30] = 255
    Image.fromarray(white).save(tmp_path / "white.png")
    Image.fromarray(255 - white).save(tmp_path / "ink.png")  # the same drawing, ink on paper
    points = {"pairs": [{"reference": [10, 10], "lineart": [20, 20]}]}
    (tmp_path / "points.json").write_text(json.dumps(points))
    return {"ref": ref, "white": tmp_path / "white.png", "ink": tmp_path / "ink.png",
            "points": tmp_path / "points.json", "dir": tmp_path}


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if anything tries to load a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the request was checked")

    import manganinja.engines as engines

    monkeypatch.setattr(engines, "load_pipeline", refuse)
    monkeypatch.setattr(MangaNinjaPipeline, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(MangaNinjaPipeline, "from_official", classmethod(refuse))


def invoke(*args: object):
    return CliRunner().invoke(app, ["colorize", *map(str, args)])


def write_points(path: Path, pairs: list[dict]) -> Path:
    path.write_text(json.dumps({"pairs": pairs}))
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("output_is_a_folder", "is a folder"),
        ("output_inside_a_file", "is a file, not a folder"),
        ("bad_extension", "unknown image extension '.txt'"),
        ("layers_need_png", "layers need a .png"),
        ("negative_guidance", "--guidance-ref: must be >= 0"),
        ("negative_point_guidance", "--guidance-point: must be >= 0"),
        ("resolution_not_multiple_of_64", "--resolution: resolution must be a positive multiple of 64"),
        ("zero_steps", "--steps: must be >= 1"),
        ("bad_guidance_formula", "--guidance: must be 'official' or 'paper'"),
        ("too_many_points", "25 point pairs given; at most 24"),
        ("point_outside_lineart", "outside the 64x80 image"),
        ("missing_reference_index", "reference_index 1 but only 1 reference image(s) given"),
        ("unreadable_reference", "cannot be read as an image"),
        ("missing_latents", "--latents"),
    ],
)
def test_mistakes_are_one_line_before_the_model_is_loaded(case, expected, files, tiny_model, no_loading, tmp_path):
    out = tmp_path / "out.png"
    extra: list[object] = []
    ref = files["ref"]
    if case == "output_is_a_folder":
        out = tmp_path / "folder.png"
        out.mkdir()
    elif case == "output_inside_a_file":
        out = files["ref"] / "out.png"
    elif case == "bad_extension":
        out = tmp_path / "out.txt"
    elif case == "layers_need_png":
        out, extra = tmp_path / "out.jpg", ["--layers"]
    elif case == "negative_guidance":
        extra = ["--guidance-ref", "-1"]
    elif case == "negative_point_guidance":
        extra = ["--guidance-point", "-0.5"]
    elif case == "resolution_not_multiple_of_64":
        extra = ["--resolution", "100"]
    elif case == "zero_steps":
        extra = ["--steps", "0"]
    elif case == "bad_guidance_formula":
        extra = ["--guidance", "classic"]
    elif case == "too_many_points":
        pairs = [{"reference": [i, 1], "lineart": [i, 2]} for i in range(25)]
        extra = ["--points", write_points(tmp_path / "p.json", pairs)]
    elif case == "point_outside_lineart":
        extra = ["--points", write_points(tmp_path / "p.json", [{"reference": [1, 1], "lineart": [70, 5]}])]
    elif case == "missing_reference_index":
        pairs = [{"reference": [1, 1], "lineart": [5, 5], "reference_index": 1}]
        extra = ["--points", write_points(tmp_path / "p.json", pairs)]
    elif case == "unreadable_reference":
        ref = tmp_path / "bad_ref.png"
        ref.write_bytes(b"not an image")
    elif case == "missing_latents":
        extra = ["--latents", tmp_path / "nope.safetensors"]
    res = invoke("--model", tiny_model, "-r", ref, "-l", files["white"], "-o", out, *extra)
    line = one_line_error(res)
    assert expected in line
    assert not (tmp_path / "out.png").exists()


def test_unwritable_output_folder(files, tiny_model, no_loading, tmp_path, monkeypatch):
    """A read-only folder (made so for the process, so that the test runs as root too: root
    writes anywhere, so the folder's permission answer is what is replaced)."""
    import manganinja.requests as requests

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(requests.os, "access",
                        lambda path, mode: False if Path(path) == locked else real_access(path, mode))
    line = one_line_error(invoke("--model", tiny_model, "-r", files["ref"], "-l", files["white"],
                                 "-o", locked / "out.png"))
    assert "not writable" in line and "locked" in line
    assert not (locked / "out.png").exists()


def test_a_chapter_with_one_unwritable_output_fails_at_once(files, tiny_model, no_loading, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(4):
        Image.open(files["white"]).save(pages / f"p{i}.png")
    out = tmp_path / "out"
    (out / "p2.png").mkdir(parents=True)  # where page 2 would go
    line = one_line_error(invoke("--model", tiny_model, "-r", files["ref"], "-l", pages, "--output-dir", out))
    assert "p2.png" in line and "is a folder" in line
    assert sorted(p.name for p in out.iterdir()) == ["p2.png"]  # nothing computed


def test_model_folder_mistakes_are_one_line(files, no_loading, tmp_path):
    official = tmp_path / "release"
    (official / "MangaNinjia").mkdir(parents=True)
    line = one_line_error(invoke("--model", official, "-r", files["ref"], "-l", files["white"], "-o", tmp_path / "o.png"))
    assert "official release layout" in line and "--official" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(invoke("--model", empty, "-r", files["ref"], "-l", files["white"], "-o", tmp_path / "o.png"))
    assert "is empty" in line
    line = one_line_error(invoke("-r", files["ref"], "-l", files["white"], "-o", tmp_path / "o.png"))
    assert "--engine flat" in line
    line = one_line_error(invoke("--official", tmp_path / "nope", "-r", files["ref"], "-l", files["white"],
                                 "-o", tmp_path / "o.png"))
    assert "not found" in line


def test_hugging_face_id_without_network_is_one_line(files, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(SRC), "HF_HOME": str(tmp_path / "hf")}
    cmd = [sys.executable, "-m", "manganinja", "colorize", "--model", "someone/no-such-model", "-r", str(files["ref"]),
           "-l", str(files["white"]), "-o", str(tmp_path / "o.png"), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "someone/no-such-model" in lines[0] and "Traceback" not in proc.stderr


def test_flag_values_are_not_read_as_pages_and_debug_shows_the_traceback(files, tmp_path):
    line = one_line_error(invoke("--engine", "flat", "-r", files["ref"], "-l", files["white"], "-o", tmp_path / "o.png",
                                 "--layers", "true"))
    assert "'true'" in line and "--no-layers" in line
    res = CliRunner().invoke(app, ["--debug", "colorize", "--engine", "flat", "-r", str(files["ref"]), "-l",
                                   str(files["white"]), "-o", str(tmp_path / "o.txt")])
    assert isinstance(res.exception, ValueError) and "unknown image extension" in str(res.exception)


def test_flat_engine_takes_a_picture(tmp_path):
    from manganinja.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "syn", n_pairs=1, size=128, seed=3)
    pair = next(p for p in root.iterdir() if p.is_dir())
    out = tmp_path / "from_picture.png"
    res = invoke("--engine", "flat", "-r", pair / "reference.png", "--image", pair / "target.png", "-o", out, "--layers")
    assert res.exit_code == 0, res.output
    assert Image.open(out).size == (128, 128) and (tmp_path / "from_picture_color.png").is_file()


def test_flat_engine_imports_neither_torch_nor_diffusers(tmp_path):
    from manganinja.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "syn", n_pairs=1, size=96, seed=1)
    pair = next(p for p in root.iterdir() if p.is_dir())
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-X", "importtime", "-m", "manganinja", "colorize", "--engine", "flat",
           "-r", str(pair / "reference.png"), "-l", str(pair / "lineart.png"), "-o", str(tmp_path / "o.png")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", proc.stderr, flags=re.M))
    assert "manganinja.engines" in imported and "manganinja.flat.engine" in imported  # the log is read right
    heavy = sorted(m for m in imported if m.split(".")[0] in ("torch", "diffusers", "transformers", "accelerate"))
    assert heavy == []


def spy_conditions(monkeypatch) -> list[torch.Tensor]:
    """Record the ControlNet condition of every call."""
    from diffusers import ControlNetModel

    seen: list[torch.Tensor] = []
    forward = ControlNetModel.forward

    def spy(self, *args, **kwargs):
        seen.append(kwargs["controlnet_cond"].detach().clone())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(ControlNetModel, "forward", spy)
    return seen


def test_dark_on_light_with_snap_gives_the_model_the_same_line_art(files, tiny_model, monkeypatch, tmp_path):
    """The bug: with --polarity dark-on-light and the default --snap, the model got the line
    art inverted. The same drawing, ink on paper or white on black, must reach the ControlNet as
    the same condition, with and without snapping."""
    seen = spy_conditions(monkeypatch)
    common = ["--model", tiny_model, "-r", files["ref"], "--steps", "1", "--resolution", "64", "--quiet"]
    runs = [
        ["-l", files["white"]],
        ["-l", files["ink"], "--polarity", "dark-on-light"],
        ["-l", files["ink"], "--polarity", "dark-on-light", "--no-snap"],
        ["-l", files["ink"]],
    ]
    for i, run in enumerate(runs):
        seen.clear()
        res = invoke(*common, *run, "-o", tmp_path / f"o{i}.png")
        assert res.exit_code == 0, res.output
        if i == 0:
            reference = seen[0]
            assert (reference > -1).any()  # the lines are there
        else:
            torch.testing.assert_close(seen[0], reference, rtol=0, atol=0)


def test_the_model_s_recommended_settings_are_used(files, tmp_path, monkeypatch):
    """A model saved with recommended values (e.g. one trained at 128 px) is sampled at them when
    the user gives none; the user's values still win."""
    model = tmp_path / "model128"
    pipe = build_pipeline("tiny", seed=0)
    pipe.set_recommended(resolution=128, steps=2)
    pipe.save_pretrained(model)
    assert MangaNinjaPipeline.from_pretrained(model).recommended == {"resolution": 128, "steps": 2}
    seen = spy_conditions(monkeypatch)
    res = invoke("--model", model, "-r", files["ref"], "-l", files["white"], "-o", tmp_path / "o.png", "--quiet")
    assert res.exit_code == 0, res.output
    assert len(seen) == 2 and seen[0].shape[-2:] == (128, 128)  # 2 steps at 128 px (64x80 -> 128x128)
    seen.clear()
    res = invoke("--model", model, "-r", files["ref"], "-l", files["white"], "-o", tmp_path / "o.png", "--quiet",
                 "--steps", "1", "--resolution", "64")
    assert res.exit_code == 0, res.output
    assert len(seen) == 1 and seen[0].shape[-2:] == (64, 64)


def test_usage_errors_are_one_line_and_flags_show_no_value():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-m", "manganinja", "colorize", "-l", "x.png", "-o", "y.png"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: Missing option '--reference' / '-r'. (see `python -m manganinja colorize --help`)"]
    res = CliRunner().invoke(app, ["colorize", "--help"], env={"COLUMNS": "200"})
    rows = [line for line in res.output.splitlines() if line.lstrip().startswith(("--layers", "--snap"))]
    assert rows and all("<bool>" not in line and "--no-" in line for line in rows)
