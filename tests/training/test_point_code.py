"""``model.point_code``: a stage 2 whose PointNet gives each pair index an orthonormal code (a
departure from the paper's value-coded point map, docs/reproduce.md) starts that PointNet anew
from the saved model and trains only it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.pipeline import MangaNinjaPipeline, build_pipeline as build_random  # noqa: E402
from manganinja.training.config import resolve_config  # noqa: E402
from manganinja.training.trainer import Trainer, build_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "pipe"
    build_random("tiny", seed=0).save_pretrained(folder, safe_serialization=True)
    return folder


def test_stage2_with_point_code_trains_a_fresh_coded_point_net_only(saved_model, tmp_path):
    pairs = write_synthetic(tmp_path / "pairs", n=4)
    cfg = resolve_config({
        "model": {"init": "pretrained", "path": str(saved_model), "point_code": 24, "seed": 3},
        "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 24, "drop": {"points": 0.0, "reference": 0.0}},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 2, "batch_size": 2,
                  "checkpoint_every": 2, "learning_rate": 1e-2, "log_every": 1},
    })
    trainer = Trainer(cfg)
    original = MangaNinjaPipeline.from_pretrained(saved_model)
    assert trainer.pipe.point_net.config.pair_code_channels == 24
    assert original.point_net.config.pair_code_channels == 0
    before = {n: p.detach().clone() for n, p in trainer.pipe.point_net.named_parameters()}
    result = trainer.train()
    after = MangaNinjaPipeline.from_pretrained(result.final_dir)
    assert after.point_net.config.pair_code_channels == 24
    assert any(not torch.equal(p, before[n]) for n, p in after.point_net.named_parameters())
    for name in ("reference_unet", "denoising_unet", "controlnet"):
        saved = dict(getattr(original, name).named_parameters())
        for n, p in getattr(after, name).named_parameters():
            assert torch.equal(p, saved[n]), f"{name}.{n} changed in stage 2"


def test_point_code_equal_to_the_models_keeps_its_point_net(saved_model, tmp_path):
    cfg = resolve_config({
        "model": {"init": "pretrained", "path": str(saved_model), "point_code": 0},
        "data": {"synthetic": [str(tmp_path)], "resolution": 64},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 1},
    })
    pipe = build_pipeline(cfg)
    original = MangaNinjaPipeline.from_pretrained(saved_model)
    assert all(torch.equal(p, q) for p, q in zip(pipe.point_net.parameters(), original.point_net.parameters()))
