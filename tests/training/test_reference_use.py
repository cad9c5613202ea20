"""The reference-use probe (manganinja.training.reference_use): losses with the own, another and
the copy reference on the trainer's inputs, and the bank's attention statistics."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import write_synthetic  # noqa: E402

from manganinja.pipeline import build_pipeline as build_random  # noqa: E402
from manganinja.training.reference_use import markdown, measure_reference_use, probe_config  # noqa: E402
from manganinja.training.trainer import Trainer, prepare_inputs, step_generator  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("refuse")
    build_random("tiny", seed=0).save_pretrained(root / "model", safe_serialization=True)
    return root / "model", write_synthetic(root / "pairs", n=4)


def probe(setup, cut: bool = False):
    model, pairs = setup
    trainer = Trainer(probe_config(str(model), [str(pairs)], batch_size=2, resolution=64))
    if cut:  # the reference U-Net sees nothing of its input (the bank is the same for every
        # reference) and the image encoder's token is zero: nothing of the reference gets in
        with torch.no_grad():
            trainer.pipe.reference_unet.conv_in.weight.zero_()
            trainer.pipe.reference_unet.conv_in.bias.zero_()
            trainer.pipe.image_encoder.visual_projection.weight.zero_()
    return trainer, measure_reference_use(trainer, batches=1)


def test_a_connected_reference_path_moves_the_loss_and_its_bank_differs(setup):
    trainer, use = probe(setup)
    assert len(use.loss_own) == len(use.loss_other) == len(use.loss_copy) == 2
    assert not np.allclose(use.loss_own, use.loss_other)
    assert use.blocks and {b.tokens for b in use.blocks} == {b.bank_tokens for b in use.blocks}
    for b in use.blocks:
        assert 0 < b.share < 1 and 0 < b.entropy <= 1 + 1e-6 and b.calls > 0
        assert b.value_spread > 0.1 and b.own_spread > 0.1
    assert trainer.model.state.observer is None
    text = "\n".join(markdown("tiny", use))
    assert "another character's" in text and f"| {use.blocks[0].tokens} + {use.blocks[0].bank_tokens} |" in text


def test_a_cut_reference_path_shows_as_a_bank_that_never_changes(setup):
    _, use = probe(setup, cut=True)
    np.testing.assert_array_equal(use.loss_own, use.loss_other)
    np.testing.assert_array_equal(use.loss_own, use.loss_copy)
    assert all(b.value_spread < 1e-5 for b in use.blocks)


def test_the_probe_needs_two_samples_per_batch(setup):
    model, pairs = setup
    with pytest.raises(ValueError, match="batch size of at least 2"):
        measure_reference_use(Trainer(probe_config(str(model), [str(pairs)], batch_size=1, resolution=64)), batches=1)


def test_a_model_without_a_recommended_resolution_needs_one_given(setup):
    model, pairs = setup
    with pytest.raises(ValueError, match="recommends no resolution"):
        probe_config(str(model), [str(pairs)])


def test_a_samples_prediction_reads_its_own_reference_only(setup):
    """No reference leaks across the batch: another sample's reference leaves a prediction as
    it is, its own moves it (what makes the probe's own/another comparison mean anything)."""
    model, pairs = setup
    trainer = Trainer(probe_config(str(model), [str(pairs)], batch_size=2, resolution=64))
    batch = next(iter(trainer.loader(0, 1)))
    inputs = prepare_inputs(trainer.pipe, trainer.noise_scheduler, batch, step_generator(0, 0, 0, 0), trainer.weight_dtype, unconditional=False)
    inputs.pop("target")
    with torch.no_grad():
        base = trainer.model(**inputs)
        for row in (0, 1):
            refs = inputs["reference_latents"].clone()
            refs[row] = torch.randn_like(refs[row])
            moved = trainer.model(**{**inputs, "reference_latents": refs})
            assert torch.equal(moved[1 - row], base[1 - row])
            assert not torch.equal(moved[row], base[row])


def test_attention_hits_counts_the_right_token_and_its_neighbours():
    from manganinja.training.reference_use import attention_hits

    weights = torch.zeros(1, 1, 16, 16)  # 4x4 grids on 4 px
    weights[0, 0, 5, 5] = 1.0   # target token 5 attends to reference token 5 (right)
    weights[0, 0, 0, 6] = 1.0   # target token 0 attends to token 6 = (2, 1): one away from (1, 1)
    weights[0, 0, 15, 0] = 1.0  # target token 15 attends to token 0: far from token 15
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [3.0, 3.0], [3.0, 3.0]]])
    reference = torch.tensor([[[1.0, 1.0], [1.0, 1.0], [3.0, 3.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, True, True, False]])
    top1, near = attention_hits(weights, target, reference, valid, resolution=4)
    assert top1.tolist() == [True, False, False]
    assert near.tolist() == [True, True, False]
