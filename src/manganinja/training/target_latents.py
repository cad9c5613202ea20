"""The training targets' latents, encoded once (``train.cache_target_latents``).

A training step encodes its target with the frozen VAE and draws a latent from the posterior
(:func:`~manganinja.training.trainer.prepare_inputs`). The target is never augmented (only the
reference is), so the posterior of pair ``i`` is the same at every step: :class:`TargetLatents`
encodes every pair's target once before the first step and a step draws from the stored
posterior with the step's generator, the same draw as from a fresh encoding (the losses of 100
steps came out bit for bit the same). On the tiny synthetic model, 2 cores: stage 0 went from
0.167 to 0.109 s a step, stage 1 from 0.273 to 0.262, for 25 to 32 s of encoding 4000 targets
before the first step (docs/reproduce.md, twenty-fifth attempt).

With the latents stored, stage 0 (which reads nothing of a sample but its target) needs no
sample at all: :class:`PairIndices` gives the loader the pair indices alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from torch.utils.data import Dataset

from manganinja.data.dataset import PairDataset, check_pair_index, sample_key


@dataclass(frozen=True)
class TargetLatents:
    """Posterior parameters of every pair's target: ``parameters`` (N, 2C, h, w), the mean and
    log-variance channels of diffusers' :class:`DiagonalGaussianDistribution`, row ``i`` for pair
    ``i`` of the data set; in the VAE's dtype, on its device."""

    parameters: torch.Tensor

    @classmethod
    @torch.no_grad()
    def encode(cls, vae: AutoencoderKL, dataset: PairDataset, batch: int = 64,
               progress: bool = False) -> "TargetLatents":
        """Encode ``dataset.target(i)`` for every pair ``i``, ``batch`` pictures per call;
        ``progress``: a progress bar over the targets (tqdm)."""
        from tqdm.auto import tqdm

        rows = []
        with tqdm(total=len(dataset), desc="encoding targets", unit="target", disable=not progress) as bar:
            for start in range(0, len(dataset), batch):
                stop = min(start + batch, len(dataset))
                pictures = torch.stack([dataset.target(i) for i in range(start, stop)])
                posterior = vae.encode(pictures.to(device=vae.device, dtype=vae.dtype)).latent_dist
                rows.append(posterior.parameters)
                bar.update(stop - start)
        return cls(torch.cat(rows))

    def __len__(self) -> int:
        return len(self.parameters)

    def posterior(self, index: torch.Tensor) -> DiagonalGaussianDistribution:
        """The posterior of the pairs ``index`` (B,) long, as ``vae.encode`` of their targets
        gives it (``latent_dist``)."""
        return DiagonalGaussianDistribution(self.parameters[index.to(self.parameters.device)])


class PairIndices(Dataset):
    """Samples that hold only the pair index, ``{"index": i}``, keyed like :class:`PairDataset`
    (``(index, step)`` from :class:`~manganinja.data.dataset.StepSampler`, or an int): the loader of
    a stage-0 run whose targets' latents are stored."""

    def __init__(self, pairs: int) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return self.pairs

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, int]:
        index, _ = sample_key(key)
        check_pair_index(index, self.pairs)
        return {"index": index}
