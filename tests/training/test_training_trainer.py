"""Training on CPU with tiny components (manganinja.training.trainer).

The runs share one small synthetic data set and one 3-step reference run (module fixtures) to
keep the suite fast on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.data.dataset import DatasetError  # noqa: E402
from manganinja.models.factory import build_components  # noqa: E402
from manganinja.models.point_net import PointNet  # noqa: E402
from manganinja.pipeline import MangaNinjaPipeline  # noqa: E402
from manganinja.training.config import ConfigError, load_config, resolve_config  # noqa: E402
from manganinja.training.trainer import STAGE_MODULES, Trainer, TrainingError, build_dataset  # noqa: E402

pytestmark = pytest.mark.slow  # each Trainer builds tiny models; about a minute in all on 2 cores


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth") / "pairs", n=4)


def tiny_config(synth_root: Path, out: Path, **train):
    base = {"output_dir": str(out), "steps": 3, "batch_size": 2, "checkpoint_every": 2, "learning_rate": 1e-4, "log_every": 1}
    base.update(train)
    return resolve_config(
        {
            "model": {"init": "tiny", "seed": 0},
            "data": {"synthetic": [str(synth_root)], "resolution": 64, "patch_shuffle": {"total_steps": 4}},
            "train": base,
        }
    )


def snapshot(pipe) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{n}": p.detach().clone()
        for name, comp in pipe.components.items()
        if isinstance(comp, torch.nn.Module)
        for n, p in comp.named_parameters()
    }


def fixed_batch(trainer: Trainer, keys=((0, 0), (1, 0))) -> dict:
    return default_collate([trainer.dataset[k] for k in keys])


@pytest.fixture(scope="module")
def reference_run(synth_root, tmp_path_factory):
    """Three uninterrupted steps with checkpoints at steps 2 and 3."""
    out = tmp_path_factory.mktemp("run_a")
    trainer = Trainer(tiny_config(synth_root, out))
    result = trainer.train()
    return trainer, result, out


def test_end_to_end_run_writes_a_loadable_checkpoint(reference_run):
    trainer, result, out = reference_run
    assert result.step == 3 and len(result.losses) == 3
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert [p.name for p in result.checkpoints] == ["checkpoint-0000002", "checkpoint-0000003"]
    ckpt = result.checkpoints[-1]
    assert (ckpt / "state" / "model.safetensors").is_file()
    assert (ckpt / "state" / "optimizer.bin").is_file()
    assert load_config(ckpt / "config.yaml") == trainer.cfg  # the resolved config, reloadable
    assert list((out / "logs").rglob("events.out.tfevents*"))
    loaded = MangaNinjaPipeline.from_pretrained(result.final_dir)
    for name in STAGE_MODULES[1]:
        trained = getattr(trainer.pipe, name).state_dict()
        for key, value in getattr(loaded, name).state_dict().items():
            assert torch.equal(value, trained[key].cpu()), f"{name}.{key}"
    # the pipeline in the checkpoint folder is the same model
    weights = load_file(ckpt / "pipeline" / "point_net" / "diffusion_pytorch_model.safetensors")
    assert torch.equal(weights["blocks.0.0.weight"], trainer.pipe.point_net.blocks[0][0].weight.detach().cpu())


def test_resume_reproduces_the_next_step_loss(reference_run, synth_root, tmp_path):
    _, result, out = reference_run
    cfg = tiny_config(synth_root, tmp_path / "resumed", resume=str(out / "checkpoints" / "checkpoint-0000002"))
    resumed = Trainer(cfg).train()
    assert resumed.step == 3
    assert resumed.losses == pytest.approx([result.losses[2]], rel=1e-5, abs=1e-6)


def test_checkpoint_from_another_architecture_is_refused(reference_run, synth_root, tmp_path):
    _, _, out = reference_run
    parts = build_components("tiny", seed=0)
    parts["point_net"] = PointNet(out_channels=(32, 64), downsamples=(6, 4))
    cfg = tiny_config(synth_root, tmp_path / "other", resume=str(out / "checkpoints" / "checkpoint-0000002"))
    trainer = Trainer(cfg, pipe=MangaNinjaPipeline(**parts))
    with pytest.raises(TrainingError, match="different architecture"):
        trainer.train()


def test_stage1_every_trainable_parameter_gets_a_gradient_and_nothing_else_changes(synth_root, tmp_path):
    cfg = tiny_config(synth_root, tmp_path / "s1", learning_rate=1e-3)
    cfg.data.drop.reference = cfg.data.drop.points = cfg.data.drop.lineart = 0.0
    trainer = Trainer(cfg)
    before = snapshot(trainer.pipe)
    trainable = {id(p) for p in trainer.params}
    loss = trainer.compute_loss(fixed_batch(trainer), 0, 0)
    loss.backward()
    names = {}
    for cname in STAGE_MODULES[1]:
        for n, p in getattr(trainer.pipe, cname).named_parameters():
            names[id(p)] = f"{cname}.{n}"
    missing = [names[id(p)] for p in trainer.params if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, missing
    # every component of stage 1 has trainable parameters; all frozen ones are explained
    for cname in STAGE_MODULES[1]:
        assert any(p.requires_grad for p in getattr(trainer.pipe, cname).parameters()), cname
    assert "conv_out.weight" in trainer.frozen_inside["reference_unet"]
    trainer.optimizer.step()
    after = snapshot(trainer.pipe)
    params_by_key = {
        f"{name}.{n}": p for name, comp in trainer.pipe.components.items() if isinstance(comp, torch.nn.Module) for n, p in comp.named_parameters()
    }
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        assert changed == (id(params_by_key[key]) in trainable), key


def test_stage2_changes_only_point_net(synth_root, tmp_path):
    trainer = Trainer(tiny_config(synth_root, tmp_path / "s2", stage=2, learning_rate=1e-3))
    assert {id(p) for p in trainer.params} == {id(p) for p in trainer.pipe.point_net.parameters()}
    before = snapshot(trainer.pipe)
    for step in range(2):
        trainer.compute_loss(fixed_batch(trainer, ((0, step), (2, step))), step, 0).backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
    after = snapshot(trainer.pipe)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("point_net.") for k in changed)
    assert changed == {k for k in before if k.startswith("point_net.")}


def test_loss_on_a_fixed_batch_drops_when_overfitting(synth_root, tmp_path):
    cfg = tiny_config(synth_root, tmp_path / "fit", learning_rate=1e-3, max_grad_norm=None)
    trainer = Trainer(cfg)
    batch = fixed_batch(trainer, ((0, 0),))
    losses = []
    for _ in range(8):
        loss = trainer.compute_loss(batch, 0, 0)  # same noise and timesteps every time
        loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_gradient_checkpointing_gives_the_same_gradients(synth_root, tmp_path):
    grads = []
    for flag in (False, True):
        trainer = Trainer(tiny_config(synth_root, tmp_path / f"gc{flag}", gradient_checkpointing=flag))
        trainer.compute_loss(fixed_batch(trainer), 0, 0).backward()
        grads.append(torch.cat([p.grad.flatten() for p in trainer.params]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_no_or_empty_data_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no training data"):
        build_dataset(resolve_config({}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no training pair found in .*empty"):
        build_dataset(resolve_config({"data": {"synthetic": [str(tmp_path / "empty")]}}))


def test_step_decay_schedule():
    from manganinja.training.trainer import step_decay

    assert [step_decay(s, every=30000, factor=0.5) for s in (0, 29999, 30000, 60000, 179999)] == [1, 1, 0.5, 0.25, 0.5**5]
    assert step_decay(0, every=10, factor=0.5, warmup=4) == 0.25


def test_pretrained_init_from_another_architecture_is_refused(reference_run, tmp_path):
    import json
    import shutil

    from manganinja.training.trainer import build_pipeline

    _, result, _ = reference_run
    other = tmp_path / "other"
    shutil.copytree(result.final_dir, other)
    config_path = other / "point_net" / "config.json"
    config = json.loads(config_path.read_text())
    config["out_channels"] = [32, 48]
    config_path.write_text(json.dumps(config))
    with pytest.raises(TrainingError, match=r"model.path .*other: cannot load .*blocks.1.0"):
        build_pipeline(resolve_config({"model": {"init": "pretrained", "path": str(other)}}))
    with pytest.raises(TrainingError, match="model_index.json"):
        build_pipeline(resolve_config({"model": {"init": "pretrained", "path": str(tmp_path)}}))


def test_gradient_accumulation_goes_through_accelerate(synth_root, tmp_path):
    """accelerate's accumulate() runs the accumulation (its plugin has the config's steps), and
    two accumulated micro-batches of 1 give the optimizer the gradient of one batch of 2."""
    grads = []
    for name, batch_size, accumulation in (("acc", 1, 2), ("whole", 2, 1)):
        # one at a time: accelerate's gradient state is shared by the Accelerators of a process
        trainer = Trainer(tiny_config(synth_root, tmp_path / name, batch_size=batch_size,
                                      gradient_accumulation_steps=accumulation, max_grad_norm=None))
        assert trainer.accelerator.gradient_accumulation_steps == accumulation
        trainer.compute_loss = lambda batch, step, micro, tr=trainer: _fixed_noise_loss(tr, batch)
        inner = trainer.optimizer.optimizer
        step = inner.step

        def record(*args, _step=step, _tr=trainer, **kwargs):
            grads.append(torch.cat([p.grad.flatten() for p in _tr.params]))
            return _step(*args, **kwargs)

        inner.step = record
        trainer.train(max_steps=1)
    assert len(grads) == 2  # one optimizer step each: the accumulated run stepped once, not twice
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def _fixed_noise_loss(trainer: Trainer, batch: dict) -> torch.Tensor:
    """The step's loss with noise and timesteps that depend on the sample only (not on how the
    batch is split into micro-batches)."""
    from manganinja.training.trainer import prediction_loss, prepare_inputs

    losses = []
    for i in range(len(batch["target"])):
        row = {k: v[i : i + 1] for k, v in batch.items() if isinstance(v, torch.Tensor)}
        gen = torch.Generator().manual_seed(int(row["target"].abs().sum() * 1000) % 2**31)
        inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, row, gen, torch.float32)
        target = inputs.pop("target")
        losses.append(prediction_loss(trainer.model(**inputs), target))
    return torch.stack(losses).mean()


def test_training_clip_token_is_the_inference_one(synth_root, tmp_path):
    """The context token of a training step is MangaNinjaPipeline.clip_token of the reference
    picture (the same preprocessing as inference), for every row that keeps its reference."""
    from manganinja.training.trainer import prepare_inputs, reference_pictures

    trainer = Trainer(tiny_config(synth_root, tmp_path / "clip"))
    batch = fixed_batch(trainer)
    batch["drop_reference"] = torch.zeros_like(batch["drop_reference"])
    inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, batch, torch.Generator().manual_seed(0), torch.float32)
    for row, picture in enumerate(reference_pictures(batch["reference"])):
        assert torch.equal(inputs["context"][row], trainer.pipe.clip_token(picture)[0])


def test_sd15_init_is_the_factory_assembly(official_tiny):
    """model.init 'sd15' builds the pipeline with pipeline.pipeline_from_sd15 (one
    assembly, no copy in the trainer): same U-Net weights as the SD folder, same unconditional
    token as the official loader computes from the same CLIP folder."""
    from manganinja.pipeline import pipeline_from_sd15
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.training.trainer import build_pipeline

    root = official_tiny / "checkpoints"
    sd, clip = root / "StableDiffusion", root / "models" / "clip-vit-large-patch14"
    cfg = resolve_config({"model": {"init": "sd15", "path": str(sd), "clip_path": str(clip), "seed": 3}})
    pipe = build_pipeline(cfg)
    direct = pipeline_from_sd15(sd, None, clip, seed=3)
    for name in ("denoising_unet", "reference_unet", "controlnet", "point_net", "vae", "condition_tokens"):
        a, b = getattr(pipe, name).state_dict(), getattr(direct, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    official = MangaNinjaPipeline.from_official(root)
    assert torch.equal(pipe.condition_tokens.uncond, official.condition_tokens.uncond)
    with pytest.raises(TrainingError, match="model.clip_path"):
        build_pipeline(resolve_config({"model": {"init": "sd15", "path": str(sd)}}))


def test_each_row_trains_the_layout_of_its_inference_branch(synth_root, tmp_path):
    """Condition dropping puts each row in the layout the sampler uses for that branch: a row
    with its points dropped is the REF branch (bank, no point embeddings), a row with its
    reference dropped the UNCOND branch (no bank, no point embeddings, unconditional token), a
    row with points the POINT branch. Before, every row had PointNet's embeddings (of an empty map
    when dropped), a layout the sampler's REF and UNCOND branches never use."""
    from manganinja.models.reference_attention import Branch, PointEmbeddings
    from manganinja.training.trainer import prepare_inputs

    trainer = Trainer(tiny_config(synth_root, tmp_path / "layout"))
    batch = fixed_batch(trainer, keys=((0, 0), (1, 0), (2, 0)))
    batch["drop_reference"] = torch.tensor([False, False, True])
    batch["drop_points"] = torch.tensor([False, True, False])
    inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, batch, torch.Generator().manual_seed(0), torch.float32)
    assert inputs["point_keep"].tolist() == [True, False, False]
    assert inputs["bank_keep"].tolist() == [True, True, False]
    inputs.pop("target")
    model, pipe = trainer.model, trainer.pipe
    model.eval()
    with torch.no_grad():
        trained = model(**inputs)
        state = pipe.reference_state
        for row, branch in enumerate((Branch.POINT, Branch.REF, Branch.UNCOND)):
            one = {k: v[row : row + 1] for k, v in inputs.items()}
            state.clear()
            state.recording = True
            pipe.reference_unet(one["reference_latents"], torch.zeros_like(one["timesteps"]), encoder_hidden_states=one["context"], return_dict=False)
            state.recording = False
            state.branches = (branch,)
            state.points = PointEmbeddings(target=pipe.point_net(one["target_points"]), reference=[pipe.point_net(one["reference_points"])])
            down, mid = pipe.controlnet(one["noisy_latents"], one["timesteps"], encoder_hidden_states=one["context"], controlnet_cond=one["lineart"], return_dict=False)
            expected = pipe.denoising_unet(
                one["noisy_latents"], one["timesteps"], encoder_hidden_states=one["context"],
                down_block_additional_residuals=down, mid_block_additional_residual=mid, return_dict=False,
            )[0]
            assert torch.allclose(trained[row : row + 1], expected, atol=1e-5), branch
        state.clear()


def test_a_v_prediction_run_trains_on_the_velocity(synth_root, tmp_path):
    """With ``model.schedule`` set, the step's target is the velocity of the saved scheduler's
    zero-terminal-SNR schedule (not the noise), and the run saves that schedule."""
    from diffusers import DDPMScheduler

    from manganinja.training.trainer import prepare_inputs

    cfg = tiny_config(synth_root, tmp_path / "v", steps=1)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"schedule": type(cfg.model.schedule)(
        prediction_type="v_prediction", zero_terminal_snr=True, timestep_spacing="trailing")})})
    trainer = Trainer(cfg)
    assert trainer.noise_scheduler.config.prediction_type == "v_prediction"
    batch = fixed_batch(trainer)
    gen = torch.Generator().manual_seed(3)
    inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, batch, gen, torch.float32)
    # the same draws again, to rebuild the velocity by hand
    gen = torch.Generator().manual_seed(3)
    vae, sf = trainer.pipe.vae, trainer.pipe.vae.config.scaling_factor
    latents = vae.encode(batch["target"]).latent_dist.sample(generator=gen) * sf
    noise = torch.randn(latents.shape, generator=gen)
    t = torch.randint(0, 1000, (len(latents),), generator=gen)
    abar = DDPMScheduler.from_config(trainer.pipe.scheduler.config).alphas_cumprod[t].view(-1, 1, 1, 1)
    assert torch.allclose(inputs["target"], abar.sqrt() * noise - (1 - abar).sqrt() * latents, atol=1e-5)
    final = trainer.train().final_dir
    saved = DDPMScheduler.from_pretrained(final / "scheduler")
    assert saved.config.prediction_type == "v_prediction" and float(saved.alphas_cumprod[-1]) == 0.0


def test_a_curriculum_feeds_each_phase_from_its_own_sources(synth_root, tmp_path):
    """data.curriculum through the trainer's loader: the steps of the first phase see only the
    first folder's pairs, the later steps only the second's; a bad curriculum is one line."""
    second = write_synthetic(tmp_path / "second", n=2)
    cfg = resolve_config({
        "model": {"init": "tiny", "seed": 0},
        "data": {"synthetic": [str(synth_root), str(second)], "resolution": 64, "patch_shuffle": {"enabled": False},
                 "curriculum": [[0, [str(synth_root)]], [2, [str(second)]]]},
        "train": {"output_dir": str(tmp_path / "out"), "steps": 4, "batch_size": 2},
    })
    trainer = Trainer(cfg)
    keys = list(trainer.loader(0, 4).sampler)
    assert {k for k, s in keys if s < 2} <= {0, 1, 2, 3} and {k for k, s in keys if s >= 2} == {4, 5}
    with pytest.raises(ConfigError, match="data.curriculum phase at step 0: 'elsewhere' is not in data.synthetic"):
        resolve_config({"model": {"init": "tiny"}, "data": {"synthetic": [str(synth_root)], "curriculum": [[0, ["elsewhere"]]]},
                        "train": {"output_dir": str(tmp_path / "o2")}})
