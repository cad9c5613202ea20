"""Build a pipeline from configs with random weights: tiny ones for tests and CPU smoke runs,
the full SD1.5-size architecture for speed/memory benchmarks (no download needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import transformers
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
from transformers.image_processing_utils import BaseImageProcessor

from manganinja.models.condition import ConditionTokens
from manganinja.models.point_net import PointNet

#: DDIM as configured by SD1.5's scheduler_config.json.
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
}

SD15_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}

SD15_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

#: CLIP ViT-L/14 vision tower with its 768-d projection.
CLIP_L14_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
}

TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}

TINY_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [8, 16, 16, 16],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,
    "sample_size": 128,
    "scaling_factor": 0.18215,
}

TINY_CLIP_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
    "projection_dim": 32,
}

#: How :func:`build_components` starts the U-Nets and the ControlNet (see there).
TinyStart = Literal["random", "paper"]

TINY_POINT_NET_CONFIG: dict[str, Any] = {"out_channels": (32, 64), "downsamples": (6, 2)}
SD15_POINT_NET_CONFIG: dict[str, Any] = {"out_channels": (320, 640, 1280, 1280), "downsamples": (6, 2, 2, 2)}


def clip_image_processor() -> BaseImageProcessor:
    """The default ``CLIPImageProcessor`` on its PIL backend (what the official code used)."""
    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return cls()


def build_components(
    size: str = "tiny",
    seed: int = 0,
    controlnet_conditioning_channels: int = 3,
    vae: AutoencoderKL | None = None,
    unet_channels: tuple[int, ...] | None = None,
    start: TinyStart = "random",
    unet_weights: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Randomly initialised pipeline components.

    ``size="tiny"``: a few hundred thousand parameters (tests, CPU smoke runs; 8x8 latent per
    64 px). ``size="sd15"``: the real SD1.5/ControlNet/CLIP-L/PointNet architecture (benchmarks).
    Deterministic for a given ``seed``.

    ``vae``: a given (e.g. trained) autoencoder used instead of the random one; the U-Nets then
    take and predict its ``latent_channels`` channels, and PointNet's first group downsamples by
    the VAE's factor, so its tokens match the latent grid.
    ``unet_channels``: the tiny U-Nets' ``block_out_channels`` (one entry per level; tiny only).
    ``start``: ``"random"`` (tests: two independently random U-Nets, and a ControlNet whose
    zero-initialised outputs are made random so that it acts); ``"paper"`` (a training start
    shaped like the paper's, which starts both U-Nets from the same SD1.5 weights: the two U-Nets
    share one random initialisation, so the reference bank and the denoising U-Net's tokens start
    in one feature space, and the ControlNet keeps its zero-initialised outputs, so it starts
    without effect, as a ControlNet is trained).
    ``unet_weights``: a U-Net state dict (e.g. a stage-0 pretrained denoising U-Net) loaded
    strictly into both U-Nets before the ControlNet is copied from the denoising U-Net; a
    mismatch with the built architecture raises ``RuntimeError`` naming the keys.
    """
    if size not in ("tiny", "sd15"):
        raise ValueError(f"size must be 'tiny' or 'sd15', got {size!r}")
    if start not in ("random", "paper"):
        raise ValueError(f"start must be 'random' or 'paper', got {start!r}")
    tiny = size == "tiny"
    unet_config = dict(TINY_UNET_CONFIG if tiny else SD15_UNET_CONFIG)
    point_net_config = dict(TINY_POINT_NET_CONFIG if tiny else SD15_POINT_NET_CONFIG)
    if unet_channels is not None:
        if not tiny:
            raise ValueError("unet_channels applies to size='tiny' only")
        levels = len(unet_channels)
        unet_config.update(
            block_out_channels=list(unet_channels),
            down_block_types=["CrossAttnDownBlock2D"] * levels,
            up_block_types=["CrossAttnUpBlock2D"] * levels,
        )
        point_net_config["out_channels"] = tuple(unet_channels)
        point_net_config["downsamples"] = (point_net_config["downsamples"][0],) + (2,) * (levels - 1)
    if vae is not None:
        # the U-Nets denoise the given autoencoder's latents, however many channels it has
        unet_config.update(in_channels=vae.config.latent_channels, out_channels=vae.config.latent_channels)
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        point_net_config["downsamples"] = (2 * (factor.bit_length() - 1),) + tuple(point_net_config["downsamples"][1:])
    torch.manual_seed(seed)
    reference_unet = UNet2DConditionModel(**unet_config)
    denoising_unet = UNet2DConditionModel(**unet_config)
    if unet_weights is not None:
        reference_unet.load_state_dict(unet_weights, strict=True)
        denoising_unet.load_state_dict(unet_weights, strict=True)
    elif start == "paper":
        denoising_unet.load_state_dict(reference_unet.state_dict())
    controlnet_kwargs: dict[str, Any] = {"conditioning_channels": controlnet_conditioning_channels}
    if tiny:
        controlnet_kwargs["conditioning_embedding_out_channels"] = (16, 32, 48, 64)
    if vae is not None:  # the line-art embedding downsamples by the VAE's factor
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        widths = (16, 32, 48, 64, 96) if tiny else (16, 32, 96, 256, 512)
        controlnet_kwargs["conditioning_embedding_out_channels"] = widths[: factor.bit_length()]
    controlnet = ControlNetModel.from_unet(denoising_unet, **controlnet_kwargs)
    if start == "random":
        for p in controlnet.parameters():  # from_unet zero-inits the outputs; make them act
            if p.abs().sum() == 0:
                torch.nn.init.normal_(p, std=0.3)
    if vae is None:
        vae = AutoencoderKL(**(TINY_VAE_CONFIG if tiny else SD15_VAE_CONFIG))
    point_net = PointNet(**point_net_config)
    clip_config = CLIPVisionConfig(**(TINY_CLIP_VISION_CONFIG if tiny else CLIP_L14_VISION_CONFIG))
    image_encoder = CLIPVisionModelWithProjection(clip_config).eval()
    feature_extractor = clip_image_processor()
    if tiny:
        feature_extractor.size = {"shortest_edge": 32}
        feature_extractor.crop_size = {"height": 32, "width": 32}
    condition_tokens = ConditionTokens(dim=unet_config["cross_attention_dim"])
    with torch.no_grad():
        condition_tokens.uncond.normal_()
    return {
        "vae": vae.eval(),
        "reference_unet": reference_unet.eval(),
        "denoising_unet": denoising_unet.eval(),
        "controlnet": controlnet.eval(),
        "point_net": point_net.eval(),
        "image_encoder": image_encoder,
        "feature_extractor": feature_extractor,
        "condition_tokens": condition_tokens.eval(),
        "scheduler": DDIMScheduler(**SD15_SCHEDULER_CONFIG),
    }
