"""The results manifest of an output folder: which page made which files, with which settings.

``OUT/.manganinja/manifest.json`` (written atomically, rewritten after every page, under a file
lock so that the workers of a sharded run can share it)::

    {
      "version": 1,
      "settings": {"<key>": {...the settings mapping of a run...}},
      "pages": {
        "p0.png": {"page": "/abs/pages/p0.png", "status": "done", "settings": "<key>",
                   "files": {"image": "p0.png"}, "time": "2026-11-25T23:40:00Z"},
        "p1.png": {"page": "/abs/pages/p1.png", "status": "failed", "settings": "<key>",
                   "error": "ImageInputError: ...", "time": "..."}
      }
    }

A page is keyed by its main output's file name; ``files`` maps a role (``image``, or with layers
``composite``, ``color``, ``lines``) to a file name in the folder; ``<key>`` is
:func:`settings_key` of the settings mapping, stored once in ``settings``. A page counts as done
(:meth:`Manifest.check` returns ``(True, None)``) only when its record says ``done`` with the current
settings and lists every file the page should have, and each of those files exists, is not empty
and decodes as an image.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Mapping, Union

from filelock import FileLock

from manganinja.images import ImageInputError, WriteError, check_whole, make_folder, remove_stale_temporaries, write_bytes_atomic

log = logging.getLogger(__name__)

#: Folder of the manifest inside an output folder, and the manifest's file name.
MANIFEST_DIR = ".manganinja"
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]


def manifest_path(folder: str | os.PathLike) -> Path:
    """``folder/.manganinja/manifest.json``."""
    return Path(folder) / MANIFEST_DIR / MANIFEST_NAME


def normalize_settings(settings: Mapping[str, object]) -> dict[str, JSONValue]:
    """``settings`` as plain JSON values (paths become strings, tuples lists); raises
    ``TypeError`` naming a value that has no JSON form."""

    def convert(value: object, where: str) -> JSONValue:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value  # type: ignore[return-value]
        if isinstance(value, os.PathLike):
            return os.fspath(value)  # type: ignore[return-value]
        if isinstance(value, Mapping):
            return {str(k): convert(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise TypeError(f"setting '{where}' of type {type(value).__name__} cannot be recorded as JSON")

    return {str(k): convert(v, str(k)) for k, v in settings.items()}


def settings_key(settings: Mapping[str, JSONValue]) -> str:
    """Short stable hash of a normalized settings mapping."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def settings_change(old: Mapping[str, JSONValue], new: Mapping[str, JSONValue], limit: int = 3) -> str:
    """What differs, for a log line: ``steps 20 -> 50, seed 0 -> 1`` (at most ``limit`` keys).
    Nested settings are named by their path (``ninja.steps``); a long value is summarized
    (``points.pairs [3 items] -> [4 items]``), never cut in the middle."""
    parts = [f"{key} {_show(a)} -> {_show(b)}" + (" (contents differ)" if _show(a) == _show(b) else "")
             for key, a, b in _differences(old, new, "")]
    more = f", and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


_MISSING = object()


def _differences(old: object, new: object, prefix: str) -> list[tuple[str, object, object]]:
    """``(dotted key, old, new)`` of every differing leaf of two JSON mappings."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found = []
        for key in sorted(set(old) | set(new)):
            name = f"{prefix}.{key}" if prefix else str(key)
            found += _differences(old.get(key, _MISSING), new.get(key, _MISSING), name)
        return found
    return [] if old == new else [(prefix, old, new)]


def _show(value: object, width: int = 40) -> str:
    """A value for a log line: its JSON when short, else a summary of what it is."""
    if value is _MISSING:
        return "(unset)"
    text = json.dumps(value)
    if len(text) <= width:
        return text
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    return text[: width - 3] + "..." + ('"' if isinstance(value, str) else "")


def output_problem(path: Path) -> str | None:
    """Why the file at ``path`` is not a usable output (missing, 0 bytes, does not decode), or
    None when it is a whole image (:func:`manganinja.images.check_whole`: a PNG's chunks are
    CRC-checked without decompressing it, about 1000 times faster than decoding a large page)."""
    if not path.exists():
        return f"{path.name} missing"
    if path.is_file() and path.stat().st_size == 0:
        return f"{path.name} is 0 bytes"
    try:
        check_whole(path, name="output")
    except ImageInputError as exc:
        return f"{path.name} does not decode ({str(exc).split(': ', 1)[-1]})"
    return None


class Manifest:
    """The manifest of one output folder for a run with one settings mapping.

    Reads the record once when made (:meth:`check` uses that snapshot); every update re-reads
    the file under the lock, changes one page and writes it back atomically. Stale temporary
    files in the manifest's folder are removed when it is made.
    """

    def __init__(self, folder: str | os.PathLike, settings: Mapping[str, object] | None = None) -> None:
        self.folder = Path(folder)
        self.path = manifest_path(self.folder)
        self.settings = normalize_settings(settings or {})
        self.key = settings_key(self.settings)
        self._lock = FileLock(str(self.path) + ".lock")
        remove_stale_temporaries(self.path.parent)
        self.data = self._read(warn=True)

    def _read(self, warn: bool = False) -> dict:
        fresh = {"version": MANIFEST_VERSION, "settings": {}, "pages": {}}
        if not self.path.exists():
            return fresh
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if warn:
                log.warning("manifest %s is unreadable (%s); its pages will be redone", self.path, exc)
            return fresh
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            if warn:
                log.warning("manifest %s is not version %d; its pages will be redone", self.path, MANIFEST_VERSION)
            return fresh
        data.setdefault("settings", {})
        data.setdefault("pages", {})
        return data

    def check(self, name: str, files: Mapping[str, Path]) -> tuple[bool, str | None]:
        """Whether page ``name`` (its main output's file name) is done, and if not, why it must be
        made again (None for a page never made: nothing there, nothing recorded).

        Args:
            name: the page's key (main output file name).
            files: every file the page should have, by role (paths in this folder).
        """
        entry = self.data["pages"].get(name)
        existing = [p for p in files.values() if p.exists()]
        if entry is None and not existing:
            return False, None
        problems = [problem for p in files.values() if (problem := output_problem(p)) is not None]
        if problems:
            return False, ", ".join(problems)
        if entry is None:
            return False, "no record of the settings it was made with"
        if entry.get("status") != "done":
            return False, f"status '{entry.get('status')}' in the manifest"
        recorded = set((entry.get("files") or {}).values())
        unrecorded = [p.name for p in files.values() if p.name not in recorded]
        if unrecorded:
            return False, f"{', '.join(unrecorded)} not recorded as made by this page"
        if entry.get("settings") != self.key:
            old = self.data["settings"].get(entry.get("settings"), {})
            return False, f"settings changed ({settings_change(old, self.settings) or 'unknown before'})"
        return True, None

    def _update(self, name: str, entry: dict | None) -> None:
        make_folder(self.path.parent)
        try:
            self._lock.acquire()
        except OSError as exc:  # a read-only folder: one line naming the manifest
            raise WriteError(self.path, exc) from exc
        try:
            data = self._read()
            if entry is None:
                data["pages"].pop(name, None)
            else:
                data["pages"][name] = entry
                data["settings"][self.key] = self.settings
            used = {e.get("settings") for e in data["pages"].values()}
            data["settings"] = {k: v for k, v in data["settings"].items() if k in used}
            blob = json.dumps(data, indent=1, sort_keys=True) + "\n"
            write_bytes_atomic(blob.encode("utf-8"), self.path)
        finally:
            self._lock.release()
        self.data = data

    def _entry(self, page: Path, status: str) -> dict:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {"page": str(Path(page).absolute()), "status": status, "settings": self.key, "time": stamp}

    def forget(self, name: str) -> None:
        """Drop the record of ``name`` (before its files are rewritten, so that a run cut in the
        middle of the page leaves no record claiming it done)."""
        if name in self.data["pages"]:
            self._update(name, None)

    def record_done(self, name: str, page: Path, files: Mapping[str, Path]) -> None:
        """Record page ``name`` (from line art ``page``) as done with ``files`` (role -> path)."""
        entry = self._entry(page, "done")
        entry["files"] = {role: os.path.relpath(path, self.folder) for role, path in files.items()}
        self._update(name, entry)

    def record_failed(self, name: str, page: Path, error: str) -> None:
        """Record that page ``name`` failed with ``error`` (one line)."""
        entry = self._entry(page, "failed")
        entry["error"] = error
        self._update(name, entry)
