"""Training a small :class:`diffusers.AutoencoderKL` on synthetic frames (the VAE of a tiny
MangaNinja for the synthetic domain; see docs/reproduce.md).

The frames are every ``reference.png`` and ``target.png`` under the ``data.synthetic`` folders
(written by ``manganinja synth``), centre-cropped and resized to ``data.resolution``. The loss is
the pixel MSE of the reconstruction from a posterior sample (``train.posterior: sample``) or from
the posterior mean (``mode``) plus ``train.kl_weight`` times the KL
divergence to N(0, I). After training, the latent ``scaling_factor`` is set to 1 / std of the
training latents (as SD does), the held-out PSNR is measured on ``data.holdout`` frames, and the
model is saved with ``save_pretrained`` (safetensors) in ``train.output_dir/final`` with
``metrics.json`` and ``loss.csv`` beside it.

Run: ``manganinja train-autoencoder --config configs/tiny_synthetic_autoencoder.yaml``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from manganinja.data.dataset import find_synthetic_pairs, fit_square
from manganinja.images import load_image, to_rgb
from manganinja.training.config import read_config_file

logger = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoencoderModelSection(_Strict):
    """``AutoencoderKL`` architecture: one down/up block per entry of ``block_out_channels``
    (the latent is ``2 ** (len - 1)`` times smaller than the image)."""

    block_out_channels: list[int] = [32, 64, 64]
    layers_per_block: int = Field(1, ge=1)
    latent_channels: int = Field(4, ge=1)
    norm_num_groups: int = Field(16, ge=1)
    #: a trained autoencoder's folder (``final`` of an earlier run) to go on training from; its
    #: architecture must be the one above. None: random weights (seeded by ``train.seed``).
    init_from: str | None = None


class AutoencoderDataSection(_Strict):
    """``synthetic``: training folders; ``holdout``: folders of frames never trained on (PSNR)."""

    synthetic: list[str]
    holdout: list[str] = []
    resolution: int = Field(64, ge=8)


class AutoencoderTrainSection(_Strict):
    output_dir: str = "runs/autoencoder"
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    #: ``step``: multiply the rate by ``lr_decay_factor`` every ``lr_decay_every`` steps;
    #: ``linear``: fall in a straight line from ``learning_rate`` at the first step to zero
    #: after the last (torch's ``LinearLR``; the two ``lr_decay`` keys are then refused).
    lr_schedule: Literal["step", "linear"] = "step"
    lr_decay_every: int = Field(1000, ge=1)
    lr_decay_factor: float = Field(0.5, gt=0, le=1)
    kl_weight: float = Field(1e-6, ge=0)
    #: what the decoder is trained on: a posterior sample (``sample``, as SD's VAE) or the
    #: posterior mean (``mode``; the KL term still pulls the mean towards N(0, I))
    posterior: Literal["sample", "mode"] = "sample"
    seed: int = 0
    log_every: int = Field(10, ge=1)
    #: measure the held-out PSNR every this many steps (``curve.csv`` beside the model; 0: only
    #: at the end). Needs ``data.holdout``.
    eval_every: int = Field(0, ge=0)
    #: 0: off. Otherwise the weights measured and saved are an exponential moving average of the
    #: trained ones with this decay (diffusers' ``EMAModel``, which ramps the decay up over the
    #: first steps); the curve then also gives the trained weights' PSNR.
    ema_decay: float = Field(0.0, ge=0, lt=1)
    threads: int | None = Field(None, ge=1)
    #: ``bf16``: encode and decode under bf16 autocast (the weights, the optimizer and the
    #: held-out measure stay fp32). Its steps take 30 % less time on a CPU with bf16
    #: instructions (AMX, AVX512-BF16), 0.14 dB lower; without them 2.8 (AVX-512) to 9.9 (AVX2)
    #: times as long as fp32's (docs/reproduce.md, twenty-first and twenty-second attempts), so
    #: a run on such a CPU warns (:func:`cpu_has_bf16`).
    mixed_precision: Literal["no", "bf16"] = "no"
    #: 0: off. Otherwise the run's state (weights, optimizer, schedule, random state, losses and
    #: curve so far) is saved every this many steps in ``output_dir/checkpoint``, and a rerun of
    #: the same config goes on from it (:data:`RESUMABLE_CHANGES` may differ). Removed once
    #: ``final`` is written (its own files only; the folder when that leaves it empty).
    checkpoint_every: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _decay_keys_need_step(self) -> "AutoencoderTrainSection":
        given = sorted({"lr_decay_every", "lr_decay_factor"} & self.model_fields_set)
        if self.lr_schedule != "step" and given:
            raise ValueError(f"train.{given[0]} is for lr_schedule: step, and lr_schedule is {self.lr_schedule}; "
                             f"remove {' and '.join(given)} or set lr_schedule: step")
        return self


def lr_scheduler_for(optimizer: torch.optim.Optimizer, t: AutoencoderTrainSection) -> torch.optim.lr_scheduler.LRScheduler:
    """The rate schedule ``t`` names, stepped once after each optimizer step."""
    if t.lr_schedule == "linear":
        return torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=t.steps)
    return torch.optim.lr_scheduler.StepLR(optimizer, t.lr_decay_every, t.lr_decay_factor)


class AutoencoderConfig(_Strict):
    model: AutoencoderModelSection = AutoencoderModelSection()
    data: AutoencoderDataSection
    train: AutoencoderTrainSection = AutoencoderTrainSection()

    @model_validator(mode="after")
    def _curve_needs_holdout(self) -> "AutoencoderConfig":
        if self.train.eval_every and not self.data.holdout:
            raise ValueError("train.eval_every needs data.holdout (frames to measure on); add it or set eval_every: 0")
        return self


class AutoencoderConfigError(ValueError):
    """A bad autoencoder config (one line naming the key)."""


#: The ``train`` keys a resumed run may change (they do not change what is trained).
RESUMABLE_CHANGES = frozenset({"threads", "log_every", "checkpoint_every"})


def checkpoint_identity(cfg: AutoencoderConfig) -> dict:
    """What a checkpoint must share with the config that resumes it."""
    return {"model": cfg.model.model_dump(), "data": cfg.data.model_dump(),
            "train": cfg.train.model_dump(exclude=set(RESUMABLE_CHANGES) | {"output_dir"})}


def cpu_has_bf16() -> bool | None:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX), which make bf16 autocast
    faster than fp32 on it; None when this torch cannot tell (it asks torch.cpu's private
    probes, absent from some builds)."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not all(callable(p) for p in probes):
        return None
    return any(p() for p in probes)


def load_autoencoder_config(path: str | os.PathLike, overrides: dict | None = None) -> AutoencoderConfig:
    """Read and validate the YAML config at ``path`` with ``overrides`` (a nested dict, as
    :func:`~manganinja.training.config.load_config` takes it) merged in; unknown keys are refused,
    naming them."""
    path = Path(path)
    data = read_config_file(path, overrides, AutoencoderConfigError)
    try:
        return AutoencoderConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise AutoencoderConfigError(f"{path}: {where}: {msg}" if where else f"{path}: {msg}") from None


def load_frames(folders: list[str], resolution: int) -> torch.Tensor:
    """Every reference/target frame of the synthetic pair folders under ``folders`` as uint8
    (N, 3, R, R)."""
    frames = []
    for root in folders:
        for pair in find_synthetic_pairs(root):
            for name in ("reference.png", "target.png"):
                rgb = np.asarray(to_rgb(load_image(pair / name, name=name)))
                frames.append(fit_square(rgb, resolution))
    if not frames:
        raise AutoencoderConfigError(f"no synthetic frames under {folders}")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def to_signed(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 in [-1, 1]."""
    return frames.float() / 127.5 - 1.0


@torch.no_grad()
def reconstruct(vae: torch.nn.Module, frames: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """``vae``'s reconstruction of uint8 frames (N, 3, H, W) from the posterior mean, rounded to
    8 bits as a saved image would be: float32 (N, 3, H, W) in 0..255, on the frames' device."""
    out = []
    for i in range(0, len(frames), batch):
        rec = vae.decode(vae.encode(to_signed(frames[i : i + batch])).latent_dist.mode()).sample
        out.append(((rec.clamp(-1, 1) + 1) * 127.5).round())
    return torch.cat(out)


def frame_psnr(reconstructed: torch.Tensor, frames: torch.Tensor) -> float:
    """Mean over frames of the PSNR (dB, 8-bit) of ``reconstructed`` (float (N, 3, H, W) in
    0..255, :func:`reconstruct`) against the uint8 ``frames``."""
    mse = (reconstructed - frames.float()).square().mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float(np.mean((10 * torch.log10(255.0**2 / mse)).tolist()))


def reconstruction_psnr(vae: torch.nn.Module, frames: torch.Tensor, batch: int = 64) -> float:
    """Mean PSNR (dB, 8-bit) of ``vae``'s reconstruction (:func:`reconstruct`) of uint8 frames
    (N, 3, H, W)."""
    return frame_psnr(reconstruct(vae, frames, batch), frames)


def new_autoencoder(m: AutoencoderModelSection, resolution: int) -> torch.nn.Module:
    """A random ``AutoencoderKL`` of the architecture ``m`` (seeded by the caller)."""
    from diffusers import AutoencoderKL

    n = len(m.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * n,
        up_block_types=["UpDecoderBlock2D"] * n,
        block_out_channels=list(m.block_out_channels),
        layers_per_block=m.layers_per_block,
        latent_channels=m.latent_channels,
        norm_num_groups=m.norm_num_groups,
        sample_size=resolution,
    )


def load_start(m: AutoencoderModelSection) -> torch.nn.Module:
    """The autoencoder at ``m.init_from``, checked against the architecture of ``m`` (one line
    naming the first key that differs, or the missing folder)."""
    from diffusers import AutoencoderKL

    folder = Path(str(m.init_from))
    if not (folder / "config.json").is_file():
        raise AutoencoderConfigError(f"model.init_from: {folder} is not a saved autoencoder (no config.json); "
                                     "give the final/ folder of a train-autoencoder run")
    start = AutoencoderKL.from_pretrained(folder)
    wanted = {"block_out_channels": list(m.block_out_channels), "layers_per_block": m.layers_per_block,
              "latent_channels": m.latent_channels, "norm_num_groups": m.norm_num_groups}
    for key, value in wanted.items():
        have = list(start.config[key]) if isinstance(start.config[key], (list, tuple)) else start.config[key]
        if have != value:
            raise AutoencoderConfigError(f"model.init_from: {folder} has {key} {have}, the config says {value}; "
                                         "make model match the autoencoder you go on from")
    return start


def train_autoencoder(cfg: AutoencoderConfig, log: bool = True, max_steps: int | None = None,
                      progress: bool = False) -> dict:
    """Train as ``cfg`` says; returns the metrics written to ``output_dir/final/metrics.json``.

    ``log`` prints a line every ``train.log_every`` steps and at each held-out evaluation;
    ``progress`` shows a progress bar instead (on stderr, with the last held-out PSNR), as the
    diffusion trainer does.

    With ``train.checkpoint_every``, a checkpoint in ``output_dir/checkpoint`` left by an
    interrupted run of the same config is gone on from (a checkpoint of another config is refused
    in one line). ``max_steps`` (tests, ``benchmarks/tiny_step_time.py``): stop after that many
    more steps, with a checkpoint there (with ``train.checkpoint_every``) and no model; returns
    ``{"step": the step reached, "seconds_per_step": wall seconds of this call's steps each (data
    loading and model building not counted), "losses": [(step, mse, kl)] every log_every steps}``."""
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    t, m, d = cfg.train, cfg.model, cfg.data
    if t.threads:
        torch.set_num_threads(t.threads)
    if m.init_from is not None and (Path(t.output_dir) / "final").resolve() == Path(m.init_from).resolve():
        raise AutoencoderConfigError(f"model.init_from {m.init_from} is where this run saves (train.output_dir "
                                     f"{t.output_dir}); give another train.output_dir so the autoencoder you start from is kept")
    start = load_start(m) if m.init_from is not None else None  # refused before anything is written
    out = Path(t.output_dir)
    state_file = out / "checkpoint" / "state.pt"
    state_tmp = state_file.with_name(state_file.name + ".tmp")  # a save in progress (renamed over state_file)
    state = torch.load(state_file, weights_only=True) if t.checkpoint_every and state_file.is_file() else None
    if state is not None and state["identity"] != checkpoint_identity(cfg):
        raise AutoencoderConfigError(f"{state_file.parent} is a checkpoint of another config (model, data or train "
                                     f"differ beyond {', '.join(sorted(RESUMABLE_CHANGES))}); give another "
                                     f"train.output_dir or remove {state_file.parent}")
    out.mkdir(parents=True, exist_ok=True)
    frames = load_frames(d.synthetic, d.resolution)
    holdout = load_frames(d.holdout, d.resolution) if d.holdout else None
    torch.manual_seed(t.seed)
    vae = new_autoencoder(m, d.resolution)
    if start is not None:
        vae.load_state_dict(start.state_dict(), strict=True)
        del start
    accelerator = Accelerator()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=t.learning_rate, fused=True)
    scheduler = lr_scheduler_for(optimizer, t)
    ema = EMAModel(vae.parameters(), decay=t.ema_decay) if t.ema_decay else None
    gen = torch.Generator().manual_seed(t.seed)
    losses: list[tuple[int, float, float]] = []
    # (step, held-out PSNR dB of the weights that are saved, of the trained weights, wall seconds so far)
    curve: list[tuple[int, float, float, float]] = []
    done, wall_before, cpu_before = 0, 0.0, 0.0
    if state is not None:
        vae.load_state_dict(state["vae"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        gen.set_state(state["generator"])
        losses, curve = [tuple(r) for r in state["losses"]], [tuple(r) for r in state["curve"]]
        done, wall_before, cpu_before = state["step"], state["wall_seconds"], state["cpu_seconds"]
        if log:
            print(f"resumed from {state_file.parent} at step {done}", flush=True)
        del state
    vae, optimizer = accelerator.prepare(vae, optimizer)
    if t.mixed_precision == "bf16" and accelerator.device.type == "cpu" and cpu_has_bf16() is False:
        logger.warning("train.mixed_precision bf16 on a CPU without bf16 instructions (AVX512-BF16, AMX): measured 2.8 "
                       "times slower than fp32 on such a CPU (docs/reproduce.md); set it to no")
    holdout_on_device = holdout.to(accelerator.device) if t.eval_every and holdout is not None else None
    started, cpu_started = time.perf_counter() - wall_before, time.process_time() - cpu_before
    end = t.steps if max_steps is None else min(t.steps, done + max_steps)
    bar = tqdm(total=t.steps, initial=done, desc="autoencoder", unit="step", disable=not progress)

    def save_checkpoint(step: int) -> None:
        # written beside and renamed over, so an interrupted save leaves the last whole checkpoint
        folder = state_file.parent
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"identity": checkpoint_identity(cfg), "step": step,
                    "vae": accelerator.unwrap_model(vae).state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "ema": None if ema is None else ema.state_dict(),
                    "generator": gen.get_state(), "losses": losses, "curve": curve,
                    "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started}, state_tmp)
        os.replace(state_tmp, state_file)

    vae.train()
    loop_started = time.perf_counter()
    for step in range(done + 1, end + 1):
        idx = torch.randint(len(frames), (t.batch_size,), generator=gen)
        x = to_signed(frames[idx]).to(accelerator.device)
        flip = torch.rand(t.batch_size, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None].to(x.device), x.flip(-1), x)
        # torch's own autocast, not accelerate's mixed_precision: that one is process-wide, and
        # the chain's later parts run in the same process at their own precision
        with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=t.mixed_precision == "bf16"):
            posterior = vae.encode(x).latent_dist
            if t.posterior == "mode":
                z = posterior.mean
            else:
                z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen).to(x.device)
            rec = vae.decode(z).sample
        mse = (rec.float() - x).square().mean()
        kl = posterior.kl().float().mean() / x[0].numel()
        loss = mse + t.kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.step(vae.parameters())
        if holdout_on_device is not None and step % t.eval_every == 0:
            vae.eval()
            trained = reconstruction_psnr(accelerator.unwrap_model(vae), holdout_on_device)
            saved = trained
            if ema is not None:
                ema.store(vae.parameters())
                ema.copy_to(vae.parameters())
                saved = reconstruction_psnr(accelerator.unwrap_model(vae), holdout_on_device)
                ema.restore(vae.parameters())
            curve.append((step, saved, trained, time.perf_counter() - started))
            vae.train()
            bar.set_postfix_str(f"held-out {saved:.2f} dB", refresh=False)
            if log:
                print(f"step {step}: held-out {saved:.2f} dB" + (f" (trained weights {trained:.2f} dB)" if ema else ""), flush=True)
        if step % t.log_every == 0 or step == t.steps:
            losses.append((step, float(mse.detach()), float(kl.detach())))
            if log:
                el = time.perf_counter() - started
                print(f"step {step}/{t.steps} mse {losses[-1][1]:.5f} (~{psnr_of_mse(losses[-1][1]):.1f} dB) kl {losses[-1][2]:.3f} "
                      f"({el / step:.2f} s/step)", flush=True)
        if t.checkpoint_every and (step % t.checkpoint_every == 0 or step == end):
            save_checkpoint(step)
        bar.update(1)
    bar.close()
    if end < t.steps:
        return {"step": end, "seconds_per_step": (time.perf_counter() - loop_started) / max(end - done, 1),
                "losses": losses}
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if ema is not None:
        ema.copy_to(vae.parameters())
    # measured and saved on the CPU, whatever device trained it (the frames stay on the CPU)
    vae = accelerator.unwrap_model(vae).eval().to("cpu")
    if t.posterior == "mode":
        make_posterior_deterministic(vae)
    with torch.no_grad():
        sample = to_signed(frames[torch.randperm(len(frames), generator=gen)[:256]])
        std = float(vae.encode(sample).latent_dist.mean.std())
    vae.register_to_config(scaling_factor=1.0 / std)
    metrics = {
        "steps": t.steps,
        "train_frames": len(frames),
        "holdout_frames": 0 if holdout is None else len(holdout),
        "holdout_psnr_db": None if holdout is None else reconstruction_psnr(vae, holdout),
        "train_psnr_db_256": reconstruction_psnr(vae, frames[:256]),
        "latent_std": std,
        "scaling_factor": 1.0 / std,
        "parameters": sum(p.numel() for p in vae.parameters()),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "torch_threads": torch.get_num_threads(),
    }
    final = out / "final"
    tmp = out / "final.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    vae.save_pretrained(tmp, safe_serialization=True)
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    (tmp / "loss.csv").write_text("step,mse,kl\n" + "".join(f"{s},{a:.6g},{b:.6g}\n" for s, a, b in losses))
    if curve:
        (tmp / "curve.csv").write_text("step,holdout_psnr_db,trained_holdout_psnr_db,wall_seconds\n"
                                       + "".join(f"{s},{p:.4f},{q:.4f},{w:.1f}\n" for s, p, q, w in curve))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    # the run is whole: final replaces its checkpoint (only the files this trainer writes there)
    for written in (state_file, state_tmp):
        written.unlink(missing_ok=True)
    if state_file.parent.is_dir() and not any(state_file.parent.iterdir()):
        state_file.parent.rmdir()
    if log:
        print(json.dumps(metrics, indent=1), flush=True)
    return metrics


#: Log-variance of a deterministic posterior (diffusers clamps log-variance to [-30, 20]).
DETERMINISTIC_LOGVAR = -30.0


@torch.no_grad()
def make_posterior_deterministic(vae: torch.nn.Module) -> None:
    """Fix the posterior log-variance of ``vae`` at :data:`DETERMINISTIC_LOGVAR` (std 3e-7), so
    that a posterior sample (what MangaNinja's training encodes targets with) is the posterior
    mean the decoder was trained on. A ``posterior: mode`` run never trains the log-variance
    (only the tiny KL term pulls it towards 0, i.e. std 1), so without this a sample would add
    noise of the latents' own size."""
    conv = vae.quant_conv
    latent = conv.out_channels // 2
    conv.weight[latent:] = 0.0
    conv.bias[latent:] = DETERMINISTIC_LOGVAR


def psnr_of_mse(mse: float) -> float:
    """PSNR (dB) of an MSE measured on images in [-1, 1]."""
    return 10 * math.log10(4.0 / mse)
