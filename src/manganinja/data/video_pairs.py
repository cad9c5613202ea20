"""Reference/target frame pairs from anime clips (video files or folders of frames).

A *clip* is a video file (decoded with PyAV) or a folder of frame images (sorted by name). Per
clip, near-duplicate frames are dropped: a frame is kept when the SSIM
(:func:`manganinja.similarity.ssim`) of its small grayscale thumbnail against the last
kept frame's thumbnail is below ``ssim_threshold``. Among kept frames,
each reference frame ``r`` is paired with the first kept frame ``t >= r + interval`` (frame
numbers of the original clip; the paper uses 36), provided ``t - r <= interval + max_slack``.
Clips with fewer than ``interval + 1`` frames, or without any pair, are skipped.

Scanning decodes every frame once, so the result is cached in a JSON index (in ``cache_dir``,
default ``<root>/.manganinja_cache``), per clip, keyed by the clip's file size(s) and mtime(s)
and by the settings; a clip that cannot be decoded is logged, recorded as failed (so it is not
retried until it changes) and skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from manganinja.similarity import SSIM_WINDOW, ssim
from manganinja.images import IMAGE_SUFFIXES, load_image, to_rgb, write_bytes_atomic

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".gif")
FRAME_EXTENSIONS = IMAGE_SUFFIXES
INDEX_VERSION = 2  # 2: near-duplicates by the metrics' SSIM (11x11 valid window)


class VideoPairsError(ValueError):
    """Bad clip data or settings (the message names the clip or the value)."""


class ClipDecodeError(VideoPairsError):
    """A clip could not be decoded."""


@dataclass(frozen=True)
class PairIndexSettings:
    """How pairs are chosen. ``thumb_size`` is the long side of the SSIM thumbnails (their short
    side must reach the SSIM window, 11 pixels)."""

    interval: int = 36
    ssim_threshold: float = 0.95
    max_slack: int = 12
    thumb_size: int = 64

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise VideoPairsError(f"interval must be >= 1, got {self.interval}")
        if not 0.0 < self.ssim_threshold <= 1.0:
            raise VideoPairsError(f"ssim_threshold must be in (0, 1], got {self.ssim_threshold}")
        if self.max_slack < 0:
            raise VideoPairsError(f"max_slack must be >= 0, got {self.max_slack}")
        if self.thumb_size < SSIM_WINDOW:
            raise VideoPairsError(f"thumb_size must be >= {SSIM_WINDOW}, got {self.thumb_size}")


@dataclass(frozen=True)
class FramePair:
    """One training pair: frame numbers ``reference`` and ``target`` of ``clip`` (a path)."""

    clip: str
    reference: int
    target: int


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a frame folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS)


def iter_frames(clip: str | os.PathLike, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_number, rgb)`` for the frames of ``clip`` (uint8 ``(H, W, 3)``), up to and
    including ``stop`` when given. Raises :class:`ClipDecodeError` if the clip cannot be read."""
    path = Path(clip)
    if path.is_dir():
        for i, f in enumerate(frame_files(path)):
            if stop is not None and i > stop:
                return
            try:
                yield i, np.asarray(to_rgb(load_image(f)))
            except ValueError as exc:
                raise ClipDecodeError(f"cannot read frame {f}: {exc}") from exc
        return
    import av  # PyAV; imported here so the package imports without FFmpeg libraries

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ClipDecodeError(f"{path} has no video stream")
            for i, frame in enumerate(container.decode(video=0)):
                if stop is not None and i > stop:
                    return
                yield i, frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise ClipDecodeError(f"cannot decode video {path}: {exc}") from exc


def read_frames(clip: str | os.PathLike, numbers: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode the frames ``numbers`` of ``clip``: ``{number: uint8 (H, W, 3)}``. For a frame
    folder only those files are read; a video is decoded from the start up to the last one."""
    path = Path(clip)
    wanted = sorted(set(int(n) for n in numbers))
    if path.is_dir():
        files = frame_files(path)
        out = {}
        for n in wanted:
            if not 0 <= n < len(files):
                raise VideoPairsError(f"frame {n} out of range for {path} ({len(files)} frames)")
            out[n] = np.asarray(to_rgb(load_image(files[n])))
        return out
    out = {n: f for n, f in iter_frames(path, stop=wanted[-1]) if n in wanted}
    missing = [n for n in wanted if n not in out]
    if missing:
        raise VideoPairsError(f"frames {missing} not found in {path}")
    return out


# --------------------------------------------------------------------------------------------
# Near-duplicate detection
# --------------------------------------------------------------------------------------------


def thumbnail(rgb: np.ndarray, long_side: int = 64) -> np.ndarray:
    """Grayscale float32 thumbnail in [0, 1] with long side ``long_side`` (area resampling); the
    short side is at least :data:`SSIM_WINDOW` so that :func:`ssim` applies."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = long_side / max(h, w)
    size = (max(SSIM_WINDOW, round(w * scale)), max(SSIM_WINDOW, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def dedup_frames(thumbs: Sequence[np.ndarray], threshold: float) -> list[int]:
    """Indices of the frames kept: the first, then each frame whose SSIM against the last kept
    one is below ``threshold``."""
    kept: list[int] = []
    for i, t in enumerate(thumbs):
        if not kept or ssim(thumbs[kept[-1]], t) < threshold:
            kept.append(i)
    return kept


def choose_pairs(kept: Sequence[int], interval: int, max_slack: int) -> list[tuple[int, int]]:
    """For each kept frame ``r``, the pair ``(r, t)`` with ``t`` the first kept frame at or after
    ``r + interval``, when ``t - r <= interval + max_slack``."""
    kept_arr = np.asarray(sorted(kept), dtype=np.int64)
    pairs = []
    for r in kept_arr:
        j = int(np.searchsorted(kept_arr, r + interval))
        if j < len(kept_arr) and kept_arr[j] - r <= interval + max_slack:
            pairs.append((int(r), int(kept_arr[j])))
    return pairs


def scan_clip(clip: str | os.PathLike, settings: PairIndexSettings) -> dict:
    """Decode ``clip`` once and return its index entry: ``{"frames": n, "kept": [...],
    "pairs": [[r, t], ...]}``. Raises :class:`ClipDecodeError` when it cannot be decoded."""
    thumbs = [thumbnail(rgb, settings.thumb_size) for _, rgb in iter_frames(clip)]
    if not thumbs:
        raise ClipDecodeError(f"{clip} has no frames")
    kept = dedup_frames(thumbs, settings.ssim_threshold)
    pairs = [] if len(thumbs) <= settings.interval else choose_pairs(kept, settings.interval, settings.max_slack)
    return {"frames": len(thumbs), "kept": kept, "pairs": [list(p) for p in pairs]}


# --------------------------------------------------------------------------------------------
# Index over a data root
# --------------------------------------------------------------------------------------------


def find_clips(root: str | os.PathLike) -> list[Path]:
    """Clips under ``root`` (itself a clip, or a folder searched recursively): video files and
    folders that directly contain frame images. Hidden folders are ignored."""
    root = Path(root)
    if not root.exists():
        raise VideoPairsError(f"video data root {root} does not exist")
    if root.is_file():
        return [root] if is_video_file(root) else []
    clips: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        if any(Path(f).suffix.lower() in FRAME_EXTENSIONS for f in filenames):
            clips.append(here)
        clips.extend(here / f for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(clips)


def clip_signature(clip: Path) -> list:
    """What identifies a clip's content for the cache: ``[size, mtime_ns]`` of a file, or of
    every frame file of a folder (with names)."""
    if clip.is_dir():
        return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in frame_files(clip)]
    st = clip.stat()
    return [st.st_size, st.st_mtime_ns]


def _settings_key(settings: PairIndexSettings) -> str:
    blob = json.dumps({"v": INDEX_VERSION, **asdict(settings)}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def index_path(root: str | os.PathLike, settings: PairIndexSettings, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the pair index of ``root`` under ``settings`` is cached."""
    root = Path(root)
    base = Path(cache_dir) if cache_dir is not None else (root if root.is_dir() else root.parent) / ".manganinja_cache"
    name = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    return base / f"pairs-{name}-{_settings_key(settings)}.json"


def build_pair_index(
    root: str | os.PathLike,
    settings: PairIndexSettings = PairIndexSettings(),
    cache_dir: str | os.PathLike | None = None,
) -> list[FramePair]:
    """All usable pairs under ``root``, reusing the cached scan of every unchanged clip.

    Undecodable clips are logged (warning) and skipped. The index file is rewritten atomically
    when anything changed. Returns pairs in clip order, then reference order.
    """
    root = Path(root)
    clips = find_clips(root)
    path = index_path(root, settings, cache_dir)
    cached: dict = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
            if data.get("settings") == asdict(settings) and data.get("version") == INDEX_VERSION:
                cached = data.get("clips", {})
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable pair index %s: %s", path, exc)
    entries: dict[str, dict] = {}
    changed = set(cached) != {str(c) for c in clips}
    for clip in clips:
        key = str(clip)
        sig = clip_signature(clip)
        old = cached.get(key)
        if old is not None and old.get("signature") == sig:
            entries[key] = old
            continue
        changed = True
        try:
            entry = scan_clip(clip, settings)
            entry["error"] = None
        except ClipDecodeError as exc:
            logger.warning("skipping clip %s: %s", clip, exc)
            entry = {"frames": 0, "kept": [], "pairs": [], "error": str(exc)}
        entry["signature"] = sig
        entries[key] = entry
    if changed:
        blob = json.dumps({"version": INDEX_VERSION, "settings": asdict(settings), "clips": entries})
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(blob.encode(), path)
    pairs = []
    for clip in clips:
        entry = entries[str(clip)]
        if entry.get("error"):
            continue
        if not entry["pairs"]:
            logger.info("clip %s gives no pair (%d frames, %d kept)", clip, entry["frames"], len(entry["kept"]))
        pairs.extend(FramePair(str(clip), r, t) for r, t in entry["pairs"])
    return pairs
