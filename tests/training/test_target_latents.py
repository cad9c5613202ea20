"""The targets' latents encoded once (``train.cache_target_latents``,
manganinja.training.target_latents): the same steps as encoding each batch, one VAE encoding a
step fewer, and no samples at all for stage 0."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.training.config import load_config, resolve_config  # noqa: E402
from manganinja.training.target_latents import PairIndices, TargetLatents  # noqa: E402
from manganinja.training.trainer import Trainer, prepare_inputs, step_generator  # noqa: E402

pytestmark = pytest.mark.slow  # tiny models, a few steps; seconds on 2 cores

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth_latents") / "pairs", n=5)


def config(synth_root: Path, out: Path, stage: int, cache: bool) -> object:
    return resolve_config({
        "model": {"init": "tiny", "seed": 0, "tiny_start": "paper"},
        "data": {"synthetic": [str(synth_root)], "resolution": 64, "patch_shuffle": {"enabled": False},
                 "flip_rotate": {"flip_probability": 1.0, "rotate_probability": 1.0, "max_angle": 30}},
        "train": {"output_dir": str(out), "stage": stage, "steps": 3, "batch_size": 2, "checkpoint_every": 3,
                  "learning_rate": 1e-3, "log_every": 1, "seed": 4, "cache_target_latents": cache},
    })


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters()}


@pytest.mark.parametrize("stage", [0, 1])
def test_a_run_on_stored_latents_is_the_run_that_encodes_every_step(synth_root, tmp_path, stage):
    """Same losses and same trained weights, to float rounding: the stored posterior gives the
    draws a fresh encoding gives (the target is never augmented, the reference is: flipped and
    rotated in every sample here)."""
    runs = {}
    for cache in (False, True):
        trainer = Trainer(config(synth_root, tmp_path / f"s{stage}_{cache}", stage, cache))
        assert (trainer.target_latents is not None) == cache
        result = trainer.train()
        runs[cache] = (result.losses, weights(trainer))
    (plain_losses, plain), (cached_losses, cached) = runs[False], runs[True]
    assert cached_losses == pytest.approx(plain_losses, rel=1e-5, abs=1e-6)
    assert plain.keys() == cached.keys()
    for name in plain:
        assert torch.allclose(plain[name], cached[name], atol=1e-5), name


def test_stage0_on_stored_latents_reads_no_samples(synth_root, tmp_path):
    trainer = Trainer(config(synth_root, tmp_path / "s0", 0, True))
    loader = trainer.loader(0, 2)
    assert isinstance(loader.dataset, PairIndices)
    batch = next(iter(loader))
    assert set(batch) == {"index"} and batch["index"].dtype == torch.long
    stage1 = Trainer(config(synth_root, tmp_path / "s1", 1, True))
    assert stage1.loader(0, 2).dataset is stage1.dataset  # the other stages read whole samples


def test_stored_posteriors_are_the_vae_encodings_of_the_targets(synth_root, tmp_path):
    trainer = Trainer(config(synth_root, tmp_path / "enc", 1, True))
    stored = trainer.target_latents
    assert len(stored) == len(trainer.dataset)
    vae = trainer.pipe.vae
    with torch.no_grad():
        for i in range(len(trainer.dataset)):
            sample = trainer.dataset[(i, 7)]
            assert sample["index"] == i and torch.equal(sample["target"], trainer.dataset.target(i))
            fresh = vae.encode(sample["target"][None]).latent_dist
            kept = stored.posterior(torch.tensor([i]))
            assert torch.allclose(kept.mean, fresh.mean, atol=1e-5) and torch.allclose(kept.std, fresh.std, atol=1e-5)


def test_prepare_inputs_is_the_same_with_stored_latents(synth_root, tmp_path):
    trainer = Trainer(config(synth_root, tmp_path / "prep", 1, True))
    batch = default_collate([trainer.dataset[(i, 2)] for i in (3, 1)])
    args = (trainer.pipe, trainer.noise_scheduler, batch)
    fresh = prepare_inputs(*args, step_generator(4, 2, 0, 0), torch.float32)
    kept = prepare_inputs(*args, step_generator(4, 2, 0, 0), torch.float32, target_latents=trainer.target_latents)
    assert fresh.keys() == kept.keys()
    for key in fresh:
        assert torch.allclose(fresh[key].float(), kept[key].float(), atol=1e-5), key
    stage0 = prepare_inputs(*args, step_generator(4, 2, 0, 0), torch.float32, unconditional=True,
                            target_latents=trainer.target_latents)
    assert set(stage0) == {"noisy_latents", "timesteps", "context", "target"}
    assert torch.allclose(stage0["noisy_latents"], fresh["noisy_latents"], atol=1e-5)


def test_pair_indices_refuse_a_pair_out_of_range():
    indices = PairIndices(3)
    assert indices[(2, 9)] == {"index": 2} and indices[0] == {"index": 0} and len(indices) == 3
    with pytest.raises(IndexError, match="pair 3 out of range"):
        indices[3]


def test_a_later_stage_without_its_inputs_is_refused(synth_root, tmp_path):
    from manganinja.training.trainer import TrainingError

    trainer = Trainer(config(synth_root, tmp_path / "no_inputs", 1, False))
    batch = default_collate([trainer.dataset[(0, 0)], trainer.dataset[(1, 0)]])
    inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, batch, step_generator(0, 0, 0, 0), torch.float32,
                            unconditional=True)
    inputs.pop("target")
    with pytest.raises(TrainingError, match="stage 1 needs the reference"):
        trainer.model(**inputs)


@pytest.mark.parametrize("name", ["tiny_synthetic_stage0.yaml", "tiny_synthetic_stage1_match.yaml",
                                  "tiny_synthetic_stage1_hints.yaml"])
def test_the_chains_long_parts_store_their_targets_latents(name):
    assert load_config(CONFIGS / name).train.cache_target_latents


def test_encoding_in_small_batches_with_a_progress_bar_stores_the_same_posteriors(synth_root, tmp_path, capsys):
    trainer = Trainer(config(synth_root, tmp_path / "bar", 1, True))
    capsys.readouterr()
    small = TargetLatents.encode(trainer.pipe.vae, trainer.dataset, batch=2, progress=True)
    bar = capsys.readouterr().err
    assert "encoding targets" in bar and "5/5" in bar
    assert torch.allclose(small.parameters, trainer.target_latents.parameters, atol=1e-5)
    TargetLatents.encode(trainer.pipe.vae, trainer.dataset, batch=2)
    assert "encoding targets" not in capsys.readouterr().err
