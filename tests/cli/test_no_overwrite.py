"""Nothing of the user's is ever overwritten: an output that is, or would be written over, an input
(line art, reference, points, a shot's line or colored frames; through symlinks and hard links
too) is refused before any work, in one line, with exit code 2, and the input keeps its bytes. An
output folder may be an input folder when the results cannot collide with the inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app

from _cli import one_line_error


def run(*args: object):
    return CliRunner().invoke(app, [*map(str, args)])


def refused(result, *words: str) -> None:
    """Exit 2, one line ``error: ...`` saying inputs are never overwritten and naming ``words``."""
    one_line_error(result, "never overwritten", *words)


def snapshot(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


@pytest.fixture
def page(chapter) -> tuple[Path, Path]:
    ref, pages = chapter
    return ref, pages / "p0.png"


def test_output_is_the_line_art(page):
    ref, line = page
    before = line.read_bytes()
    refused(run("colorize", "-e", "flat", "-r", ref, "-l", line, "-o", line), "is the line art", str(line))
    assert line.read_bytes() == before


def test_output_is_the_reference(page):
    ref, line = page
    before = ref.read_bytes()
    refused(run("colorize", "-e", "flat", "-r", ref, "-l", line, "-o", ref), "reference 1")
    assert ref.read_bytes() == before


def test_output_is_the_points_file(page, tmp_path):
    ref, line = page
    points = tmp_path / "points.png"  # an image extension, so only the overwrite check can refuse it
    points.write_text(json.dumps({"pairs": [{"reference": [1, 1], "lineart": [2, 2]}]}))
    refused(run("colorize", "-e", "flat", "-r", ref, "-l", line, "-p", points, "-o", points), "points file")
    assert json.loads(points.read_text())["pairs"]


def test_output_folder_is_the_pages_folder(chapter):
    ref, pages = chapter
    before = snapshot(pages)
    refused(run("colorize", "-e", "flat", "-r", ref, "--lineart", pages, "--output-dir", pages),
            "line art", "--output-dir")
    assert snapshot(pages) == before
    assert not (pages / ".manganinja").exists()  # nothing written, not even a manifest


def test_output_folder_is_a_symlink_to_the_pages(chapter, tmp_path):
    ref, pages = chapter
    link = tmp_path / "results"
    link.symlink_to(pages, target_is_directory=True)
    before = snapshot(pages)
    refused(run("colorize", "-e", "flat", "-r", ref, "--lineart", pages, "--output-dir", link), "would overwrite")
    assert snapshot(pages) == before


def test_line_art_through_a_symlink(page, tmp_path):
    ref, line = page
    link = tmp_path / "link.png"
    link.symlink_to(line)
    before = line.read_bytes()
    refused(run("colorize", "-e", "flat", "-r", ref, "-l", link, "-o", line), "would overwrite", str(link))
    assert line.read_bytes() == before


def test_output_hard_linked_to_the_line_art(page, tmp_path):
    ref, line = page
    other = tmp_path / "other.png"
    os.link(line, other)
    refused(run("colorize", "-e", "flat", "-r", ref, "-l", line, "-o", other), "would overwrite")


def test_layer_file_would_overwrite_a_page(chapter, tmp_path):
    """With --layers a page also writes NAME_color.png and NAME_lines.png beside NAME.png."""
    ref, pages = chapter
    color = pages / "p0_color.png"
    (pages / "p1.png").rename(color)
    before = color.read_bytes()
    refused(run("colorize", "-e", "flat", "--layers", "-r", ref, "-l", color, "-l", pages / "p0.png",
                "--output-dir", pages), "p0_color.png")
    assert color.read_bytes() == before


def test_same_folder_allowed_when_names_cannot_collide(tmp_path):
    """JPEG pages into their own folder: the results are NAME.png, no input is touched."""
    rng = np.random.default_rng(0)
    ref = tmp_path / "ref.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(ref)
    pages = tmp_path / "pages"
    pages.mkdir()
    line = np.full((64, 64), 255, np.uint8)
    line[::8, :] = 0
    line[:, ::8] = 0
    Image.fromarray(line).save(pages / "p0.jpg", quality=95)
    before = snapshot(pages)
    result = run("colorize", "-e", "flat", "-r", ref, "--lineart", pages, "--output-dir", pages, "--quiet")
    assert result.exit_code == 0, result.output
    assert (pages / "p0.png").is_file()
    assert {p: b for p, b in snapshot(pages).items() if p in before} == before


def _shot(tmp_path: Path) -> Path:
    result = run("synth", "--out", tmp_path / "set", "--shots", "1", "--frames", "3", "--size", "64", "--seed", "1")
    assert result.exit_code == 0, result.output
    return tmp_path / "set" / "shot_00000"


@pytest.mark.parametrize("folder", ["line", "gt"])
def test_shot_output_into_its_own_frames(tmp_path, folder):
    shot = _shot(tmp_path)
    before = snapshot(shot)
    refused(run("shot", "colorize", shot, "--output-dir", shot / folder, "--no-progress"),
            "line frame" if folder == "line" else "colored frame", "--output-dir")
    assert snapshot(shot) == before


def test_shot_output_inside_the_shot_is_allowed(tmp_path):
    shot = _shot(tmp_path)
    before = snapshot(shot / "line", shot / "gt")
    result = run("shot", "colorize", shot, "--output-dir", shot, "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in shot.glob("*.png")) == ["0000.png", "0001.png", "0002.png"]
    assert snapshot(shot / "line", shot / "gt") == before


def test_lineart_normalize_onto_itself(page):
    _, line = page
    before = line.read_bytes()
    refused(run("lineart", "normalize", line, line), "input image")
    assert line.read_bytes() == before


def test_points_draw_onto_the_reference(page, tmp_path):
    ref, line = page
    points = tmp_path / "points.json"
    points.write_text(json.dumps({"pairs": [{"reference": [1, 1], "lineart": [2, 2]}]}))
    before = ref.read_bytes()
    refused(run("points", "draw", ref, line, points, "--out", ref), "reference")
    assert ref.read_bytes() == before


def test_convert_into_the_official_folder(tmp_path):
    official = tmp_path / "checkpoints"
    (official / "MangaNinjia").mkdir(parents=True)
    refused(run("convert", "--official", official, "--output", official, "--overwrite"), "--official folder")
    refused(run("convert", "--official", official, "--output", tmp_path, "--overwrite"), "holds")
    assert (official / "MangaNinjia").is_dir()
