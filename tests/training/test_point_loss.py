"""The loss at the guide points (``train.point_loss``; not in the paper): the prediction loss taken
only at the latent pixels that hold a kept guide target point, and the trainer adds it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.training.config import ConfigError, resolve_config  # noqa: E402
from manganinja.training.losses import guide_point_loss, prediction_loss  # noqa: E402
from manganinja.training.trainer import Trainer, prepare_inputs, step_generator  # noqa: E402


def test_guide_point_loss_is_the_error_at_the_latent_pixels_holding_a_guide():
    prediction = torch.zeros(2, 4, 4, 4)
    target = torch.zeros(2, 4, 4, 4)
    target[0, :, 2, 1] = 3.0  # row 0: error only at latent pixel (y 2, x 1)
    target[1] = 1.0  # row 1: error everywhere
    points = torch.zeros(2, 1, 16, 16)
    points[0, 0, 9, 5] = 7  # pixel (x 5, y 9) lies in latent cell (x 1, y 2) of a 4x4 grid
    points[1, 0, 0, 0] = 1
    keep = torch.tensor([True, False])
    assert guide_point_loss(prediction, target, points, keep).item() == pytest.approx(9.0)
    both = guide_point_loss(prediction, target, points, torch.tensor([True, True]))
    assert both.item() == pytest.approx((9.0 + 1.0) / 2)
    none = guide_point_loss(prediction.requires_grad_(), target, points, torch.tensor([False, False]))
    assert none.item() == 0.0
    none.backward()  # a loss with a gradient even when no row has a guide


def test_point_loss_settings_are_checked():
    with pytest.raises(ConfigError, match="train.point_loss must be >= 0"):
        resolve_config({"train": {"point_loss": -1.0}})
    with pytest.raises(ConfigError, match="stage 1 or 2"):
        resolve_config({"train": {"point_loss": 1.0, "stage": 0}})


def test_the_trainer_adds_the_point_loss(tmp_path):
    pairs = write_synthetic(tmp_path / "pairs", n=4)

    def trainer(point_loss: float) -> Trainer:
        return Trainer(resolve_config({
            "model": {"init": "tiny", "seed": 0},
            "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 24,
                     "patch_shuffle": {"enabled": False}, "drop": {"points": 0.0, "reference": 0.0, "lineart": 0.0}},
            "train": {"output_dir": str(tmp_path / f"run{point_loss}"), "stage": 2, "steps": 1, "batch_size": 4,
                      "point_loss": point_loss},
        }))

    with_loss, plain = trainer(2.0), trainer(0.0)
    batch = next(iter(plain.loader(0, 1)))
    with torch.no_grad():
        total = with_loss.compute_loss(batch, 0, 0)
        inputs = prepare_inputs(plain.pipe, plain.noise_scheduler, batch, step_generator(0, 0, 0, 0), plain.weight_dtype)
        target = inputs.pop("target")
        prediction = plain.model(**inputs)
    expected = prediction_loss(prediction, target) + 2.0 * guide_point_loss(
        prediction, target, inputs["target_points"], inputs["point_keep"])
    assert inputs["point_keep"].all() and (inputs["target_points"] > 0).any()
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert total.item() > prediction_loss(prediction, target).item()
