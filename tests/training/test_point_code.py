"""The departures from the paper's points, for models trained here (docs/reproduce.md):
``model.point_code`` (a stage 2 whose PointNet gives each pair index an orthonormal code starts
that PointNet anew from the saved model and trains only it), ``model.point_regions`` (region
point maps, saved with PointNet and driving the samples) and ``model.point_hints`` (the guides'
color hints in a widened ControlNet)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.pipeline import MangaNinjaPipeline, build_pipeline as build_random  # noqa: E402
from manganinja.training.config import resolve_config  # noqa: E402
from manganinja.training.trainer import Trainer, build_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "pipe"
    build_random("tiny", seed=0).save_pretrained(folder, safe_serialization=True)
    return folder


def test_stage2_with_point_code_trains_a_fresh_coded_point_net_only(saved_model, tmp_path):
    pairs = write_synthetic(tmp_path / "pairs", n=4)
    cfg = resolve_config({
        "model": {"init": "pretrained", "path": str(saved_model), "point_code": 24, "seed": 3},
        "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 24, "drop": {"points": 0.0, "reference": 0.0}},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 2, "batch_size": 2,
                  "checkpoint_every": 2, "learning_rate": 1e-2, "log_every": 1},
    })
    trainer = Trainer(cfg)
    original = MangaNinjaPipeline.from_pretrained(saved_model)
    assert trainer.pipe.point_net.config.pair_code_channels == 24
    assert original.point_net.config.pair_code_channels == 0
    before = {n: p.detach().clone() for n, p in trainer.pipe.point_net.named_parameters()}
    result = trainer.train()
    after = MangaNinjaPipeline.from_pretrained(result.final_dir)
    assert after.point_net.config.pair_code_channels == 24
    assert any(not torch.equal(p, before[n]) for n, p in after.point_net.named_parameters())
    for name in ("reference_unet", "denoising_unet", "controlnet"):
        saved = dict(getattr(original, name).named_parameters())
        for n, p in getattr(after, name).named_parameters():
            assert torch.equal(p, saved[n]), f"{name}.{n} changed in stage 2"


def test_point_code_equal_to_the_models_keeps_its_point_net(saved_model, tmp_path):
    cfg = resolve_config({
        "model": {"init": "pretrained", "path": str(saved_model), "point_code": 0},
        "data": {"synthetic": [str(tmp_path)], "resolution": 64},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 1},
    })
    pipe = build_pipeline(cfg)
    original = MangaNinjaPipeline.from_pretrained(saved_model)
    assert all(torch.equal(p, q) for p, q in zip(pipe.point_net.parameters(), original.point_net.parameters()))


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
    with pytest.raises(ConfigError, match="point_hints: False does not fit"):
        Trainer(config(final, tmp_path / "off", point_hints=False))


def test_point_loss_over_the_hints_takes_every_latent_pixel_they_cover(saved_model, tmp_path):
    from manganinja.training.config import ConfigError

    def trainer_with(area: str, **model) -> Trainer:
        cfg = config(saved_model, tmp_path / f"{area}{len(model)}", **model)
        return Trainer(cfg.model_copy(update={"train": cfg.train.model_copy(update={"point_loss": 2.0, "point_loss_area": area})}))

    hinted = trainer_with("hints", point_hints=True)
    side = 64 // hinted.pipe.vae_scale_factor
    prediction, target = torch.zeros(1, 4, side, side), torch.zeros(1, 4, side, side)
    target[..., : side // 2, :] = 1.0  # wrong on the top half only
    cond = torch.zeros(1, 7, 64, 64)
    points = torch.zeros(1, 1, 64, 64)
    points[0, 0, 60, 60] = 1  # a guide in the bottom half, its hinted region the top half
    cond[0, 6, :32] = 1
    inputs = {"lineart": cond, "target_points": points, "point_keep": torch.tensor([True])}
    assert float(hinted.point_loss(prediction, target, inputs)) == pytest.approx(2.0)  # over the hints: all wrong
    at_points = trainer_with("points", point_hints=True)
    assert float(at_points.point_loss(prediction, target, inputs)) == pytest.approx(0.0)  # at the guide: right
    with pytest.raises(ConfigError, match="point_loss_area: hints needs a hint model"):
        trainer_with("hints")


def no_loading(cfg):
    """Stands in for the model loading in tests of refusals that must come before it."""
    raise AssertionError("a model was loaded before the config was refused")


def test_point_loss_over_the_hints_without_a_hint_model_is_refused_before_any_model_loads(saved_model, tmp_path, monkeypatch):
    import manganinja.training.trainer as T
    from manganinja.training.config import ConfigError

    monkeypatch.setattr(T, "_initial_pipeline", no_loading)
    cfg = config(saved_model, tmp_path)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"point_loss": 1.0, "point_loss_area": "hints"})})
    with pytest.raises(ConfigError, match="point_loss_area: hints needs a hint model"):
        build_pipeline(cfg)
    with pytest.raises(ConfigError, match="point_loss_area: hints needs a hint model"):
        build_pipeline(cfg.model_copy(update={"model": cfg.model.model_copy(update={"init": "tiny", "path": None})}))


def test_the_controlnets_condition_channels_are_read_from_its_config_before_loading(saved_model, tmp_path, monkeypatch):
    import json

    import manganinja.training.trainer as T
    from manganinja.point_regions import HINT_CHANNELS
    from manganinja.training.config import ConfigError

    model = config(saved_model, tmp_path).model
    assert T.planned_condition_channels(model) == 3  # the saved model's ControlNet reads the line art only
    assert T.planned_condition_channels(model.model_copy(update={"init": "tiny", "path": None})) == 3
    assert T.planned_condition_channels(model.model_copy(update={"path": str(tmp_path / "missing")})) is None
    hinted = tmp_path / "hinted" / "controlnet"
    hinted.mkdir(parents=True)
    (hinted / "config.json").write_text(json.dumps({"conditioning_channels": 3 + HINT_CHANNELS}))
    assert T.planned_condition_channels(model.model_copy(update={"path": str(hinted.parent)})) == 3 + HINT_CHANNELS

    monkeypatch.setattr(T, "_initial_pipeline", no_loading)
    cfg = config(hinted.parent, tmp_path / "off", point_hints=False)
    with pytest.raises(ConfigError, match="point_hints: False does not fit the model's ControlNet of 7"):
        T.build_pipeline(cfg)
