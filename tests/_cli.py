"""What every CLI test checks of a user's mistake: one line, no traceback."""

from __future__ import annotations

from click.testing import Result


def one_line_error(result: Result, *words: str, code: int = 2) -> str:
    """Exit ``code``, the whole output one line ``error: ...`` naming each of ``words``, no
    traceback; returns that line."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
