"""The README's quick start, run verbatim in a temporary copy of the repository.

The commands are read from the first ``bash`` code block under "## Quick start" in README.md; the
repository's git-tracked files are copied into a temporary folder (what a fresh clone has), and
every command runs there with ``manganinja`` meaning that copy's code. If a command of the README
stops working, or stops writing what the README says it writes, this fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"

# What the README's "What you get" paragraph promises after the quick start.
PROMISED_FILES = [
    "outputs/colored.png",
    "outputs/colored_color.png",
    "outputs/colored_lines.png",
    *(f"outputs/pages/{i:04d}.png" for i in range(6)),
    *(f"outputs/shot/{i:04d}.png" for i in range(6)),
    "outputs/shot/evaluation/summary.md",
    "outputs/shot/evaluation/frames.csv",
    *(f"outputs/synth/pair_{i:05d}/points.json" for i in range(8)),
]


def quickstart_commands(readme: str) -> list[str]:
    """The commands of the first ``bash`` block under "## Quick start" (comments dropped,
    ``\\``-continued lines joined)."""
    section = re.search(r"^## Quick start\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"```bash\n(.*?)\n```", section.group(1), re.DOTALL)
    assert block, "the README's quick start has no ```bash block"
    commands: list[str] = []
    pending = ""
    for line in block.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        commands.append(pending + line)
        pending = ""
    assert not pending, f"a continued line ends the block: {pending!r}"
    return commands


def tracked_files(root: Path) -> list[Path]:
    """The repository's git-tracked files that exist, relative to ``root``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return [Path(name) for name in listed.decode().split("\0") if name and (root / name).is_file()]


def copy_repository(root: Path, dest: Path) -> None:
    """Copy what a fresh clone of ``root`` holds into ``dest``."""
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.fail(f"{root} is not a git checkout (or git is missing): cannot tell which files a clone has")
    for rel in tracked_files(root):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)


def test_quickstart_commands_are_read_from_the_readme() -> None:
    commands = quickstart_commands(README.read_text(encoding="utf-8"))
    assert commands and all(c.startswith("manganinja ") for c in commands), commands
    assert quickstart_commands("## Quick start\n\n```bash\n# c\nmanganinja a \\\n  --b\n\nmanganinja c\n```\n") == [
        "manganinja a --b",
        "manganinja c",
    ]


def test_readme_quickstart_runs_verbatim_in_a_fresh_copy(tmp_path: Path) -> None:
    commands = quickstart_commands(README.read_text(encoding="utf-8"))
    clone = tmp_path / "clone"
    copy_repository(REPO_ROOT, clone)
    assert not (clone / "outputs").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANGANINJA_")}
    env["PYTHONPATH"] = str(clone / "src")  # run the copy's code, whatever is installed
    prelude = f'manganinja() {{ "{sys.executable}" -m manganinja "$@"; }}\n'
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", prelude + command], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"README quick start command failed ({done.returncode}): {command}\n{done.stderr[-3000:]}"
    missing = [name for name in PROMISED_FILES if not (clone / name).is_file()]
    assert not missing, f"the quick start did not write {missing}"
    for name in PROMISED_FILES:
        if name.endswith(".png"):
            with Image.open(clone / name) as image:
                image.verify()
    with Image.open(clone / "outputs/colored.png") as image:
        assert image.size == Image.open(clone / "examples/synth/pair_00000/lineart.png").size
