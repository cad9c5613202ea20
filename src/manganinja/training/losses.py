"""The training objective: the denoising U-Net's prediction (the noise, or the velocity for a
``v_prediction`` scheduler) against its target, by mean squared error."""

from __future__ import annotations

import math
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


def guide_point_loss(prediction: torch.Tensor, target: torch.Tensor, point_map: torch.Tensor,
                     keep: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the latent pixels that hold a guide point: ``prediction`` and
    ``target`` (B, C, h, w); ``point_map`` (B, 1, H, W) the line-art point map (0 background, a
    pair index at each guide), H and W multiples of h and w; ``keep`` (B,) bool, the rows that
    see their points. A latent pixel counts when its H/h x W/w cell holds a guide. Computed in
    float32; a scalar, 0 (with a gradient) when no kept row has a guide."""
    cells = F.adaptive_max_pool2d((point_map > 0).float(), prediction.shape[-2:])
    mask = cells * keep.to(cells.dtype)[:, None, None, None]
    squared = (prediction.float() - target.float()).square() * mask
    count = mask.sum() * prediction.shape[1]
    return squared.sum() / count.clamp_min(1.0)


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


def token_index(xy: torch.Tensor, side: int, resolution: int) -> torch.Tensor:
    """Row-major index of the token holding each pixel position on a ``side x side`` token grid
    that covers a ``resolution``-pixel square: ``xy`` (..., 2) as (x, y) with pixel centres at
    integers; returns long (...), clamped into the grid."""
    cell = torch.floor((xy.float() + 0.5) * side / resolution).long().clamp_(0, side - 1)
    return cell[..., 1] * side + cell[..., 0]


def grid_side(tokens: int) -> int:
    """The side of a square token grid of ``tokens`` tokens (a ``ValueError`` when not square)."""
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f"{tokens} tokens are not a square grid")
    return side


def tokens_at(tokens: torch.Tensor, xy: torch.Tensor, resolution: int) -> torch.Tensor:
    """The tokens holding pixel positions: ``tokens`` (B, N, C) on a square grid covering a
    ``resolution``-pixel square, ``xy`` (B, K, 2) (x, y); returns (B, K, C)."""
    rows = token_index(xy, grid_side(tokens.shape[1]), resolution)
    return tokens.gather(1, rows[..., None].expand(-1, -1, tokens.shape[-1]))


def weights_at_correspondences(weights: torch.Tensor, target_xy: torch.Tensor, reference_xy: torch.Tensor,
                               resolution: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The head-averaged attention row of each correspondence's target token, and its reference
    token.

    ``weights``: (B, heads, N, M) attention of the target's N tokens over the reference's M tokens
    (softmax over M; square grids); ``target_xy`` / ``reference_xy``: (B, K, 2) pixel positions at
    ``resolution`` of K correspondences. Returns the rows (B, K, M), the reference tokens' indices
    (B, K) long and the side of the reference's token grid."""
    probs = tokens_at(weights.mean(1), target_xy, resolution)  # (B, K, M)
    side_r = grid_side(weights.shape[-1])
    return probs, token_index(reference_xy, side_r, resolution), side_r


def correspondence_nll(weights: torch.Tensor, target_xy: torch.Tensor, reference_xy: torch.Tensor,
                       valid: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """How far an attention over the reference's tokens is from its correspondences.

    Shapes as :func:`weights_at_correspondences`; ``valid``: (B, K) bool. For each valid
    correspondence, the negative log of the head-averaged weight that the target point's token
    puts on the reference point's token. Returns (sum, count) as 0-d tensors, so calls on several
    blocks can be averaged together. :func:`row_nll` is the same from the rows alone."""
    probs, right, _ = weights_at_correspondences(weights, target_xy, reference_xy, resolution)
    return _picked_nll(probs, right, valid)


def row_nll(rows: torch.Tensor, reference_xy: torch.Tensor, valid: torch.Tensor,
            resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`correspondence_nll` from the attention rows of the correspondences' target tokens
    alone: ``rows`` (B, heads, K, M), row ``k`` the attention of correspondence ``k``'s target
    token (queries gathered with :func:`tokens_at` before the attention: K rows cost what K of the
    N queries cost). Same (sum, count)."""
    side_r = grid_side(rows.shape[-1])
    return _picked_nll(rows.mean(1), token_index(reference_xy, side_r, resolution), valid)


def _picked_nll(probs: torch.Tensor, right: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``probs`` (B, K, M), ``right`` (B, K) long, ``valid`` (B, K) bool -> the sum of
    ``-log probs[b, k, right[b, k]]`` over the valid (b, k), and their count."""
    picked = probs.gather(2, right[..., None])[..., 0]  # (B, K)
    nll = -picked.float().clamp_min(1e-12).log()
    mask = valid.to(nll.device)
    return (nll * mask).sum(), mask.sum()


def point_map_pairs(reference_map: torch.Tensor, target_map: torch.Tensor, pairs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The guide pairs drawn in point maps (the data set's ``reference_points`` /
    ``target_points``, (B, 1, H, W), value ``i`` at pair ``i``, 1-based) as positions: returns
    reference and target (x, y) (B, pairs, 2) and a (B, pairs) bool of the pairs present in both
    maps."""
    batch, _, _, width = reference_map.shape
    values = torch.arange(1, pairs + 1, device=reference_map.device, dtype=reference_map.dtype)

    def positions(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hits = maps.flatten(1)[:, None, :] == values[None, :, None]  # (B, pairs, H*W)
        index = hits.float().argmax(-1)
        xy = torch.stack([index % width, index // width], dim=-1).float()
        return xy, hits.any(-1)

    ref_xy, ref_ok = positions(reference_map)
    tgt_xy, tgt_ok = positions(target_map)
    return ref_xy, tgt_xy, ref_ok & tgt_ok
