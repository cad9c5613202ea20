"""Feature models for CLIP-I, DINO-I (and LPIPS), loaded from local folders only.

Nothing is downloaded: the user points to a folder saved with ``save_pretrained`` (model and
image processor config). Without a folder the metric is absent, and reported as such.

- CLIP-I: ``CLIPVisionModelWithProjection`` + ``CLIPImageProcessor``; the embedding is
  ``image_embeds`` (the projected pooled output), as in DreamBooth's CLIP-I.
- DINO-I: ``AutoModel`` + ``AutoImageProcessor`` (DINO or DINOv2 ViT); the embedding is the
  ``[CLS]`` token of the last hidden state (``pooler_output`` when the model has one, which for
  DINOv2 is the layer-normed ``[CLS]`` token), as in DreamBooth's DINO-I.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np


class FeatureModelError(ValueError):
    """A feature-model folder is missing or cannot be loaded; the message names it."""


def _folder(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise FeatureModelError(f"{what} model folder '{folder}' not found")
    return folder


def _embedder(model: object, processor: object, take: Callable[[object], object], device: str) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    model.to(device).eval()  # type: ignore[attr-defined]

    @torch.no_grad()
    def embed(image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> float64 1-D embedding."""
        inputs = processor(images=[np.asarray(image)], return_tensors="pt")  # type: ignore[operator]
        pixel_values = inputs["pixel_values"].to(device)
        out = model(pixel_values=pixel_values)  # type: ignore[operator]
        return take(out).reshape(-1).double().cpu().numpy()  # type: ignore[attr-defined]

    return embed


def _load_pretrained(path: str | os.PathLike, what: str, model_cls: type, processor_cls: type) -> tuple[object, object]:
    folder = _folder(path, what)
    try:
        return model_cls.from_pretrained(folder), processor_cls.from_pretrained(folder)  # type: ignore[attr-defined]
    except (OSError, ValueError) as exc:
        raise FeatureModelError(f"{what} model folder '{folder}': cannot be loaded ({exc})") from exc


def load_clip_embedder(path: str | os.PathLike, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """CLIP image embedder from a local folder (``CLIPVisionModelWithProjection``)."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    model, processor = _load_pretrained(path, "CLIP", CLIPVisionModelWithProjection, CLIPImageProcessor)
    return _embedder(model, processor, lambda out: out.image_embeds[0], device)


def load_dino_embedder(path: str | os.PathLike, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """DINO / DINOv2 [CLS] embedder from a local folder (``AutoModel``)."""
    from transformers import AutoImageProcessor, AutoModel

    model, processor = _load_pretrained(path, "DINO", AutoModel, AutoImageProcessor)

    def take(out: object) -> object:
        pooled = getattr(out, "pooler_output", None)
        return pooled[0] if pooled is not None else out.last_hidden_state[0, 0]  # type: ignore[attr-defined]

    return _embedder(model, processor, take, device)


# ---------------------------------------------------------------------------------------------
# LPIPS (Zhang et al. 2018), AlexNet variant, v0.1 linear layers
# ---------------------------------------------------------------------------------------------
#: Files of an LPIPS folder: the AlexNet backbone (a torchvision-layout AlexNet state dict; only
#: its ``features.*`` weights are used) and the LPIPS v0.1 linear layers (``lin{i}.model.1.weight``,
#: shape (1, C_i, 1, 1)).
LPIPS_BACKBONE_FILE = "alexnet.pth"
LPIPS_LINEAR_FILE = "alex.pth"

#: Input scaling of LPIPS (applied to images in [-1, 1]).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)

#: AlexNet ``features`` indices whose ReLU outputs LPIPS compares, and their channels.
LPIPS_TAPS = (1, 4, 7, 9, 11)
LPIPS_CHANNELS = (64, 192, 384, 256, 256)


def alexnet_features() -> "torch.nn.Sequential":  # noqa: F821
    """AlexNet's convolutional trunk, indexed like torchvision's ``alexnet().features``."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False),
    )


def _load_state(path: Path) -> dict:
    import torch

    if not path.is_file():
        raise FeatureModelError(f"LPIPS weights file '{path}' not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise FeatureModelError(f"LPIPS weights file '{path}': cannot be read ({exc})") from exc


def load_lpips(path: str | os.PathLike, device: str = "cpu") -> Callable[[np.ndarray, np.ndarray], float]:
    """LPIPS distance (AlexNet, v0.1) from a local folder holding :data:`LPIPS_BACKBONE_FILE` and
    :data:`LPIPS_LINEAR_FILE`. Returns ``distance(a, b)`` for RGB uint8 (H, W, 3) images of one
    size (0 for identical images, larger is more different). Weights load strictly."""
    import torch

    folder = _folder(path, "LPIPS")
    backbone = alexnet_features()
    state = {k[len("features."):]: v for k, v in _load_state(folder / LPIPS_BACKBONE_FILE).items()
             if k.startswith("features.")}
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FeatureModelError(f"'{folder / LPIPS_BACKBONE_FILE}': not an AlexNet state dict ({exc})") from exc
    linear = _load_state(folder / LPIPS_LINEAR_FILE)
    weights = []
    for i, channels in enumerate(LPIPS_CHANNELS):
        w = linear.get(f"lin{i}.model.1.weight")
        if w is None or tuple(w.shape) != (1, channels, 1, 1):
            raise FeatureModelError(
                f"'{folder / LPIPS_LINEAR_FILE}': lin{i}.model.1.weight must have shape "
                f"(1, {channels}, 1, 1), got {None if w is None else tuple(w.shape)}"
            )
        weights.append(w.float().to(device))
    backbone = backbone.to(device).eval()
    shift = torch.tensor(LPIPS_SHIFT, device=device).view(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE, device=device).view(1, 3, 1, 1)

    def features(image: np.ndarray) -> list:
        x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()
        x = (x / 127.5 - 1.0 - shift) / scale
        taps = []
        for index, layer in enumerate(backbone):
            x = layer(x)
            if index in LPIPS_TAPS:
                taps.append(x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return taps

    @torch.no_grad()
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        if np.shape(a) != np.shape(b):
            raise FeatureModelError(f"LPIPS: image shapes differ: {np.shape(a)} vs {np.shape(b)}")
        total = 0.0
        for fa, fb, w in zip(features(a), features(b), weights):
            total += float(((fa - fb) ** 2 * w.view(1, -1, 1, 1)).sum(dim=1).mean())
        return total

    return distance
