"""The training objective: noise prediction (epsilon) on the denoising branch."""

from __future__ import annotations

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


def noise_prediction_loss(prediction: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the predicted and the true noise (both (B, 4, h, w)),
    computed in float32; a scalar."""
    return F.mse_loss(prediction.float(), noise.float(), reduction="mean")
