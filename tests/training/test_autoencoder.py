"""The autoencoder trainer (manganinja.training.autoencoder) on a few random frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from manganinja.training.autoencoder import (
    AutoencoderConfig,
    AutoencoderConfigError,
    AutoencoderTrainSection,
    load_autoencoder_config,
    lr_scheduler_for,
    train_autoencoder,
)


def _frames(root: Path, pairs: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for i in range(pairs):
        d = root / f"pair_{i:05d}"
        d.mkdir(parents=True, exist_ok=True)
        for name in ("reference.png", "target.png"):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(d / name)
    return root


def _config(tmp_path: Path, posterior: str) -> AutoencoderConfig:
    data = _frames(tmp_path / "frames")
    return AutoencoderConfig.model_validate({
        "model": {"block_out_channels": [8, 8], "norm_num_groups": 4},
        "data": {"synthetic": [str(data)], "holdout": [str(data)], "resolution": 16},
        "train": {"output_dir": str(tmp_path / "run"), "steps": 2, "batch_size": 2, "posterior": posterior, "threads": 1},
    })


@pytest.mark.parametrize("posterior", ["sample", "mode"])
def test_training_writes_a_loadable_autoencoder_with_metrics(tmp_path, posterior):
    from diffusers import AutoencoderKL

    metrics = train_autoencoder(_config(tmp_path, posterior), log=False)
    final = tmp_path / "run" / "final"
    assert json.loads((final / "metrics.json").read_text())["holdout_psnr_db"] == pytest.approx(metrics["holdout_psnr_db"])
    vae = AutoencoderKL.from_pretrained(final).eval()
    assert vae.config.scaling_factor == pytest.approx(metrics["scaling_factor"])
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        dist = vae.encode(x).latent_dist
    gap = float((dist.sample(generator=torch.Generator().manual_seed(0)) - dist.mode()).abs().max())
    if posterior == "mode":  # the decoder was trained on the mean: a sample must be the mean
        assert gap < 1e-5
    else:
        assert gap > 1e-3


def test_unknown_posterior_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "ae.yaml"
    path.write_text("data: {synthetic: [x]}\ntrain: {posterior: noisy}\n")
    with pytest.raises(AutoencoderConfigError, match="train.posterior"):
        load_autoencoder_config(path)


def test_eval_every_writes_the_held_out_curve(tmp_path):
    cfg = _config(tmp_path, "mode")
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": 4, "eval_every": 2})})
    metrics = train_autoencoder(cfg, log=False)
    rows = (tmp_path / "run" / "final" / "curve.csv").read_text().splitlines()
    assert rows[0] == "step,holdout_psnr_db,trained_holdout_psnr_db,wall_seconds"
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == [2, 4]
    # without an EMA the weights saved are the weights trained
    assert all(r.split(",")[1] == r.split(",")[2] for r in rows[1:])
    # the last point of the curve is the final model, measured the same way as metrics.json
    # (the final one also has its posterior made deterministic, which the mean does not see)
    assert float(rows[-1].split(",")[1]) == pytest.approx(metrics["holdout_psnr_db"], abs=1e-3)
    # measuring changes nothing in the training: the same weights as a run without the curve
    from safetensors.torch import load_file

    plain = cfg.model_copy(update={"train": cfg.train.model_copy(update={"eval_every": 0, "output_dir": str(tmp_path / "plain")})})
    train_autoencoder(plain, log=False)
    a = load_file(tmp_path / "run" / "final" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "plain" / "final" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "plain" / "final" / "curve.csv").exists()


def test_ema_saves_the_average_and_leaves_the_training_alone(tmp_path):
    from safetensors.torch import load_file

    cfg = _config(tmp_path, "mode")
    train = cfg.train.model_copy(update={"steps": 6, "eval_every": 3, "learning_rate": 1e-2})
    plain = cfg.model_copy(update={"train": train.model_copy(update={"output_dir": str(tmp_path / "plain")})})
    ema = cfg.model_copy(update={"train": train.model_copy(update={"output_dir": str(tmp_path / "ema"), "ema_decay": 0.9})})
    plain_metrics, ema_metrics = train_autoencoder(plain, log=False), train_autoencoder(ema, log=False)
    plain_rows = [r.split(",") for r in (tmp_path / "plain" / "final" / "curve.csv").read_text().splitlines()[1:]]
    ema_rows = [r.split(",") for r in (tmp_path / "ema" / "final" / "curve.csv").read_text().splitlines()[1:]]
    # the average never feeds back: the trained weights are the plain run's, step for step
    assert [r[2] for r in ema_rows] == [r[2] for r in plain_rows]
    # what is measured and saved is the average, not the trained weights
    assert all(r[1] != r[2] for r in ema_rows)
    assert float(ema_rows[-1][1]) == pytest.approx(ema_metrics["holdout_psnr_db"], abs=1e-3)
    assert ema_metrics["holdout_psnr_db"] != pytest.approx(plain_metrics["holdout_psnr_db"], abs=1e-3)
    a = load_file(tmp_path / "plain" / "final" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "ema" / "final" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and not all(torch.equal(a[k], b[k]) for k in a if "quant_conv" not in k)


def test_init_from_goes_on_from_a_trained_autoencoder(tmp_path):
    from safetensors.torch import load_file

    cfg = _config(tmp_path, "mode")
    train_autoencoder(cfg, log=False)
    first = tmp_path / "run" / "final"
    # a learning rate of ~0 leaves the start as it is: the second run's weights are the first's
    again = cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"init_from": str(first)}),
        "train": cfg.train.model_copy(update={"output_dir": str(tmp_path / "again"), "learning_rate": 1e-12, "seed": 5}),
    })
    train_autoencoder(again, log=False)
    a = load_file(first / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "again" / "final" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    # from random weights with that seed, they are not
    fresh = again.model_copy(update={"model": cfg.model, "train": again.train.model_copy(update={"output_dir": str(tmp_path / "fresh")})})
    train_autoencoder(fresh, log=False)
    c = load_file(tmp_path / "fresh" / "final" / "diffusion_pytorch_model.safetensors")
    assert max(float((a[k] - c[k]).abs().max()) for k in a) > 1e-2


def test_init_from_of_another_architecture_is_one_line_before_anything_is_written(tmp_path):
    cfg = _config(tmp_path, "mode")
    train_autoencoder(cfg, log=False)
    wide = cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"init_from": str(tmp_path / "run" / "final"), "block_out_channels": [8, 16]}),
        "train": cfg.train.model_copy(update={"output_dir": str(tmp_path / "wide")}),
    })
    with pytest.raises(AutoencoderConfigError, match=r"model.init_from: .* has block_out_channels \[8, 8\], the config says \[8, 16\]"):
        train_autoencoder(wide, log=False)
    missing = wide.model_copy(update={"model": cfg.model.model_copy(update={"init_from": str(tmp_path / "nope")})})
    with pytest.raises(AutoencoderConfigError, match="is not a saved autoencoder"):
        train_autoencoder(missing, log=False)
    assert not (tmp_path / "wide").exists()
    # going on from the folder this run would save into would replace the start: refused, the start kept
    first = (tmp_path / "run" / "final" / "diffusion_pytorch_model.safetensors").read_bytes()
    onto = cfg.model_copy(update={"model": cfg.model.model_copy(update={"init_from": str(tmp_path / "run" / "final")})})
    with pytest.raises(AutoencoderConfigError, match=r"model.init_from .* is where this run saves \(train.output_dir"):
        train_autoencoder(onto, log=False)
    assert (tmp_path / "run" / "final" / "diffusion_pytorch_model.safetensors").read_bytes() == first


def test_ema_decay_of_one_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "ae.yaml"
    path.write_text("data: {synthetic: [x]}\ntrain: {ema_decay: 1.0}\n")
    with pytest.raises(AutoencoderConfigError, match="train.ema_decay"):
        load_autoencoder_config(path)


def test_eval_every_without_holdout_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "ae.yaml"
    path.write_text("data: {synthetic: [x]}\ntrain: {eval_every: 100}\n")
    with pytest.raises(AutoencoderConfigError, match="eval_every needs data.holdout"):
        load_autoencoder_config(path)


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[2] / "configs").glob("*autoencoder*.yaml")))
def test_the_shipped_autoencoder_configs_load(name):
    cfg = load_autoencoder_config(Path(__file__).resolve().parents[2] / "configs" / name)
    assert cfg.train.steps > 0 and cfg.data.synthetic


def test_the_shipped_variants_extend_their_base_and_differ_only_where_they_say():
    """The 8-channel configs are variants (``extends:``): the 20000-step bf16 one is the 26000-step
    bf16 one with its steps and run folder changed, which is the 8-channel one under bf16, which
    is the long one with 8 latent channels."""
    configs = Path(__file__).resolve().parents[2] / "configs"
    dumped = {name: load_autoencoder_config(configs / f"tiny_synthetic_autoencoder_{name}.yaml").model_dump()
              for name in ("long", "lc8", "lc8_bf16", "lc8_bf16_20k")}

    def changed(a: str, b: str) -> dict[str, object]:
        return {f"{section}.{key}": dumped[b][section][key] for section in dumped[a]
                for key in dumped[a][section] if dumped[a][section][key] != dumped[b][section][key]}

    assert changed("lc8_bf16", "lc8_bf16_20k") == {"train.output_dir": "runs/tiny_synthetic_autoencoder_lc8_bf16_20k",
                                                   "train.steps": 20000}
    assert changed("lc8", "lc8_bf16") == {"train.output_dir": "runs/tiny_synthetic_autoencoder_lc8_bf16",
                                          "train.steps": 26000, "train.mixed_precision": "bf16"}
    assert changed("long", "lc8") == {"model.latent_channels": 8, "train.output_dir": "runs/tiny_synthetic_autoencoder_lc8"}
    assert dumped["lc8_bf16_20k"]["train"]["lr_decay_every"] == 7000 and dumped["lc8_bf16_20k"]["data"]["synthetic"]


def _rates(t: AutoencoderTrainSection) -> list[float]:
    """The rate each of the run's steps uses."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=t.learning_rate)
    scheduler = lr_scheduler_for(opt, t)
    rates = []
    for _ in range(t.steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


def test_the_linear_schedule_falls_from_the_rate_to_zero_over_the_run():
    rates = _rates(AutoencoderTrainSection(steps=8, learning_rate=2e-3, lr_schedule="linear"))
    assert rates == pytest.approx([2e-3 * (8 - i) / 8 for i in range(8)])


def test_the_step_schedule_is_the_default_and_decays_by_its_factor():
    t = AutoencoderTrainSection(steps=6, learning_rate=1e-3, lr_decay_every=2, lr_decay_factor=0.5)
    assert t.lr_schedule == "step"
    assert _rates(t) == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


def test_decay_keys_with_the_linear_schedule_are_refused_naming_the_key(tmp_path):
    path = tmp_path / "ae.yaml"
    path.write_text("data: {synthetic: [x]}\ntrain: {lr_schedule: linear, lr_decay_every: 100}\n")
    with pytest.raises(AutoencoderConfigError, match="train.lr_decay_every is for lr_schedule: step"):
        load_autoencoder_config(path)


def _resumable(tmp_path: Path, run: str, **train: object) -> AutoencoderConfig:
    cfg = _config(tmp_path, "mode")
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={
        "output_dir": str(tmp_path / run), "steps": 5, "checkpoint_every": 2, "eval_every": 2, **train})})


@pytest.mark.parametrize("schedule", ["step", "linear"])
def test_an_interrupted_run_goes_on_from_its_checkpoint_to_the_same_model(tmp_path, schedule):
    from safetensors.torch import load_file

    whole = train_autoencoder(_resumable(tmp_path, "whole", lr_schedule=schedule), log=False)
    assert not (tmp_path / "whole" / "checkpoint").exists()
    cut = train_autoencoder(_resumable(tmp_path, "cut", lr_schedule=schedule), log=False, max_steps=3)
    assert cut["step"] == 3 and cut["seconds_per_step"] > 0
    assert (tmp_path / "cut" / "checkpoint" / "state.pt").is_file() and not (tmp_path / "cut" / "final").exists()
    # the rerun may checkpoint otherwise (it does not change what is trained)
    again = train_autoencoder(_resumable(tmp_path, "cut", lr_schedule=schedule, checkpoint_every=3), log=False)
    assert not (tmp_path / "cut" / "checkpoint").exists()
    a = load_file(tmp_path / "whole" / "final" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "cut" / "final" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert again["holdout_psnr_db"] == pytest.approx(whole["holdout_psnr_db"], abs=1e-4)
    for name in ("loss.csv", "curve.csv"):
        rows = [(tmp_path / r / "final" / name).read_text().splitlines() for r in ("whole", "cut")]
        assert [r.split(",")[:3] for r in rows[0]] == [r.split(",")[:3] for r in rows[1]]
    assert len((tmp_path / "cut" / "final" / "curve.csv").read_text().splitlines()) == 1 + 2  # steps 2 and 4


def test_a_checkpoint_of_another_config_is_refused_in_one_line(tmp_path):
    train_autoencoder(_resumable(tmp_path, "cut"), log=False, max_steps=2)
    with pytest.raises(AutoencoderConfigError, match="checkpoint of another config"):
        train_autoencoder(_resumable(tmp_path, "cut", learning_rate=5e-4), log=False)
    assert (tmp_path / "cut" / "checkpoint" / "state.pt").is_file()  # nothing lost


def test_the_end_of_a_run_removes_its_checkpoint_files_only(tmp_path):
    """``final`` replaces the checkpoint: the trainer's own files go, anything else a user keeps
    in ``OUTPUT/checkpoint`` stays."""
    train_autoencoder(_resumable(tmp_path, "cut"), log=False, max_steps=2)
    mine = tmp_path / "cut" / "checkpoint" / "notes.txt"
    mine.write_text("keep me")
    train_autoencoder(_resumable(tmp_path, "cut"), log=False)
    assert mine.read_text() == "keep me" and not (tmp_path / "cut" / "checkpoint" / "state.pt").exists()


def test_progress_shows_a_bar_with_the_held_out_psnr_and_trains_the_same(tmp_path, capsys):
    from safetensors.torch import load_file

    cfg = _config(tmp_path, "mode")
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": 4, "eval_every": 2})})
    train_autoencoder(cfg, log=False, progress=True)
    err = capsys.readouterr().err
    assert "autoencoder" in err and "4/4" in err and "held-out" in err and "dB" in err
    quiet = cfg.model_copy(update={"train": cfg.train.model_copy(update={"output_dir": str(tmp_path / "quiet")})})
    train_autoencoder(quiet, log=False)
    assert capsys.readouterr().err == ""
    a = load_file(tmp_path / "run" / "final" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "quiet" / "final" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_trains_under_autocast_and_saves_fp32_weights(tmp_path):
    from safetensors.torch import load_file

    cfg = _config(tmp_path, "mode")
    train = cfg.train.model_copy(update={"steps": 4, "learning_rate": 1e-2})
    plain = cfg.model_copy(update={"train": train.model_copy(update={"output_dir": str(tmp_path / "plain")})})
    bf16 = cfg.model_copy(update={"train": train.model_copy(update={"output_dir": str(tmp_path / "bf16"), "mixed_precision": "bf16"})})
    plain_metrics, bf16_metrics = train_autoencoder(plain, log=False), train_autoencoder(bf16, log=False)
    a = load_file(tmp_path / "plain" / "final" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "bf16" / "final" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(t.dtype == torch.float32 for t in b.values())
    # the same run in lower precision: other weights, near the fp32 run's
    assert not all(torch.equal(a[k], b[k]) for k in a if "quant_conv" not in k)
    assert abs(bf16_metrics["holdout_psnr_db"] - plain_metrics["holdout_psnr_db"]) < 1.0


def test_mixed_precision_other_than_no_or_bf16_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "ae.yaml"
    path.write_text("data: {synthetic: [x]}\ntrain: {mixed_precision: fp16}\n")
    with pytest.raises(AutoencoderConfigError, match="train.mixed_precision"):
        load_autoencoder_config(path)


@pytest.mark.parametrize("has_bf16, warns", [(False, True), (True, False), (None, False)])
def test_bf16_on_a_cpu_without_bf16_instructions_warns(tmp_path, monkeypatch, caplog, has_bf16, warns):
    """On the package's logger, which the CLI prints as a plain line on stderr."""
    import manganinja.training.autoencoder as A

    monkeypatch.setattr(A, "cpu_has_bf16", lambda: has_bf16)
    cfg = _config(tmp_path, "mode")
    bf16 = cfg.model_copy(update={"train": cfg.train.model_copy(update={
        "output_dir": str(tmp_path / "bf16"), "mixed_precision": "bf16", "steps": 5})})
    with caplog.at_level("WARNING", logger="manganinja"):
        train_autoencoder(bf16, log=False, max_steps=1)
    said = [r.getMessage() for r in caplog.records if r.name == "manganinja.training.autoencoder"]
    assert said == (["train.mixed_precision bf16 on a CPU without bf16 instructions (AVX512-BF16, AMX): measured 2.8 "
                     "times slower than fp32 on such a CPU (docs/reproduce.md); set it to no"] if warns else [])


@pytest.mark.parametrize("avx512_bf16, amx, answer", [(False, False, False), (True, False, True), (False, True, True),
                                                     (None, False, None)])
def test_cpu_has_bf16_asks_torchs_probes_or_says_it_cannot_tell(monkeypatch, avx512_bf16, amx, answer):
    import manganinja.training.autoencoder as A

    for name, value in (("_is_avx512_bf16_supported", avx512_bf16), ("_is_amx_tile_supported", amx)):
        if value is None:
            monkeypatch.delattr(torch.cpu, name, raising=False)
        else:
            monkeypatch.setattr(torch.cpu, name, lambda value=value: value, raising=False)
    assert A.cpu_has_bf16() is answer
