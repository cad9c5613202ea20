"""Many pages with one reference through the CLI: resumable, atomic, failure-tolerant, sharded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from manganinja.batch import expand_pages, output_paths, shard
from manganinja.cli import app


def colorize(tiny_model, ref, *args):
    cmd = ["colorize", "--model", str(tiny_model), "--reference", str(ref), "--steps", "1",
           "--resolution", "64", "--quiet", *map(str, args)]
    return CliRunner().invoke(app, cmd)


def test_pages_are_written_and_rerun_skips_them(tiny_model, chapter, tmp_path):
    ref, pages = chapter
    out = tmp_path / "out"
    res = colorize(tiny_model, ref, "--lineart", pages / "p0.png", pages / "p1.png", pages / "p2.png", "--output-dir", out)
    assert res.exit_code == 0, res.output
    assert "3 written, 0 skipped" in res.output
    assert sorted(p.name for p in out.iterdir()) == [".manganinja", "p0.png", "p1.png", "p2.png"]
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = colorize(tiny_model, ref, "--lineart", pages, "--output-dir", out)
    assert res.exit_code == 0 and "0 written, 3 skipped" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    res = colorize(tiny_model, ref, "--lineart", str(pages / "*.png"), "--output-dir", out, "--overwrite")
    assert res.exit_code == 0 and "3 written, 0 skipped" in res.output


def test_a_corrupt_page_is_reported_and_the_others_written(tiny_model, chapter, tmp_path, damage_pixels):
    ref, pages = chapter
    out = tmp_path / "out"
    # Not an image at all: refused before any work, naming the page; nothing written.
    (pages / "p1.png").write_bytes(b"\x89PNG broken")
    res = colorize(tiny_model, ref, "--lineart", pages, "--output-dir", out)
    assert res.exit_code == 2 and "p1.png" in res.output and "cannot be read" in res.output
    assert not out.exists()
    # Truncated pixel data: found by the request's check too (before any page runs).
    noise = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(pages / "p1.png")
    whole = (pages / "p1.png").read_bytes()
    (pages / "p1.png").write_bytes(whole[: len(whole) // 2])
    res = colorize(tiny_model, ref, "--lineart", pages, "--output-dir", out)
    assert res.exit_code == 2 and "p1.png" in res.output and not out.exists()
    # Whole chunks but corrupt compressed pixels fail only when decoded: that page is reported
    # and the others are written.
    Image.fromarray(noise).save(pages / "p1.png")
    damage_pixels(pages / "p1.png")
    res = colorize(tiny_model, ref, "--lineart", pages, "--output-dir", out)
    assert res.exit_code == 1
    assert "p1.png" in res.output and "cannot be read" in res.output
    assert "2 written, 0 skipped, 1 failed" in res.output
    assert sorted(p.name for p in out.iterdir()) == [".manganinja", "p0.png", "p2.png"]  # no partial file


def test_cli_bad_input_exits_2_with_message(tiny_model, chapter, tmp_path):
    ref, pages = chapter
    res = colorize(tiny_model, ref, "--lineart", pages / "nope.png", "--output", tmp_path / "o.png")
    assert res.exit_code == 2 and "nope.png': file not found" in res.output
    res = colorize(tiny_model, ref, "--lineart", pages, "--output", tmp_path / "o.png")
    assert res.exit_code == 2 and "--output takes one page but 3 were given" in res.output
    res = colorize(tiny_model, ref, "--lineart", pages / "p0.png", "--output", tmp_path / "o.png", "--steps", "0")
    assert res.exit_code == 2 and "--steps: must be >= 1 (got 0)" in res.output
    res = CliRunner().invoke(app, ["colorize", "--model", str(tmp_path / "missing"), "--reference", str(ref),
                                   "--lineart", str(pages / "p0.png"), "--output", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "not found" in res.output
    assert not (tmp_path / "o.png").exists()


def test_page_helpers(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        Image.new("L", (4, 4)).save(tmp_path / d / "x.png")
    with pytest.raises(ValueError, match="would both be written"):
        output_paths(expand_pages([tmp_path / "a", tmp_path / "b"]), tmp_path / "out")
    with pytest.raises(ValueError, match="pattern .* matches no file"):
        expand_pages([str(tmp_path / "*.jpg")])
    items = list(range(7))
    shards = [shard(items, i, 3) for i in range(3)]
    assert sorted(sum(shards, [])) == items
    assert all(not set(a) & set(b) for i, a in enumerate(shards) for b in shards[i + 1:])


@pytest.mark.slow
def test_accelerate_launch_shards_pages_across_two_processes(tiny_model, chapter, tmp_path):
    ref, pages = chapter
    for i in range(3, 5):
        shutil.copy(pages / "p0.png", pages / f"p{i}.png")
    out = tmp_path / "out"
    # The workers import this checkout's package (not another installed copy).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    # On CPU, accelerate's torchrun launcher (--multi_gpu) starts the processes; each one
    # detects it has no GPU and joins a gloo group.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "manganinja", "colorize", "--model", str(tiny_model), "--reference", str(ref),
           "--lineart", str(pages), "--output-dir", str(out), "--steps", "1", "--resolution", "64", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = {int(p): int(n) for p, n in re.findall(r"\[process (\d)\] (\d+) written", proc.stdout + proc.stderr)}
    assert written == {0: 3, 1: 2}, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [".manganinja"] + [f"p{i}.png" for i in range(5)]
