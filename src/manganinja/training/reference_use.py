"""Does a trained model use its reference, and if not, where does the reference path stop?

Measured on the training objective, not on samples (no sampling noise): held-out pairs go through
the trainer's own inputs (:func:`~manganinja.training.trainer.prepare_inputs`: the same noise and
timesteps for every variant), with no patch shuffle and no points, and the denoising U-Net
predicts with

- the pair's own reference,
- another pair's reference (the next one in the batch: another character),
- the target itself as its reference (the copy task: every color at its own place).

A model that uses its reference has a lower loss with its own than with another's; one that can
carry colors at all has a lower loss still with the copy. The reference reaches the denoising
U-Net by two roads, the attention bank and the image encoder's token (cross-attention context);
the losses count both. Inside the denoising U-Net, for every
self-attention block that reads the bank (:class:`~manganinja.models.reference_attention.ReferenceState`
``observer``), with its own reference:

- ``share``: the attention weight that lands on the bank's tokens (own and bank tokens are equally
  many in a one-reference model: uniform attention puts 0.5 there);
- ``entropy``: the entropy of the attention restricted to the bank, over ``log M`` (1: spread evenly
  over the bank, a plain average of the reference; low: peaked on a few tokens, i.e. matching);
- ``value_spread``: how much the bank's values (``to_v`` of the bank) differ between references,
  the RMS over tokens and channels of their standard deviation across the batch over their RMS
  (0: the reference U-Net gives the same bank for every reference, nothing to read);
- ``own_spread``: the same for the U-Net's own tokens across the batch, for scale.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.models.attention_processor import Attention

from manganinja.evaluation.metrics import mean_ci95
from manganinja.models.reference_attention import attention_weights
from manganinja.pipeline import MangaNinjaPipeline
from manganinja.training.config import TrainConfig, resolve_config
from manganinja.training.trainer import Trainer, prepare_inputs, step_generator


@dataclass(frozen=True)
class BankBlock:
    """Attention statistics of the blocks with ``tokens`` own tokens and ``bank_tokens`` bank
    tokens (averaged over those blocks, heads, queries and batches); see the module doc."""

    tokens: int
    bank_tokens: int
    share: float
    entropy: float
    value_spread: float
    own_spread: float
    calls: int


@dataclass(frozen=True)
class ReferenceUse:
    """Per-sample v-prediction losses (each ``(n,)``) and the bank statistics per token grid."""

    loss_own: np.ndarray
    loss_other: np.ndarray
    loss_copy: np.ndarray
    blocks: list[BankBlock]

    @property
    def other_minus_own(self) -> tuple[float, float]:
        """Mean and 95 % half-width (:func:`~manganinja.evaluation.metrics.mean_ci95`) of
        (another's loss - own loss): > 0 when the own reference helps."""
        return mean_ci95(self.loss_other - self.loss_own)[:2]

    @property
    def other_minus_copy(self) -> tuple[float, float]:
        """Mean and 95 % half-width of (another's loss - copy loss)."""
        return mean_ci95(self.loss_other - self.loss_copy)[:2]


def probe_config(model: str, data: list[str], batch_size: int = 8, seed: int = 5, resolution: int | None = None) -> TrainConfig:
    """A stage-1 config that only feeds the probe: ``model`` (a saved pipeline folder, or
    ``"random:VAE_DIR"`` for the paper-shaped random start of the tiny model with that trained
    VAE), synthetic pair folders ``data``, XDoG line art at ``resolution`` (None: the model's
    recommended resolution; a ``ValueError`` when it has none), no shuffle, flips, points nor
    drops."""
    if resolution is None:
        index = Path(model) / "model_index.json"
        recommended = (MangaNinjaPipeline.load_config(model).get("recommended") or {}) if index.is_file() else {}
        if "resolution" not in recommended:
            raise ValueError(f"{model} recommends no resolution; give the probe's resolution")
        resolution = int(recommended["resolution"])
    if model.startswith("random"):
        vae = model.partition(":")[2] or None
        model_section: dict[str, object] = {"init": "tiny", "tiny_start": "paper", "vae": vae, "unet_channels": [32, 64], "seed": 0}
    else:
        model_section = {"init": "pretrained", "path": model}
    return resolve_config({
        "model": model_section,
        "data": {"synthetic": list(data), "synthetic_lineart": "extract", "lineart_method": "xdog",
                 "resolution": resolution, "patch_shuffle": {"enabled": False},
                 "drop": {"reference": 0.0, "points": 1.0, "lineart": 0.0}},
        "train": {"output_dir": "runs/reference_use_probe", "stage": 1, "steps": 1, "batch_size": batch_size, "seed": seed},
    })


def measure_reference_use(trainer: Trainer, batches: int) -> ReferenceUse:
    """The probe of the module doc over ``batches`` batches of ``trainer``'s data (its batch size;
    at least 2 samples per batch, since another's reference is the next sample's)."""
    if trainer.cfg.train.batch_size < 2:
        raise ValueError("the probe needs a batch size of at least 2 (another's reference is the next sample's)")
    state = trainer.model.state
    raw: dict[tuple[int, int], list[tuple[float, float, float, float]]] = defaultdict(list)

    def observe(name: str, attn: Attention, query_input: torch.Tensor, key_input: torch.Tensor,
                value_input: torch.Tensor, key_mask: torch.Tensor | None) -> None:
        n_self, total = query_input.shape[1], key_input.shape[1]
        weights = attention_weights(attn, query_input, key_input, key_mask)
        on_bank = weights[..., n_self:]
        share = on_bank.sum(-1)
        within = on_bank / share.clamp_min(1e-12)[..., None]
        entropy = -(within * within.clamp_min(1e-12).log()).sum(-1) / math.log(total - n_self)
        values = attn.to_v(value_input)
        bank_values, own_values = values[:, n_self:], values[:, :n_self]

        def spread(v: torch.Tensor) -> float:
            return float(v.std(0).pow(2).mean().sqrt() / v.pow(2).mean().sqrt().clamp_min(1e-12))

        raw[(n_self, total - n_self)].append((float(share.mean()), float(entropy.mean()), spread(bank_values), spread(own_values)))

    losses: dict[str, list[torch.Tensor]] = {"own": [], "other": [], "copy": []}
    trainer.model.eval()
    with torch.no_grad():
        for step, batch in enumerate(trainer.loader(0, batches)):
            variants = {"own": batch["reference"], "other": batch["reference"].roll(1, 0), "copy": batch["target"]}
            for name, reference in variants.items():
                inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, {**batch, "reference": reference},
                                        step_generator(trainer.cfg.train.seed, step, 0, 0), trainer.weight_dtype,
                                        unconditional=False)
                target = inputs.pop("target")
                state.observer = observe if name == "own" else None
                try:
                    prediction = trainer.model(**inputs)
                finally:
                    state.observer = None
                losses[name].append(((prediction.float() - target.float()) ** 2).mean(dim=(1, 2, 3)))
    blocks = [
        BankBlock(tokens=n, bank_tokens=m, share=float(np.mean([r[0] for r in rows])), entropy=float(np.mean([r[1] for r in rows])),
                  value_spread=float(np.mean([r[2] for r in rows])), own_spread=float(np.mean([r[3] for r in rows])), calls=len(rows))
        for (n, m), rows in sorted(raw.items())
    ]
    return ReferenceUse(*(torch.cat(losses[k]).cpu().numpy() for k in ("own", "other", "copy")), blocks=blocks)


def markdown(name: str, use: ReferenceUse) -> list[str]:
    """The probe's two tables for the model ``name``."""
    d, half = use.other_minus_own
    c, chalf = use.other_minus_copy
    n = len(use.loss_own)
    lines = [
        f"Loss (v-prediction MSE), {n} held-out samples of {name}:", "",
        "| reference | loss | another − this (paired) | this lower in |", "|---|---|---|---|",
        f"| own | {use.loss_own.mean():.4f} | {d:+.4f} ± {half:.4f} | {int((use.loss_other > use.loss_own).sum())} / {n} |",
        f"| another character's | {use.loss_other.mean():.4f} | | |",
        f"| the target itself (copy) | {use.loss_copy.mean():.4f} | {c:+.4f} ± {chalf:.4f} | {int((use.loss_other > use.loss_copy).sum())} / {n} |",
        "",
        "| tokens + bank | attention on the bank | entropy on the bank (1 = even) | bank values' spread across references | own tokens' spread |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {b.tokens} + {b.bank_tokens} | {b.share:.3f} | {b.entropy:.3f} | {b.value_spread:.3f} | {b.own_spread:.3f} |" for b in use.blocks]
    return lines
