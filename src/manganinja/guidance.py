"""Multi classifier-free guidance: combine the three branch predictions into one.

All functions share one signature: ``(eps_uncond, eps_ref, eps_point, scale_ref, scale_point)``
with tensors of identical shape (B, 4, h, w); they return a tensor of that shape.
"""

from __future__ import annotations

from typing import Callable

import torch

GuidanceFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]


def official_guidance(
    eps_uncond: torch.Tensor, eps_ref: torch.Tensor, eps_point: torch.Tensor, scale_ref: float, scale_point: float
) -> torch.Tensor:
    """The released code's combination (default):
    ``((u + s_ref (r - u)) + (r + s_pt (p - r))) / 2``, in that order of operations."""
    ref_guided = eps_uncond + scale_ref * (eps_ref - eps_uncond)
    point_guided = eps_ref + scale_point * (eps_point - eps_ref)
    return (ref_guided + point_guided) / 2


def paper_guidance(
    eps_uncond: torch.Tensor, eps_ref: torch.Tensor, eps_point: torch.Tensor, scale_ref: float, scale_point: float
) -> torch.Tensor:
    """The paper's Eq. 3: ``u + s_ref (r - u) + s_pt (p - r)``."""
    return eps_uncond + scale_ref * (eps_ref - eps_uncond) + scale_point * (eps_point - eps_ref)


GUIDANCE: dict[str, GuidanceFn] = {"official": official_guidance, "paper": paper_guidance}


def get_guidance(name: str) -> GuidanceFn:
    """Look up a guidance formula by name (``"official"`` or ``"paper"``)."""
    try:
        return GUIDANCE[name]
    except KeyError:
        raise ValueError(f"guidance must be one of {sorted(GUIDANCE)}, got {name!r}") from None
