"""PointNet: encodes a point map into one token embedding per U-Net scale."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PointNet(ModelMixin, ConfigMixin):
    """Stride-2 3x3 convolutions with SiLU, one group per U-Net scale.

    Group ``i`` has ``downsamples[i] // 2`` convolutions (each followed by SiLU) with
    ``out_channels[i]`` channels, and takes the previous group's output. With the official config
    ``out_channels=(320, 640, 1280, 1280)``, ``downsamples=(6, 2, 2, 2)`` a 512x512 map gives
    tokens at 64x64, 32x32, 16x16 and 8x8: the shapes of the SD1.5 U-Net's self-attention tokens.

    Parameter names (``blocks.{i}.{2j}.weight``) are those of the official checkpoint.
    """

    @register_to_config
    def __init__(
        self,
        conditioning_channels: int = 1,
        out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        downsamples: tuple[int, ...] = (6, 2, 2, 2),
    ) -> None:
        super().__init__()
        if len(out_channels) != len(downsamples):
            raise ValueError(
                f"out_channels {tuple(out_channels)} and downsamples {tuple(downsamples)} differ in length"
            )
        self.blocks = nn.ModuleList()
        channels = conditioning_channels
        for out, down in zip(out_channels, downsamples):
            if down < 2:
                raise ValueError(f"downsamples entries must be >= 2, got {down}")
            layers: list[nn.Module] = []
            for _ in range(down // 2):
                layers += [nn.Conv2d(channels, out, kernel_size=3, stride=2, padding=1), nn.SiLU()]
                channels = out
            self.blocks.append(nn.Sequential(*layers))

    def forward(self, point_map: torch.Tensor) -> list[torch.Tensor]:
        """Encode ``point_map`` of shape (B, 1, H, W) (0 background, ``i`` at pair ``i``).

        Returns one tensor per scale, shaped (B, H_s * W_s, C_s), tokens in row-major order
        like the U-Net's flattened feature maps.
        """
        out = []
        x = point_map
        for block in self.blocks:
            x = block(x)
            out.append(x.flatten(2).transpose(1, 2))
        return out


def point_net_config_from_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, object]:
    """Infer ``PointNet`` config (channels, convolutions per scale) from an official state dict."""
    groups: dict[int, list[int]] = {}
    in_channels = None
    for key, tensor in state_dict.items():
        parts = key.split(".")
        if len(parts) != 4 or parts[0] != "blocks" or parts[3] != "weight":
            continue
        group, layer = int(parts[1]), int(parts[2])
        groups.setdefault(group, []).append(layer)
        if group == 0 and layer == 0:
            in_channels = int(tensor.shape[1])
    if not groups or in_channels is None:
        raise ValueError("state dict has no 'blocks.0.0.weight': not a PointNet checkpoint")
    out_channels = tuple(int(state_dict[f"blocks.{g}.0.weight"].shape[0]) for g in sorted(groups))
    downsamples = tuple(2 * len(groups[g]) for g in sorted(groups))
    return {
        "conditioning_channels": in_channels,
        "out_channels": out_channels,
        "downsamples": downsamples,
    }
