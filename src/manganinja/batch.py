"""Many pages with one reference: page lists, resumable atomic output, sharding, error reports."""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

from PIL import Image
from tqdm.auto import tqdm

from manganinja.images import save_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class PageResult:
    """Outcome of one page: ``status`` is ``done``, ``skipped`` (output already there) or
    ``failed`` (with ``error``)."""

    page: Path
    output: Path
    status: Literal["done", "skipped", "failed"]
    error: str | None = None


def expand_pages(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, folders (their image files, sorted) and glob patterns, in the order given,
    without duplicates. Raises ``ValueError`` naming an input that matches nothing."""
    pages: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"folder '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        elif path.exists():
            found = [path]
        elif any(ch in str(item) for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
            if not found:
                raise ValueError(f"pattern '{item}' matches no file")
        else:
            raise ValueError(f"line art '{path}': file not found")
        pages.extend(p for p in found if p not in pages)
    return pages


def output_paths(pages: Sequence[Path], output_dir: Path, suffix: str = ".png") -> list[Path]:
    """``output_dir/<page stem><suffix>`` per page; raises ``ValueError`` if two pages share a
    stem (their results would overwrite each other)."""
    outputs = [Path(output_dir) / f"{p.stem}{suffix}" for p in pages]
    seen: dict[Path, Path] = {}
    for page, out in zip(pages, outputs):
        if out in seen:
            raise ValueError(f"pages '{seen[out]}' and '{page}' would both be written to '{out}'; rename one")
        seen[out] = page
    return outputs


def shard(items: Sequence, index: int, count: int) -> list:
    """Items ``index, index + count, ...``: disjoint shards whose union is ``items``."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard index {index} out of range for {count} shards")
    return list(items[index::count])


def run_pages(
    pages: Sequence[Path],
    outputs: Sequence[Path],
    colorize_page: Callable[[Path], Image.Image],
    *,
    overwrite: bool = False,
    progress: bool = True,
    write: Callable[[Image.Image, Path], None] | None = None,
) -> list[PageResult]:
    """Colorize each page with ``colorize_page`` and write it atomically to its output.

    Pages whose output exists are skipped unless ``overwrite``. A page that fails is logged
    and reported; the others still run. ``write`` replaces the default PNG writer (layers).
    """
    writer = write or (lambda img, path: save_image(img, path))
    results: list[PageResult] = []
    bar = tqdm(list(zip(pages, outputs)), desc="pages", unit="page", disable=not progress)
    for page, out in bar:
        if out.exists() and not overwrite:
            results.append(PageResult(page, out, "skipped"))
            continue
        try:
            writer(colorize_page(page), out)
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the chapter
            log.error("page '%s' failed: %s", page, exc)
            results.append(PageResult(page, out, "failed", f"{type(exc).__name__}: {exc}"))
            continue
        results.append(PageResult(page, out, "done"))
    return results
