"""CLI: `manganinja lineart normalize|extract`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from manganinja.cli import app
from manganinja.models.informative_drawings import InformativeDrawingsGenerator

runner = CliRunner()


def ink_drawing(path: Path) -> np.ndarray:
    ink = np.full((40, 48), 255, np.uint8)
    cv2.circle(ink, (20, 20), 10, 0, 1, lineType=cv2.LINE_AA)
    Image.fromarray(ink).save(path)
    return ink


def test_normalize_writes_white_on_black(tmp_path: Path) -> None:
    ink = ink_drawing(tmp_path / "ink.png")
    result = runner.invoke(app, ["lineart", "normalize", str(tmp_path / "ink.png"), str(tmp_path / "o/out.png")])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "o/out.png"))
    assert out.dtype == np.uint8 and out.shape == (40, 48)
    np.testing.assert_array_equal(out, 255 - ink)
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["out.png"]  # no temporary left


def test_normalize_bad_polarity_and_missing_file(tmp_path: Path) -> None:
    ink_drawing(tmp_path / "ink.png")
    result = runner.invoke(
        app, ["lineart", "normalize", str(tmp_path / "ink.png"), str(tmp_path / "out.png"), "--polarity", "sideways"]
    )
    assert result.exit_code == 2 and "'sideways'" in result.output
    assert not (tmp_path / "out.png").exists()
    result = runner.invoke(app, ["lineart", "normalize", str(tmp_path / "no.png"), str(tmp_path / "out.png")])
    assert result.exit_code == 2 and "not found" in result.output
    assert not (tmp_path / "out.png").exists()


def test_extract_xdog_and_informative(tmp_path: Path) -> None:
    ink_drawing(tmp_path / "ink.png")
    result = runner.invoke(app, ["lineart", "extract", str(tmp_path / "ink.png"), str(tmp_path / "x.png")])
    assert result.exit_code == 0, result.output
    x = np.asarray(Image.open(tmp_path / "x.png"))
    assert x.shape == (40, 48) and x[20, 10] > 128 and x[0, 0] == 0

    result = runner.invoke(
        app, ["lineart", "extract", str(tmp_path / "ink.png"), str(tmp_path / "i.png"), "--method", "informative"]
    )
    assert result.exit_code == 2 and "sk_model.pth" in result.output

    ckpt = tmp_path / "checkpoints"
    weights = ckpt / "models" / "Annotators" / "sk_model.pth"
    weights.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(InformativeDrawingsGenerator().state_dict(), weights)
    result = runner.invoke(
        app, ["lineart", "extract", str(tmp_path / "ink.png"), str(tmp_path / "i.png"), "--checkpoints", str(ckpt)]
    )
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(tmp_path / "i.png")).shape == (40, 48)
    result = runner.invoke(
        app, ["lineart", "extract", str(tmp_path / "ink.png"), str(tmp_path / "j.png"), "--weights", str(weights)]
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "i.png")), np.asarray(Image.open(tmp_path / "j.png")))


def test_extract_bad_method(tmp_path: Path) -> None:
    ink_drawing(tmp_path / "ink.png")
    result = runner.invoke(
        app, ["lineart", "extract", str(tmp_path / "ink.png"), str(tmp_path / "x.png"), "--method", "sobel"]
    )
    assert result.exit_code == 2 and "'sobel'" in result.output
