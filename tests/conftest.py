"""Shared test fixtures.

Paths to ``../shared`` (fixtures and real cases) resolve from the repository root. Tests that
need them skip with a reason when it is absent, and fail when the ``CI`` environment variable is
set (CI always has it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
OFFICIAL_TINY = SHARED / "fixtures" / "official_tiny"
OFFICIAL_CASES = SHARED / "data" / "official_cases"


def require_shared(path: Path) -> Path:
    """Return ``path``; skip the test when it is missing, or fail if ``CI`` is set."""
    if not path.exists():
        message = f"shared test data not found at {path}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this must not be skipped)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def official_tiny() -> Path:
    return require_shared(OFFICIAL_TINY)


@pytest.fixture(scope="session")
def official_cases() -> Path:
    return require_shared(OFFICIAL_CASES)
