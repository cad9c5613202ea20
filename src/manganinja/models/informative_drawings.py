"""The official line-art extractor: the "informative drawings" generator (Chan et al., CVPR 2022).

MangaNinja's release extracts line art with this network's weights
(``checkpoints/models/Annotators/sk_model.pth``, the ControlNet v1.1 "lineart" annotator). This
module rebuilds the architecture with the original parameter names so that file loads strictly:

- ``model0``: ReflectionPad2d(3), Conv2d(3, 64, 7), InstanceNorm2d, ReLU
- ``model1``: 2 x [Conv2d(c, 2c, 3, stride 2, pad 1), InstanceNorm2d, ReLU]   (64 -> 128 -> 256)
- ``model2``: 3 residual blocks, ``x + conv_block(x)`` with ``conv_block`` = [ReflectionPad2d(1),
  Conv2d(256, 256, 3), InstanceNorm2d, ReLU, ReflectionPad2d(1), Conv2d(256, 256, 3), InstanceNorm2d]
- ``model3``: 2 x [ConvTranspose2d(c, c/2, 3, stride 2, pad 1, output_padding 1), InstanceNorm2d,
  ReLU]   (256 -> 128 -> 64)
- ``model4``: ReflectionPad2d(3), Conv2d(64, 1, 7), Sigmoid

InstanceNorm2d has no affine parameters and no running statistics, so it adds no keys.
The input is RGB in [0, 1]; the output is ~1 on paper and ~0 on ink, so line strength is
``1 - output``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

#: Residual blocks in the released extractor (``sk_model.pth``).
N_RESIDUAL_BLOCKS = 3
#: Larger inputs are processed at this long side and the result is resized back (memory: the
#: first layers hold 64 full-resolution channels).
MAX_PROCESS_LONG_SIDE = 2048


class ExtractorWeightsError(ValueError):
    """The extractor weights file is missing, unreadable or does not match the architecture."""


class ResidualBlock(nn.Module):
    """``x + conv_block(x)``; shape-preserving on ``(B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class InformativeDrawingsGenerator(nn.Module):
    """RGB ``(B, 3, H, W)`` in [0, 1] -> ``(B, 1, H, W)`` in (0, 1), ~0 on ink.

    ``H`` and ``W`` must be multiples of 4 (two stride-2 stages); :func:`extract_lines` pads.
    """

    def __init__(self, n_residual_blocks: int = N_RESIDUAL_BLOCKS, base: int = 64) -> None:
        super().__init__()
        self.model0 = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, base, 7), nn.InstanceNorm2d(base), nn.ReLU(inplace=True)
        )
        down: list[nn.Module] = []
        c = base
        for _ in range(2):
            down += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c), nn.ReLU(inplace=True)]
            c *= 2
        self.model1 = nn.Sequential(*down)
        self.model2 = nn.Sequential(*[ResidualBlock(c) for _ in range(n_residual_blocks)])
        up: list[nn.Module] = []
        for _ in range(2):
            up += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(c // 2),
                nn.ReLU(inplace=True),
            ]
            c //= 2
        self.model3 = nn.Sequential(*up)
        self.model4 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(base, 1, 7), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`ExtractorWeightsError` listing missing keys, unexpected keys and shape
    mismatches between ``state_dict`` and ``model`` (the shared strict check of
    :func:`manganinja.models.loading.check_state_dict`); nothing is loaded."""
    from manganinja.models.loading import CheckpointError
    from manganinja.models.loading import check_state_dict as strict_check

    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ExtractorWeightsError(f"{source}: values of {bad[:4]} are not tensors")
    try:
        strict_check(model, dict(state_dict), source)
    except CheckpointError as exc:
        raise ExtractorWeightsError(
            f"{exc} (the informative-drawings generator with {N_RESIDUAL_BLOCKS} residual blocks)"
        ) from None


def generator_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], source: str = "state dict"
) -> InformativeDrawingsGenerator:
    """A generator in eval mode with ``state_dict`` loaded strictly (see :func:`check_state_dict`)."""
    model = InformativeDrawingsGenerator()
    check_state_dict(model, state_dict, source)
    model.load_state_dict(dict(state_dict), strict=True)
    return model.eval().requires_grad_(False)


def load_generator(path: str | os.PathLike) -> InformativeDrawingsGenerator:
    """Load ``sk_model.pth`` (a plain state dict) with ``torch.load(weights_only=True)``, strictly."""
    path = Path(path)
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=2)
def _load_cached(path_str: str, _mtime: int) -> InformativeDrawingsGenerator:
    path = Path(path_str)
    where = f"extractor weights '{path}'"
    if not path.is_file():
        raise ExtractorWeightsError(f"{where}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise ExtractorWeightsError(f"{where}: cannot be read as a torch state dict ({exc})") from exc
    if not isinstance(state, Mapping):
        raise ExtractorWeightsError(f"{where}: expected a state dict, got {type(state).__name__}")
    return generator_from_state_dict(state, source=where)


@torch.no_grad()
def extract_lines(model: InformativeDrawingsGenerator, rgb: np.ndarray) -> np.ndarray:
    """Run ``model`` on an RGB float ``(H, W, 3)`` image in [0, 1].

    The image is reflect-padded to multiples of 4, at least 8 (and processed at
    :data:`MAX_PROCESS_LONG_SIDE` if larger). Returns float32 ``(H, W)`` in [0, 1], white lines
    on black (``1 - output``).
    """
    h, w = rgb.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    device = next(model.parameters()).device
    x = x.to(device)
    scale = min(1.0, MAX_PROCESS_LONG_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(4, round(h * scale)), max(4, round(w * scale)))
        x = nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    ph, pw = x.shape[2], x.shape[3]
    # Multiples of 4, at least 8 (the reflection pads need room at the 1/4 scale).
    pad_h, pad_w = max(8, ph + (-ph) % 4) - ph, max(8, pw + (-pw) % 4) - pw
    if pad_h or pad_w:
        mode = "reflect" if ph > pad_h and pw > pad_w else "replicate"
        x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    out = model(x)[:, :, :ph, :pw]
    if scale < 1.0:
        out = nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    return (1.0 - out[0, 0].clamp(0.0, 1.0)).cpu().numpy().astype(np.float32)


def run_informative_drawings(rgb: np.ndarray, weights: str | os.PathLike) -> np.ndarray:
    """Load ``weights`` (cached) and extract: RGB ``(H, W, 3)`` in [0, 1] -> ``(H, W)`` in [0, 1],
    white lines on black. Runs on CUDA when available."""
    model = load_generator(weights)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return extract_lines(model.to(device), rgb)
