"""A truncated or damaged input is found when the request is checked, before any page runs:
one line naming the file, exit code 2, nothing written (today: exit 1 when its page runs, the
error printed twice)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from manganinja.cli import app


def run(*args: object):
    return CliRunner().invoke(app, [*map(str, args)])


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def test_truncated_page_found_before_work(chapter, tmp_path):
    ref, pages = chapter
    truncate(pages / "p2.png")
    out = tmp_path / "out"
    result = run("colorize", "-e", "flat", "-r", ref, "-l", pages, "--output-dir", out, "--quiet")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: line art ") and "p2.png" in lines[0], result.output
    assert not out.exists()  # no page ran, not even p0 and p1


def test_truncated_reference_found_before_work(chapter, tmp_path):
    ref, pages = chapter
    truncate(ref)
    result = run("colorize", "-e", "flat", "-r", ref, "-l", pages / "p0.png", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and result.output.startswith("error: reference 1 "), result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_truncated_jpeg_page(chapter, tmp_path):
    from PIL import Image

    ref, pages = chapter
    page = tmp_path / "page.jpg"
    Image.open(pages / "p0.png").convert("L").resize((640, 640)).save(page, quality=90)
    truncate(page)
    result = run("colorize", "-e", "flat", "-r", ref, "-l", page, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "page.jpg" in result.output and "truncated" in result.output, result.output
