"""Many pages with one reference: page lists, resumable atomic output, sharding, error reports.

:func:`run_pages` keeps a results manifest per output folder (:mod:`manganinja.manifest`) and
redoes a page unless all its files are there, decode, and were made with the same settings.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence, TypeVar

from tqdm.auto import tqdm

from manganinja.images import IMAGE_SUFFIXES, remove_stale_temporaries, save_image
from manganinja.manifest import Manifest, output_problem

log = logging.getLogger(__name__)

#: What ``colorize_page`` returns and ``write`` takes (a PIL image by default; layers with --layers).
Result = TypeVar("Result")


@dataclass(frozen=True)
class PageResult:
    """Outcome of one page: ``status`` is ``done``, ``skipped`` (all its files already there,
    made with the same settings) or ``failed`` (with ``error``). ``redo`` says why a page that had
    files was made again; ``files`` are the page's files by role."""

    page: Path
    output: Path
    status: Literal["done", "skipped", "failed"]
    error: str | None = None
    redo: str | None = None
    files: Mapping[str, Path] = field(default_factory=dict)


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


def single_file(output: Path) -> dict[str, Path]:
    """The files of a page that writes one image: ``{"image": output}``."""
    return {"image": output}


def run_pages(
    pages: Sequence[Path],
    outputs: Sequence[Path],
    colorize_page: Callable[[Path], Result],
    *,
    overwrite: bool = False,
    progress: bool = True,
    write: Callable[[Result, Path], None] | None = None,
    files: Callable[[Path], Mapping[str, Path]] = single_file,
    settings: Mapping[str, object] | None = None,
    manifest: bool = True,
    unit: str = "page",
) -> list[PageResult]:
    """Colorize each page with ``colorize_page`` and write it atomically to its output.

    Args:
        pages: line-art files, one per page.
        outputs: each page's main output file (its key in the folder's manifest).
        colorize_page: page -> result (a PIL image by default; whatever ``write`` takes).
        overwrite: redo every page.
        progress: show a progress bar.
        write: ``write(result, output)`` writes ALL the page's files (default: the result as one
            image at ``output``, atomically).
        files: ``output -> {role: path}``, every file ``write`` makes for a page, ``output``
            included (default :func:`single_file`; layers: :func:`manganinja.flat.layers.layer_paths`).
        settings: JSON-able mapping of what the results depend on (recorded; a page made with
            other settings is redone). None records ``{}``.
        manifest: keep ``.manganinja/manifest.json`` in each output folder. Without it a page is
            skipped when its files are there and decode.
        unit: what a page is called in the progress bar ("frame" for shots).

    Before the first page, temporary files left by killed writers are removed from the output
    folders. A page is skipped (unless ``overwrite``) only when every one of its ``files`` exists,
    decodes, and the manifest records it made with the same ``settings``; otherwise it is redone
    and one line says why (``page 'p3.png': p3.png is 0 bytes, redoing``). A page that fails is
    logged, recorded as failed and reported; the others still run.
    """
    writer = write or (lambda img, path: save_image(img, path))  # type: ignore[arg-type]
    folders = sorted({Path(p).parent for out in outputs for p in files(Path(out)).values()})
    for folder in folders:
        for stale in remove_stale_temporaries(folder):
            log.info("removed stale temporary file %s", stale)
    records: dict[Path, Manifest] = {}
    results: list[PageResult] = []
    bar = tqdm(list(zip(pages, outputs)), desc=f"{unit}s", unit=unit, disable=not progress)
    for page, out in bar:
        out = Path(out)
        page_files = dict(files(out))
        record = None
        if manifest:
            if out.parent not in records:
                records[out.parent] = Manifest(out.parent, settings)
            record = records[out.parent]
        reason = None
        if not overwrite:
            if record is not None:
                done, reason = record.check(out.name, page_files)
            else:
                problems = [q for p in page_files.values() if (q := output_problem(p)) is not None]
                done = not problems
                reason = ", ".join(problems) if any(p.exists() for p in page_files.values()) else None
            if done:
                results.append(PageResult(page, out, "skipped", files=page_files))
                continue
            if reason is not None:
                log.warning("%s '%s': %s, redoing", unit, Path(page).name, reason)
        try:
            if record is not None:
                record.forget(out.name)
            writer(colorize_page(page), out)
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the chapter
            error = f"{type(exc).__name__}: {exc}"
            log.error("%s '%s' failed: %s", unit, page, exc)
            if record is not None:
                record.record_failed(out.name, Path(page), error)
            results.append(PageResult(page, out, "failed", error, reason, page_files))
            continue
        if record is not None:
            record.record_done(out.name, Path(page), page_files)
        results.append(PageResult(page, out, "done", None, reason, page_files))
    return results
