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

    ``pair_code_channels`` (0: the official model) is a departure from the paper, for models
    trained here: the point map's value ``i`` (pair ``i``, ``1 <= i <= pair_code_count``) is
    replaced, before the first convolution, by a fixed code of that many channels, the ``i``-th of
    ``pair_code_count`` (the pair limit, ``manganinja.points.MAX_POINT_PAIRS`` for models trained
    here) orthonormal vectors (times ``sqrt(pair_code_channels)``) drawn from
    ``pair_code_seed``; 0 stays the zero vector. With the value itself as input, the embeddings of
    different pairs come out nearly parallel and differ mostly in norm, so attention cannot single
    out a pair's reference token (docs/reproduce.md, "The point path on its own"); orthonormal
    codes differ by direction. The codes are not weights: they are rebuilt from the config.

    ``region_maps`` (False: the official model) is not used by the network itself: it records
    that the model was trained on region point maps (:mod:`manganinja.point_regions`, a departure
    from the paper), so the pipeline draws its maps that way.
    """

    @register_to_config
    def __init__(
        self,
        conditioning_channels: int = 1,
        out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        downsamples: tuple[int, ...] = (6, 2, 2, 2),
        pair_code_channels: int = 0,
        pair_code_count: int = 0,
        pair_code_seed: int = 0,
        region_maps: bool = False,
    ) -> None:
        super().__init__()
        if len(out_channels) != len(downsamples):
            raise ValueError(
                f"out_channels {tuple(out_channels)} and downsamples {tuple(downsamples)} differ in length"
            )
        if pair_code_channels:
            if conditioning_channels != 1:
                raise ValueError(f"pair codes need a one-channel point map, got conditioning_channels {conditioning_channels}")
            if pair_code_count < 1:
                raise ValueError(f"pair codes need pair_code_count >= 1 (the most pairs a point map holds), got {pair_code_count}")
            if pair_code_channels < pair_code_count:
                raise ValueError(
                    f"pair_code_channels {pair_code_channels} < pair_code_count {pair_code_count}: "
                    "orthonormal codes need at least one channel per pair"
                )
        self.register_buffer("pair_codes", pair_codes(pair_code_channels, pair_code_count, pair_code_seed), persistent=False)
        self.blocks = nn.ModuleList()
        channels = pair_code_channels or conditioning_channels
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
        x = self.code(point_map) if self.config.pair_code_channels else point_map
        for block in self.blocks:
            x = block(x)
            out.append(x.flatten(2).transpose(1, 2))
        return out


    def code(self, point_map: torch.Tensor) -> torch.Tensor:
        """The (B, 1, H, W) point map as pair codes (B, pair_code_channels, H, W): pixel value
        ``i`` becomes code ``i`` (0: zeros). A value that is not a pair index raises ``ValueError``."""
        index = point_map[:, 0].round().long()
        count = int(self.config.pair_code_count)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) > count):
            raise ValueError(f"point map values must be pair indices 0..{count}, got {int(index.min())}..{int(index.max())}")
        table = torch.cat([self.pair_codes.new_zeros(1, self.pair_codes.shape[1]), self.pair_codes])
        return table.to(point_map.dtype)[index].permute(0, 3, 1, 2)


def pair_codes(channels: int, count: int, seed: int) -> torch.Tensor:
    """``count`` orthonormal rows of ``channels`` entries (times ``sqrt(channels)``), the same for
    the same arguments on every machine; shape (count, channels), empty when ``channels`` is 0."""
    if channels == 0:
        return torch.zeros(0, 0)
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(channels, count, generator=generator, dtype=torch.float64))
    return (q.T * channels**0.5).to(torch.float32)


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
