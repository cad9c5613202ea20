"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from manganinja.pipeline import build_pipeline


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random model saved in the diffusers layout (``save_pretrained``)."""
    path = tmp_path_factory.mktemp("model") / "tiny"
    build_pipeline("tiny", seed=0).save_pretrained(path)
    return path
