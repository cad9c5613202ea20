"""benchmarks/tiny_synthetic_package.py refuses bad arguments in one line, before it loads the
model or writes anything, and never replaces the folder it packages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from manganinja.pipeline import build_pipeline

from _scripts import exit_code, load_script


SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tiny_synthetic_package.py"


def run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """The exit code of ``python benchmarks/tiny_synthetic_package.py ARGV`` (through run_script)."""
    module = load_script("tiny_synthetic_package")
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *argv])
    return exit_code(lambda _: module.main(), [])


@pytest.fixture(scope="module")
def stage2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run") / "final"
    build_pipeline("tiny", seed=0).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.parametrize("extra, says", [
    (["--time", "stage1"], "--time 'stage1': give PART=MINUTES"),
    (["--stage2", "nowhere"], "--stage2 nowhere is not a pipeline folder (no model_index.json); give a saved model folder"),
])
def test_bad_arguments_get_one_line_and_write_nothing(monkeypatch, capsys, tmp_path, stage2, extra, says):
    out = tmp_path / "model"
    args = ["--stage2", str(stage2), "--out", str(out), "--ae-psnr", "27.3", "--guidance-scale-ref", "1", *extra]
    assert run(monkeypatch, *args) == 2
    assert says in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_packaged_folder_is_never_the_one_it_reads(monkeypatch, capsys, stage2):
    before = sorted(p.name for p in stage2.iterdir())
    assert run(monkeypatch, "--stage2", str(stage2), "--out", str(stage2), "--ae-psnr", "27.3", "--guidance-scale-ref", "1") == 2
    assert "is the --stage2 folder" in capsys.readouterr().err
    assert sorted(p.name for p in stage2.iterdir()) == before
