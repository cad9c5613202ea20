"""PointNet: official layout, shapes, config inference, gradients."""

from __future__ import annotations

import pytest
import torch

from manganinja.models.point_net import PointNet, point_net_config_from_state_dict


def test_official_default_config_gives_sd15_token_shapes():
    net = PointNet()
    assert net.config.out_channels == (320, 640, 1280, 1280)
    assert net.config.downsamples == (6, 2, 2, 2)
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 512, 512))
    assert [tuple(o.shape) for o in out] == [(1, 4096, 320), (1, 1024, 640), (1, 256, 1280), (1, 64, 1280)]


def test_parameter_names_are_the_official_ones():
    names = set(PointNet().state_dict())
    assert {"blocks.0.0.weight", "blocks.0.2.weight", "blocks.0.4.weight", "blocks.1.0.weight", "blocks.3.0.bias"} <= names
    assert "blocks.0.6.weight" not in names


def test_tokens_are_row_major_feature_maps():
    torch.manual_seed(0)
    net = PointNet(out_channels=(4,), downsamples=(2,))
    x = torch.randn(2, 1, 8, 6)
    feature = net.blocks[0](x)
    assert torch.equal(net(x)[0], feature.flatten(2).transpose(1, 2))
    assert torch.equal(net(x)[0][0, 5], feature[0, :, 1, 2])  # token 5 = row 1, column 2 of width 3


def test_config_is_inferred_from_a_state_dict():
    net = PointNet(out_channels=(8, 16, 16), downsamples=(4, 2, 2))
    assert point_net_config_from_state_dict(net.state_dict()) == {
        "conditioning_channels": 1,
        "out_channels": (8, 16, 16),
        "downsamples": (4, 2, 2),
    }
    with pytest.raises(ValueError, match="not a PointNet"):
        point_net_config_from_state_dict({"conv.weight": torch.zeros(1)})


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        PointNet(out_channels=(8, 16), downsamples=(2,))


def test_every_parameter_gets_a_gradient():
    net = PointNet(out_channels=(8, 16), downsamples=(4, 2))
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 5, 7] = 1
    sum(o.square().sum() for o in net(x)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
