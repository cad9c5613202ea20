"""The CLI reads as one tool: ``--version``; every command's help fits 80 columns, with readable
metavars (no ``<bool>``, ``<list[...]>``, ``<int range>``, ``{shot}``) and the choices listed; a
file output is ``-o/--output``, a folder output ``--output-dir``, progress is ``--quiet``; the old
names still work for one release but are not shown."""

from __future__ import annotations

import typer
import pytest
from typer.testing import CliRunner

from manganinja import __version__
from manganinja.cli import HIDDEN_ALIASES, app


def _commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        found.append(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def help_text(path: list[str]) -> str:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"manganinja {__version__}"


def test_every_command_is_found():
    names = {" ".join(p) for p in COMMANDS}
    assert {"colorize", "convert", "shot colorize", "shot evaluate", "points draw", "synth"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "manganinja")
def test_help_is_readable_at_80_columns(path):
    text = help_text(path)
    for bad in ("<bool>", "<list[", "<int", "<float", "<str>", "<path>", "range>", "x>=", "{shot}", "{SHOT}"):
        assert bad not in text, f"{' '.join(path)}: {bad!r} in help:\n{text}"
    long = [line for line in text.splitlines() if len(line) > 80]
    assert not long, long
    for alias in HIDDEN_ALIASES.get(" ".join(path), set()):  # old names are not shown ...
        assert f"{alias} " not in text and not text.rstrip().endswith(alias)


def test_outputs_progress_and_choices_are_named_alike():
    assert "-o, --output FILE" in help_text(["colorize"]) and "--output-dir DIR" in help_text(["colorize"])
    for path in (["convert"], ["synth"], ["benchmark", "synth"], ["evaluate"], ["shot", "evaluate"]):
        assert "--output-dir DIR" in help_text(path), path
    for path in (["points", "draw"], ["points", "suggest"], ["points", "convert"], ["lineart", "normalize"], ["lineart", "extract"]):
        assert "-o, --output FILE" in help_text(path), path
    shot = help_text(["shot", "colorize"])
    assert "--quiet" in shot and "--progress" not in shot
    assert "[flat|ninja|mean-color]" in shot and "ninja in colorize" in shot
    colorize = help_text(["colorize"])
    for listed in ("[ninja|flat]", "[fp32|fp16|bf16]", "[none|reference|model]", "[concat|stitch]"):
        assert listed in colorize


def test_shot_choice_metavars_match_the_library():
    from manganinja.shots.engines import ENGINE_NAMES
    from manganinja.shots.plan import MODES

    shot = help_text(["shot", "colorize"])
    assert "[" + "|".join(ENGINE_NAMES) + "]" in shot and "[" + "|".join(MODES) + "]" in shot


def test_old_names_still_work(tmp_path):
    """... and still parse: ``synth --out``, ``points suggest --out``, ``shot colorize --no-progress``."""
    runner = CliRunner()
    made = runner.invoke(app, ["synth", "--out", str(tmp_path / "set"), "--shots", "1", "--frames", "2",
                               "--size", "64"])
    assert made.exit_code == 0, made.output
    shot = tmp_path / "set" / "shot_00000"
    ran = runner.invoke(app, ["shot", "colorize", str(shot), "--output-dir", str(tmp_path / "o"), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    scored = runner.invoke(app, ["shot", "evaluate", str(shot), "--results", str(tmp_path / "o"),
                                 "--out", str(tmp_path / "ev")])
    assert scored.exit_code == 0 and (tmp_path / "ev" / "summary.json").is_file(), scored.output
    suggested = runner.invoke(app, ["points", "suggest", str(shot / "gt" / "0000.png"), str(shot / "line" / "0001.png"),
                                    "--out", str(tmp_path / "p.json")])
    assert suggested.exit_code == 0 and (tmp_path / "p.json").is_file(), suggested.output


def test_lineart_output_option_and_old_argument(tmp_path):
    from PIL import Image

    ink = Image.new("L", (32, 32), 255)
    ink.paste(0, (4, 10, 28, 12))
    ink.save(tmp_path / "ink.png")
    runner = CliRunner()
    new = runner.invoke(app, ["lineart", "normalize", str(tmp_path / "ink.png"), "-o", str(tmp_path / "a.png")])
    old = runner.invoke(app, ["lineart", "normalize", str(tmp_path / "ink.png"), str(tmp_path / "b.png")])
    assert new.exit_code == 0 and old.exit_code == 0 and (tmp_path / "a.png").is_file() and (tmp_path / "b.png").is_file()
    neither = runner.invoke(app, ["lineart", "normalize", str(tmp_path / "ink.png")])
    assert neither.exit_code == 2 and "-o/--output" in neither.output
