"""The page runner: a manifest per output folder, reruns that redo exactly what is not done,
stale temporary files removed, a kill during a write never tripping a rerun."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manganinja.batch import run_pages
from manganinja.flat.layers import layer_paths, split_layers, write_layers
from manganinja.manifest import manifest_path

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def pages(tmp_path) -> list[Path]:
    folder = tmp_path / "pages"
    folder.mkdir()
    out = []
    for i in range(3):
        line = np.full((24, 32), 255, np.uint8)
        line[:: 4 + i, :] = 0
        Image.fromarray(line).save(folder / f"p{i}.png")
        out.append(folder / f"p{i}.png")
    return out


def invert(page: Path) -> Image.Image:
    return Image.fromarray(255 - np.asarray(Image.open(page).convert("RGB")))


def make_layers(page: Path):
    lines = 1.0 - np.asarray(Image.open(page).convert("L"), np.float32) / 255.0
    return split_layers(np.full((*lines.shape, 3), (200, 120, 40), np.uint8), lines)


def write_page_layers(result, path: Path) -> None:
    write_layers(path, result.composite, result.color, result.lines[..., 3].astype(np.float32) / 255.0)


def run(pages, out, caplog=None, **kwargs):
    outputs = [out / f"{p.stem}.png" for p in pages]
    kwargs.setdefault("settings", {"steps": 20})
    if caplog is not None:
        caplog.clear()
    return run_pages(pages, outputs, kwargs.pop("colorize", invert), progress=False, **kwargs)


def statuses(results) -> list[str]:
    return [r.status for r in results]


def test_manifest_records_settings_and_files(pages, tmp_path):
    out = tmp_path / "out"
    assert statuses(run(pages, out)) == ["done"] * 3
    data = json.loads(manifest_path(out).read_text())
    assert data["version"] == 1
    (key,) = data["settings"]
    assert data["settings"][key] == {"steps": 20}
    entry = data["pages"]["p1.png"]
    assert entry["status"] == "done" and entry["settings"] == key
    assert entry["files"] == {"image": "p1.png"} and entry["page"] == str(pages[1].absolute())
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert statuses(run(pages, out)) == ["skipped"] * 3
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamp
    assert statuses(run(pages, out, overwrite=True)) == ["done"] * 3


def test_rerun_redoes_exactly_the_bad_pages_and_says_why(pages, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="manganinja.batch")
    out = tmp_path / "out"
    run(pages, out)
    (out / "p0.png").write_bytes(b"")
    (out / "p1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    stale = out / f".p2.png.manganinja-tmp-{2**22 + 12345}-abc"  # no such process
    stale.write_bytes(b"half a png")
    res = run(pages, out, caplog)
    assert statuses(res) == ["done", "done", "skipped"]
    assert not stale.exists()
    lines = [r.getMessage() for r in caplog.records]
    assert "page 'p0.png': p0.png is 0 bytes, redoing" in lines
    assert any(line.startswith("page 'p1.png': p1.png does not decode") and line.endswith(", redoing") for line in lines)
    assert len(lines) == 2
    assert all(Image.open(out / f"p{i}.png").size == (32, 24) for i in range(3))

    res = run(pages, out, caplog, settings={"steps": 50})
    assert statuses(res) == ["done"] * 3
    assert [r.getMessage() for r in caplog.records][0] == "page 'p0.png': settings changed (steps 20 -> 50), redoing"
    assert res[0].redo == "settings changed (steps 20 -> 50)"
    data = json.loads(manifest_path(out).read_text())
    assert list(data["settings"].values()) == [{"steps": 50}]  # the old settings are no longer used


def test_a_rerun_with_layers_after_one_without_makes_the_layers(pages, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="manganinja.batch")
    out = tmp_path / "out"
    run(pages, out)
    layered = dict(colorize=make_layers, write=write_page_layers, files=layer_paths)
    res = run(pages, out, caplog, **layered)
    assert statuses(res) == ["done"] * 3
    assert [r.getMessage() for r in caplog.records][0] == "page 'p0.png': p0_color.png missing, p0_lines.png missing, redoing"
    assert json.loads(manifest_path(out).read_text())["pages"]["p0.png"]["files"] == {
        "color": "p0_color.png", "composite": "p0.png", "lines": "p0_lines.png"}
    assert statuses(run(pages, out, **layered)) == ["skipped"] * 3
    (out / "p2_lines.png").unlink()
    assert statuses(run(pages, out, caplog, **layered)) == ["skipped", "skipped", "done"]
    assert [r.getMessage() for r in caplog.records] == ["page 'p2.png': p2_lines.png missing, redoing"]
    # Without layers, the composite alone is what a page needs.
    assert statuses(run(pages, out)) == ["skipped"] * 3


def test_outputs_without_a_record_are_redone(pages, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="manganinja.batch")
    out = tmp_path / "out"
    out.mkdir()
    invert(pages[0]).save(out / "p0.png")  # made by something else, settings unknown
    res = run(pages[:1], out, caplog)
    assert statuses(res) == ["done"]
    assert [r.getMessage() for r in caplog.records] == ["page 'p0.png': no record of the settings it was made with, redoing"]


def test_a_failed_page_is_recorded_and_retried(pages, tmp_path):
    out = tmp_path / "out"

    def flaky(page: Path) -> Image.Image:
        if page.name == "p1.png":
            raise RuntimeError("out of memory")
        return invert(page)

    assert statuses(run(pages, out, colorize=flaky)) == ["done", "failed", "done"]
    entry = json.loads(manifest_path(out).read_text())["pages"]["p1.png"]
    assert entry["status"] == "failed" and entry["error"] == "RuntimeError: out of memory"
    assert statuses(run(pages, out)) == ["skipped", "done", "skipped"]


def test_without_manifest_pages_are_checked_by_their_files(pages, tmp_path):
    out = tmp_path / "out"
    assert statuses(run(pages, out, manifest=False)) == ["done"] * 3
    assert not manifest_path(out).exists()
    (out / "p1.png").write_bytes(b"")
    assert statuses(run(pages, out, manifest=False)) == ["skipped", "done", "skipped"]


def test_a_kill_during_a_write_leaves_nothing_a_rerun_trips_on(pages, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from manganinja.images import _write_atomic\n"
        "def slow(handle):\n"
        "    handle.write(b'\\x89PNG half'); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
        "_write_atomic(Path(sys.argv[1]), slow)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(out / "p0.png")], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    left = [p.name for p in out.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".p0.png.manganinja-tmp-{proc.pid}-")
    assert not (out / "p0.png").exists()
    assert statuses(run(pages, out)) == ["done"] * 3
    assert sorted(p.name for p in out.iterdir()) == [".manganinja", "p0.png", "p1.png", "p2.png"]


def test_a_live_writers_temporary_file_is_kept(tmp_path):
    from manganinja.images import remove_stale_temporaries

    mine = tmp_path / f".a.png.manganinja-tmp-{os.getpid()}-x"
    dead = tmp_path / f".a.png.manganinja-tmp-{2**22 + 7}-y"
    other = tmp_path / ".a.png.other-tmp"
    for p in (mine, dead, other):
        p.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert mine.exists() and other.exists()


def test_settings_must_be_json(pages, tmp_path):
    with pytest.raises(TypeError, match="setting 'latents' of type object cannot be recorded"):
        run(pages, tmp_path / "out", settings={"latents": object()})
    ok = run(pages[:1], tmp_path / "out", settings={"reference": Path("r.png"), "size": (1, 2)})
    assert statuses(ok) == ["done"]
    assert list(json.loads(manifest_path(tmp_path / "out").read_text())["settings"].values()) == [
        {"reference": "r.png", "size": [1, 2]}]


def test_an_unreadable_manifest_is_said_and_its_pages_redone(pages, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    out = tmp_path / "out"
    run(pages, out)
    manifest_path(out).write_text("{ cut in the midd")
    stale = manifest_path(out).parent / f".manifest.json.manganinja-tmp-{2**22 + 3}-q"
    stale.write_text("{")
    res = run(pages, out, caplog)
    assert statuses(res) == ["done"] * 3 and not stale.exists()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(f"manifest {manifest_path(out)} is unreadable")
    assert lines[1] == "page 'p0.png': no record of the settings it was made with, redoing"
    assert json.loads(manifest_path(out).read_text())["pages"].keys() == {"p0.png", "p1.png", "p2.png"}


@pytest.mark.parametrize("damage", ["truncated", "bit flip in the image data"])
def test_damaged_png_outputs_are_found_without_decoding(damage, tmp_path):
    from manganinja.manifest import output_problem

    path = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    assert output_problem(path) is None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:300] + bytes([data[300] ^ 1]) + data[301:])
    assert output_problem(path).startswith("a.png does not decode")
