"""Where the tests' data lives (imported by ``conftest.py`` and by the tests of these rules).

- ``tests/fixtures/official_tiny/`` is part of the repository: tiny random checkpoints in the
  official release layout, inputs, and the official code's output on them (see its README). Every
  clone runs the parity tests on it.
- ``../shared/data/official_cases/`` (beside the repository folder) holds real anime frames
  published with the official code. They are others' artwork under a non-commercial license, so
  they are never copied into the repository (``MANGANINJA_OFFICIAL_CASES`` points elsewhere).
  Tests that need them skip with a reason when the folder is absent, and fail instead when the
  ``CI`` environment variable is set (CI always has it, and the folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
OFFICIAL_TINY = FIXTURES / "official_tiny"
SHARED = REPO_ROOT.parent / "shared"
OFFICIAL_CASES = Path(os.environ.get("MANGANINJA_OFFICIAL_CASES", SHARED / "data" / "official_cases"))

OFFICIAL_CASES_WHY = (
    "the real anime cases (the official code's hz0/hz1 frames and point maps) are expected there, "
    "beside the repository (or where MANGANINJA_OFFICIAL_CASES points); they are others' artwork "
    "under a non-commercial license, so the repository does not ship them"
)


def require_shared(path: Path, why: str = OFFICIAL_CASES_WHY) -> Path:
    """Return ``path``; skip the test (reason ``why``) when it is missing, or fail if ``CI`` is set."""
    if not path.exists():
        message = f"{path} not found: {why}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so this test must not be skipped")
        pytest.skip(message)
    return path
