"""``manganinja train`` error handling (the training itself is tested in tests/training)."""

from __future__ import annotations

from typer.testing import CliRunner

from manganinja.cli import app


def test_unknown_config_key_exits_2_with_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  stepz: 3\n")
    result = CliRunner().invoke(app, ["train", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "unknown config key 'train.stepz'" in result.output


def test_empty_data_set_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  synthetic: ['{tmp_path / 'empty'}']\n  resolution: 64\n")
    result = CliRunner().invoke(app, ["train", "--config", str(cfg), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no training pair found in" in result.output


def test_a_config_that_is_not_yaml_is_one_line_saying_where(tmp_path):
    """Both training commands read their config with one function; a YAML error (a multi-line
    text from the parser) becomes one line with the line and column."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model: {init: tiny\ndata: [\n")
    for command in ("train", "train-autoencoder"):
        result = CliRunner().invoke(app, [command, "--config", str(cfg)])
        assert result.exit_code == 2
        assert result.output.strip() == (f"error: config file {cfg} is not valid YAML at line 2, column 5: "
                                         "expected ',' or '}', but got ':'")


def test_a_config_that_is_not_a_mapping_is_one_line(tmp_path):
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- model\n- data\n")
    for command in ("train", "train-autoencoder"):
        result = CliRunner().invoke(app, [command, "--config", str(cfg)])
        assert result.exit_code == 2
        assert result.output.strip() == f"error: config file {cfg} holds a YAML list, not sections (model:, data:, train:)"
