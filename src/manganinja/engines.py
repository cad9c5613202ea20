"""Colorization engines behind one interface, used by the CLI, the batch runner and the UI.

An engine ``prepare``s the references once (for the model: CLIP, VAE and the reference U-Net's
bank) and then ``colorize``s any number of line arts with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from PIL import Image

from manganinja.flat.layers import Layers
from manganinja.images import ImageInput, load_image, to_rgb
from manganinja.lineart import extract_lineart, normalize_lineart
from manganinja.points import PointPairs, PointsError


class Engine(Protocol):
    name: str

    def prepare(self, references: Sequence[ImageInput]) -> Any:
        """Work done once per set of references."""

    def colorize(self, prepared: Any, lineart: ImageInput, points: PointPairs | None = None) -> Image.Image:
        """Colorize one line art (any polarity) with the prepared references; RGB at the line
        art's size."""


@dataclass
class NinjaSettings:
    """Sampling settings of the model engine (official defaults)."""

    steps: int | None = None  # None: 50 (exact) or 20 (fast)
    guidance_scale_ref: float = 9.0
    guidance_scale_point: float = 15.0
    guidance: str = "official"
    seed: int = 0
    resolution: int = 512
    reference_mode: str = "concat"
    lineart_polarity: str = "auto"
    fast: bool = False
    #: Snap the model's colors to the line art's regions at full resolution (flat fills, the
    #: original lines on top); ``keep_shading`` keeps the lightness variation inside regions.
    snap: bool = True
    keep_shading: bool = False
    #: For pictures (``picture=True``): the line-art extractor ("auto", "xdog", "informative")
    #: and its weights (default: those found by ``from_official``).
    extractor: str = "auto"
    extractor_weights: str | Path | None = None
    latents: torch.Tensor | None = field(default=None, repr=False)
    progress: bool = True


class NinjaEngine:
    """The MangaNinja model. Each page is sampled with a fresh generator seeded with
    ``settings.seed``, so a page's result does not depend on the order or sharding of pages."""

    name = "ninja"

    def __init__(self, pipe: Any, settings: NinjaSettings | None = None) -> None:
        self.pipe = pipe
        self.settings = settings or NinjaSettings()

    def prepare(self, references: Sequence[ImageInput]) -> Any:
        s = self.settings
        return self.pipe.encode_reference(list(references), resolution=s.resolution, mode=s.reference_mode)

    def sample(
        self, prepared: Any, lineart: ImageInput, points: PointPairs | None = None, picture: bool = False
    ) -> Image.Image:
        """The model's own output (no snapping), resized to the input's size. ``picture=True``:
        ``lineart`` is a color/gray picture whose line art the pipeline extracts first."""
        s = self.settings
        source = {"image": lineart} if picture else {"lineart": lineart}
        return self.pipe(
            reference_encoding=prepared,
            points=points,
            num_inference_steps=s.steps,
            guidance_scale_ref=s.guidance_scale_ref,
            guidance_scale_point=s.guidance_scale_point,
            guidance=s.guidance,
            generator=torch.Generator().manual_seed(s.seed),
            latents=s.latents,
            resolution=s.resolution,
            lineart_polarity=s.lineart_polarity,
            extractor=s.extractor,
            extractor_weights=s.extractor_weights,
            fast=s.fast,
            progress=s.progress,
            **source,
        ).images[0]

    def lines(self, lineart: ImageInput, picture: bool = False) -> np.ndarray:
        """Full-resolution line map (H, W) in [0, 1]: normalized, or extracted from a picture."""
        image = load_image(lineart, name="image" if picture else "lineart")
        if not picture:
            return normalize_lineart(image, self.settings.lineart_polarity)
        weights = self.settings.extractor_weights or getattr(self.pipe, "extractor_weights", None)
        return extract_lineart(image, self.settings.extractor, weights)

    def layers(
        self, prepared: Any, lineart: ImageInput, points: PointPairs | None = None, picture: bool = False
    ) -> Layers:
        """Composite, fills and lines: the model's output snapped to the line art's regions (for a
        picture, to the line art extracted from it at full resolution, which the model also gets)."""
        from manganinja.flat.snap import snap_layers

        lines = self.lines(lineart, picture)
        return snap_layers(self.sample(prepared, lines, points), lines, keep_shading=self.settings.keep_shading)

    def colorize(
        self, prepared: Any, lineart: ImageInput, points: PointPairs | None = None, picture: bool = False
    ) -> Image.Image:
        if not self.settings.snap:
            return self.sample(prepared, lineart, points, picture)
        return Image.fromarray(self.layers(prepared, lineart, points, picture).composite)


@dataclass
class FlatPrepared:
    """References for the weight-free engine: one RGB picture (several are stitched side by
    side) and where each reference sits on it."""

    picture: Image.Image
    placements: list[tuple[int, int, float]]


class FlatEngine:
    """The weight-free engine (:func:`manganinja.flat.engine.colorize_flat`): line-art feature
    matching, a thin-plate-spline warp and region fills; point pairs are obeyed. Several
    references are stitched side by side, as in the model's ``stitch`` mode."""

    name = "flat"

    def __init__(self, lineart_polarity: str = "auto", two_tone: bool = True) -> None:
        self.lineart_polarity = lineart_polarity
        self.two_tone = two_tone

    def prepare(self, references: Sequence[ImageInput]) -> FlatPrepared:
        from manganinja.pipeline import stitch_references

        refs = references_rgb(references)
        if not refs:
            raise ValueError("at least one reference image is required")
        if len(refs) == 1:
            return FlatPrepared(refs[0], [(0, 0, 1.0)])
        canvas, placements = stitch_references(refs)
        return FlatPrepared(canvas, placements)

    def layers(self, prepared: FlatPrepared, lineart: ImageInput, points: PointPairs | None = None) -> Layers:
        from manganinja.flat.engine import colorize_flat
        from manganinja.flat.layers import split_layers
        from manganinja.pipeline import stitched_points

        lines = normalize_lineart(load_image(lineart, name="lineart"), self.lineart_polarity)
        if points is not None:
            for k in sorted(set(points.reference_indices.tolist())):
                if k >= len(prepared.placements):
                    raise PointsError(f"reference_index {k} but only {len(prepared.placements)} reference image(s) given")
            points = stitched_points(points, prepared.placements)
        result = colorize_flat(prepared.picture, lines, points, two_tone=self.two_tone)
        return split_layers(result.color_layer, lines)

    def colorize(self, prepared: FlatPrepared, lineart: ImageInput, points: PointPairs | None = None) -> Image.Image:
        return Image.fromarray(self.layers(prepared, lineart, points).composite)


def load_pipeline(
    model: str | Path | None = None,
    official: str | Path | None = None,
    device: str = "auto",
    dtype: str = "fp32",
    offload: str = "none",
    attention_chunk: int | None = None,
    vae_tiling: bool = False,
    compile: bool = False,
) -> Any:
    """Load a converted model folder (``model``, or a Hugging Face id for users with network)
    or the official layout (``official``), on ``device`` ("auto", "cpu", "cuda", "cuda:1") in
    ``dtype`` ("fp32", "fp16", "bf16"). ``offload``: "none", "reference" (reference models
    leave the accelerator once the bank is made) or "model" (diffusers' model CPU offload)."""
    if offload not in ("none", "reference", "model"):
        raise ValueError(f"offload must be 'none', 'reference' or 'model', got {offload!r}")
    from manganinja.pipeline import MangaNinjaPipeline

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    if (model is None) == (official is None):
        raise ValueError("give exactly one of a converted model folder (--model) or an official checkpoint folder (--official)")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if official is not None:
        pipe = MangaNinjaPipeline.from_official(official, torch_dtype=dtypes[dtype])
    else:
        path = Path(model)  # type: ignore[arg-type]
        if not path.exists() and (str(model).startswith((".", "/")) or path.suffix):
            raise ValueError(f"model folder '{model}' not found")
        pipe = MangaNinjaPipeline.from_pretrained(str(model), torch_dtype=dtypes[dtype])
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
        if offload == "reference":
            pipe.enable_reference_offload()
    pipe.set_attention_chunk(attention_chunk)
    if vae_tiling:
        pipe.enable_vae_tiling()
    if compile:
        pipe.compile()
    return pipe


def references_rgb(references: Sequence[ImageInput]) -> list[Image.Image]:
    """Load references as RGB PIL images (errors name the reference)."""
    return [to_rgb(load_image(r, name=f"reference {i}")) for i, r in enumerate(references)]
