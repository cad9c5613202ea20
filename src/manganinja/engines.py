"""Colorization engines behind one contract, used by the CLI, the page runner, the web UI and the
benchmark.

The contract (:class:`Engine`)::

    prepared = engine.prepare(references)        # Sequence[PIL.Image] (RGB) -> P, once per set
    layers = engine.colorize(prepared, lines, points)   # Lines, PointPairs | None -> Layers

``lines`` is a :class:`~manganinja.lines.Lines` made once at the edge; ``points`` are in the
pixels of the references and of the line art. The result is a
:class:`~manganinja.flat.layers.Layers` at the line art's size: ``composite`` (uint8
``(H, W, 3)``) is the result; ``color`` (fills) and ``lines`` (black, alpha = line strength)
recompose to it for the engines that fill regions (``flat``, ``ninja`` with ``snap``). For the
others (``ninja`` without ``snap``, the baselines) ``color`` is the picture
itself and the layers do not recompose to ``composite``; :attr:`Engine.fills_regions` says which
(the web UI offers a shading-keeping snap of such a picture for download).

Engines: ``ninja`` (:class:`NinjaEngine`, the model), ``flat`` (:class:`FlatEngine`, weight-free,
several references stitched side by side), and the benchmark's baselines ``reference``
(:class:`ReferenceEngine`) and ``mean-color`` (:class:`MeanColorEngine`). :func:`build_engine`
builds one by name. This module imports torch only for the model engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, Sequence, TypeVar, Union, get_args

import cv2
import numpy as np
from PIL import Image

from manganinja.flat.layers import Layers, line_layer, split_layers
from manganinja.flat.regions import BACKGROUND_TOLERANCE, GuideFills, border_pixels
from manganinja.images import ImageInput, load_image, to_rgb
from manganinja.lines import MODEL_LINE_CUTOFF, Lines
from manganinja.points import PointPairs, PointsError
from manganinja.settings import FlatSettings, LoadSettings, NinjaSettings
from manganinja.stitching import Placement, stitch_references, stitched_points

if TYPE_CHECKING:
    import torch

    from manganinja.pipeline import MangaNinjaPipeline, ReferenceEncoding

P = TypeVar("P")

#: Engine names (:func:`build_engine`).
EngineName = Literal["ninja", "flat", "reference", "mean-color"]
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)

#: A value an engine records about itself (benchmark summary).
Setting = Union[str, int, float, bool, None]


class EngineError(ValueError):
    """An engine cannot be built or run with the given settings; the message names the setting."""


class Engine(Protocol[P]):
    """What the CLI, the page runner, the web UI and the benchmark call (see the module doc)."""

    name: str
    #: Whether ``colorize``'s ``color`` and ``lines`` layers recompose to its ``composite``.
    fills_regions: bool

    def prepare(self, references: Sequence[Image.Image]) -> P:
        """Work done once per set of references (RGB PIL images)."""
        ...

    def colorize(self, prepared: P, lines: Lines, points: PointPairs | None = None) -> Layers:
        """Colorize one line art with the prepared references; layers at ``lines.size``."""
        ...

    def with_seed(self, seed: int) -> "Engine[P]":
        """The same engine sampling with ``seed`` (deterministic engines return themselves)."""
        ...

    def describe(self) -> dict[str, Setting]:
        """The settings that decide the engine's results (recorded by the benchmark)."""
        ...


def _check_points(points: PointPairs | None, n_references: int) -> None:
    if points is None:
        return
    for k in sorted(set(points.reference_indices.tolist())):
        if k >= n_references:
            raise PointsError(f"reference_index {k} but only {n_references} reference image(s) given")


def _layers_of_picture(picture: np.ndarray, lines: Lines) -> Layers:
    """Layers of an engine that does not fill regions: ``picture`` (uint8 ``(H, W, 3)`` at
    ``lines.size``) as composite and color, and the line layer."""
    return Layers(composite=picture, color=picture, lines=line_layer(lines.array))


# ----------------------------------------------------------------------------------------------
# The model


class NinjaEngine:
    """The MangaNinja model. Each page is sampled with a fresh generator seeded with
    ``settings.seed``, so a page's result does not depend on the order or sharding of pages.
    ``latents``: fixed initial noise ``(1, 4, h/8, w/8)`` (parity checks), else drawn."""

    name = "ninja"

    def __init__(
        self,
        pipe: "MangaNinjaPipeline",
        settings: NinjaSettings | None = None,
        latents: "torch.Tensor | None" = None,
    ) -> None:
        self.pipe = pipe
        self.settings = settings or NinjaSettings()
        self.latents = latents
        self.sampling = self.settings.resolve(pipe.recommended)

    @property
    def fills_regions(self) -> bool:  # type: ignore[override]
        return self.settings.snap

    def with_settings(self, settings: NinjaSettings) -> "NinjaEngine":
        """The same loaded pipeline with other settings."""
        return NinjaEngine(self.pipe, settings, self.latents)

    def with_seed(self, seed: int) -> "NinjaEngine":
        return self.with_settings(self.settings.model_copy(update={"seed": int(seed)}))

    def describe(self) -> dict[str, Setting]:
        return {**self.settings.model_dump(mode="json", exclude={"progress"}), **self.sampling.model_dump(),
                "model": self.pipe.config.get("_name_or_path"), "device": str(self.pipe.device)}

    def prepare(self, references: Sequence[Image.Image]) -> "ReferenceEncoding":
        return self.pipe.encode_reference(list(references), resolution=self.sampling.resolution,
                                          mode=self.settings.reference_mode)

    def sample(self, prepared: "ReferenceEncoding", lines: Lines, points: PointPairs | None = None) -> np.ndarray:
        """The model's own output (no snapping) at ``lines.size``: uint8 ``(H, W, 3)``."""
        import torch

        s, m = self.settings, self.sampling
        image = self.pipe(
            reference_encoding=prepared,
            lineart=lines,
            points=points if points is not None and len(points) else None,
            sampling=m,  # resolved once, when the engine was made
            guidance=s.guidance,
            generator=torch.Generator().manual_seed(s.seed),
            latents=self.latents,
            fast=s.fast,
            progress=s.progress,
        ).images[0]
        return np.asarray(to_rgb(image), dtype=np.uint8)

    def colorize(self, prepared: "ReferenceEncoding", lines: Lines, points: PointPairs | None = None) -> Layers:
        """With ``snap``: the model's output snapped to the line art's regions (flat fills, the
        lines on top; ``keep_shading`` keeps the lightness variation; with ``guide_fill`` the
        regions that hold guides take the guides' reference colors). Without: the model's
        output as the composite (see the module doc)."""
        from manganinja.flat.snap import snap_layers

        picture = self.sample(prepared, lines, points)
        s = self.settings
        if not s.snap:
            return _layers_of_picture(picture, lines)
        guides = None
        if s.guide_fill and points is not None and len(points):
            guides = GuideFills(points.lineart_xy, self.pipe.guide_colors(points, prepared))
        return snap_layers(picture, lines, keep_shading=s.keep_shading, guides=guides)


# ----------------------------------------------------------------------------------------------
# The weight-free engine


class FlatPrepared:
    """References for the weight-free engine: one RGB picture (several are stitched side by
    side, as in the model's ``stitch`` mode) and where each reference sits on it."""

    def __init__(self, picture: Image.Image, placements: list[Placement]) -> None:
        self.picture = picture
        self.placements = placements


class FlatEngine:
    """The weight-free engine (:func:`manganinja.flat.engine.colorize_flat`): line-art feature
    matching, a thin-plate-spline warp and region fills; point pairs are obeyed."""

    name = "flat"
    fills_regions = True

    def __init__(self, settings: FlatSettings | None = None) -> None:
        self.settings = settings or FlatSettings()

    def with_seed(self, seed: int) -> "FlatEngine":
        return self

    def describe(self) -> dict[str, Setting]:
        return dict(self.settings.model_dump(mode="json"))

    def prepare(self, references: Sequence[Image.Image]) -> FlatPrepared:
        refs = references_rgb(references)
        if not refs:
            raise EngineError("at least one reference image is required")
        if len(refs) == 1:
            return FlatPrepared(refs[0], [(0, 0, 1.0)])
        canvas, placements = stitch_references(refs)
        return FlatPrepared(canvas, placements)

    def colorize(self, prepared: FlatPrepared, lines: Lines, points: PointPairs | None = None) -> Layers:
        from manganinja.flat.engine import colorize_flat

        if points is not None and len(points):
            _check_points(points, len(prepared.placements))
            points = stitched_points(points, prepared.placements)
        else:
            points = None
        st = self.settings
        result = colorize_flat(prepared.picture, lines, points, two_tone=st.two_tone, gap_radius=st.gap_radius,
                               background_share=st.background_share, border_cover=st.border_cover)
        return split_layers(result.color_layer, lines.array)


# ----------------------------------------------------------------------------------------------
# Baselines (the benchmark's floor)

class _Baseline:
    """What the baselines share: deterministic, no settings, the first reference only."""

    name: str
    fills_regions = False

    def with_seed(self, seed: int) -> "_Baseline":
        return self

    def describe(self) -> dict[str, Setting]:
        return {}

    @staticmethod
    def _first_reference(references: Sequence[Image.Image]) -> np.ndarray:
        refs = references_rgb(references)
        if not refs:
            raise EngineError("at least one reference image is required")
        return np.asarray(refs[0], dtype=np.uint8)


class ReferenceEngine(_Baseline):
    """Baseline: the (first) reference itself resized to the line art's size (area
    interpolation); ignores the line art and the points."""

    name = "reference"

    def prepare(self, references: Sequence[Image.Image]) -> np.ndarray:
        return self._first_reference(references)

    def colorize(self, prepared: np.ndarray, lines: Lines, points: PointPairs | None = None) -> Layers:
        picture = cv2.resize(prepared, lines.size, interpolation=cv2.INTER_AREA)
        return _layers_of_picture(picture, lines)


def reference_foreground(reference: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)`` foreground of a uint8 ``(H, W, 3)`` picture: pixels far from the median
    color of its 1-pixel border (see :data:`BACKGROUND_TOLERANCE`)."""
    border = border_pixels(reference)
    background = np.median(border, axis=0)
    diff = np.abs(reference.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    return diff > BACKGROUND_TOLERANCE


def lineart_silhouette(lines: Lines) -> np.ndarray:
    """Bool ``(H, W)`` filled silhouette of a line art: line pixels (above the model's cutoff)
    closed with a 3x3 kernel, every outer contour filled."""
    mask = (lines.array > MODEL_LINE_CUTOFF).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


class MeanColorEngine(_Baseline):
    """Baseline: the reference's mean foreground color (:func:`reference_foreground`; all its
    pixels when none is found) inside the line art's silhouette, white outside (no lines drawn).
    Nothing from the ground truth is used; points are ignored."""

    name = "mean-color"

    def prepare(self, references: Sequence[Image.Image]) -> np.ndarray:
        """The mean foreground color, uint8 ``(3,)``."""
        ref = self._first_reference(references)
        fg = reference_foreground(ref)
        pixels = ref[fg] if fg.any() else ref.reshape(-1, 3)
        return np.round(pixels.astype(np.float64).mean(axis=0)).astype(np.uint8)

    def colorize(self, prepared: np.ndarray, lines: Lines, points: PointPairs | None = None) -> Layers:
        width, height = lines.size
        color = np.full((height, width, 3), 255, np.uint8)
        color[lineart_silhouette(lines)] = prepared
        return _layers_of_picture(color, lines)


# ----------------------------------------------------------------------------------------------
# Building


class ModelLoadError(ValueError):
    """The model cannot be loaded; the message names the path or id and the fix."""


def check_model_source(load: LoadSettings) -> None:
    """Check where the model comes from without loading it (one-line :class:`ModelLoadError`).

    No source: says how to run without weights (``--engine flat``). A folder in the official
    release layout given as ``model``: says to use ``--official``. An empty or unrelated folder,
    a missing path: says what a model folder holds.
    """
    from manganinja.models.loading import OfficialLayout

    if load.model is None and load.official is None:
        raise ModelLoadError(
            "no model given: pass --model (a converted folder) or --official (the release folder), "
            "or use --engine flat, which needs no weights"
        )
    if load.model is not None and load.official is not None:
        raise ModelLoadError("give one of --model and --official, not both")
    if load.official is not None:
        root = Path(load.official)
        if not root.is_dir():
            raise ModelLoadError(f"official checkpoint folder '{root}' not found")
        try:
            OfficialLayout(root).check()
        except ValueError as exc:
            raise ModelLoadError(" ".join(str(exc).split())) from exc
        return
    path = Path(str(load.model))
    looks_local = path.exists() or str(load.model).startswith((".", "/", "~")) or path.suffix != "" or "\\" in str(load.model)
    if not looks_local:
        return  # a Hugging Face id: checked when loading
    if not path.exists():
        raise ModelLoadError(f"model folder '{path}' not found")
    if not path.is_dir():
        raise ModelLoadError(f"--model '{path}' is a file; give the converted model folder")
    if (path / "MangaNinjia").is_dir():
        raise ModelLoadError(
            f"'{path}' is the official release layout; use --official '{path}' (or convert it once "
            f"with `manganinja convert --official '{path}' --output-dir converted/`)"
        )
    if not (path / "model_index.json").is_file():
        what = "is empty" if not any(path.iterdir()) else "has no model_index.json"
        raise ModelLoadError(
            f"model folder '{path}' {what}; give a folder written by `manganinja convert` (or "
            "save_pretrained), or the official release with --official"
        )


def load_pipeline(load: LoadSettings) -> "MangaNinjaPipeline":
    """Load a converted model folder (``load.model``, or a Hugging Face id for users with
    network) or the official layout (``load.official``) as ``load`` says. Problems with the
    source raise a one-line :class:`ModelLoadError` (:func:`check_model_source`)."""
    import torch

    from manganinja.pipeline import MangaNinjaPipeline

    check_model_source(load)
    device = load.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[load.dtype]
    if load.official is not None:
        pipe = MangaNinjaPipeline.from_official(load.official, torch_dtype=dtype)
        pipe.register_to_config(_name_or_path=str(load.official))  # provenance (not saved)
    else:
        try:
            # Cast after loading: diffusers renamed from_pretrained's `torch_dtype` to `dtype`, and
            # the versions we support disagree on which one they take without a warning.
            pipe = MangaNinjaPipeline.from_pretrained(str(load.model)).to_dtype(dtype)
        except OSError as exc:
            raise ModelLoadError(
                f"cannot load model '{load.model}': it is not a local folder, and the Hugging Face Hub "
                "cannot be reached and holds no cached copy of it; give a local converted folder "
                "(--debug shows the loader's error)"
            ) from exc
    if load.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
        if load.offload == "reference":
            pipe.enable_reference_offload()
    pipe.set_attention_chunk(load.attention_chunk)
    if load.vae_tiling:
        pipe.enable_vae_tiling()
    if load.compile:
        pipe.compile()
    return pipe


def build_engine(
    name: str,
    ninja: NinjaSettings | None = None,
    flat: FlatSettings | None = None,
    load: LoadSettings | None = None,
    pipe: "MangaNinjaPipeline | None" = None,
    latents: "torch.Tensor | None" = None,
) -> "BuiltEngine":
    """The engine ``name`` (one of :data:`ENGINE_NAMES`); ``ninja`` loads ``pipe`` from ``load``
    unless a loaded ``pipe`` is given, and samples from ``latents`` when given."""
    if name == "ninja":
        if pipe is None:
            pipe = load_pipeline(load or LoadSettings())
        return NinjaEngine(pipe, ninja, latents=latents)
    if name == "flat":
        return FlatEngine(flat)
    if name == "reference":
        return ReferenceEngine()
    if name == "mean-color":
        return MeanColorEngine()
    raise EngineError(f"unknown engine '{name}'; choose one of {', '.join(ENGINE_NAMES)}")


#: Any of the engines :func:`build_engine` makes (each an :class:`Engine` of its prepared type).
BuiltEngine = Union[NinjaEngine, FlatEngine, ReferenceEngine, MeanColorEngine]


def references_rgb(references: Sequence[ImageInput]) -> list[Image.Image]:
    """Load references as RGB PIL images (errors name the reference)."""
    return [to_rgb(load_image(r, name=f"reference {i}")) for i, r in enumerate(references)]


__all__ = [
    "ENGINE_NAMES",
    "BuiltEngine",
    "Engine",
    "EngineError",
    "FlatEngine",
    "FlatPrepared",
    "MeanColorEngine",
    "ModelLoadError",
    "NinjaEngine",
    "ReferenceEngine",
    "build_engine",
    "check_model_source",
    "load_pipeline",
]

