"""The training objective (manganinja.training.losses) and the noise schedule a config trains."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from manganinja.models.factory import SD15_SCHEDULER_CONFIG
from manganinja.training.config import resolve_config
from manganinja.training.losses import prediction_target


def _noised(scheduler: DDPMScheduler):
    g = torch.Generator().manual_seed(0)
    latents, noise = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    return latents, noise, torch.tensor([0, 500, 999])


def test_epsilon_target_is_the_noise():
    scheduler = DDPMScheduler.from_config(SD15_SCHEDULER_CONFIG)
    latents, noise, t = _noised(scheduler)
    assert torch.equal(prediction_target(scheduler, latents, noise, t), noise)


def test_v_target_is_diffusers_velocity_and_recovers_the_latents():
    scheduler = DDPMScheduler.from_config({**SD15_SCHEDULER_CONFIG, "prediction_type": "v_prediction", "rescale_betas_zero_snr": True})
    latents, noise, t = _noised(scheduler)
    v = prediction_target(scheduler, latents, noise, t)
    abar = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    assert torch.allclose(v, abar.sqrt() * noise - (1 - abar).sqrt() * latents, atol=1e-6)
    noisy = scheduler.add_noise(latents, noise, t)
    # x0 = sqrt(abar) x_t - sqrt(1 - abar) v: exact at every timestep, the last (pure noise) included
    assert torch.allclose(abar.sqrt() * noisy - (1 - abar).sqrt() * v, latents, atol=1e-5)
    assert float(scheduler.alphas_cumprod[-1]) == 0.0


def test_unknown_prediction_type_is_refused():
    scheduler = DDPMScheduler.from_config({**SD15_SCHEDULER_CONFIG, "prediction_type": "sample"})
    with pytest.raises(ValueError, match="cannot be trained"):
        prediction_target(scheduler, *_noised(scheduler))


def test_config_schedule_is_written_into_the_trained_model(tmp_path):
    from manganinja.training.trainer import build_pipeline

    cfg = resolve_config({"model": {"init": "tiny", "schedule": {"prediction_type": "v_prediction", "zero_terminal_snr": True,
                                                                 "timestep_spacing": "trailing"}},
                          "data": {"synthetic": [str(tmp_path)]}})
    scheduler = build_pipeline(cfg).scheduler
    assert scheduler.config.prediction_type == "v_prediction" and scheduler.config.timestep_spacing == "trailing"
    assert float(scheduler.alphas_cumprod[-1]) == 0.0
    plain = build_pipeline(resolve_config({"model": {"init": "tiny"}, "data": {"synthetic": [str(tmp_path)]}})).scheduler
    assert plain.config.prediction_type == "epsilon" and float(plain.alphas_cumprod[-1]) > 0


def test_a_v_prediction_zero_snr_model_samples(tmp_path):
    """The pipeline samples a model trained with that schedule (DDIM reads it from the saved
    scheduler config): finite pictures, and the first of 3 trailing timesteps is the last one."""
    import numpy as np
    from PIL import Image

    from manganinja.lines import Lines
    from manganinja.training.trainer import build_pipeline

    cfg = resolve_config({"model": {"init": "tiny", "schedule": {"prediction_type": "v_prediction", "zero_terminal_snr": True,
                                                                 "timestep_spacing": "trailing"}},
                          "data": {"synthetic": [str(tmp_path)]}})
    pipe = build_pipeline(cfg)
    pipe.save_pretrained(tmp_path / "model")
    from manganinja.pipeline import MangaNinjaPipeline

    loaded = MangaNinjaPipeline.from_pretrained(tmp_path / "model")
    assert loaded.scheduler.config.prediction_type == "v_prediction"
    loaded.scheduler.set_timesteps(3)
    assert int(loaded.scheduler.timesteps[0]) == 999
    rng = np.random.default_rng(0)
    reference = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    lines = Lines.from_input(rng.random((64, 64)).astype(np.float32))
    out = loaded(reference=reference, lineart=lines, num_inference_steps=3, resolution=64, progress=False, output_type="np").images[0]
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8 and out.std() > 0
