"""Command line: a thin layer over the library API.

Each area registers its commands on :data:`app` (or a sub-app) in its own module below; this file
only assembles them. Keep library logic out of these modules.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="manganinja",
    help="Reference-guided line art colorization (MangaNinja).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules: importing one registers its commands on `app`.
from manganinja.cli import model_commands  # noqa: E402,F401
from manganinja.cli import lineart_commands  # noqa: E402,F401
from manganinja.cli import points_commands  # noqa: E402,F401
from manganinja.cli import benchmark_commands  # noqa: E402,F401
from manganinja.cli import synth_commands  # noqa: E402,F401
from manganinja.cli import flat_commands  # noqa: E402,F401  (points suggest)
from manganinja.cli import ui_commands  # noqa: E402,F401
from manganinja.cli import train_commands  # noqa: E402,F401
from manganinja.cli import shot_commands  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app()
