"""benchmarks/tiny_step_time.py on tiny random components (2 steps of a 64 px stage 1): its figures,
that loading the data in a worker process leaves the run the same, and its one-line refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from manganinja.data.synthetic import write_dataset

from _scripts import exit_code, load_script


def script():
    return load_script("tiny_step_time")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("steptime")
    data = write_dataset(root / "pairs", 4, size=64, seed=0)
    cfg = {
        "model": {"init": "tiny", "seed": 0},
        "data": {"synthetic": [str(data)], "resolution": 64, "max_points": 8},
        "train": {"output_dir": str(root / "never_written"), "stage": 1, "steps": 100, "batch_size": 2, "threads": 1},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_parse_setting_nests_the_dotted_key_and_reads_the_value_as_yaml():
    assert script().parse_setting("train.mixed_precision=bf16") == {"train": {"mixed_precision": "bf16"}}
    assert script().parse_setting("data.num_workers=1") == {"data": {"num_workers": 1}}
    assert script().parse_setting("train.mixed_precision=no") == {"train": {"mixed_precision": "no"}}  # not YAML 1.1's False
    assert script().parse_setting("data.flip=true") == {"data": {"flip": True}}
    assert script().parse_setting("data.synthetic=[a, b]") == {"data": {"synthetic": ["a", "b"]}}
    for bad in ("train.steps", "=3", "train..steps=3"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            script().parse_setting(bad)


def test_a_worker_process_leaves_the_losses_the_same(config):
    base = script().step_time(config, 2, {})
    worker = script().step_time(config, 2, {"data": {"num_workers": 1}})
    assert base["steps"] == worker["steps"] == 2
    assert base["seconds_per_step"] > 0
    assert (base["first_loss"], base["last_loss"]) == (worker["first_loss"], worker["last_loss"])
    assert not (config.parent / "never_written").exists()  # nothing beside the config


def test_main_prints_the_figures_and_writes_them(config, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert script().main([str(config), "--steps", "1", "--set", "train.max_grad_norm=0.5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"# {config}, train.max_grad_norm=0.5: 1 steps"
    assert re.fullmatch(r"\d+\.\d{4} s/step; loss at the first step \d+\.\d{6}, at the last \d+\.\d{6}", printed[1])
    assert json.loads(out.read_text())["settings"] == ["train.max_grad_norm=0.5"]


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--set", "train.steps"], "--set train.steps: give KEY=VALUE"),
    (["--set", "train.mixed_precision=fp8"], "train.mixed_precision must be one of"),
])
def test_a_bad_request_is_one_line(config, capsys, args, message):
    assert exit_code(script().main, [str(config), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_the_config_itself_as_json_is_refused_and_left_as_it_was(config, capsys):
    before = config.read_text()
    assert exit_code(script().main, [str(config), "--json", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --json '{config}' is the config '{config}'; give another path"
                                               " (inputs are never overwritten)")
    assert config.read_text() == before


def test_a_missing_config_is_one_line(tmp_path, capsys):
    assert exit_code(script().main, [str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'none.yaml'}: no such config file"


@pytest.fixture(scope="module")
def autoencoder_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("steptime_ae")
    data = write_dataset(root / "pairs", 4, size=64, seed=0)
    cfg = {
        "model": {"block_out_channels": [8, 16], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 4},
        "data": {"synthetic": [str(data)], "resolution": 32},
        "train": {"output_dir": str(root / "never_written"), "steps": 100, "batch_size": 2, "threads": 1,
                  "checkpoint_every": 2},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_an_autoencoder_config_is_timed_and_bf16_changes_its_losses(autoencoder_config, capsys):
    base = script().autoencoder_step_time(autoencoder_config, 3, {})
    again = script().autoencoder_step_time(autoencoder_config, 3, {})
    bf16 = script().autoencoder_step_time(autoencoder_config, 3, {"train": {"mixed_precision": "bf16"}})
    assert base["steps"] == 3 and base["seconds_per_step"] > 0
    assert (base["first_loss"], base["last_loss"]) == (again["first_loss"], again["last_loss"])  # seeded
    assert bf16["last_loss"] != base["last_loss"]  # the setting reached the trainer
    assert not (autoencoder_config.parent / "never_written").exists()  # nothing beside the config
    # a diffusion config's key is refused by the autoencoder's validation
    assert exit_code(script().main, [str(autoencoder_config), "--autoencoder", "--set", "train.max_grad_norm=0.5"]) == 2
    assert "train.max_grad_norm" in capsys.readouterr().err
    assert script().main([str(autoencoder_config), "--autoencoder", "--steps", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"# {autoencoder_config}, as configured: 2 steps"
