"""Correspondence probe: do a U-Net's self-attention features match the same part across two frames?

DIFT ("Emergent Correspondence from Image Diffusion", Tang et al. 2023) noises an image's latent at
a moderate timestep, runs the diffusion U-Net once and matches its up-block features between two
pictures by nearest neighbour (cosine). The MangaNinja paper leans on this prior of its SD1.5
start: the reference bank is read by the denoising U-Net's self-attention, which can only copy the
right colors if a target token's query finds the keys of the same part in the reference.

This module measures that prior on synthetic pairs with exact correspondences
(:func:`manganinja.data.synthetic.generate_pair`: up to 50 point pairs per pair, with the part of
each point and the reference's part map):

1. both frames are area-resized to the model's working size, encoded by the VAE (posterior mean x
   scaling factor) and noised at one ``timestep`` with the same noise (an ensemble of ``ensemble``
   noises, features averaged, as DIFT does);
2. the U-Net runs once per frame with the unconditional context token (no bank, no points); the
   inputs of ``attn1`` (the ``norm1`` output the reference bank also records) of the chosen blocks
   are hooked, reshaped to maps, upsampled bilinearly to the pictures' drawn size, L2-normalised
   per layer and concatenated;
3. every target point takes the reference pixel of highest cosine similarity.

Scores per point (:class:`ProbeScores`): the match lies on the point's part of the reference
(``part``), within ``0.1 * max(H, W)`` of the true reference point (``pck10``, PCK@0.1) and within
``k`` pixels of it (``pck_k``), all in drawn pixels. A ``pixels`` baseline matches by color alone
(the nearest reference pixel in RGB), which tells what color carries without any learned feature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock

from manganinja.data.synthetic import generate_pair


@dataclass(frozen=True)
class ProbePair:
    """One pair at its drawn size ``S``: ``reference``/``target`` RGB (S, S, 3) uint8,
    ``reference_parts`` (S, S) part ids, ``reference_points``/``target_points`` (N, 2) int
    ``(x, y)``, ``point_parts`` (N,) the part id of each point."""

    reference: np.ndarray
    target: np.ndarray
    reference_parts: np.ndarray
    reference_points: np.ndarray
    target_points: np.ndarray
    point_parts: np.ndarray

    @property
    def size(self) -> int:
        return int(self.target.shape[0])


@dataclass(frozen=True)
class ProbeScores:
    """Per-point results of one probe, pooled over pairs: booleans (N_total,)."""

    part: np.ndarray
    pck10: np.ndarray
    pck_k: np.ndarray
    k: float

    def summary(self) -> dict[str, float]:
        """Shares in [0, 1] (``points``: how many were scored)."""
        return {
            "points": float(len(self.part)),
            "part": float(self.part.mean()) if len(self.part) else float("nan"),
            "pck10": float(self.pck10.mean()) if len(self.pck10) else float("nan"),
            "pck_k": float(self.pck_k.mean()) if len(self.pck_k) else float("nan"),
        }


def synthetic_probe_pairs(seed: int, pairs: int, size: int = 256) -> list[ProbePair]:
    """Pairs ``0..pairs-1`` of generator ``seed`` drawn at ``size`` px (pair ``i`` is the one
    ``manganinja synth --seed seed`` writes as pair ``i``)."""
    out = []
    for i in range(pairs):
        p = generate_pair(np.random.default_rng([int(seed), i]), size=size)
        out.append(ProbePair(
            reference=p.reference, target=p.target, reference_parts=p.reference_parts,
            reference_points=np.asarray(p.points.reference_xy, dtype=np.int64).reshape(-1, 2),
            target_points=np.asarray(p.points.lineart_xy, dtype=np.int64).reshape(-1, 2),
            point_parts=np.asarray(p.point_parts, dtype=np.int64),
        ))
    return out


def same_picture_pair(pair: ProbePair) -> ProbePair:
    """The reference of ``pair`` as both frames, its reference points as both point sets (a
    sanity case: any feature without ties matches every point to itself)."""
    return ProbePair(pair.reference, pair.reference, pair.reference_parts, pair.reference_points,
                     pair.reference_points, pair.point_parts)


def attention_block_names(unet: torch.nn.Module, prefixes: Sequence[str]) -> list[str]:
    """Module paths of the transformer blocks (self-attention) under any of ``prefixes`` (e.g.
    ``up_blocks.1``), in module order; an error naming the prefix that matches none."""
    blocks = [n for n, m in unet.named_modules() if isinstance(m, BasicTransformerBlock) and not m.only_cross_attention]
    chosen = []
    for prefix in prefixes:
        hits = [n for n in blocks if n == prefix or n.startswith(prefix + ".")]
        if not hits:
            raise ValueError(f"no self-attention block under {prefix!r}; blocks: {', '.join(blocks)}")
        chosen += [n for n in hits if n not in chosen]
    return chosen


@torch.no_grad()
def attn1_inputs(unet: torch.nn.Module, latents: torch.Tensor, timestep: int, context: torch.Tensor,
                 blocks: Sequence[str]) -> list[torch.Tensor]:
    """Run ``unet`` once and return, per block in ``blocks``, the hidden states entering its
    ``attn1`` as a map (B, C, h, w). ``latents`` (B, 4, h0, w0), ``context`` (B, T, D); the
    block grids are square."""
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    for name in blocks:
        attn = unet.get_submodule(name).attn1

        def grab(_module: torch.nn.Module, args: tuple, kwargs: dict, key: str = name) -> None:
            captured[key] = args[0] if args else kwargs["hidden_states"]

        hooks.append(attn.register_forward_pre_hook(grab, with_kwargs=True))
    try:
        t = torch.full((latents.shape[0],), int(timestep), dtype=torch.long, device=latents.device)
        unet(latents, t, encoder_hidden_states=context, return_dict=False)
    finally:
        for h in hooks:
            h.remove()
    maps = []
    for name in blocks:
        h = captured[name]
        side = int(round(h.shape[1] ** 0.5))
        maps.append(h.transpose(1, 2).reshape(h.shape[0], h.shape[2], side, side))
    return maps


def feature_maps(maps: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """Per-layer maps (B, C_l, h_l, w_l) -> one (B, sum C_l, size, size) map: each upsampled
    bilinearly and L2-normalised over its channels (layers weigh alike), then concatenated.
    Corner-aligned, so no border band of copies of the edge values (they would tie in matching)."""
    ups = [F.normalize(F.interpolate(m.float(), size=(size, size), mode="bilinear", align_corners=True), dim=1) for m in maps]
    return torch.cat(ups, dim=1)


def match_points(reference_map: torch.Tensor, target_map: torch.Tensor, target_points: np.ndarray,
                 metric: str = "cosine") -> np.ndarray:
    """For each target point ``(x, y)``, the reference pixel ``(x, y)`` whose feature is closest:
    highest cosine (``metric="cosine"``) or least Euclidean distance (``"l2"``). Maps (C, S, S)."""
    c, s, _ = reference_map.shape
    pts = torch.as_tensor(target_points, dtype=torch.long).reshape(-1, 2)
    # float64: neighbouring pixels of a bilinearly upsampled map differ by ~1e-6 in cosine
    queries = target_map[:, pts[:, 1], pts[:, 0]].T.double()  # (N, C)
    keys = reference_map.reshape(c, s * s).double()  # (C, S*S)
    if metric == "cosine":
        score = F.normalize(queries, dim=1) @ F.normalize(keys, dim=0)
    elif metric == "l2":
        score = -torch.cdist(queries[None], keys.T[None])[0]
    else:
        raise ValueError(f"metric must be 'cosine' or 'l2', got {metric!r}")
    best = score.argmax(dim=1)
    return torch.stack([best % s, best // s], dim=1).numpy()


def score_matches(pair: ProbePair, matched: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(part, pck10, pck_k) booleans per point of ``pair`` for the matched reference pixels."""
    mx, my = matched[:, 0], matched[:, 1]
    part = pair.reference_parts[my, mx].astype(np.int64) == pair.point_parts
    dist = np.linalg.norm(matched.astype(np.float64) - pair.reference_points, axis=1)
    return part, dist <= 0.1 * pair.size, dist <= k


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 (S, S, 3) -> (size, size, 3), area-resized (as the training data)."""
    if image.shape[0] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


FeatureFn = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]


def unet_features(pipe: torch.nn.Module, unet: torch.nn.Module, blocks: Sequence[str], timestep: int,
                  resolution: int, ensemble: int = 1, seed: int = 0) -> FeatureFn:
    """A function (reference, target) RGB uint8 at the drawn size -> their feature maps
    (C, S, S) from ``unet``'s ``attn1`` inputs (:func:`attn1_inputs`, :func:`feature_maps`):
    both pictures at ``resolution`` px, VAE posterior mean x scaling factor, noised at
    ``timestep`` with the same ``ensemble`` noises (seeded by ``seed`` and the call count),
    features averaged over the ensemble. ``pipe`` gives the VAE, the scheduler and the
    unconditional context token."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    vae = pipe.vae
    calls = [0]

    def encode(picture: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(resize_area(picture, resolution)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        return vae.encode(x.to(vae.dtype)).latent_dist.mode() * vae.config.scaling_factor

    @torch.no_grad()
    def features(reference: np.ndarray, target: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        size = target.shape[0]
        latents = torch.cat([encode(reference), encode(target)])
        gen = torch.Generator().manual_seed(int(seed) * 100003 + calls[0])
        calls[0] += 1
        context = pipe.condition_tokens(2).to(latents.dtype)
        total = None
        for _ in range(ensemble):
            noise = torch.randn(latents[:1].shape, generator=gen).expand_as(latents)
            t = torch.full((2,), int(timestep), dtype=torch.long)
            noisy = scheduler.add_noise(latents, noise, t)
            maps = feature_maps(attn1_inputs(unet, noisy, timestep, context, blocks), size)
            total = maps if total is None else total + maps
        return total[0], total[1]

    return features


def pixel_features(reference: np.ndarray, target: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The color baseline: the RGB values themselves as (3, S, S) maps (match with ``l2``)."""
    def as_map(picture: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(picture).permute(2, 0, 1).float() / 255.0

    return as_map(reference), as_map(target)


def run_probe(pairs: Sequence[ProbePair], features: FeatureFn, k: float = 8.0, metric: str = "cosine") -> ProbeScores:
    """Match every target point of every pair with ``features`` and score it (pooled)."""
    parts, p10, pk = [], [], []
    for pair in pairs:
        if not len(pair.target_points):
            continue
        ref_map, tgt_map = features(pair.reference, pair.target)
        matched = match_points(ref_map, tgt_map, pair.target_points, metric)
        a, b, c = score_matches(pair, matched, k)
        parts.append(a), p10.append(b), pk.append(c)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, bool))
    return ProbeScores(cat(parts), cat(p10), cat(pk), k)
