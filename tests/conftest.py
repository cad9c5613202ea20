"""Shared test fixtures. Where the test data lives, and why some of it is not in the
repository: ``tests/_test_data.py``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from _test_data import OFFICIAL_CASES, OFFICIAL_TINY, require_shared

if TYPE_CHECKING:
    from manganinja.pipeline import MangaNinjaPipeline


@pytest.fixture(scope="session")
def official_tiny() -> Path:
    """The vendored tiny official-layout fixture (``checkpoints/``, ``inputs/``, ``expected/``)."""
    assert OFFICIAL_TINY.is_dir(), f"the repository's fixture {OFFICIAL_TINY} is missing"
    return OFFICIAL_TINY


@pytest.fixture(scope="session")
def official_cases() -> Path:
    """The real anime cases outside the repository; skips (or fails under ``CI``) when absent."""
    return require_shared(OFFICIAL_CASES)


@pytest.fixture(scope="module")
def pipe() -> "MangaNinjaPipeline":
    """A tiny random pipeline (``build_pipeline("tiny", seed=0)``), one per test module: a module's
    tests may change its settings (attention chunk, offload, ...) without reaching other modules.
    Imported here, not at the top, so that test runs without the model do not load torch."""
    from manganinja.pipeline import build_pipeline

    return build_pipeline("tiny", seed=0)
