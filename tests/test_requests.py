"""The request checks themselves (the CLI's are in tests/cli/test_colorize_checks.py)."""

from __future__ import annotations

import pytest

import manganinja.requests as R


def test_unwritable_folder_is_named(tmp_path, monkeypatch):
    """Runs as root too: the permission answer is replaced, the logic is what is checked."""
    monkeypatch.setattr(R.os, "access", lambda path, mode: False)
    with pytest.raises(R.RequestError, match="folder '.*' is not writable"):
        R.check_output_path(tmp_path / "new" / "deeper" / "page.png")


def test_output_paths(tmp_path):
    R.check_output_path(tmp_path / "a" / "b" / "page.png")  # folders are made when writing
    R.check_output_path(tmp_path / "page.PNG", layers=True)
    for path, layers, message in [
        (tmp_path, False, "is a folder"),
        (tmp_path / "page", False, "unknown image extension ''"),
        (tmp_path / "page.jpg", True, "layers need a .png"),
    ]:
        with pytest.raises(R.RequestError, match=message):
            R.check_output_path(path, layers=layers)


def test_inputs_kept_resolves_links(tmp_path):
    page = tmp_path / "page.png"
    page.write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    for out in (page, tmp_path / "link" / "page.png", tmp_path / "sub" / ".." / "page.png"):
        with pytest.raises(R.RequestError, match="line art"):
            R.check_inputs_kept([out], [("line art", page)], "choose another --output")
    R.check_inputs_kept([tmp_path / "page_out.png", tmp_path / "new" / "page.png"], [("line art", page)], "fix")


def test_folder_kept(tmp_path):
    inner = tmp_path / "a" / "b"
    with pytest.raises(R.RequestError, match="holds"):
        R.check_folder_kept(tmp_path / "a", [("--official folder", inner)], "fix")
    R.check_folder_kept(inner / "converted", [("--official folder", inner)], "fix")  # inside is fine


def test_report_path(tmp_path):
    """A benchmark's --json / --out: never an input, never inside an input folder, in a folder that exists."""
    model = tmp_path / "model"
    model.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("x: 1\n")
    (tmp_path / "link").symlink_to(model, target_is_directory=True)
    inputs = [("model folder", model), ("config", config)]
    R.check_report_path(tmp_path / "figures.json", "--json", inputs)
    R.check_report_path(tmp_path / "new" / "figures.json", "--json", inputs)  # folders are made when writing
    R.check_report_path(tmp_path / "out" / "new", "--out", inputs, folder=True)  # made when missing
    for path, folder, message in [
        (config, False, "--json '.*config.yaml' is the config"),
        (model / "figures.json", False, "is inside the model folder"),
        (tmp_path / "link" / "figures.json", False, "is inside the model folder"),
        (model, True, "--json '.*model' is the model folder"),
        (model / "eval", True, "is inside the model folder"),
        (tmp_path, False, "is a folder; give a file path"),
        (config / "f.json", False, "'.*config.yaml' is a file, not a folder"),
        (config, True, "is a file; give a folder"),
    ]:
        with pytest.raises(R.RequestError, match=message):
            R.check_report_path(path, "--json", inputs, folder=folder)


def test_at_least_names_the_first_value_below():
    R.check_at_least({"--pairs": 1, "--steps": 10}, 1)
    R.check_at_least({"--warmup": 0}, 0)
    with pytest.raises(R.RequestError, match=r"^--steps must be >= 1, got 0$"):
        R.check_at_least({"--pairs": 3, "--steps": 0, "--guides": -1}, 1)


@pytest.mark.parametrize("kind, marker, fix", [
    ("pipeline", "model_index.json", "give a saved model folder such as models/tiny-synthetic"),
    ("benchmark", "manifest.json", "make one with manganinja benchmark synth"),
    ("AutoencoderKL", "config.json", "give a train-autoencoder output's final/ folder"),
])
def test_an_input_folder_of_a_kind_is_known_by_its_marker_file(tmp_path, kind, marker, fix) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    article = "an" if kind == "AutoencoderKL" else "a"
    with pytest.raises(R.RequestError) as exc:
        R.check_input_folder(folder, "--model", kind)
    assert str(exc.value) == f"--model {folder} is not {article} {kind} folder (no {marker}); {fix}"
    with pytest.raises(R.RequestError, match=f"^{tmp_path / 'none'} is not"):  # a positional argument: no option
        R.check_input_folder(tmp_path / "none", "", kind)
    (folder / marker).write_text("{}")
    R.check_input_folder(folder, "--model", kind)
    (folder / marker).unlink()
    (folder / marker).mkdir()  # a folder of that name is not the file
    with pytest.raises(R.RequestError):
        R.check_input_folder(folder, "--model", kind)
