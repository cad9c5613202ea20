"""Serving a web page in tests on a free port, without the probe-then-bind race.

A port the OS reports free (bind to port 0) can be taken by another process before the server
binds it. The server then fails to start (OSError); a new page is built and served on a new
free port, a few times, instead of failing the test by chance.
"""

from __future__ import annotations

import socket
from typing import Callable

import gradio as gr

from manganinja.webui import serve


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_on_a_free_port(
    build: Callable[[], gr.Blocks],
    attempts: int = 5,
    announce: Callable[[str], None] | None = None,
) -> tuple[gr.Blocks, int]:
    """Serve ``build()`` on 127.0.0.1 in a thread (``demo.close()`` stops it) on a free port,
    retrying on a new port when the chosen one was taken in between. Returns ``(demo, port)``."""
    failures: list[str] = []
    for _ in range(attempts):
        port = free_port()
        demo = build()
        try:
            return serve(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, announce=announce), port
        except OSError as error:  # the port was taken between the probe and the bind
            failures.append(f"{port}: {error}")
            demo.close()
    raise AssertionError(f"could not serve on a free port in {attempts} tries: {failures}")
