"""Strict loading of the official layout: missing files and bad state dicts are named."""

from __future__ import annotations

import shutil

import pytest
import torch

from manganinja import MangaNinjaPipeline
from manganinja.models.loading import CheckpointError, check_state_dict, load_state_dict_file
from manganinja.models.point_net import PointNet


@pytest.fixture
def official_copy(official_tiny, tmp_path):
    dst = tmp_path / "checkpoints"
    shutil.copytree(official_tiny / "checkpoints", dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        MangaNinjaPipeline.from_official(tmp_path / "nowhere")


def test_partial_folder_names_each_missing_file(official_copy):
    (official_copy / "MangaNinjia" / "point_net.pth").unlink()
    shutil.rmtree(official_copy / "StableDiffusion" / "vae")
    with pytest.raises(CheckpointError) as info:
        MangaNinjaPipeline.from_official(official_copy)
    message = str(info.value)
    assert str(official_copy / "MangaNinjia" / "point_net.pth") in message
    assert str(official_copy / "StableDiffusion" / "vae" / "config.json") in message


def test_unexpected_and_missing_keys_are_listed(official_copy):
    path = official_copy / "MangaNinjia" / "denoising_unet.pth"
    state = torch.load(path, weights_only=True)
    state["extra.weight"] = torch.zeros(1)
    del state["conv_in.bias"]
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        MangaNinjaPipeline.from_official(official_copy)
    message = str(info.value)
    assert "denoising_unet.pth" in message and "missing keys: conv_in.bias" in message
    assert "unexpected keys: extra.weight" in message


def test_reference_unet_may_lack_only_its_output_head(official_copy):
    path = official_copy / "MangaNinjia" / "reference_unet.pth"
    state = torch.load(path, weights_only=True)
    assert not any(k.startswith(("conv_out.", "conv_norm_out.")) for k in state)
    del state["conv_in.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="missing keys: conv_in.weight"):
        MangaNinjaPipeline.from_official(official_copy)


def test_shape_mismatch_is_reported():
    net = PointNet(out_channels=(8,), downsamples=(2,))
    state = net.state_dict()
    state["blocks.0.0.weight"] = torch.zeros(9, 1, 3, 3)
    with pytest.raises(CheckpointError, match=r"blocks.0.0.weight: checkpoint \(9, 1, 3, 3\) vs model \(8, 1, 3, 3\)"):
        check_state_dict(net, state, "test")


def test_corrupt_weights_file_is_reported(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_state_dict_file(bad)
