"""``manganinja.images.write_json_atomic``: the one atomic JSON writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manganinja.images import TEMP_MARKER, write_json_atomic


def test_writes_indented_json_with_a_final_newline(tmp_path: Path) -> None:
    path = write_json_atomic({"b": 1, "a": [1, 2]}, tmp_path / "sub" / "x.json")
    assert path == tmp_path / "sub" / "x.json"
    assert path.read_text(encoding="utf-8") == '{\n "b": 1,\n "a": [\n  1,\n  2\n ]\n}\n'
    write_json_atomic({"b": 1, "a": 2}, path, sort_keys=True)
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["a", "b"]


def test_default_converts_what_json_cannot(tmp_path: Path) -> None:
    class Number:
        def __float__(self) -> float:
            return 0.5

    path = write_json_atomic({"x": Number()}, tmp_path / "x.json", default=float)
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": 0.5}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = write_json_atomic({"old": True}, tmp_path / "x.json")
    with pytest.raises(TypeError):
        write_json_atomic({"new": object()}, path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"old": True}
    assert [p.name for p in tmp_path.iterdir() if TEMP_MARKER in p.name] == []
