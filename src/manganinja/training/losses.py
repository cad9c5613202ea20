"""The training objective: the denoising U-Net's prediction (the noise, or the velocity for a
``v_prediction`` scheduler) against its target, by mean squared error."""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


def sample_timesteps(batch: int, num_train_timesteps: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Timesteps uniform in ``0..num_train_timesteps-1``: long (batch,), drawn on the CPU from
    ``generator`` (reproducible on any device) and moved to ``device``."""
    t = torch.randint(0, num_train_timesteps, (batch,), generator=generator, dtype=torch.long)
    return t.to(device)


def sample_noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, drawn on the CPU from ``generator``."""
    return torch.randn(like.shape, generator=generator, dtype=torch.float32).to(device=like.device, dtype=like.dtype)


def prediction_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the U-Net's prediction and its target (both (B, 4, h, w); see
    :func:`prediction_target`), computed in float32; a scalar."""
    return F.mse_loss(prediction.float(), target.float(), reduction="mean")


class _NoiseSchedule(Protocol):
    config: object

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor: ...


def prediction_target(scheduler: _NoiseSchedule, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """What the denoising U-Net learns to predict for clean ``latents`` noised with ``noise`` at
    ``timesteps`` (latents/noise (B, C, h, w), timesteps (B,)): the noise for an ``epsilon``
    scheduler, the velocity ``sqrt(abar) noise - sqrt(1 - abar) latents`` for ``v_prediction``
    (diffusers' ``get_velocity``)."""
    kind = getattr(scheduler.config, "prediction_type", "epsilon")
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"scheduler prediction_type {kind!r} cannot be trained (use epsilon or v_prediction)")
