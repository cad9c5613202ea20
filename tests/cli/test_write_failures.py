"""Every write failure of every command is one line, no traceback, and names the file, never a
temporary file's name. An output folder that cannot be written is found before any work.

The tests run as root too, where permissions are ignored: a read-only folder is then made by
replacing the permission answer (``os.access``: the early check) or the write itself
(``tempfile.mkstemp`` raising ``EROFS``: a folder that turns read-only during the run), or by a
path whose parent is a file. The plain ``chmod`` test runs only for a non-root user."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import manganinja.images as images
import manganinja.requests as requests
from manganinja.cli import app
from manganinja.images import TEMP_MARKER, WriteError, save_image


def run(*args: object):
    return CliRunner().invoke(app, [*map(str, args)])


def one_line(result, code: int, *words: str) -> str:
    """Exit ``code``, the failure in one last line ``error: ...`` naming ``words``; no traceback.
    (Lines before it are the flat engine's warnings about its random test inputs.)"""
    lines = result.output.strip().splitlines()
    assert result.exit_code == code, result.output
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output and TEMP_MARKER not in result.output, result.output
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def break_writes(monkeypatch, code: int = errno.EROFS) -> None:
    """From now on every atomic write fails as in a read-only folder (``[Errno 30]``) or on a
    full disk."""

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), kwargs.get("dir"))

    monkeypatch.setattr(images.tempfile, "mkstemp", refuse)


@pytest.fixture
def read_only_writes(monkeypatch):
    break_writes(monkeypatch)


def _shot(tmp_path: Path) -> Path:
    result = run("synth", "--out", tmp_path / "set", "--shots", "1", "--frames", "3", "--size", "64", "--seed", "1")
    assert result.exit_code == 0, result.output
    return tmp_path / "set" / "shot_00000"


def test_shot_colorize_folder_turned_read_only(tmp_path, monkeypatch):
    """Today: ``OSError: [Errno 30] ... .shot_run.json.manganinja-tmp-...`` with a traceback."""
    shot = _shot(tmp_path)
    break_writes(monkeypatch)
    one_line(run("shot", "colorize", shot, "--output-dir", tmp_path / "out", "--no-progress"), 1,
             "cannot write", "shot_run.json", "Read-only file system")


def test_shot_colorize_unwritable_folder_found_first(tmp_path, monkeypatch):
    shot = _shot(tmp_path)
    monkeypatch.setattr(requests.os, "access", lambda path, mode: not mode & os.W_OK)  # read-only everywhere
    one_line(run("shot", "colorize", shot, "--output-dir", tmp_path / "out", "--no-progress"), 2, "not writable")
    assert not (tmp_path / "out").exists()


def test_shot_colorize_parent_is_a_file(tmp_path):
    shot = _shot(tmp_path)
    (tmp_path / "file").write_text("x")
    one_line(run("shot", "colorize", shot, "--output-dir", tmp_path / "file" / "out", "--no-progress"), 2,
             "is a file")


def test_shot_evaluate_write_failure(tmp_path, monkeypatch):
    shot = _shot(tmp_path)
    assert run("shot", "colorize", shot, "--output-dir", tmp_path / "out", "--no-progress").exit_code == 0
    break_writes(monkeypatch, errno.ENOSPC)
    one_line(run("shot", "evaluate", shot, "--results", tmp_path / "out"), 1, "frames.csv", "No space left")


def test_colorize_write_failure_is_one_line_per_page(chapter, tmp_path, read_only_writes):
    ref, pages = chapter
    result = run("colorize", "-e", "flat", "-r", ref, "-l", pages / "p0.png", "-o", tmp_path / "o.png")
    assert result.exit_code == 1 and "Traceback" not in result.output and TEMP_MARKER not in result.output
    failed = [line for line in result.output.splitlines() if "o.png" in line]
    assert len(failed) == 1 and "cannot write" in failed[0], result.output  # reported once, not twice


def test_colorize_output_dir_manifest_write_failure(chapter, tmp_path, read_only_writes):
    ref, pages = chapter
    result = run("colorize", "-e", "flat", "-r", ref, "-l", pages, "--output-dir", tmp_path / "out", "--quiet")
    one_line(result, 1, "cannot write", "manifest.json")


def test_lineart_and_points_outputs(chapter, tmp_path, read_only_writes):
    ref, pages = chapter
    one_line(run("lineart", "normalize", pages / "p0.png", tmp_path / "n.png"), 1, "cannot write", "n.png")
    one_line(run("points", "suggest", ref, pages / "p0.png", "-o", tmp_path / "p.json"), 1, "p.json")
    (tmp_path / "file").write_text("x")
    one_line(run("lineart", "normalize", pages / "p0.png", tmp_path / "file" / "n.png"), 2, "is a file")


def test_write_error_names_the_file(tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "sub" / "a.png"
    with pytest.raises(WriteError, match=f"cannot write '{tmp_path / 'file' / 'sub'}'"):
        save_image(__import__("numpy").zeros((4, 4), "uint8"), target)
    assert not any(TEMP_MARKER in p.name for p in tmp_path.iterdir())
    assert issubclass(WriteError, OSError)  # callers catching OSError still do


def test_points_suggest_and_convert_check_the_folder_first(chapter, tmp_path, monkeypatch):
    """Found before the matching runs / before the official weights are read."""
    import manganinja.flat.engine as flat_engine
    from manganinja.pipeline import MangaNinjaPipeline

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(flat_engine, "suggest_points", refuse)
    monkeypatch.setattr(MangaNinjaPipeline, "from_official", classmethod(refuse))
    ref, pages = chapter
    (tmp_path / "file").write_text("x")
    one_line(run("points", "suggest", ref, pages / "p0.png", "-o", tmp_path / "file" / "p.json"), 2, "is a file")
    (tmp_path / "official").mkdir()
    one_line(run("convert", "--official", tmp_path / "official", "--output-dir", tmp_path / "file" / "m"), 2,
             "is a file")
