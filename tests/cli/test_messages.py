"""Small messages: options that do not apply to the chosen engine are refused (not ignored),
``--quiet`` hides the model libraries' loading bars, a Hugging Face id without network is one
line, the size-limit error names the size and the limit, shot messages say "frame", and an on/off
flag given a value (``--layers true``) gets a message that says how to write it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import manganinja.cli as cli
from manganinja.cli import app

from _cli import one_line_error

SRC = Path(__file__).resolve().parents[2] / "src"


def run(*args: object):
    return CliRunner().invoke(app, [*map(str, args)])


@pytest.mark.parametrize("extra, named", [
    (["--guidance-ref", "3"], "--guidance-ref"),
    (["--steps", "4", "--seed", "1"], "--steps, --seed"),
    (["--no-snap"], "--snap"),
    (["--no-guide-fill"], "--guide-fill"),
    (["--device", "cpu"], "--device"),
])
def test_model_options_refused_with_the_flat_engine(chapter, tmp_path, extra, named):
    ref, pages = chapter
    line = one_line_error(run("colorize", "-e", "flat", "-r", ref, "-l", pages / "p0.png", "-o", tmp_path / "o.png", *extra))
    assert named in line and "ninja engine only" in line
    assert not (tmp_path / "o.png").exists()


def _shot(tmp_path: Path) -> Path:
    result = run("synth", "--out", tmp_path / "set", "--shots", "1", "--frames", "3", "--size", "64", "--seed", "1")
    assert result.exit_code == 0, result.output
    return tmp_path / "set" / "shot_00000"


def test_shot_model_options_refused_with_another_engine(tmp_path):
    shot = _shot(tmp_path)
    for engine in ("flat", "mean-color"):
        line = one_line_error(run("shot", "colorize", shot, "--output-dir", tmp_path / "o", "--engine", engine,
                            "--steps", "3", "--guidance-ref", "2"))
        assert "--steps, --guidance-ref" in line and f"not {engine}" in line


def test_on_off_flag_given_a_value(tmp_path, monkeypatch, capsys):
    """Through the console entry point (usage errors are formatted there)."""
    shot = _shot(tmp_path)
    monkeypatch.setattr(sys, "argv", ["manganinja", "shot", "colorize", str(shot), "--output-dir",
                                      str(tmp_path / "o"), "--layers", "true"])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1, err
    assert "'--layers true': on/off options take no value; write --layers or --no-layers" in err[0]


def test_shot_rerun_says_frame(tmp_path):
    shot = _shot(tmp_path)
    out = tmp_path / "o"
    assert run("shot", "colorize", shot, "--output-dir", out, "--no-progress").exit_code == 0
    (out / "0001.png").write_bytes(b"")
    result = run("shot", "colorize", shot, "--output-dir", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "frame '0001.png': 0001.png is 0 bytes, redoing" in result.output and "page" not in result.output


def test_size_over_the_open_limit_names_size_and_limit(chapter, tmp_path, monkeypatch):
    """PIL refuses to open an image over twice its MAX_IMAGE_PIXELS before our own limit is
    checked (here lowered so that a 64x64 page is over it)."""
    ref, pages = chapter
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    line = one_line_error(run("colorize", "-e", "flat", "-r", ref, "-l", pages / "p0.png", "-o", tmp_path / "o.png"))
    assert "4096 pixels is over the limit of 2000 pixels" in line, line


def test_quiet_hides_the_model_loading_bars(tiny_model, chapter, tmp_path):
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging as transformers_logging

    ref, pages = chapter
    args = ["colorize", "--model", tiny_model, "-r", ref, "-l", pages / "p0.png", "--steps", "1",
            "--resolution", "64", "--device", "cpu"]
    diffusers_logging.enable_progress_bar()  # an earlier --quiet run in this process turned them off
    transformers_logging.enable_progress_bar()
    enable_progress_bars()
    try:
        loud = run(*args, "-o", tmp_path / "a.png")
        assert loud.exit_code == 0, loud.output
        assert "Loading pipeline components" in loud.output  # the bar this test looks for is there
        quiet = run(*args, "-o", tmp_path / "b.png", "--quiet")
        assert quiet.exit_code == 0, quiet.output
        assert "Loading" not in quiet.output and "it/s" not in quiet.output, quiet.output
    finally:
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()
        enable_progress_bars()


def test_hugging_face_id_unreachable_is_one_line(tmp_path):
    """No network (the Hub's address refuses connections): one line, not diffusers' two lines
    ("Couldn't connect to the Hub ... Will try to load from local cache.") before it."""
    ref = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(ref)
    line = tmp_path / "line.png"
    Image.new("L", (64, 64), 255).save(line)
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    env.pop("HF_HUB_OFFLINE", None)
    cmd = [sys.executable, "-m", "manganinja", "colorize", "--model", "someone/no-such-model", "-r", str(ref),
           "-l", str(line), "-o", str(tmp_path / "o.png"), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: ") and "someone/no-such-model" in lines[0]
