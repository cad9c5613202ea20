"""`manganinja ui`: a port in use is one line (before any model is loaded); the URL is printed."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from manganinja.cli import app


def test_port_in_use_is_one_line_before_loading(tmp_path, monkeypatch):
    import manganinja.engines as engines

    def refuse(*args, **kwargs):
        raise AssertionError("model loaded before the port was checked")

    monkeypatch.setattr(engines, "load_pipeline", refuse)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text("{}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(app, ["ui", "--port", str(port), "--model", str(model)])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]


def test_ui_prints_its_url():
    pytest.importorskip("gradio")
    from manganinja.webui import build_app

    from _serving import serve_on_a_free_port

    said: list[str] = []
    demo, port = serve_on_a_free_port(build_app, announce=said.append)
    try:
        assert said == [f"manganinja ui: open http://127.0.0.1:{port}/ (Ctrl+C stops it)"]
    finally:
        demo.close()
