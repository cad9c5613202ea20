"""Sharded colorize runs on CPU: a failed page gives exit code 1 and one summary line (no
traceback), and workers stop when their launcher is killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app

SRC = Path(__file__).resolve().parents[2] / "src"

# Imported by every Python process started with this folder on PYTHONPATH (the launcher and its
# workers): makes each flat-engine page announce itself (a file named after the worker's pid)
# and then take SLOW_PAGE seconds.
SITECUSTOMIZE = """
import os, time
if os.environ.get("SLOW_PAGE"):
    import manganinja.engines as engines
    _colorize = engines.FlatEngine.colorize
    def slow(self, *args, **kwargs):
        open(os.path.join(os.environ["PAGE_MARKS"], str(os.getpid())), "w").close()
        time.sleep(float(os.environ["SLOW_PAGE"]))
        return _colorize(self, *args, **kwargs)
    engines.FlatEngine.colorize = slow
"""


@pytest.fixture
def chapter(chapter, damage_pixels) -> tuple[Path, Path]:
    """The CLI tests' chapter with a fourth page and page p1 broken: its chunks are whole (so the
    request passes its checks) but its pixel data is corrupt, so the page fails when decoded."""
    ref, pages = chapter
    shutil.copy(pages / "p0.png", pages / "p3.png")
    noise = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(pages / "p1.png")
    damage_pixels(pages / "p1.png")
    return ref, pages


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC), **extra}


def colorize_args(ref: Path, pages: Path, out: Path) -> list[str]:
    return ["colorize", "--engine", "flat", "--reference", str(ref), "--lineart", str(pages),
            "--output-dir", str(out), "--quiet"]


def test_a_failed_page_exits_1_with_one_summary_line(chapter, tmp_path):
    ref, pages = chapter
    res = CliRunner().invoke(app, colorize_args(ref, pages, tmp_path / "out"))
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1] == "3 written, 0 skipped, 1 failed"


@pytest.mark.slow
def test_a_failed_page_in_a_sharded_run_exits_1_with_one_summary_line(chapter, tmp_path):
    ref, pages = chapter
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "manganinja", *colorize_args(ref, pages, out), "--processes", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env())
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "Traceback" not in text and "ChildFailedError" not in text, text
    assert proc.stderr.strip().splitlines()[-1] == "3 written, 0 skipped, 1 failed (2 processes)", text
    assert "[process 1] failed: " in text and "p1.png" in text
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p2.png", "p3.png"]
    # both workers recorded their pages in the one manifest
    recorded = json.loads((out / ".manganinja" / "manifest.json").read_text())["pages"]
    assert {name: e["status"] for name, e in recorded.items()} == {
        "p0.png": "done", "p1.png": "failed", "p2.png": "done", "p3.png": "done"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env())
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == "0 written, 3 skipped, 1 failed (2 processes)"


def test_processes_must_be_positive(chapter, tmp_path):
    ref, pages = chapter
    res = CliRunner().invoke(app, [*colorize_args(ref, pages, tmp_path / "out"), "--processes", "0"])
    assert res.exit_code == 2 and "--processes must be >= 1, got 0" in res.output


@pytest.mark.slow
def test_workers_stop_when_the_launcher_is_killed(chapter, tmp_path):
    """torchrun (what ``accelerate launch --multi_gpu`` runs) starts the workers in their own
    sessions; SIGKILL of the launcher must not leave them running. Each worker's page would take
    10 minutes, so a worker that is gone within the (generous) deadline was stopped by its
    launcher watch, which also says so on stderr; how fast that is depends on the machine's load,
    so no tight time limit is asserted."""
    ref, pages = chapter
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    marks = tmp_path / "marks"
    marks.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "manganinja", *colorize_args(ref, pages, tmp_path / "out")]
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        launcher = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                                    env=env(PYTHONPATH=f"{hooks}{os.pathsep}{SRC}", SLOW_PAGE="600", PAGE_MARKS=str(marks)))
    try:
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.2)
        workers = [int(p.name) for p in marks.iterdir()]
        assert len(workers) == 2, "the workers did not start their pages"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "the workers outlived their launcher"
        said = log.read_text(errors="replace")
        assert said.count("is gone; stopping") == 2, said[-2000:]
    finally:
        launcher.kill()
        for pid in [int(p.name) for p in marks.iterdir()]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
