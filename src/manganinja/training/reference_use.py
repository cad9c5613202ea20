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
- ``own_spread``: the same for the U-Net's own tokens across the batch, for scale;
- ``match_top1`` / ``match_near`` / ``match_nll``: whether the attention *matches*: for the pairs'
  exact correspondences (``data.match_points``), the content-only attention of the target point's
  token over the bank (queries and keys without point embeddings, the REF branch), averaged over
  heads: the share whose most attended bank token is the reference point's token, the share where
  it is at most one token away (Chebyshev), and the mean negative log weight on the right token
  (``log M`` for an even spread: chance top-1 is ``1 / M``).
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
from manganinja.models.reference_attention import Branch, attention_weights
from manganinja.pipeline import MangaNinjaPipeline
from manganinja.training.config import TrainConfig, resolve_config
from manganinja.training.losses import correspondence_nll, weights_at_correspondences
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
    match_top1: float = float("nan")
    match_near: float = float("nan")
    match_nll: float = float("nan")


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


#: Correspondences per sample scored by the attention-matching statistics.
MATCH_POINTS = 32


def attention_hits(weights: torch.Tensor, target_xy: torch.Tensor, reference_xy: torch.Tensor, valid: torch.Tensor,
                   resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each valid correspondence, whether the most attended reference token of the target
    point's token is the reference point's token, and whether it is at most one token away.

    Shapes as :func:`~manganinja.training.losses.weights_at_correspondences` (heads averaged);
    ``valid`` (B, K) bool. Returns two 1-D bool tensors over the valid
    correspondences."""
    probs, right, side_r = weights_at_correspondences(weights, target_xy, reference_xy, resolution)
    best = probs.argmax(-1)
    near = ((best // side_r - right // side_r).abs() <= 1) & ((best % side_r - right % side_r).abs() <= 1)
    mask = valid.to(best.device)
    return (best == right)[mask], near[mask]


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
                 "resolution": resolution, "patch_shuffle": {"enabled": False}, "match_points": MATCH_POINTS,
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
    hits: dict[tuple[int, int], list[tuple[float, float, float, float]]] = defaultdict(list)
    match: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = (torch.zeros(0), torch.zeros(0), torch.zeros(0, dtype=torch.bool))

    def observe(name: str, branch: Branch, attn: Attention, query_input: torch.Tensor, key_input: torch.Tensor,
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

        own, bank = value_input[:, :n_self], value_input[:, n_self:]
        content = attention_weights(attn, own, bank)
        nll, count = correspondence_nll(content, *match, trainer.cfg.data.resolution)
        top1, near = attention_hits(content, *match, trainer.cfg.data.resolution)
        raw[(n_self, total - n_self)].append((float(share.mean()), float(entropy.mean()), spread(bank_values), spread(own_values)))
        hits[(n_self, total - n_self)].append((float(top1.float().sum()), float(near.float().sum()), float(nll), float(count)))

    losses: dict[str, list[torch.Tensor]] = {"own": [], "other": [], "copy": []}
    trainer.model.eval()
    with torch.no_grad():
        for step, batch in enumerate(trainer.loader(0, batches)):
            match = (batch["match_target_xy"], batch["match_reference_xy"], batch["match_valid"])
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
                  value_spread=float(np.mean([r[2] for r in rows])), own_spread=float(np.mean([r[3] for r in rows])), calls=len(rows),
                  **_match_stats(hits[(n, m)]))
        for (n, m), rows in sorted(raw.items())
    ]
    return ReferenceUse(*(torch.cat(losses[k]).cpu().numpy() for k in ("own", "other", "copy")), blocks=blocks)


def _match_stats(rows: list[tuple[float, float, float, float]]) -> dict[str, float]:
    """Pooled top-1 / near shares and mean NLL from per-call (top-1 hits, near hits, NLL sum, count)."""
    count = sum(r[3] for r in rows)
    if not count:
        return {}
    return {"match_top1": sum(r[0] for r in rows) / count, "match_near": sum(r[1] for r in rows) / count,
            "match_nll": sum(r[2] for r in rows) / count}


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
        "| tokens + bank | attention on the bank | entropy on the bank (1 = even) | bank values' spread across references | own tokens' spread "
        "| attention matches: top-1 (chance) | within 1 token | −log weight on the right token (even: log M) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {b.tokens} + {b.bank_tokens} | {b.share:.3f} | {b.entropy:.3f} | {b.value_spread:.3f} | {b.own_spread:.3f} "
              f"| {b.match_top1:.3f} ({1 / b.bank_tokens:.3f}) | {b.match_near:.3f} | {b.match_nll:.2f} ({math.log(b.bank_tokens):.2f}) |"
              for b in use.blocks]
    return lines
