"""``model.point_regions``: a stage 2 on region point maps (a departure from the paper) records
them in PointNet's config, and the trainer's samples follow the model's PointNet."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.pipeline import MangaNinjaPipeline, build_pipeline as build_random  # noqa: E402
from manganinja.training.config import resolve_config  # noqa: E402
from manganinja.training.trainer import Trainer  # noqa: E402


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "pipe"
    build_random("tiny", seed=0).save_pretrained(folder, safe_serialization=True)
    return folder


def config(saved: Path, tmp_path: Path, **model) -> dict:
    pairs = write_synthetic(tmp_path / "pairs", n=2)
    return resolve_config({
        "model": {"init": "pretrained", "path": str(saved), **model},
        "data": {"synthetic": [str(pairs)], "resolution": 64, "drop": {"points": 0.0, "reference": 0.0, "lineart": 0.0}},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 1, "batch_size": 1,
                  "checkpoint_every": 1, "log_every": 1},
    })


def test_point_regions_is_saved_with_the_point_net_and_drives_the_samples(saved_model, tmp_path):
    trainer = Trainer(config(saved_model, tmp_path, point_regions=True))
    original = MangaNinjaPipeline.from_pretrained(saved_model)
    assert trainer.dataset.region_maps and trainer.pipe.point_net.config.region_maps
    assert not original.point_net.config.region_maps
    sample = trainer.dataset[(0, 0)]
    assert int((sample["target_points"] > 0).sum()) > sample["num_points"]
    # the weights are kept: only the maps it reads change
    assert all(torch.equal(p, q) for p, q in zip(trainer.pipe.point_net.parameters(), original.point_net.parameters()))
    final = trainer.train().final_dir
    assert MangaNinjaPipeline.from_pretrained(final).point_net.config.region_maps


def test_a_region_map_model_keeps_its_maps_when_the_config_is_silent(saved_model, tmp_path):
    first = Trainer(config(saved_model, tmp_path / "a", point_regions=True)).train().final_dir
    again = Trainer(config(first, tmp_path / "b"))
    assert again.dataset.region_maps and again.pipe.point_net.config.region_maps
    off = Trainer(config(first, tmp_path / "c", point_regions=False))
    assert not off.dataset.region_maps


def test_point_hints_widen_the_controlnet_with_zero_weights_and_the_samples_carry_them(saved_model, tmp_path):
    from manganinja.training.config import ConfigError

    trainer = Trainer(config(saved_model, tmp_path, point_hints=True))
    original = MangaNinjaPipeline.from_pretrained(saved_model)
    wide, narrow = trainer.pipe.controlnet, original.controlnet
    assert wide.config.conditioning_channels == 7 and narrow.config.conditioning_channels == 3
    assert trainer.dataset.hints and trainer.dataset[(0, 0)]["lineart"].shape[0] == 7
    # the new channels start at zero weight: any hint leaves the output as it was
    torch.manual_seed(0)
    side = 64 // original.vae_scale_factor
    latents, cond = torch.randn(1, 4, side, side), torch.rand(1, 3, 64, 64) * 2 - 1
    context = torch.randn(1, 1, narrow.config.cross_attention_dim)
    with torch.no_grad():
        down_n, mid_n = narrow(latents, 10, encoder_hidden_states=context, controlnet_cond=cond, return_dict=False)
        down_w, mid_w = wide(latents, 10, encoder_hidden_states=context,
                             controlnet_cond=torch.cat([cond, torch.rand(1, 4, 64, 64)], 1), return_dict=False)
    assert torch.allclose(mid_n, mid_w, atol=1e-5) and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(down_n, down_w))
    final = trainer.train().final_dir
    assert MangaNinjaPipeline.from_pretrained(final).takes_hints
    with pytest.raises(ConfigError, match="point_hints: False"):
        Trainer(config(final, tmp_path / "off", point_hints=False))
