"""``manganinja.cli.run_script``: a benchmark script's user error is one line, as a command's is."""

from __future__ import annotations

import pytest

from manganinja.cli import run_script
from manganinja.requests import check_at_least


def test_a_user_error_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("MANGANINJA_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        run_script(lambda: check_at_least({"--pairs": 0}, 1))
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: --pairs must be >= 1, got 0\n"


def test_a_file_system_failure_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MANGANINJA_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        run_script(lambda: (tmp_path / "none" / "x.txt").read_text())
    assert exit_.value.code == 1
    assert capsys.readouterr().err == f"error: No such file or directory: '{tmp_path / 'none' / 'x.txt'}'\n"


def test_the_return_value_is_the_exit_code_and_debug_shows_the_traceback(monkeypatch):
    for value, code in ((None, 0), (3, 3)):
        with pytest.raises(SystemExit) as exit_:
            run_script(lambda value=value: value)
        assert exit_.value.code == code
    monkeypatch.setenv("MANGANINJA_DEBUG", "1")
    with pytest.raises(ValueError, match="--pairs must be >= 1"):
        run_script(lambda: check_at_least({"--pairs": 0}, 1))
