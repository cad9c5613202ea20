"""Every relative link of README.md and docs/*.md points at a file of the repository, and every
``#anchor`` into a Markdown file at one of its headings (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {github_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


def broken_links(markdown: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", markdown.read_text(encoding="utf-8"), flags=re.DOTALL)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (markdown.parent / path).resolve() if path else markdown
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading '#{anchor}' in {resolved.name})")
    return broken


def test_github_slug() -> None:
    assert github_slug("Synthetic cel-animation data (`manganinja.data.synthetic`)") == (
        "synthetic-cel-animation-data-manganinjadatasynthetic"
    )
    assert github_slug("The model: the tiny official-layout fixture") == "the-model-the-tiny-official-layout-fixture"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Top\n\n[ok](#top) [gone](b.md) [bad anchor](a.md#nope)\n")
    assert broken_links(tmp_path / "a.md") == [
        f"b.md (no file {tmp_path / 'b.md'})",
        "a.md#nope (no heading '#nope' in a.md)",
    ]


def test_readme_and_docs_links_resolve() -> None:
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    broken = {page.name: found for page in pages if (found := broken_links(page))}
    assert not broken, broken
