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


@pytest.fixture
def road_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every step of the road (:mod:`manganinja.colorize`) taken, as ``(step, engine name)``:
    ``prepare`` (the references prepared) and ``colorize`` (a page colorized by the in-memory
    core); and every engine's own ``prepare``/``colorize`` fails unless the road called it, so a
    front end (or the shot adapter) that calls an engine itself, bypassing the road, fails the
    test."""
    import manganinja.colorize as road
    from manganinja import engines
    from manganinja.colorize import PreparedEngine

    calls: list[tuple[str, str]] = []
    inside = []
    real_prepare, real_colorize = road.prepare, PreparedEngine.colorize

    def spy_prepare(engine, references):
        calls.append(("prepare", engine.name))
        inside.append(1)
        try:
            return real_prepare(engine, references)
        finally:
            inside.pop()

    def spy_colorize(self, lines, points=None):
        calls.append(("colorize", self.engine.name))
        inside.append(1)
        try:
            return real_colorize(self, lines, points)
        finally:
            inside.pop()

    def guarded(cls, method):
        real = getattr(cls, method)

        def only_on_the_road(self, *args, **kwargs):
            assert inside, f"{cls.__name__}.{method} called outside the road"
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, only_on_the_road)

    for cls in (engines.NinjaEngine, engines.FlatEngine, engines.ReferenceEngine, engines.MeanColorEngine):
        guarded(cls, "prepare")
        guarded(cls, "colorize")
    monkeypatch.setattr(road, "prepare", spy_prepare)
    monkeypatch.setattr(PreparedEngine, "colorize", spy_colorize)
    for module in ("manganinja.webui", "manganinja.evaluation.benchmark", "manganinja.shots.engines"):  # bound at import
        monkeypatch.setattr(f"{module}.prepare", spy_prepare, raising=False)
    return calls
