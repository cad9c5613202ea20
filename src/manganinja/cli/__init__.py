"""Command line: a thin layer over the library API.

Each area registers its commands on :data:`app` (or a sub-app) in its own module below; this file
only assembles them and holds the one error printer: a user error (any ``ValueError``: bad
input, bad option, unreadable model folder...) is one line ``error: ...`` and exit code 2, with no
traceback; ``manganinja --debug ...`` (or ``MANGANINJA_DEBUG=1``) shows the traceback instead.
Keep library logic out of these modules.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Callable, Mapping, NoReturn, TypeVar

import typer

app = typer.Typer(
    name="manganinja",
    help="Reference-guided line art colorization (MangaNinja).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


def _debug_from_env() -> bool:
    return os.environ.get("MANGANINJA_DEBUG", "") not in ("", "0")

F = TypeVar("F", bound=Callable[..., object])

#: Settings fields as the CLI spells them (for error messages).
OPTION_NAMES: dict[str, str] = {
    "steps": "--steps",
    "guidance_scale_ref": "--guidance-ref",
    "guidance_scale_point": "--guidance-point",
    "guidance": "--guidance",
    "seed": "--seed",
    "resolution": "--resolution",
    "reference_mode": "--reference-mode",
    "polarity": "--polarity",
    "extractor": "--extractor",
    "extractor_weights": "--extractor-weights",
    "device": "--device",
    "dtype": "--dtype",
    "offload": "--offload",
    "attention_chunk": "--attention-chunk",
}


class _EchoWarnings(logging.Handler):
    """The library's warnings and errors as plain lines on stderr (where the command's own lines
    go). A failed page's error is left to the command, which reports every failed page from the
    results: printed once, not twice."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "manganinja.batch" and record.levelno >= logging.ERROR:
            return
        typer.echo(record.getMessage(), err=True)


def _show_library_warnings() -> None:
    logger = logging.getLogger("manganinja")
    if not any(isinstance(h, _EchoWarnings) for h in logger.handlers):
        logger.addHandler(_EchoWarnings(logging.WARNING))


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug/--no-debug", metavar="", help="Show the full traceback of an error."),
) -> None:
    """Reference-guided line art colorization (MangaNinja)."""
    _state["debug"] = debug or _debug_from_env()  # decided afresh by every invocation
    _show_library_warnings()


def flag(default: bool, name: str, help: str) -> bool:
    """An on/off option ``--NAME/--no-NAME`` (shown without a value in ``--help``; it takes
    none)."""
    return typer.Option(default, f"--{name}/--no-{name}", metavar="", help=help)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` (one line) to stderr and exit with ``code``."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code)


def error_message(exc: BaseException, names: Mapping[str, str] = OPTION_NAMES) -> str:
    """One line for a user error (pydantic's ``ValidationError`` names the CLI option)."""
    from manganinja.settings import describe_error

    return describe_error(exc, names) if isinstance(exc, Exception) else str(exc)


def os_error_message(exc: OSError) -> str:
    """One line for a file-system failure: what failed on which file (``cannot write 'x.png':
    Read-only file system``), never a temporary file's name."""
    if exc.filename is not None and type(exc).__str__ is OSError.__str__:
        reason = exc.strerror or type(exc).__name__
        return f"{reason}: '{exc.filename}'" + (f" -> '{exc.filename2}'" if exc.filename2 else "")
    return str(exc) or type(exc).__name__


def user_errors(fn: F) -> F:
    """Run a command; a ``ValueError`` (every user error of the package) becomes one line and
    exit code 2, a file-system failure met while working (``OSError``: a folder turned
    read-only, a full disk) one line and exit code 1; a traceback only with ``--debug``."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            if _state["debug"]:
                raise
            fail(error_message(exc))
        except OSError as exc:
            if _state["debug"]:
                raise
            fail(os_error_message(exc), code=1)

    return wrapper  # type: ignore[return-value]


# Command modules: importing one registers its commands on `app`.
from manganinja.cli import model_commands  # noqa: E402,F401
from manganinja.cli import lineart_commands  # noqa: E402,F401
from manganinja.cli import points_commands  # noqa: E402,F401
from manganinja.cli import benchmark_commands  # noqa: E402,F401
from manganinja.cli import synth_commands  # noqa: E402,F401
from manganinja.cli import ui_commands  # noqa: E402,F401
from manganinja.cli import train_commands  # noqa: E402,F401
from manganinja.cli import shot_commands  # noqa: E402,F401


def main() -> None:
    """Console-script entry point: command-line usage errors (a missing or unknown option) are
    one line too."""
    try:  # typer >= 0.2x vendors click
        from typer._click.exceptions import UsageError
    except ImportError:  # pragma: no cover - older typer on click
        from click import UsageError

    try:
        code = app(standalone_mode=False)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "manganinja"
        typer.echo(f"error: {' '.join(exc.format_message().split())} (see `{where} --help`)", err=True)
        raise SystemExit(2) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
