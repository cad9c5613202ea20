"""Training MangaNinja on accelerate.

One optimisation step (stage 1; stage 2 freezes everything but PointNet):

1. Without gradients: the VAE encodes the target (latent sample) and the reference (posterior
   mean), both x scaling factor; CLIP encodes the reference into the context token, replaced by
   the unconditional token for rows whose reference is dropped.
2. The reference U-Net runs on the reference latent at timestep 0 and writes its attention bank
   (the processors of :mod:`manganinja.models.reference_attention`).
3. PointNet encodes the reference and target point maps.
4. Noise is added to the target latent at a random timestep (DDPM schedule of the pipeline's
   scheduler config); the ControlNet reads the line-art condition, and the denoising U-Net predicts
   the noise with every row in the :attr:`Branch.POINT` layout (Q/K get the point embeddings, K/V
   the bank). Condition dropping gives each row the layout of the inference branch it trains:
   rows whose points are dropped get no point embeddings (the REF branch), rows whose reference
   is dropped get neither the bank (masked out by ``bank_keep``) nor point embeddings (the UNCOND
   branch); a row with an empty, undropped point map keeps PointNet's embedding of it (the POINT
   branch of a call without points).
5. Loss: MSE between the prediction and its target: the noise (``epsilon`` scheduler, SD1.5's)
   or the velocity (``v_prediction``, e.g. with a zero-terminal-SNR schedule: ``model.schedule``).

Randomness of a step (noise, timesteps, latent sampling) comes from a generator seeded by
(seed, step, micro-batch, process), and the data of a step is a pure function of the step
(:class:`~manganinja.data.dataset.StepSampler`), so a resumed run continues exactly where an
uninterrupted one would.

Output folder::

    config.yaml                      resolved config of the run
    logs/                            TensorBoard (loss, lr)
    checkpoints/checkpoint-000100/   state/ (accelerate: weights .safetensors, optimizer, lr
                                     scheduler, RNG), pipeline/ (save_pretrained layout),
                                     trainer_state.json, config.yaml
    final/                           the trained pipeline (save_pretrained layout) + config.yaml
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, ControlNetModel, DDPMScheduler, UNet2DConditionModel
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.utils.data import DataLoader

from manganinja.data.dataset import PairDataset, StepSampler, SyntheticPairSource, VideoPairSource, curriculum_pools
from manganinja.data.video_pairs import PairIndexSettings
from manganinja.models.loading import read_json
from manganinja.models.point_net import PointNet
from manganinja.point_regions import HINT_CHANNELS, HINTED_CONDITION_CHANNELS, LINEART_CONDITION_CHANNELS
from manganinja.points import MAX_POINT_PAIRS
from manganinja.models.reference_attention import Branch, PointEmbeddings, ReferenceState, attention_weights
from manganinja.training.config import ConfigError, MatchBranch, ModelConfig, TrainConfig, TrainSection, dump_config
from manganinja.training.losses import guide_point_loss, point_map_pairs, prediction_loss, prediction_target, row_nll, sample_noise, sample_timesteps, tokens_at
from manganinja.training.target_latents import PairIndices, TargetLatents

if TYPE_CHECKING:  # pragma: no cover
    from manganinja.pipeline import MangaNinjaPipeline

logger = logging.getLogger(__name__)

#: Components trained in each stage (pipeline attribute names).
STAGE_MODULES: dict[int, tuple[str, ...]] = {
    0: ("denoising_unet",),
    1: ("reference_unet", "denoising_unet", "controlnet", "point_net"),
    2: ("point_net",),
}
TRAINED_COMPONENTS: tuple[str, ...] = STAGE_MODULES[1]
CHECKPOINT_PREFIX = "checkpoint-"


class TrainingError(ValueError):
    """Training cannot start or resume (names the bad path or value)."""


# --------------------------------------------------------------------------------------------
# Model construction
# --------------------------------------------------------------------------------------------


def build_pipeline(cfg: TrainConfig) -> MangaNinjaPipeline:
    """The pipeline to train, initialised as ``cfg.model`` says (see :class:`ModelConfig`), with
    the noise schedule of ``cfg.model.schedule`` written into its scheduler."""
    check_point_hints(cfg)
    pipe = _initial_pipeline(cfg)
    if cfg.model.point_code is not None and pipe.point_net.config.pair_code_channels != cfg.model.point_code:
        pipe.register_modules(point_net=recoded_point_net(pipe.point_net, cfg.model.point_code, cfg.model.seed))
    if cfg.model.point_regions is not None:
        pipe.point_net.register_to_config(region_maps=cfg.model.point_regions)
    if cfg.model.point_hints and not pipe.takes_hints:  # a 3-channel ControlNet (check_point_hints)
        pipe.register_modules(controlnet=hinted_controlnet(pipe.controlnet))
    updates = cfg.model.schedule.scheduler_updates()
    if updates:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, **updates)
    return pipe


def planned_condition_channels(model: ModelConfig) -> int | None:
    """The condition channels of the ControlNet ``model`` will load, told before any weights are
    loaded: for ``init: pretrained`` from the saved ControlNet's ``config.json`` (``None`` when it
    cannot be read: the load then says why); a new, SD1.5 or official ControlNet reads the RGB
    line art (3)."""
    if model.init != "pretrained" or model.path is None:
        return LINEART_CONDITION_CHANNELS
    try:
        return int(read_json(Path(model.path) / "controlnet" / "config.json")["conditioning_channels"])
    except (OSError, ValueError, KeyError, TypeError):  # CheckpointError is a ValueError
        return None


def check_point_hints(cfg: TrainConfig) -> None:
    """Refuse, before any model loads, a ``model.point_hints`` the model's ControlNet cannot take
    (hints cannot be taken away from a hint model, nor added to one of other than 3 channels) and
    ``train.point_loss_area: hints`` for a model that will not take hints (:class:`ConfigError`)."""
    channels = planned_condition_channels(cfg.model)
    if channels is None:
        return
    has_hints, wanted = channels == HINTED_CONDITION_CHANNELS, cfg.model.point_hints
    if wanted is not None and wanted != has_hints and (not wanted or channels != LINEART_CONDITION_CHANNELS):
        raise ConfigError(f"model.point_hints: {wanted} does not fit the model's ControlNet of {channels} condition "
                          "channels (hints cannot be taken away from a hint model); leave model.point_hints unset")
    if cfg.train.point_loss_area == "hints" and not (has_hints if wanted is None else wanted):
        raise ConfigError("train.point_loss_area: hints needs a hint model; set model.point_hints: true or "
                          "point_loss_area: points")


def recoded_point_net(point_net: PointNet, channels: int, seed: int) -> PointNet:
    """A new random PointNet (seeded by ``seed``) of ``point_net``'s widths whose input coding is
    ``channels`` pair-code channels (0: the paper's value-coded map)."""
    config = {k: v for k, v in point_net.config.items() if not k.startswith("_")}
    config.update(pair_code_channels=channels, pair_code_count=MAX_POINT_PAIRS)
    torch.manual_seed(seed)
    return placed_like(PointNet(**config), point_net)


def placed_like(new: ModelMixin, old: ModelMixin) -> ModelMixin:
    """``new`` on ``old``'s device and dtype (moved only when they differ: ``.to`` of a diffusers
    model warns about dtypes even when nothing moves)."""
    if (new.device, new.dtype) == (old.device, old.dtype):
        return new
    return new.to(device=old.device, dtype=old.dtype)


def hinted_controlnet(controlnet: ControlNetModel) -> ControlNetModel:
    """``controlnet`` (3 condition channels) with :data:`~manganinja.point_regions.HINT_CHANNELS`
    more: the same weights, and zero weights on the new channels of the condition's first
    convolution, so that its output is unchanged until training moves them."""
    config = {k: v for k, v in controlnet.config.items() if not k.startswith("_")}
    config["conditioning_channels"] = HINTED_CONDITION_CHANNELS
    wider = ControlNetModel.from_config(config)
    state = dict(controlnet.state_dict())
    key = "controlnet_cond_embedding.conv_in.weight"
    old = state[key]
    state[key] = torch.cat([old, old.new_zeros(old.shape[0], HINT_CHANNELS, *old.shape[2:])], dim=1)
    wider.load_state_dict(state, strict=True)
    return placed_like(wider, controlnet)


def _initial_pipeline(cfg: TrainConfig) -> MangaNinjaPipeline:
    from manganinja.pipeline import MangaNinjaPipeline

    m = cfg.model
    if m.init == "tiny":
        from manganinja.pipeline import build_pipeline as build_random

        vae = None
        if m.vae is not None:
            if not (Path(m.vae) / "config.json").is_file():
                raise TrainingError(f"model.vae {m.vae} is not an AutoencoderKL folder (no config.json); train one with `manganinja train-autoencoder`")
            vae = AutoencoderKL.from_pretrained(m.vae)
        channels = tuple(m.unet_channels) if m.unet_channels else None
        if m.unet_start is None:
            return build_random("tiny", seed=m.seed, vae=vae, unet_channels=channels, start=m.tiny_start)
        from manganinja.models.factory import build_components

        weights = stage0_unet_weights(m.unet_start)
        try:
            parts = build_components("tiny", m.seed, vae=vae, unet_channels=channels, start=m.tiny_start, unet_weights=weights)
        except RuntimeError as exc:  # load_state_dict(strict=True): missing/unexpected keys, shapes
            raise TrainingError(f"model.unet_start {m.unet_start}: its U-Net does not fit model.unet_channels {list(channels or [])}: {exc}") from exc
        return MangaNinjaPipeline(**parts)
    path = Path(m.path or "")
    if not path.exists():
        raise TrainingError(f"model.path {path} does not exist (model.init '{m.init}')")
    if m.init == "official":
        return MangaNinjaPipeline.from_official(path)
    if m.init == "pretrained":
        try:
            return MangaNinjaPipeline.from_pretrained(path)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:  # missing files, shape mismatches
            raise TrainingError(f"model.path {path}: cannot load a MangaNinja pipeline: {exc}") from exc
    if m.clip_path is None:
        raise TrainingError("model.clip_path (CLIP ViT-L/14 folder) is required for model.init 'sd15'")
    from manganinja.pipeline import pipeline_from_sd15

    return pipeline_from_sd15(path, m.controlnet_path, m.clip_path, seed=m.seed)


def stage0_unet_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The denoising U-Net weights of a stage-0 run's pipeline folder (``path/denoising_unet``),
    or of a U-Net folder itself; a clear error when neither is there."""
    path = Path(path)
    folder = path / "denoising_unet" if (path / "denoising_unet" / "config.json").is_file() else path
    if not (folder / "config.json").is_file():
        raise TrainingError(f"model.unet_start {path} holds no U-Net (no denoising_unet/config.json); give a stage-0 run's final folder")
    return UNet2DConditionModel.from_pretrained(folder).state_dict()


def unreachable_reference_parameters(reference_unet: nn.Module, state: ReferenceState) -> list[str]:
    """Names of reference U-Net parameters that cannot influence its attention bank (the bank is
    all the denoising U-Net reads): those left without a gradient by one probe forward/backward
    on a small latent. For SD1.5: ``conv_norm_out``/``conv_out`` and the layers after the last
    bank write (the last transformer block's attention output, cross-attention, feed-forward)."""
    n_down = len(reference_unet.config.block_out_channels)
    size = max(8, 2 ** (n_down - 1))
    device = next(reference_unet.parameters()).device
    dtype = next(reference_unet.parameters()).dtype
    dim = reference_unet.config.cross_attention_dim
    saved = {n: p.requires_grad for n, p in reference_unet.named_parameters()}
    for p in reference_unet.parameters():
        p.requires_grad_(True)
        p.grad = None
    state.clear()
    state.recording = True
    try:
        reference_unet(
            torch.randn(1, reference_unet.config.in_channels, size, size, device=device, dtype=dtype),
            torch.zeros((), dtype=torch.long, device=device),
            encoder_hidden_states=torch.randn(1, 1, dim, device=device, dtype=dtype),
            return_dict=False,
        )
        total = sum(b.float().square().mean() for banks in state.bank.values() for b in banks)
        total.backward()
    finally:
        state.clear()
    unreachable = [n for n, p in reference_unet.named_parameters() if p.grad is None]
    for n, p in reference_unet.named_parameters():
        p.grad = None
        p.requires_grad_(saved[n])
    return unreachable


def single_token_inert_parameters(module: nn.Module) -> list[str]:
    """Parameters that cannot matter when the cross-attention context is ONE token (as here):
    softmax over a single key is 1, so each transformer block's cross-attention output is
    ``to_out(to_v(context))`` whatever the query; ``attn2.to_q``, ``attn2.to_k`` and ``norm2``
    (which only feeds the query) get exactly zero gradient."""
    names = []
    for block_name, block in module.named_modules():
        if isinstance(block, BasicTransformerBlock) and block.attn2 is not None and not block.only_cross_attention:
            for sub in ("attn2.to_q", "attn2.to_k", "norm2"):
                part = block.get_submodule(sub)
                names += [f"{block_name}.{sub}.{n}" for n, _ in part.named_parameters()]
    return names


def set_trainable(pipe: MangaNinjaPipeline, stage: int) -> dict[str, list[str]]:
    """Freeze every component, then unfreeze those trained in ``stage`` except their parameters
    that cannot change the loss (:func:`unreachable_reference_parameters`,
    :func:`single_token_inert_parameters`), so every trainable parameter gets a gradient.
    Returns ``{component: names kept frozen}`` for the trained components."""
    if stage not in STAGE_MODULES:
        raise ConfigError(f"train.stage must be 0, 1 or 2, got {stage!r}")
    for component in pipe.components.values():
        if isinstance(component, nn.Module):
            component.requires_grad_(False)
    frozen: dict[str, list[str]] = {}
    for name in STAGE_MODULES[stage]:
        module = getattr(pipe, name)
        module.requires_grad_(True)
        inert = set(single_token_inert_parameters(module))
        if name == "reference_unet" and stage == 1:
            inert |= set(unreachable_reference_parameters(module, pipe.reference_state))
        for n, p in module.named_parameters():
            if n in inert:
                p.requires_grad_(False)
        frozen[name] = sorted(inert)
    return frozen


def architecture_fingerprint(pipe: MangaNinjaPipeline) -> str:
    """Hash of the configs and parameter shapes of the trained components: a checkpoint only
    resumes into the same architecture."""
    parts = {}
    for name in TRAINED_COMPONENTS:
        module = getattr(pipe, name)
        parts[name] = sorted((n, list(p.shape)) for n, p in module.named_parameters())
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class TrainingModel(nn.Module):
    """The networks of the graph, as one module (what accelerate wraps for DDP / autocast).

    ``forward`` takes prepared inputs (see :func:`prepare_inputs`) and returns the predicted
    noise (B, 4, h, w). Gradients flow into the modules of the current stage only.
    """

    def __init__(self, pipe: MangaNinjaPipeline, stage: int) -> None:
        super().__init__()
        self.reference_unet = pipe.reference_unet
        self.denoising_unet = pipe.denoising_unet
        self.controlnet = pipe.controlnet
        self.point_net = pipe.point_net
        self.state: ReferenceState = pipe.reference_state
        self.stage = stage

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        reference_latents: torch.Tensor | None = None,
        lineart: torch.Tensor | None = None,
        reference_points: torch.Tensor | None = None,
        target_points: torch.Tensor | None = None,
        bank_keep: torch.Tensor | None = None,
        point_keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Shapes: latents (B, 4, h, w); timesteps (B,) long; context (B, 1, D); lineart
        (B, 3, H, W) in [-1, 1] (B, 7, H, W with a hint ControlNet: the guides' color hints after
        the line art); point maps (B, 1, H, W); bank_keep, point_keep (B,) bool (rows
        that see the bank / the point embeddings). Stage 0 reads the first three only; the
        other stages need them all."""
        state = self.state
        state.clear()
        if self.stage == 0:
            # a plain diffusion model: plain self-attention (no bank, no points), no ControlNet
            return self.denoising_unet(noisy_latents, timesteps, encoder_hidden_states=context, return_dict=False)[0]
        if (reference_latents is None or lineart is None or reference_points is None or target_points is None
                or bank_keep is None or point_keep is None):
            raise TrainingError(f"stage {self.stage} needs the reference, line art, points and keep masks of its inputs")
        frozen_refs = self.stage != 1
        state.recording = True
        with torch.no_grad() if frozen_refs else contextlib.nullcontext():
            self.reference_unet(
                reference_latents,
                torch.zeros_like(timesteps),
                encoder_hidden_states=context,
                return_dict=False,
            )
        state.recording = False
        keep = point_keep.to(reference_latents.dtype)[:, None, None]
        emb_ref = [e * keep for e in self.point_net(reference_points.to(reference_latents.dtype))]
        emb_tar = [e * keep for e in self.point_net(target_points.to(reference_latents.dtype))]
        state.points = PointEmbeddings(target=emb_tar, reference=[emb_ref])
        state.branches = (Branch.POINT,)
        state.bank_keep = bank_keep
        with torch.no_grad() if frozen_refs else contextlib.nullcontext():
            down, mid = self.controlnet(
                noisy_latents,
                timesteps,
                encoder_hidden_states=context,
                controlnet_cond=lineart.to(noisy_latents.dtype),
                return_dict=False,
            )
        prediction = self.denoising_unet(
            noisy_latents,
            timesteps,
            encoder_hidden_states=context,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
            return_dict=False,
        )[0]
        # The state stays set until the next forward: gradient checkpointing recomputes blocks
        # during backward and needs it.
        return prediction


# --------------------------------------------------------------------------------------------
# Inputs of a step
# --------------------------------------------------------------------------------------------


def reference_pictures(images: torch.Tensor) -> list[PIL.Image.Image]:
    """Images (B, 3, H, W) in [-1, 1] (8-bit values, as the data set makes them) -> RGB PIL
    images, for the pipeline's own CLIP preprocessing."""
    arr = ((images.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return [PIL.Image.fromarray(a.permute(1, 2, 0).numpy()) for a in arr]


@torch.no_grad()
def prepare_inputs(pipe: MangaNinjaPipeline, noise_scheduler: DDPMScheduler, batch: dict, generator: torch.Generator, dtype: torch.dtype,
                   unconditional: bool = False, target_latents: TargetLatents | None = None) -> dict:
    """The frozen part of a step: latents, context tokens, noise and timesteps.
    ``unconditional`` (stage 0): every row gets the unconditional token, and only the target is
    read (the inputs hold no reference, line art nor points). ``target_latents``: the targets'
    posteriors stored by pair (``batch["index"]``) instead of encoding ``batch["target"]``; the
    same draws from ``generator`` either way.

    Returns the keyword arguments of :meth:`TrainingModel.forward` plus ``target``: the target of
    the loss (:func:`~manganinja.training.losses.prediction_target`: the noise, or the velocity
    for a ``v_prediction`` scheduler)."""
    vae = pipe.vae
    device = vae.device
    sf = vae.config.scaling_factor
    if target_latents is not None:
        posterior = target_latents.posterior(batch["index"])
    else:
        posterior = vae.encode(batch["target"].to(device=device, dtype=vae.dtype)).latent_dist
    latents = posterior.sample(generator=generator) * sf
    uncond = pipe.condition_tokens(len(latents)).to(device=device)
    noise = sample_noise(latents, generator)
    timesteps = sample_timesteps(len(latents), noise_scheduler.config.num_train_timesteps, generator, device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    target = prediction_target(noise_scheduler, latents, noise, timesteps)
    if unconditional:
        return {"noisy_latents": noisy.to(dtype), "timesteps": timesteps, "context": uncond.to(dtype), "target": target}
    drop_ref = batch["drop_reference"].to(device=device, dtype=torch.bool)
    reference = batch["reference"].to(device=device, dtype=vae.dtype)
    ref_latents = vae.encode(reference).latent_dist.mode() * sf
    # The CLIP token exactly as at inference (MangaNinjaPipeline.clip_token: the pipeline's
    # feature extractor on the picture).
    cond = torch.cat([pipe.clip_token(picture) for picture in reference_pictures(batch["reference"])]).to(device)
    context = torch.where(drop_ref[:, None, None], uncond.to(cond.dtype), cond)
    return {
        "noisy_latents": noisy.to(dtype),
        "timesteps": timesteps,
        "reference_latents": ref_latents.to(dtype),
        "context": context.to(dtype),
        "lineart": batch["lineart"].to(device=device, dtype=dtype),
        "reference_points": batch["reference_points"].to(device=device, dtype=dtype),
        "target_points": batch["target_points"].to(device=device, dtype=dtype),
        "bank_keep": ~drop_ref,
        "point_keep": ~(drop_ref | batch["drop_points"].to(device=device, dtype=torch.bool)),
        "target": target,
    }


def match_loss_weight(train: TrainSection, step: int) -> float:
    """The weight of the attention-matching loss at optimizer ``step``: ``train.match_loss``
    before ``train.match_loss_until`` (or always when that is unset), else 0."""
    if train.match_loss_until is not None and step >= train.match_loss_until:
        return 0.0
    return train.match_loss


class CorrespondenceObserver:
    """Collects the attention-matching loss during one forward of :class:`TrainingModel`.

    Installed as :attr:`ReferenceState.observer`: at every self-attention block of the denoising
    U-Net that reads the bank it forms the content-only attention of the U-Net's own tokens over
    the bank's (queries and keys without point embeddings, as in the REF branch:
    :func:`~manganinja.models.reference_attention.attention_weights`) and scores it against the
    batch's correspondences (``match_target_xy`` / ``match_reference_xy`` / ``match_valid`` of
    the data set, :func:`~manganinja.training.losses.row_nll`); rows whose bank is
    dropped are left out. This supervision is not in the paper: it stands in for the matching
    prior the paper's SD1.5 start brings (docs/reproduce.md, sixth attempt).

    ``branch="point"``: the attention of the POINT branch instead (queries and keys with the
    point embeddings added), scored at the sample's guide pairs (its point maps,
    :func:`~manganinja.training.losses.point_map_pairs`): it asks PointNet's embeddings to steer
    the attention of a guide point's token to its reference point's token.

    ``branch="point_matches"``: the attention of the POINT branch scored at the batch's
    correspondences, as for ``ref``: the guides' embeddings must leave the points no guide holds
    matching (rows whose points are dropped get no embeddings: there it is ``ref``'s attention).

    ``keep`` (B,) bool: the rows scored, those that attend in the branch scored (the inputs'
    ``bank_keep`` for ``ref`` and ``point_matches``; ``point_keep`` for ``point``, since rows
    whose points are dropped get no point embeddings)."""

    def __init__(self, batch: dict, keep: torch.Tensor, resolution: int, branch: MatchBranch) -> None:
        device = keep.device
        self.branch = branch
        if branch == "point":
            ref_xy, tgt_xy, valid = point_map_pairs(batch["reference_points"].to(device), batch["target_points"].to(device),
                                                    MAX_POINT_PAIRS)
            self.target_xy, self.reference_xy, self.valid = tgt_xy, ref_xy, valid & keep[:, None]
        else:
            if "match_valid" not in batch:
                raise TrainingError("train.match_loss needs correspondences in the batch: set data.match_points")
            self.target_xy = batch["match_target_xy"].to(device)
            self.reference_xy = batch["match_reference_xy"].to(device)
            self.valid = batch["match_valid"].to(device) & keep[:, None]
        self.resolution = resolution
        self.total: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def __call__(self, name: str, branch: Branch, attn: Attention, query_input: torch.Tensor, key_input: torch.Tensor,
                 value_input: torch.Tensor, key_mask: torch.Tensor | None) -> None:
        tokens = query_input.shape[1]
        if self.branch != "ref":  # the POINT branch's own queries and keys: point embeddings added
            query, keys = query_input, key_input[:, tokens:]
        else:  # content only, as in the REF branch
            query, keys = value_input[:, :tokens], value_input[:, tokens:]
        # only the rows of the correspondences' target tokens (32 of 64 to 256 queries)
        rows = attention_weights(attn, tokens_at(query, self.target_xy, self.resolution), keys)
        total, count = row_nll(rows, self.reference_xy, self.valid, self.resolution)
        self.total = total if self.total is None else self.total + total
        self.count = count if self.count is None else self.count + count

    def loss(self) -> torch.Tensor:
        """The mean negative log attention weight on the right token over all blocks and
        correspondences (0 when there were none)."""
        if self.total is None or self.count is None:
            return torch.zeros(())
        return self.total / self.count.clamp_min(1)


def step_generator(seed: int, step: int, micro: int, rank: int) -> torch.Generator:
    """CPU generator for the randomness of one micro-batch."""
    seq = np.random.SeedSequence([seed, step, micro, rank])
    return torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> 1))


def step_decay(step: int, every: int, factor: float, warmup: int = 0) -> float:
    """Learning-rate multiplier at optimizer ``step``: linear warm-up over ``warmup`` steps, then
    ``factor ** (step // every)``."""
    scale = factor ** (step // every)
    if warmup and step < warmup:
        scale *= (step + 1) / warmup
    return scale


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def build_dataset(cfg: TrainConfig) -> PairDataset:
    """The data set of ``cfg.data`` (synthetic folders and video roots); a clear error when none
    is configured or they hold no pair."""
    d = cfg.data
    if not d.synthetic and not d.videos:
        raise ConfigError("no training data: set data.synthetic and/or data.videos")
    sources: list = [SyntheticPairSource(p, lineart_file=d.synthetic_lineart == "file") for p in d.synthetic]
    settings = PairIndexSettings(interval=d.interval, ssim_threshold=d.ssim_threshold, max_slack=d.max_slack)
    sources += [VideoPairSource(p, settings, d.cache_dir) for p in d.videos]
    where = ", ".join([*d.synthetic, *d.videos])
    return PairDataset(sources, d, seed=cfg.train.seed, run_steps=cfg.train.steps, describe=where)


# --------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a run did: the last step, the loss of every step it ran, where it saved."""

    step: int
    losses: list[float] = field(default_factory=list)
    seconds_per_step: float = float("nan")
    checkpoints: list[Path] = field(default_factory=list)
    final_dir: Path | None = None


class Trainer:
    """Runs one training stage as ``cfg`` says. ``pipe``/``dataset`` may be given (tests);
    otherwise they are built from the config."""

    def __init__(self, cfg: TrainConfig, pipe: MangaNinjaPipeline | None = None, dataset: PairDataset | None = None) -> None:
        from accelerate import Accelerator
        from accelerate.utils import ProjectConfiguration

        self.cfg = cfg
        t = cfg.train
        if t.threads is not None:
            torch.set_num_threads(t.threads)
        self.output_dir = Path(t.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=t.mixed_precision,
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            log_with="tensorboard",
            project_config=ProjectConfiguration(project_dir=str(self.output_dir), logging_dir=str(self.output_dir / "logs")),
        )
        self.dataset = dataset if dataset is not None else build_dataset(cfg)
        self.pipe = pipe if pipe is not None else build_pipeline(cfg)
        # the point maps the model's PointNet reads (and is saved as reading)
        self.dataset.region_maps = bool(self.pipe.point_net.config.region_maps)
        self.dataset.hints = self.pipe.takes_hints
        self.noise_scheduler = DDPMScheduler.from_config(self.pipe.scheduler.config)
        self.frozen_inside = set_trainable(self.pipe, t.stage)
        self.weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[t.mixed_precision]
        device = self.accelerator.device
        for name in ("vae", "image_encoder", "condition_tokens"):
            frozen_module = getattr(self.pipe, name).to(device=device).eval()
            if self.weight_dtype != torch.float32:
                frozen_module.to(dtype=self.weight_dtype)
        #: The targets' posteriors, encoded once (``train.cache_target_latents``), else None.
        self.target_latents = (TargetLatents.encode(self.pipe.vae, self.dataset,
                                                   progress=self.accelerator.is_local_main_process)
                               if t.cache_target_latents else None)
        self.model = TrainingModel(self.pipe, t.stage).to(device)
        for name in TRAINED_COMPONENTS:
            getattr(self.pipe, name).train()
        if t.gradient_checkpointing:
            ckpt = functools.partial(torch.utils.checkpoint.checkpoint, use_reentrant=False)
            for name in ("reference_unet", "denoising_unet", "controlnet"):
                getattr(self.pipe, name).enable_gradient_checkpointing(ckpt)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params,
            lr=t.learning_rate,
            betas=(t.adam_beta1, t.adam_beta2),
            weight_decay=t.adam_weight_decay,
            eps=t.adam_epsilon,
            fused=True,  # one kernel for all parameters: 4x faster than the per-tensor loop on a CPU
        )
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, functools.partial(step_decay, every=t.lr_decay_every, factor=t.lr_decay_factor, warmup=t.lr_warmup_steps)
        )
        self.model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        self.accelerator.register_for_checkpointing(self.lr_scheduler)
        self.fingerprint = architecture_fingerprint(self.pipe)
        self.step = 0
        #: The last micro-batch's attention-matching loss (None while it is off).
        self.last_match_loss: float | None = None

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_root(self) -> Path:
        return self.output_dir / "checkpoints"

    def list_checkpoints(self) -> list[Path]:
        if not self.checkpoint_root.is_dir():
            return []
        return sorted(p for p in self.checkpoint_root.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / "trainer_state.json").is_file())

    def save_checkpoint(self) -> Path:
        """Save the resumable state and the pipeline at the current step (atomically: written to
        a temporary folder, then renamed); prunes old checkpoints beyond ``keep_checkpoints``."""
        acc = self.accelerator
        final = self.checkpoint_root / f"{CHECKPOINT_PREFIX}{self.step:07d}"
        tmp = final.with_name(final.name + ".tmp")
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        acc.wait_for_everyone()
        acc.save_state(str(tmp / "state"), safe_serialization=True)
        if acc.is_main_process:
            self.pipe.save_pretrained(tmp / "pipeline", safe_serialization=True)
            (tmp / "config.yaml").write_text(dump_config(self.cfg))
            info = {"step": self.step, "stage": self.cfg.train.stage, "architecture": self.fingerprint, "data_position": self.step}
            (tmp / "trainer_state.json").write_text(json.dumps(info, indent=1))
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            for old in self.list_checkpoints()[: -self.cfg.train.keep_checkpoints]:
                shutil.rmtree(old)
        acc.wait_for_everyone()
        return final

    def resolve_resume(self) -> Path | None:
        value = self.cfg.train.resume
        if value is None:
            return None
        if value == "latest":
            found = self.list_checkpoints()
            return found[-1] if found else None
        path = Path(value)
        if not (path / "trainer_state.json").is_file():
            raise TrainingError(f"train.resume: {path} is not a checkpoint folder (no trainer_state.json)")
        return path

    def load_checkpoint(self, path: Path) -> None:
        """Restore weights, optimizer, lr scheduler, RNG and step from ``path``."""
        info = json.loads((path / "trainer_state.json").read_text())
        if info.get("architecture") != self.fingerprint:
            raise TrainingError(
                f"checkpoint {path} was saved from a different architecture "
                f"(fingerprint {info.get('architecture')}, this model {self.fingerprint})"
            )
        if info.get("stage") != self.cfg.train.stage:
            raise TrainingError(
                f"checkpoint {path} is from stage {info.get('stage')}, this run is stage {self.cfg.train.stage}; "
                "start a new stage from the previous stage's pipeline (model.init: pretrained)"
            )
        try:
            self.accelerator.load_state(str(path / "state"))
        except (RuntimeError, KeyError, ValueError) as exc:
            raise TrainingError(f"cannot restore checkpoint {path}: {exc}") from exc
        self.step = int(info["step"])

    # -- loop ----------------------------------------------------------------------------------
    def curriculum_pools(self) -> list[tuple[int, np.ndarray]] | None:
        """The pair indices of each phase of ``data.curriculum`` (None without one); the data set's
        sources are ``data.synthetic`` then ``data.videos``, as :func:`build_dataset` makes them."""
        d = self.cfg.data
        if d.curriculum is None:
            return None
        return curriculum_pools(d.curriculum, [*d.synthetic, *d.videos], self.dataset.offsets)

    def loader(self, start_step: int, total_steps: int) -> DataLoader:
        t = self.cfg.train
        acc = self.accelerator
        sampler = StepSampler(
            len(self.dataset),
            t.batch_size,
            seed=t.seed,
            start_step=start_step,
            total_steps=total_steps,
            accumulation=t.gradient_accumulation_steps,
            num_replicas=acc.num_processes,
            rank=acc.process_index,
            pools=self.curriculum_pools(),
        )
        # stage 0 reads only the target: with its latents stored, a sample is its pair index
        data = PairIndices(len(self.dataset)) if t.stage == 0 and self.target_latents is not None else self.dataset
        return DataLoader(data, batch_size=t.batch_size, sampler=sampler, num_workers=self.cfg.data.num_workers)

    def compute_loss(self, batch: dict, step: int, micro: int) -> torch.Tensor:
        """The step's loss: the prediction loss, plus ``train.point_loss`` times the loss at the
        guide points (:meth:`point_loss`), plus ``train.match_loss`` times the attention-matching
        loss (:class:`CorrespondenceObserver`) while it is on."""
        t = self.cfg.train
        gen = step_generator(t.seed, step, micro, self.accelerator.process_index)
        inputs = prepare_inputs(self.pipe, self.noise_scheduler, batch, gen, self.weight_dtype, unconditional=t.stage == 0,
                                target_latents=self.target_latents)
        target = inputs.pop("target")
        weight = match_loss_weight(t, step)
        observer = None
        if weight:
            keep = inputs["point_keep"] if t.match_loss_branch == "point" else inputs["bank_keep"]
            observer = CorrespondenceObserver(batch, keep, self.cfg.data.resolution, t.match_loss_branch)
            self.pipe.reference_state.observer = observer
        try:
            prediction = self.model(**inputs)
        finally:
            if observer is not None:
                self.pipe.reference_state.observer = None
        loss = prediction_loss(prediction, target) + self.point_loss(prediction, target, inputs)
        if observer is None:
            return loss
        match = observer.loss()
        self.last_match_loss = float(match.detach())
        return loss + weight * match

    def point_loss(self, prediction: torch.Tensor, target: torch.Tensor, inputs: dict) -> torch.Tensor | float:
        """``train.point_loss`` times the prediction loss at the guide points, or over the
        guides' hints with ``train.point_loss_area: hints``
        (:func:`~manganinja.training.losses.guide_point_loss`); 0 when off."""
        weight = self.cfg.train.point_loss
        if not weight:
            return 0.0
        # the hints' mask is the ControlNet condition's last channel (3 line art, 3 colors, 1 mask)
        area = inputs["target_points"] if self.cfg.train.point_loss_area == "points" else inputs["lineart"][:, -1:]
        return weight * guide_point_loss(prediction, target, area, inputs["point_keep"])

    def train(self, max_steps: int | None = None) -> TrainResult:
        """Run (or resume) until ``train.steps`` (or ``max_steps`` more steps, for tests)."""
        from tqdm.auto import tqdm

        t = self.cfg.train
        acc = self.accelerator
        resume = self.resolve_resume()
        if resume is not None:
            self.load_checkpoint(resume)
            logger.info("resumed from %s at step %d", resume, self.step)
        end = t.steps if max_steps is None else min(t.steps, self.step + max_steps)
        if acc.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "config.yaml").write_text(dump_config(self.cfg))
        acc.init_trackers("manganinja")
        result = TrainResult(step=self.step)
        accum = t.gradient_accumulation_steps
        bar = tqdm(total=t.steps, initial=self.step, desc=f"stage {t.stage}", disable=not acc.is_local_main_process, unit="step")
        micro = 0
        running = 0.0
        started = time.perf_counter()
        steps_run = 0
        self.model.train()
        for batch in self.loader(self.step, end):
            # accelerate divides the loss by the accumulation steps, skips the optimizer step and
            # gradient sync on micro-batches that do not end a step.
            with acc.accumulate(self.model):
                loss = self.compute_loss(batch, self.step, micro)
                acc.backward(loss)
                if acc.sync_gradients and t.max_grad_norm is not None:
                    acc.clip_grad_norm_(self.params, t.max_grad_norm)
                lr = self.lr_scheduler.get_last_lr()[0]  # the rate this step uses
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            running += loss.detach().float().item() / accum
            if not acc.sync_gradients:
                micro += 1
                continue
            self.lr_scheduler.step()
            loss_value = float(acc.reduce(torch.tensor(running, device=acc.device), reduction="mean").item())
            result.losses.append(loss_value)
            self.step += 1
            steps_run += 1
            micro, running = 0, 0.0
            if not math.isfinite(loss_value):
                raise TrainingError(f"loss is {loss_value} at step {self.step}")
            if self.step % t.log_every == 0 or self.step == end:
                logged = {"loss": loss_value, "lr": lr}
                if self.last_match_loss is not None:
                    logged["match_loss"] = self.last_match_loss
                acc.log(logged, step=self.step)
            bar.update(1)
            shown = {"loss": f"{loss_value:.4f}", "lr": f"{lr:.2e}"}
            if self.last_match_loss is not None:
                shown["match"] = f"{self.last_match_loss:.3f}"
            bar.set_postfix(**shown)
            if self.step % t.checkpoint_every == 0 or self.step == end:
                result.checkpoints.append(self.save_checkpoint())
        bar.close()
        elapsed = time.perf_counter() - started
        result.step = self.step
        result.seconds_per_step = elapsed / steps_run if steps_run else float("nan")
        if self.step >= t.steps and t.save_final:
            result.final_dir = self.save_final()
        acc.end_training()
        return result

    def save_final(self) -> Path:
        """The trained pipeline in ``output_dir/final`` (save_pretrained layout) + config."""
        final = self.output_dir / "final"
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            tmp = final.with_name("final.tmp")
            if tmp.exists():
                shutil.rmtree(tmp)
            self.pipe.save_pretrained(tmp, safe_serialization=True)
            (tmp / "config.yaml").write_text(dump_config(self.cfg))
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        acc.wait_for_everyone()
        return final


def train(cfg: TrainConfig) -> TrainResult:
    """Build everything from ``cfg`` and train."""
    return Trainer(cfg).train()
