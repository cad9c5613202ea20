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
import re
import sys
import typing
from pathlib import Path
from typing import Callable, Mapping, NoReturn, TypeVar

import typer

#: Metavars by parameter name (what the value is), then by type: no ``<list[str]>``, ``<int range>``.
METAVARS: dict[str, str] = {
    "output_dir": "DIR", "results": "DIR", "official": "DIR", "checkpoints": "DIR",
    "data": "DIR", "config": "FILE", "reference": "FILE", "points": "FILE", "latents": "FILE",
    "weights": "FILE", "extractor_weights": "FILE", "output": "FILE", "image": "FILE", "lineart": "PATH",
    "model": "PATH", "keyframe": "STEM", "host": "HOST", "clip": "DIR", "dino": "DIR",
    "lpips": "DIR", "resume": "PATH",
}

def choices(values: typing.Iterable[str]) -> str:
    """A metavar listing the values an option takes: ``[fp32|fp16|bf16]``."""
    return "[" + "|".join(values) + "]"


def _choice_metavars() -> dict[str, str]:
    """Metavars of the options whose values are a settings ``Literal`` (one place lists them)."""
    from manganinja.lines import Extractor, Polarity
    from manganinja.settings import DType, Guidance, Offload, ReferenceMode

    kinds = {"offload": Offload, "guidance": Guidance, "reference_mode": ReferenceMode, "dtype": DType,
             "polarity": Polarity, "extractor": Extractor, "method": Extractor}
    return {name: choices(typing.get_args(kind)) for name, kind in kinds.items()}


#: Old option names kept for one release, accepted but not shown: ``{command path: names}``. A
#: file output is ``-o/--output``, a folder output ``--output-dir``.
HIDDEN_ALIASES: dict[str, set[str]] = {
    "convert": {"--output"}, "synth": {"--out"}, "benchmark synth": {"--out"}, "evaluate": {"--out"},
    "shot evaluate": {"--out"}, "points draw": {"--out"}, "points suggest": {"--out"},
    "reproduce tiny": {"--out"},
}


def _metavar(param: object) -> str:
    """A readable metavar for a parameter declared without one."""
    name = getattr(param, "name", "") or ""
    if isinstance(param, typer.core.TyperArgument):  # named by its role: REFERENCE LINEART POINTS
        return "PAGE" if name == "pages" else name.upper()
    if name in METAVARS:
        return METAVARS[name]
    listed = _choice_metavars().get(name)
    if listed is not None:
        return listed
    desc = getattr(param, "type_descriptor", None)
    kind = getattr(desc, "annotation", None)
    if typing.get_origin(kind) is list:
        kind = typing.get_args(kind)[0]
    if getattr(desc, "is_path", False) or kind is Path:
        return "PATH"
    return {int: "N", float: "X"}.get(kind, "TEXT")  # type: ignore[call-overload]


def _without_aliases(option: typer.core.TyperOption, aliases: set[str]) -> None:
    """Leave ``aliases`` out of the option's help line (they still parse)."""
    record = option.get_help_record

    def help_record(ctx: object) -> object:
        names = option.opts
        option.opts = [n for n in names if n not in aliases]
        try:
            return record(ctx)
        finally:
            option.opts = names

    option.get_help_record = help_record  # type: ignore[method-assign]


def tidy(command: typer.core.TyperCommand | typer.core.TyperGroup, path: str = "") -> None:
    """One look for every command's help: plain (not rich) help, which wraps at 80 columns and
    shows no ``--help <bool>``; readable metavars (:data:`METAVARS`); ranges said in the help
    text, not as ``[x>=0]``; hidden aliases (:data:`HIDDEN_ALIASES`) left out."""
    command.rich_markup_mode = None
    aliases = HIDDEN_ALIASES.get(path.strip(), set())
    for param in command.params:
        flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
        if not flag and param.metavar in (None, ""):
            param.metavar = _metavar(param)
        if isinstance(param, typer.core.TyperArgument):  # its metavar alone, not also "<list[str]>"
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            usage = param.metavar if param.required else f"[{param.metavar}]"  # SHOT, not {SHOT}
            usage += "..." if param.nargs != 1 else ""
            param._usage_display_name = lambda usage=usage: usage  # type: ignore[method-assign]
            if param.hidden:  # an old place of a value, kept one release: not in the usage line either
                param.get_usage_pieces = lambda ctx: []  # type: ignore[method-assign]
        if hasattr(param, "_get_number_range_help_str"):
            param._get_number_range_help_str = lambda: None  # type: ignore[union-attr]
        if isinstance(param, typer.core.TyperOption) and aliases & set(param.opts):
            _without_aliases(param, aliases)
    if isinstance(command, typer.core.TyperGroup):
        for name, sub in command.commands.items():
            tidy(sub, f"{path} {name}")  # type: ignore[arg-type]


class Group(typer.core.TyperGroup):
    """The root group: tidies every command's help once the command tree is built."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        tidy(self)


app = typer.Typer(
    name="manganinja",
    help="Reference-guided line art colorization (MangaNinja).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=Group,
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


def _hub_unreachable(record: logging.LogRecord) -> bool:
    """Drop diffusers' two-line "Couldn't connect to the Hub ... Will try to load from local cache"
    warning: the command's own one-line error says what to do when the model is not found."""
    return not str(record.msg).startswith("Couldn't connect to the Hub")


def _show_library_warnings() -> None:
    logger = logging.getLogger("manganinja")
    if not any(isinstance(h, _EchoWarnings) for h in logger.handlers):
        logger.addHandler(_EchoWarnings(logging.WARNING))
    hub = logging.getLogger("diffusers.pipelines.pipeline_utils")  # the same object diffusers logs to
    if _hub_unreachable not in hub.filters:
        hub.addFilter(_hub_unreachable)


def hide_library_progress() -> None:
    """No progress bars from the model libraries (diffusers' "Loading pipeline components",
    transformers' checkpoint shards, Hugging Face downloads): for ``--quiet``."""
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    disable_progress_bars()


def given(ctx: typer.Context, *names: str) -> list[str]:
    """The options among ``names`` (parameter names) that were given on the command line, as
    the user spelled them (their long name)."""
    try:  # typer >= 0.2x vendors click
        from typer._click.core import ParameterSource
    except ImportError:  # pragma: no cover - older typer on click
        from click.core import ParameterSource

    spelled = {p.name: max(p.opts, key=len) for p in ctx.command.params}
    return [spelled.get(n, n) for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


def refuse_options(ctx: typer.Context, names: tuple[str, ...], why: str) -> None:
    """Refuse options that do not apply (``why`` says to what they do): one line, exit 2."""
    extra = given(ctx, *names)
    if extra:
        fail(f"{', '.join(extra)} {'applies' if len(extra) == 1 else 'apply'} {why}; drop "
             f"{'it' if len(extra) == 1 else 'them'}")


def _print_version(value: bool) -> None:
    if value:
        from manganinja import __version__

        typer.echo(f"manganinja {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug/--no-debug", metavar="", help="Show the full traceback of an error."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
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


def run_script(main: Callable[[], int | None]) -> NoReturn:
    """Run a script's ``main`` (``benchmarks/*.py``) as :func:`user_errors` runs a command: a
    ``ValueError`` (every user error of the package) is ``error: <one line>`` on stderr and exit
    code 2, an ``OSError`` one line and exit code 1; a traceback only with ``MANGANINJA_DEBUG=1``.
    Exits with ``main``'s return value (None: 0)."""
    _state["debug"] = _debug_from_env()  # a script has no --debug option
    try:
        code = user_errors(main)()
    except typer.Exit as exc:  # user_errors' one line is printed; its exit code becomes the script's
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code or 0)


#: Words that an on/off flag followed by a value leaves behind (``--layers true``).
FLAG_VALUES = {"true", "false", "yes", "no", "on", "off", "0", "1"}


def flag_value_hint(message: str, argv: list[str]) -> str | None:
    """For "unexpected extra argument (true)" after an on/off flag (``--layers true``): say that
    such options take no value and how to write them; None for any other usage error."""
    found = re.search(r"unexpected extra argument\S* \((.*)\)\s*$", message.strip())
    if found is None:
        return None
    extra = found.group(1).split()
    for before, word in zip(argv, argv[1:]):
        if word in extra and word.lower() in FLAG_VALUES and before.startswith("--") and "=" not in before:
            name = before[2:].removeprefix("no-")
            return f"'{before} {word}': on/off options take no value; write --{name} or --no-{name}"
    return None


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
        message = flag_value_hint(exc.format_message(), sys.argv[1:]) or " ".join(exc.format_message().split())
        typer.echo(f"error: {message} (see `{where} --help`)", err=True)
        raise SystemExit(2) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
