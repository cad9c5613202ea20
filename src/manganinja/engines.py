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

from manganinja.images import ImageInput, load_image, to_rgb
from manganinja.points import PointPairs


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

    steps: int = 50
    guidance_scale_ref: float = 9.0
    guidance_scale_point: float = 15.0
    guidance: str = "official"
    seed: int = 0
    resolution: int = 512
    reference_mode: str = "concat"
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

    def colorize(self, prepared: Any, lineart: ImageInput, points: PointPairs | None = None) -> Image.Image:
        s = self.settings
        return self.pipe(
            reference_encoding=prepared,
            lineart=lineart,
            points=points,
            num_inference_steps=s.steps,
            guidance_scale_ref=s.guidance_scale_ref,
            guidance_scale_point=s.guidance_scale_point,
            guidance=s.guidance,
            generator=torch.Generator().manual_seed(s.seed),
            latents=s.latents,
            resolution=s.resolution,
            progress=s.progress,
        ).images[0]


def load_pipeline(
    model: str | Path | None = None,
    official: str | Path | None = None,
    device: str = "auto",
    dtype: str = "fp32",
) -> Any:
    """Load a converted model folder (``model``, or a Hugging Face id for users with network)
    or the official layout (``official``), on ``device`` ("auto", "cpu", "cuda", "cuda:1") in
    ``dtype`` ("fp32", "fp16", "bf16")."""
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
    return pipe.to(device)


def references_rgb(references: Sequence[ImageInput]) -> list[Image.Image]:
    """Load references as RGB PIL images (errors name the reference)."""
    return [to_rgb(load_image(r, name=f"reference {i}")) for i, r in enumerate(references)]


def as_uint8(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 view of an RGB result."""
    return np.asarray(image.convert("RGB"))
