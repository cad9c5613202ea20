"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manganinja.pipeline import build_pipeline


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random model saved in the diffusers layout (``save_pretrained``)."""
    path = tmp_path_factory.mktemp("model") / "tiny"
    build_pipeline("tiny", seed=0).save_pretrained(path)
    return path


@pytest.fixture
def chapter(tmp_path) -> tuple[Path, Path]:
    """A random 64x64 reference and a folder of three 64x64 line-art pages ``p0..p2.png``."""
    rng = np.random.default_rng(0)
    ref = tmp_path / "ref.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(ref)
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(3):
        line = np.zeros((64, 64), np.uint8)
        line[:: 6 + i, :] = 255
        Image.fromarray(line).save(pages / f"p{i}.png")
    return ref, pages
