"""manganinja: reference-guided line art colorization (MangaNinja, CVPR 2025).

The heavy parts (torch, diffusers) load on first use, so ``from manganinja import PointPairs``
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from manganinja.points import PointPair, PointPairs

__version__ = "0.1.0"

__all__ = ["MangaNinjaPipeline", "PointPair", "PointPairs", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from manganinja.pipeline import MangaNinjaPipeline


def __getattr__(name: str) -> Any:
    # Lazy so that importing the package does not import torch. diffusers' loader also looks
    # up the custom components (PointNet, ConditionTokens) here when reading a saved pipeline.
    if name == "MangaNinjaPipeline":
        from manganinja.pipeline import MangaNinjaPipeline

        return MangaNinjaPipeline
    if name == "PointNet":
        from manganinja.models.point_net import PointNet

        return PointNet
    if name == "ConditionTokens":
        from manganinja.models.condition import ConditionTokens

        return ConditionTokens
    raise AttributeError(f"module 'manganinja' has no attribute {name!r}")
