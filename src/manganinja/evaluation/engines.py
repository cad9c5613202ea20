"""Colorization engines compared by the benchmark: a small registry of callables.

Every engine has one signature::

    engine(reference: PIL.Image (RGB), lineart: float32 (H, W) in [0, 1] (white lines on black),
           points: PointPairs | None, seed: int = 0) -> uint8 (H, W, 3) RGB at the line art's size

``seed`` is the run's seed (the benchmark passes it); deterministic engines ignore it.

``points`` use ``reference`` = (x, y) on the reference image and ``lineart`` = (x, y) on the line
art, both in those images' pixels.

Registered engines (:data:`ENGINE_NAMES`):

- ``reference``: the reference image itself, resized to the line art's size (area
  interpolation). A baseline that needs nothing and ignores the line art and the points.
- ``mean-color``: the reference's mean foreground color painted inside the line art's
  foreground, white elsewhere. Nothing from the ground truth is used:
  the reference foreground is every pixel whose color differs by more than
  :data:`BACKGROUND_TOLERANCE` (max over channels, 0-255) from the reference's background color,
  the median color of its 1-pixel border; the line-art foreground is the filled silhouette of the
  line art: line pixels (> :data:`LINE_THRESHOLD`) closed with a 3x3 kernel, then every outer
  contour filled. Points are ignored.
- ``ninja``: the MangaNinja model (:class:`manganinja.MangaNinjaPipeline`), from a diffusers
  folder (``from_pretrained``) or the official checkpoint layout (``from_official``, detected by
  its ``MangaNinjia/`` folder). Needs the weights.
- ``flat``: the weight-free engine, :func:`manganinja.flat.engine.colorize_flat` (its
  ``composite``: fills with the line art's lines on top); settings go to it as keywords.

:func:`make_engine` builds one; each engine carries ``name`` and ``settings`` (recorded in the
benchmark's summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import cv2
import numpy as np
from PIL import Image

from manganinja.points import PointPairs

#: Line-art values above this count as line pixels (the model's own condition threshold).
LINE_THRESHOLD = 0.24

#: Largest per-channel difference (0-255) from the border color still counted as background.
BACKGROUND_TOLERANCE = 24


class EngineError(ValueError):
    """An engine cannot be built or run with the given settings; the message names the setting."""


class Engine(Protocol):
    """What the benchmark calls; see the module docstring for the contract."""

    name: str
    settings: dict[str, Any]

    def __call__(
        self, reference: Image.Image, lineart: np.ndarray, points: PointPairs | None, seed: int = 0
    ) -> np.ndarray: ...


@dataclass
class FunctionEngine:
    """An engine made of a plain function and the settings that describe it.

    ``fn(reference, lineart, points)``; a ``seeded`` engine's function also takes ``seed=`` (the
    run's seed, e.g. for the diffusion noise); the others are deterministic and ignore it.
    """

    name: str
    fn: Callable[..., np.ndarray]
    settings: dict[str, Any] = field(default_factory=dict)
    seeded: bool = False

    def __call__(
        self, reference: Image.Image, lineart: np.ndarray, points: PointPairs | None, seed: int = 0
    ) -> np.ndarray:
        _check_lineart(lineart)
        height, width = lineart.shape
        extra = {"seed": int(seed)} if self.seeded else {}
        out = np.asarray(self.fn(reference, lineart, points, **extra))
        return as_uint8_rgb(out, (width, height), self.name)


def as_uint8_rgb(image: np.ndarray, size: tuple[int, int], name: str = "engine") -> np.ndarray:
    """An engine output (uint8, or float in [0, 1]; ``(H, W, 3)``, an optional leading batch of
    1 is dropped) as uint8 ``(H, W, 3)`` at ``size`` = (width, height), resized if needed."""
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise EngineError(f"{name}: output has shape {arr.shape}, expected (H, W, 3)")
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if (arr.shape[1], arr.shape[0]) != tuple(size):
        arr = cv2.resize(arr, tuple(size), interpolation=cv2.INTER_AREA)
    return arr


def _check_lineart(lineart: np.ndarray) -> None:
    if lineart.ndim != 2 or not np.issubdtype(lineart.dtype, np.floating):
        raise EngineError(f"line art must be a float (H, W) array, got {lineart.dtype} {lineart.shape}")


def reference_engine(reference: Image.Image, lineart: np.ndarray, points: PointPairs | None) -> np.ndarray:
    """Baseline: the reference resized to the line art's size; uint8 ``(H, W, 3)``."""
    _check_lineart(lineart)
    height, width = lineart.shape
    ref = np.asarray(reference.convert("RGB"))
    return cv2.resize(ref, (width, height), interpolation=cv2.INTER_AREA)


def reference_foreground(reference: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)`` foreground of a uint8 ``(H, W, 3)`` picture: pixels far from the median
    color of its 1-pixel border (see :data:`BACKGROUND_TOLERANCE`)."""
    border = np.concatenate([reference[0], reference[-1], reference[:, 0], reference[:, -1]])
    background = np.median(border, axis=0)
    diff = np.abs(reference.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    return diff > BACKGROUND_TOLERANCE


def lineart_silhouette(lineart: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)`` filled silhouette of a line art (float ``(H, W)``, white lines on black):
    line pixels closed with a 3x3 kernel, every outer contour filled."""
    _check_lineart(lineart)
    lines = (lineart > LINE_THRESHOLD).astype(np.uint8)
    lines = cv2.morphologyEx(lines, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(lines, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(lines)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def mean_color_engine(reference: Image.Image, lineart: np.ndarray, points: PointPairs | None) -> np.ndarray:
    """Baseline: the reference's mean foreground color inside the line art's silhouette, white
    outside; uint8 ``(H, W, 3)``. A reference with no detectable foreground uses all its pixels."""
    ref = np.asarray(reference.convert("RGB"))
    fg = reference_foreground(ref)
    pixels = ref[fg] if fg.any() else ref.reshape(-1, 3)
    color = np.round(pixels.astype(np.float64).mean(axis=0)).astype(np.uint8)
    inside = lineart_silhouette(lineart)
    out = np.full((*lineart.shape, 3), 255, np.uint8)
    out[inside] = color
    return out


def lineart_to_pil(lineart: np.ndarray) -> Image.Image:
    """Float ``(H, W)`` line art in [0, 1] -> 8-bit grayscale PIL image (white lines on black)."""
    return Image.fromarray((np.clip(lineart, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="L")


def _ninja(model: str | None = None, steps: int = 20, device: str | None = None,
           **extra: Any) -> FunctionEngine:
    """The model (raw output, no snapping), through :class:`manganinja.engines.NinjaEngine`.
    ``extra`` are :class:`~manganinja.engines.NinjaSettings` fields (e.g. ``resolution``,
    ``guidance_scale_ref``); a run with seed ``s`` samples with ``torch.Generator().manual_seed(s)``."""
    if not model:
        raise EngineError("engine 'ninja' needs --model: a diffusers folder or the official checkpoints folder")
    path = Path(model)
    if not path.is_dir():
        raise EngineError(f"engine 'ninja': model folder '{path}' not found")
    from dataclasses import fields, replace

    from manganinja.engines import NinjaEngine, NinjaSettings, load_pipeline

    known = {f.name for f in fields(NinjaSettings)}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise EngineError(f"engine 'ninja' does not take {unknown}")
    official = (path / "MangaNinjia").is_dir()
    pipe = load_pipeline(official=path, device=device or "auto") if official else load_pipeline(model=path, device=device or "auto")
    base = NinjaSettings(steps=steps, snap=False, progress=False, **extra)

    def run(reference: Image.Image, lineart: np.ndarray, points: PointPairs | None, seed: int) -> np.ndarray:
        engine = NinjaEngine(pipe, replace(base, seed=seed))
        prepared = engine.prepare([reference])
        image = engine.sample(prepared, lineart_to_pil(lineart), points if points is not None and len(points) else None)
        return np.asarray(image)

    settings = {"model": str(path), "loader": "from_official" if official else "from_pretrained",
                "steps": steps, "device": str(pipe.device), **extra}
    return FunctionEngine("ninja", run, settings, seeded=True)


def _flat(**options: Any) -> FunctionEngine:
    try:
        from manganinja.flat.engine import colorize_flat
    except ImportError as exc:
        raise EngineError(f"engine 'flat' is not available in this installation ({exc})") from exc

    def run(reference: Image.Image, lineart: np.ndarray, points: PointPairs | None) -> np.ndarray:
        return colorize_flat(reference, lineart, points=points, **options).composite

    return FunctionEngine("flat", run, {"output": "composite", **options})


def _plain(name: str, fn: Callable[..., np.ndarray]) -> Callable[..., FunctionEngine]:
    def build(**options: Any) -> FunctionEngine:
        unknown = {k: v for k, v in options.items() if v is not None}
        if unknown:
            raise EngineError(f"engine '{name}' takes no settings, got {sorted(unknown)}")
        return FunctionEngine(name, fn, {})

    return build


#: Engine name -> builder taking the engine's settings as keywords.
ENGINES: dict[str, Callable[..., FunctionEngine]] = {
    "reference": _plain("reference", reference_engine),
    "mean-color": _plain("mean-color", mean_color_engine),
    "ninja": _ninja,
    "flat": _flat,
}
ENGINE_NAMES = tuple(ENGINES)


def make_engine(name: str, **settings: Any) -> FunctionEngine:
    """Build the engine ``name`` (one of :data:`ENGINE_NAMES`) with its settings.

    Raises:
        EngineError: unknown name, or settings the engine does not take / cannot use.
    """
    if name not in ENGINES:
        raise EngineError(f"unknown engine '{name}'; choose one of {', '.join(ENGINE_NAMES)}")
    return ENGINES[name](**settings)
