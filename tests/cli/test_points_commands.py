"""``manganinja points convert``: the official code's two .npy point maps into a point-pairs JSON
file, in the maps' pixels or scaled to the pictures they were clicked on; point-pairs outputs are
.json files (a slip of ``-o`` never writes JSON over a picture); a .npy given where point-pairs
JSON is read names the conversion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app
from manganinja.points import PointPairs

from _cli import one_line_error


def run(*args: object):
    return CliRunner().invoke(app, [*map(str, args)])


def maps(tmp_path: Path) -> tuple[Path, Path]:
    """Two 512 x 512 official maps of three pairs, one on a corner."""
    ref, line = np.zeros((512, 512), np.uint8), np.zeros((512, 512), np.uint8)
    for value, (rx, ry), (lx, ly) in [(1, (10, 20), (30, 40)), (2, (511, 0), (0, 511)), (3, (256, 128), (100, 7))]:
        ref[ry, rx], line[ly, lx] = value, value
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "line.npy", line)
    return tmp_path / "ref.npy", tmp_path / "line.npy"


def test_the_maps_become_pairs_in_the_maps_pixels(tmp_path):
    ref, line = maps(tmp_path)
    result = run("points", "convert", ref, line, "-o", tmp_path / "p.json")
    assert result.exit_code == 0 and "wrote 3 point pair(s)" in result.output
    pairs = PointPairs.from_json(tmp_path / "p.json")
    assert pairs.reference_xy.tolist() == [[10, 20], [511, 0], [256, 128]]
    assert pairs.lineart_xy.tolist() == [[30, 40], [0, 511], [100, 7]]


def test_with_the_pictures_the_pairs_are_scaled_to_them_and_map_back(tmp_path):
    ref, line = maps(tmp_path)
    Image.new("RGB", (1024, 768)).save(tmp_path / "ref.png")
    Image.new("L", (256, 256)).save(tmp_path / "line.png")
    result = run("points", "convert", ref, line, "-o", tmp_path / "p.json", "-r", tmp_path / "ref.png", "-l", tmp_path / "line.png")
    assert result.exit_code == 0, result.output
    pairs = PointPairs.from_json(tmp_path / "p.json")
    np.testing.assert_allclose(pairs.reference_xy[0], [(10 + 0.5) * 2 - 0.5, (20 + 0.5) * 1.5 - 0.5])  # pixel centres
    np.testing.assert_allclose(pairs.lineart_xy[0], [(30 + 0.5) / 2 - 0.5, (40 + 0.5) / 2 - 0.5])
    pairs.validate([(1024, 768)], (256, 256))  # every point inside its picture, corners included
    back_ref, _ = pairs.to_official_maps((1024, 768), (256, 256))
    np.testing.assert_array_equal(back_ref, np.load(ref))


def test_the_official_case_converts_to_its_14_pairs(official_cases: Path, tmp_path):
    result = run("points", "convert", official_cases / "hz01_0.npy", official_cases / "hz01_1.npy", "-o", tmp_path / "p.json",
                 "-r", official_cases / "hz0.png", "-l", official_cases / "hz1_lineart_official.png")
    assert result.exit_code == 0, result.output
    assert PointPairs.from_json(tmp_path / "p.json") == PointPairs.from_official_maps(
        official_cases / "hz01_0.npy", official_cases / "hz01_1.npy")  # 512 px pictures: the maps' own pixels
    assert len(json.loads((tmp_path / "p.json").read_text())["pairs"]) == 14


def test_an_output_that_is_not_json_is_refused_and_nothing_is_written(tmp_path):
    ref, line = maps(tmp_path)
    picture = tmp_path / "picture.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(picture)
    before = picture.read_bytes()
    one_line_error(run("points", "convert", ref, line, "-o", picture), "picture.png", "ending in .json")
    Image.new("RGB", (8, 8)).save(tmp_path / "ref.png")
    one_line_error(run("points", "suggest", tmp_path / "ref.png", tmp_path / "ref.png", "-o", picture), "picture.png", "ending in .json")
    assert picture.read_bytes() == before


def test_an_output_onto_a_map_or_a_picture_read_is_refused(tmp_path):
    ref, line = maps(tmp_path)
    Image.new("L", (512, 512)).save(tmp_path / "line.png")
    one_line_error(run("points", "convert", ref, line, "-o", ref), "reference map", "never overwritten")
    as_json = tmp_path / "line.json"
    as_json.symlink_to(tmp_path / "line.png")
    one_line_error(run("points", "convert", ref, line, "-o", as_json, "-l", tmp_path / "line.png"), "line art", "never overwritten")


def test_missing_or_disagreeing_maps_are_one_line(tmp_path):
    ref, line = maps(tmp_path)
    one_line_error(run("points", "convert", ref, tmp_path / "nowhere.npy", "-o", tmp_path / "p.json"), "nowhere.npy", "not found")
    other = np.load(line)
    other[5, 5] = 9
    np.save(tmp_path / "other.npy", other)
    one_line_error(run("points", "convert", ref, tmp_path / "other.npy", "-o", tmp_path / "p.json"), "only on the line-art map [9]")
    one_line_error(run("points", "convert", ref, line, "-o", tmp_path / "p.json", "-r", tmp_path / "nowhere.png"), "nowhere.png")
    assert not (tmp_path / "p.json").exists()


def test_a_map_given_as_the_points_file_names_the_conversion(chapter, tmp_path):
    ref, pages = chapter
    map_file, _ = maps(tmp_path)
    error = one_line_error(run("colorize", "-e", "flat", "-r", ref, "-l", pages / "p0.png", "-p", map_file, "-o", tmp_path / "c.png"),
                           "ref.npy", "manganinja points convert")
    assert "NumPy" in error and not (tmp_path / "c.png").exists()
