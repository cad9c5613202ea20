"""The smaller benchmark scripts' handling of what they are given: bench_pipeline's --json list,
tiny_synthetic_copy_task's --make-data, the overfit check's and the autoencoder probe's
positional arguments. Each bad value is one line before any model is built; nothing is left
half-written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from manganinja.data.synthetic import write_dataset

from _scripts import exit_code, load_script


def parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="bench_pipeline.py")


def test_bench_pipeline_reads_the_records_it_appends_to_before_the_run(tmp_path, capsys, monkeypatch):
    from _scripts import BENCHMARKS

    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports bench_gpu from its own folder, as when run
    earlier = load_script("bench_pipeline").earlier_records
    assert earlier(parser(), None) == []
    assert earlier(parser(), tmp_path / "new.json") == []
    (tmp_path / "old.json").write_text(json.dumps([{"mode": "exact"}]))
    assert earlier(parser(), tmp_path / "old.json") == [{"mode": "exact"}]
    (tmp_path / "dict.json").write_text('{"a": 1}')
    (tmp_path / "bad.json").write_text("nope")
    for name, message in (("dict.json", "holds a JSON dict, not a list of records"), ("bad.json", "cannot be read as JSON")):
        with pytest.raises(SystemExit) as exit_:
            earlier(parser(), tmp_path / name)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: --json '{tmp_path / name}' {message}") and "\n" not in err


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("copy") / "pairs", 3, size=64, seed=0)


def test_copy_task_copies_the_pairs_there_are_and_says_how_many(pairs, tmp_path, capsys):
    make = load_script("tiny_synthetic_copy_task").make_data
    make(pairs, tmp_path / "copy", pairs=10, with_points=True)
    assert capsys.readouterr().out.strip() == f"wrote 3 copy pairs to {tmp_path / 'copy'}"
    copied = sorted(p.name for p in (tmp_path / "copy").iterdir() if p.is_dir())
    assert copied == ["pair_00000", "pair_00001", "pair_00002"]
    assert ((tmp_path / "copy" / "pair_00001" / "target.png").read_bytes()
            == (pairs / "pair_00001" / "reference.png").read_bytes())
    assert json.loads((tmp_path / "copy" / "copy_task.json").read_text())["pairs"] == 3


def test_copy_task_refuses_a_source_without_pairs_and_leaves_nothing(tmp_path):
    make = load_script("tiny_synthetic_copy_task").make_data
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"--source {tmp_path / 'empty'} holds no pair_\\* folders"):
        make(tmp_path / "empty", tmp_path / "copy", pairs=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_copy_task_removes_its_temporary_folder_when_a_copy_fails(pairs, tmp_path):
    make = load_script("tiny_synthetic_copy_task").make_data
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pair_00000").mkdir()  # no reference.png
    with pytest.raises(FileNotFoundError):
        make(broken, tmp_path / "copy", pairs=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


@pytest.mark.parametrize("script, entry, argv, message", [
    ("tiny_synthetic_overfit_check", "main", ["{tmp}/none", "{tmp}"], "{tmp}/none is not a pipeline folder (no model_index.json)"),
    ("tiny_synthetic_overfit_check", "main", ["{shipped}", "{tmp}"], "{tmp} holds 0 pair_* folders; another pair's reference needs at least 2"),
    ("tiny_synthetic_ae_probe", "main", ["{tmp}", "{tmp}", "1", "1e-3", "det", "1", "1", "3,x"], "CHANNELS '3,x': give widths separated by commas"),
    ("tiny_synthetic_leak_probe", "cli", ["{tmp}/none"], "{tmp}/none is not a pipeline folder (no model_index.json)"),
    ("tiny_synthetic_leak_probe", "cli", ["{shipped}", "{tmp}/none"], "{tmp}/none is not a benchmark folder (no manifest.json)"),
    ("tiny_synthetic_validate", "cli", ["{tmp}/none"], "{tmp}/none is not a pipeline folder (no model_index.json)"),
    ("tiny_synthetic_validate", "cli", ["{shipped}", "{tmp}/none"], "{tmp}/none is not a benchmark folder (no manifest.json)"),
    # every script names a missing model, benchmark or autoencoder folder alike (requests.check_input_folder)
    ("correspondence_probe", "main", ["{tmp}/none"], "{tmp}/none is not a pipeline folder (no model_index.json); give a saved model folder"),
    ("correspondence_probe", "main", ["random", "--vae", "{tmp}/none"], "--vae {tmp}/none is not an AutoencoderKL folder (no config.json)"),
    ("tiny_lineart_free_points", "main", ["{shipped}", "--data", "{tmp}/none"], "--data {tmp}/none is not a benchmark folder (no manifest.json); make one with manganinja benchmark synth"),
    ("tiny_point_path", "main", ["{tmp}/none"], "{tmp}/none is not a pipeline folder (no model_index.json)"),
    ("tiny_forced_attention", "main", ["{tmp}/none"], "{tmp}/none is not a pipeline folder (no model_index.json)"),
    ("tiny_hint_coverage", "main", ["--data", "{tmp}/none"], "--data {tmp}/none is not a benchmark folder (no manifest.json)"),
    ("reference_use_probe", "main", ["{tmp}/none", "--data", "{tmp}"], "{tmp}/none is not a pipeline folder (no model_index.json)"),
    ("reference_use_probe", "main", ["random:{tmp}/none", "--data", "{tmp}"], "{tmp}/none is not an AutoencoderKL folder (no config.json)"),
    ("reference_use_probe", "main", ["random", "--data", "{tmp}", "--batches", "0"], "--batches must be >= 1, got 0"),
    ("tiny_lineart_free_points", "main", ["{shipped}", "--data", "{bench}", "--scales", "0,x"], "--scales '0,x' is not a list of numbers; e.g. 0,2,4,8"),
    ("autoencoder_floor", "main", ["{tmp}/none"], "{tmp}/none is not an AutoencoderKL folder (no config.json); give a train-autoencoder output's final/ folder"),
])
def test_the_positional_scripts_refuse_a_bad_argument_in_one_line(tmp_path, capsys, script, entry, argv, message):
    """Each script as its command line runs it (through run_script): one line, exit code 2."""
    from _scripts import SHIPPED_MODEL

    main = getattr(load_script(script), entry)
    bench = tmp_path / "bench"  # passes the benchmark folder check (its manifest), for the checks after it
    bench.mkdir()
    (bench / "manifest.json").write_text("{}")
    assert exit_code(main, [a.format(tmp=tmp_path, shipped=SHIPPED_MODEL, bench=bench) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: " + message.format(tmp=tmp_path)) and "\n" not in err


def test_the_autoencoder_probe_checks_its_counts_before_reading_frames(tmp_path):
    from manganinja.requests import RequestError

    with pytest.raises(RequestError, match="^STEPS must be >= 1, got 0$"):
        load_script("tiny_synthetic_ae_probe").main([str(tmp_path / "none"), str(tmp_path / "none"), "1", "1e-3", "det", "0", "1"])


def test_the_reference_probe_refuses_a_missing_model_before_drawing_pairs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["tiny_synthetic_reference_probe.py", "--model", str(tmp_path / "none")])
    assert exit_code(lambda _: load_script("tiny_synthetic_reference_probe").main(), []) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --model {tmp_path / 'none'} is not a pipeline folder (no model_index.json); "
                   "give a saved model folder such as models/tiny-synthetic")
