"""Strict loading of the official MangaNinja release (plain ``.pth`` state dicts).

Layout (DESIGN.md)::

    checkpoints/
      StableDiffusion/{unet,vae,scheduler}/          SD1.5, diffusers layout
      models/clip-vit-large-patch14/                 CLIP vision + text + tokenizer
      models/control_v11p_sd15_lineart/              ControlNet config (diffusers layout)
      MangaNinjia/{denoising_unet,reference_unet,controlnet,point_net}.pth
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from accelerate import init_empty_weights


class CheckpointError(ValueError):
    """A checkpoint folder or file is missing, partial or does not fit the architecture."""


@dataclass(frozen=True)
class OfficialLayout:
    """Paths of the official release below ``root``."""

    root: Path

    @property
    def sd_unet(self) -> Path:
        return self.root / "StableDiffusion" / "unet"

    @property
    def vae(self) -> Path:
        return self.root / "StableDiffusion" / "vae"

    @property
    def scheduler(self) -> Path:
        return self.root / "StableDiffusion" / "scheduler"

    @property
    def clip(self) -> Path:
        return self.root / "models" / "clip-vit-large-patch14"

    @property
    def controlnet(self) -> Path:
        return self.root / "models" / "control_v11p_sd15_lineart"

    @property
    def annotators(self) -> Path:
        return self.root / "models" / "Annotators"

    def weights(self, name: str) -> Path:
        return self.root / "MangaNinjia" / f"{name}.pth"

    def required_files(self) -> list[Path]:
        """Every file :meth:`check` requires."""
        return [
            self.sd_unet / "config.json",
            self.vae / "config.json",
            self.scheduler / "scheduler_config.json",
            self.clip / "config.json",
            self.controlnet / "config.json",
            *(self.weights(n) for n in ("denoising_unet", "reference_unet", "controlnet", "point_net")),
        ]

    def check(self) -> None:
        """Raise :class:`CheckpointError` naming every missing file and where it was looked for."""
        if not self.root.is_dir():
            raise CheckpointError(f"official checkpoint folder '{self.root}' does not exist")
        missing = [str(p) for p in self.required_files() if not p.is_file()]
        vae_weights = [self.vae / "diffusion_pytorch_model.safetensors", self.vae / "diffusion_pytorch_model.bin"]
        if not any(p.is_file() for p in vae_weights):
            missing.append(f"{vae_weights[0]} (or .bin)")
        clip_weights = [self.clip / "model.safetensors", self.clip / "pytorch_model.bin"]
        if not any(p.is_file() for p in clip_weights):
            missing.append(f"{clip_weights[0]} (or pytorch_model.bin)")
        if missing:
            raise CheckpointError(
                f"official checkpoint folder '{self.root}' is incomplete; missing:\n  " + "\n  ".join(missing)
            )


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"config file '{path}' not found") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"config file '{path}' is not valid JSON: {exc}") from exc


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a ``.safetensors`` file or a plain ``.pth``/``.bin`` state dict with
    ``weights_only=True`` (no code execution)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file '{path}' not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means an unusable file
        raise CheckpointError(f"weights file '{path}' cannot be read: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"weights file '{path}' does not hold a plain state dict of tensors")
    return state


def _preview(keys: Iterable[str], limit: int = 8) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def check_state_dict(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    allow_missing: Iterable[str] = (),
) -> None:
    """Compare ``state`` with ``model``'s parameters: raise :class:`CheckpointError` listing
    missing keys (other than ``allow_missing`` prefixes), unexpected keys and shape mismatches."""
    expected = model.state_dict()
    allow = tuple(allow_missing)
    missing = [k for k in expected if k not in state and not k.startswith(allow)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in state
        if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_preview(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches: {_preview(mismatched, 4)}")
    if problems:
        raise CheckpointError(
            f"{source} does not fit {type(model).__name__}: " + "; ".join(problems)
        )


def build_strict(
    cls: type,
    config: dict,
    state: dict[str, torch.Tensor],
    source: str,
    zero_fill: Iterable[str] = (),
) -> torch.nn.Module:
    """Instantiate ``cls.from_config(config)`` without allocating weights, then load ``state``
    strictly (``assign=True``). Parameters under ``zero_fill`` prefixes may be absent from the
    checkpoint and are filled with zeros (used for the reference U-Net's unused output head)."""
    with init_empty_weights():
        model = cls.from_config(config)
    zero_fill = tuple(zero_fill)
    check_state_dict(model, state, source, allow_missing=zero_fill)
    state = dict(state)
    for key, tensor in model.state_dict().items():
        if key not in state and key.startswith(zero_fill):
            state[key] = torch.zeros(tensor.shape, dtype=torch.float32)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()
