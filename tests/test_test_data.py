"""The tests' data: the vendored official-layout fixture is in the repository, and data that
cannot be shipped skips with its reason, or fails when ``CI`` is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from _test_data import OFFICIAL_CASES_WHY, OFFICIAL_TINY, REPO_ROOT, require_shared


def test_the_official_tiny_fixture_is_part_of_the_repository() -> None:
    assert OFFICIAL_TINY.is_relative_to(REPO_ROOT)
    for name in ("checkpoints/MangaNinjia/point_net.pth", "inputs/points.json", "expected/colorized.png",
                 "expected/tensors.safetensors", "expected/settings.json"):
        assert (OFFICIAL_TINY / name).is_file(), name


def test_missing_shared_data_skips_with_where_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_shared(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(skipped.value) and "non-commercial license" in OFFICIAL_CASES_WHY
    assert OFFICIAL_CASES_WHY in str(skipped.value)


def test_missing_shared_data_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_shared(tmp_path / "absent")
    assert require_shared(tmp_path) == tmp_path  # present: used, whatever CI says
