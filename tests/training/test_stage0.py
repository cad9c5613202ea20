"""Stage 0 (the domain's own "SD1.5"): the denoising U-Net alone, trained as a plain
unconditional diffusion model; stage 1 starts both U-Nets from its weights."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.training.config import ConfigError, load_config, resolve_config  # noqa: E402
from manganinja.training.trainer import Trainer, TrainingError, build_pipeline  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth0") / "pairs", n=4)


def config(synth_root: Path, out: Path, stage: int, **model) -> object:
    return resolve_config({
        "model": {"init": "tiny", "seed": 0, "tiny_start": "paper", **model},
        "data": {"synthetic": [str(synth_root)], "resolution": 64, "patch_shuffle": {"total_steps": 4}},
        "train": {"output_dir": str(out), "stage": stage, "steps": 2, "batch_size": 2, "checkpoint_every": 2,
                  "learning_rate": 1e-3, "log_every": 1},
    })


@pytest.fixture(scope="module")
def stage0_run(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage0")
    trainer = Trainer(config(synth_root, out, 0))
    before = {n: p.detach().clone() for n, p in trainer.pipe.denoising_unet.named_parameters()}
    others = {c: {n: p.detach().clone() for n, p in getattr(trainer.pipe, c).named_parameters()}
              for c in ("reference_unet", "controlnet", "point_net")}
    result = trainer.train()
    return trainer, result, out, before, others


def test_stage0_trains_only_the_denoising_unet_and_saves_it(stage0_run):
    trainer, result, out, before, others = stage0_run
    assert result.final_dir == out / "final" and (out / "final" / "denoising_unet" / "config.json").is_file()
    assert len(result.losses) == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    assert {id(p) for p in trainer.params} <= {id(p) for p in trainer.pipe.denoising_unet.parameters()}
    changed = [n for n, p in trainer.pipe.denoising_unet.named_parameters() if not torch.equal(p, before[n])]
    assert changed
    for comp, params in others.items():
        for n, p in getattr(trainer.pipe, comp).named_parameters():
            assert torch.equal(p, params[n]), f"{comp}.{n} changed in stage 0"


def test_stage0_is_a_plain_diffusion_model_no_reference_no_controlnet(stage0_run):
    """The stage-0 loss does not depend on the reference picture nor on the line art."""
    trainer, *_ = stage0_run
    from torch.utils.data import default_collate

    batch = default_collate([trainer.dataset[(0, 0)], trainer.dataset[(1, 0)]])
    other = dict(batch)
    other["reference"] = -batch["reference"]
    other["lineart"] = -batch["lineart"]
    with torch.no_grad():
        a = trainer.compute_loss(batch, 5, 0)
        b = trainer.compute_loss(other, 5, 0)
    assert torch.equal(a, b)


def test_stage1_starts_both_unets_from_stage0_strictly(stage0_run, synth_root, tmp_path):
    _, _, out, _, _ = stage0_run
    cfg = config(synth_root, tmp_path / "s1", 1, unet_start=str(out / "final"))
    pipe = build_pipeline(cfg)
    from diffusers import UNet2DConditionModel

    saved = UNet2DConditionModel.from_pretrained(out / "final" / "denoising_unet").state_dict()
    for unet in (pipe.reference_unet, pipe.denoising_unet):
        state = unet.state_dict()
        assert state.keys() == saved.keys()
        assert all(torch.equal(state[k], saved[k]) for k in saved)
    # the ControlNet's encoder is copied from the stage-0 U-Net, its outputs start at zero
    assert torch.equal(pipe.controlnet.conv_in.weight, saved["conv_in.weight"])
    assert all(not torch.any(b.weight) for b in pipe.controlnet.controlnet_down_blocks)
    # and a random start differs from it
    random_start = build_pipeline(config(synth_root, tmp_path / "r", 1))
    assert not torch.equal(random_start.denoising_unet.conv_in.weight, saved["conv_in.weight"])


def test_unet_start_of_another_width_or_no_unet_is_a_clear_error(stage0_run, synth_root, tmp_path):
    _, _, out, _, _ = stage0_run
    with pytest.raises(TrainingError, match="does not fit model.unet_channels"):
        build_pipeline(config(synth_root, tmp_path / "w", 1, unet_start=str(out / "final"), unet_channels=[16, 32]))
    with pytest.raises(TrainingError, match="holds no U-Net"):
        build_pipeline(config(synth_root, tmp_path / "n", 1, unet_start=str(tmp_path)))
    with pytest.raises(ConfigError, match="unet_start applies to model.init 'tiny'"):
        resolve_config({"model": {"init": "pretrained", "path": "x", "unet_start": str(out)}})


@pytest.mark.parametrize("name", ["tiny_synthetic_stage0.yaml", "tiny_synthetic_stage1_from_stage0.yaml"])
def test_the_stage0_configs_parse(name):
    cfg = load_config(CONFIGS / name)
    if "stage0" in name and "from" not in name:
        assert cfg.train.stage == 0
    else:
        assert cfg.train.stage == 1 and cfg.model.unet_start
