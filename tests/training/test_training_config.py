"""Strict training configs (manganinja.training.config) and the shipped recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from manganinja.training.config import ConfigError, load_config, resolve_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml") if "autoencoder" not in p.name))
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.train.stage in (0, 1, 2)


def test_paper_recipe_values():
    s1 = load_config(CONFIGS / "paper_stage1.yaml")
    s2 = load_config(CONFIGS / "paper_stage2.yaml")
    assert (s1.train.steps, s2.train.steps) == (180000, 20000)
    assert s1.train.learning_rate == 1e-3 and s1.train.lr_decay_every == 30000
    assert s1.data.resolution == 512 and s1.data.interval == 36 and s1.data.max_points == 24
    assert (s1.data.patch_shuffle.start_grid, s1.data.patch_shuffle.end_grid) == (2, 32)
    assert s2.model.init == "pretrained" and s2.train.stage == 2


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  learnig_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'train.learnig_rate' \(did you mean 'learning_rate'\?\)"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown config key 'optimizer'"):
        resolve_config({"optimizer": {}})


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="train.stage must be one of"):
        resolve_config({"train": {"stage": 3}})
    with pytest.raises(ConfigError, match="train.batch_size must be an integer"):
        resolve_config({"train": {"batch_size": "four"}})
    with pytest.raises(ConfigError, match="data.resolution must be a multiple of 64"):
        resolve_config({"data": {"resolution": 100}})
    with pytest.raises(ConfigError, match="model.path is required"):
        resolve_config({"model": {"init": "official"}})
    with pytest.raises(ConfigError, match="data.drop.points must be in"):
        resolve_config({"data": {"drop": {"points": 2}}})
    with pytest.raises(ConfigError, match="model.schedule.zero_terminal_snr needs model.schedule.prediction_type: v_prediction"):
        resolve_config({"model": {"schedule": {"zero_terminal_snr": True}}})
    with pytest.raises(ConfigError, match="got 'epsilon'"):
        resolve_config({"model": {"schedule": {"zero_terminal_snr": True, "prediction_type": "epsilon"}}})
    assert resolve_config({"train": {"learning_rate": "1e-3"}}).train.learning_rate == 1e-3
    with pytest.raises(ConfigError, match="model.point_code must be 0 .* or at least 24"):
        resolve_config({"model": {"point_code": 8}})
    assert resolve_config({"model": {"point_code": 32}}).model.point_code == 32


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_one_typed_tree_used_as_is(tmp_path):
    """The YAML is parsed into pydantic models (unknown keys forbidden); the data section IS the
    data package's DataConfig (with its augmentation/matcher models), and the data set holds
    that very object: no second set of dataclasses, no copying of sections."""
    from pydantic import BaseModel

    from manganinja.data.augment import DropConfig, FlipRotateConfig, ShuffleConfig
    from manganinja.data.dataset import DataConfig
    from manganinja.data.matching import MatcherConfig
    from manganinja.data.synthetic import write_dataset
    from manganinja.training.trainer import build_dataset

    write_dataset(tmp_path / "synth", 2, size=64, seed=0)
    cfg = resolve_config({"data": {"synthetic": [str(tmp_path / "synth")], "resolution": 64,
                                   "flip_rotate": {"max_angle": 10}, "patch_shuffle": {"end_grid": 8}},
                          "train": {"steps": 10}})
    assert isinstance(cfg, BaseModel) and cfg.model_config["extra"] == "forbid"
    assert isinstance(cfg.data, DataConfig)
    assert isinstance(cfg.data.drop, DropConfig) and isinstance(cfg.data.matcher, MatcherConfig)
    assert isinstance(cfg.data.flip_rotate, FlipRotateConfig) and isinstance(cfg.data.patch_shuffle, ShuffleConfig)
    dataset = build_dataset(cfg)
    assert dataset.config is cfg.data
    assert dataset.shuffle == cfg.data.patch_shuffle.schedule(10)
    with pytest.raises(ConfigError, match=r"^unknown config key 'data.matcher.ratoi' \(did you mean 'ratio'\?\)$"):
        resolve_config({"data": {"matcher": {"ratoi": 0.5}}})
    with pytest.raises(ConfigError, match=r"^data.matcher.ratio must be in \(0, 1\), got 1.5$"):
        resolve_config({"data": {"matcher": {"ratio": 1.5}}})


def test_a_config_that_extends_another_changes_only_what_it_writes(tmp_path):
    """``extends:`` names a file relative to the extending file's folder; its sections are read
    first and this file's keys merged over them key by key; a chain of them reads in order, and
    the command line's overrides come last."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "root.yaml").write_text("train:\n  steps: 100\n  batch_size: 4\n  learning_rate: 1.0e-3\n")
    (tmp_path / "base" / "mid.yaml").write_text("extends: root.yaml\ntrain:\n  steps: 200\n")
    (tmp_path / "leaf.yaml").write_text("extends: base/mid.yaml\ntrain:\n  batch_size: 8\n")
    cfg = load_config(tmp_path / "leaf.yaml")
    assert (cfg.train.steps, cfg.train.batch_size, cfg.train.learning_rate) == (200, 8, 1e-3)
    assert load_config(tmp_path / "leaf.yaml", {"train": {"steps": 5}}).train.steps == 5
    assert load_config(tmp_path / "base" / "mid.yaml").train.batch_size == 4


@pytest.mark.parametrize("text, named", [
    ("extends: nowhere.yaml\n", r"config file .*nowhere.yaml not found \(named by extends: in .*c.yaml\)"),
    ("extends: c.yaml\n", r"extends: comes back to .*c.yaml"),
    ("extends: [a.yaml]\n", r"extends: must name another config file .*got \['a.yaml'\]"),
])
def test_a_bad_extends_is_one_line_naming_the_files(tmp_path, text, named):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=named):
        load_config(tmp_path / "c.yaml")


def test_a_chain_of_extends_that_comes_back_names_the_chain(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match=r"a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(tmp_path / "a.yaml")
