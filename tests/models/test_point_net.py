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


def _coded(**kw) -> PointNet:
    torch.manual_seed(0)
    return PointNet(out_channels=(8, 16), downsamples=(4, 2), pair_code_channels=24, pair_code_count=24, **kw)


def test_pair_codes_are_orthonormal_and_the_same_from_the_config():
    net = _coded()
    codes = net.pair_codes
    assert codes.shape == (24, 24)
    gram = codes @ codes.T / 24
    assert torch.allclose(gram, torch.eye(24), atol=1e-5)
    assert torch.equal(_coded().pair_codes, codes)
    assert not torch.equal(_coded(pair_code_seed=1).pair_codes, codes)
    assert "pair_codes" not in net.state_dict()  # rebuilt from the config, not weights
    assert PointNet(out_channels=(8, 16), downsamples=(4, 2)).pair_codes.numel() == 0


def test_a_pair_index_becomes_its_code_at_its_pixel():
    net = _coded()
    point_map = torch.zeros(1, 1, 16, 16)
    point_map[0, 0, 3, 5] = 7
    point_map[0, 0, 10, 2] = 24
    coded = net.code(point_map)
    assert coded.shape == (1, 24, 16, 16)
    assert torch.equal(coded[0, :, 3, 5], net.pair_codes[6])
    assert torch.equal(coded[0, :, 10, 2], net.pair_codes[23])
    assert coded[0, :, 0, 0].abs().sum() == 0  # background: no code
    # what pairs 1 and 2 add at their token point in different directions with codes, and in
    # nearly the same one with the paper's value coding (docs/reproduce.md, the point path)
    assert _pair_cosine(net) < 0.5
    torch.manual_seed(0)
    assert _pair_cosine(PointNet(out_channels=(8, 16), downsamples=(4, 2))) > 0.9


def _pair_cosine(net: PointNet) -> float:
    """Cosine between what pair 1 and pair 2, drawn at the same pixel, add to the 8x8 token embedding there."""
    maps = torch.zeros(3, 1, 16, 16)
    maps[1, 0, 3, 5], maps[2, 0, 3, 5] = 1, 2
    with torch.no_grad():
        tokens = net(maps)[0]  # (3, 64, 8)
    one, two = tokens[1] - tokens[0], tokens[2] - tokens[0]
    token = int(one.norm(dim=1).argmax())
    return float(torch.nn.functional.cosine_similarity(one[token], two[token], dim=0))


def test_a_point_map_value_that_is_not_a_pair_index_is_refused():
    net = _coded()
    with pytest.raises(ValueError, match="pair indices 0..24"):
        net(torch.full((1, 1, 16, 16), 25.0))


def test_pair_coded_config_needs_a_code_per_pair():
    with pytest.raises(ValueError, match="at least one channel per pair"):
        PointNet(out_channels=(8,), downsamples=(2,), pair_code_channels=8, pair_code_count=24)
    with pytest.raises(ValueError, match="pair_code_count >= 1"):
        PointNet(out_channels=(8,), downsamples=(2,), pair_code_channels=8)


def test_pair_coded_point_net_round_trips_through_save_pretrained(tmp_path):
    net = _coded()
    net.save_pretrained(tmp_path)
    loaded = PointNet.from_pretrained(tmp_path)
    point_map = torch.zeros(1, 1, 16, 16)
    point_map[0, 0, 4, 4] = 3
    assert loaded.config.pair_code_channels == 24
    assert all(torch.equal(a, b) for a, b in zip(loaded(point_map), net(point_map)))
