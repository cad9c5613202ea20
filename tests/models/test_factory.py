"""Random components (manganinja.models.factory.build_components): the two starts."""

from __future__ import annotations

import pytest
import torch

from manganinja.models.factory import build_components


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_random_start_has_independent_unets_and_an_acting_controlnet():
    parts = build_components("tiny", seed=0)
    assert not _same(parts["reference_unet"], parts["denoising_unet"])
    assert all(p.abs().sum() > 0 for p in parts["controlnet"].parameters())


def test_paper_start_shares_one_unet_initialisation_and_zero_controlnet_outputs():
    parts = build_components("tiny", seed=0, unet_channels=(32, 64), start="paper")
    assert _same(parts["reference_unet"], parts["denoising_unet"])
    controlnet = parts["controlnet"]
    outputs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block, controlnet.controlnet_cond_embedding.conv_out]
    assert all(p.abs().sum() == 0 for block in outputs for p in block.parameters())
    # no effect at the start: zero residuals for any input
    down, mid = controlnet(torch.randn(1, 4, 8, 8), torch.tensor(10), encoder_hidden_states=torch.randn(1, 1, controlnet.config.cross_attention_dim),
                           controlnet_cond=torch.randn(1, 3, 64, 64), return_dict=False)
    assert all(not d.detach().any() for d in down) and not mid.detach().any()
    # the same seed gives the same start
    again = build_components("tiny", seed=0, unet_channels=(32, 64), start="paper")
    assert _same(parts["denoising_unet"], again["denoising_unet"])


def test_unknown_start_is_refused():
    with pytest.raises(ValueError, match="start must be"):
        build_components("tiny", start="sd15")  # type: ignore[arg-type]


def test_unets_take_the_given_autoencoders_latent_channels():
    """An autoencoder with 8 latent channels (docs/reproduce.md, fifteenth attempt): the U-Nets
    (and the ControlNet copied from them) take and predict 8 channels, and a pipeline of these
    parts samples a picture through it."""
    from diffusers import AutoencoderKL

    from manganinja.pipeline import MangaNinjaPipeline

    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
                        up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[16, 16], layers_per_block=1,
                        latent_channels=8, norm_num_groups=8)
    parts = build_components("tiny", seed=0, vae=vae, unet_channels=(32, 64), start="paper")
    for name in ("reference_unet", "denoising_unet", "controlnet"):
        assert parts[name].config.in_channels == 8
    assert parts["denoising_unet"].config.out_channels == 8
    pipe = MangaNinjaPipeline(**parts)
    from PIL import Image

    reference = Image.new("RGB", (64, 64), (200, 40, 40))
    lineart = Image.new("RGB", (64, 64), (0, 0, 0))
    out = pipe(reference, lineart, num_inference_steps=2, resolution=64, progress=False,
               generator=torch.Generator().manual_seed(0))
    assert out.images[0].size == (64, 64)
