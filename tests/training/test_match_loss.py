"""The attention-matching loss (``train.match_loss``, ``data.match_points``; not in the paper,
docs/reproduce.md, sixth attempt): correspondences travel with the reference's pixels, the loss
reads the content-only attention over the bank, and it trains the attention."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_data_dataset import config as data_config, write_synthetic  # noqa: E402

from manganinja.data.augment import FlipRotateConfig  # noqa: E402
from manganinja.data.dataset import PairDataset, SyntheticPairSource  # noqa: E402
from manganinja.training.config import ConfigError, resolve_config  # noqa: E402
from manganinja.training.losses import correspondence_nll, token_index  # noqa: E402
from manganinja.training.trainer import Trainer, match_loss_weight  # noqa: E402


def test_token_index_maps_pixels_to_row_major_cells():
    xy = torch.tensor([[0.0, 0.0], [3.0, 0.0], [4.0, 0.0], [63.0, 63.0], [5.0, 9.0], [-3.0, 70.0]])
    assert token_index(xy, side=16, resolution=64).tolist() == [0, 0, 1, 255, 2 * 16 + 1, 15 * 16]


def test_correspondence_nll_is_minus_log_of_the_head_averaged_weight():
    weights = torch.full((1, 2, 4, 4), 0.25)
    weights[0, 0, 3] = torch.tensor([0.1, 0.2, 0.3, 0.4])  # head 0, target token 3
    weights[0, 1, 3] = torch.tensor([0.7, 0.1, 0.1, 0.1])
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # 2x2 grid on 2 px: token 3, token 0
    reference = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])  # token 0, token 1
    total, count = correspondence_nll(weights, target, reference, torch.tensor([[True, True]]), resolution=2)
    assert count.item() == 2
    assert total.item() == pytest.approx(-math.log(0.4) - math.log(0.25), rel=1e-6)
    total, count = correspondence_nll(weights, target, reference, torch.tensor([[True, False]]), resolution=2)
    assert (total.item(), count.item()) == (pytest.approx(-math.log(0.4), rel=1e-6), 1)


def test_match_points_move_with_the_reference_and_leave_the_sample_unchanged(tmp_path):
    root = write_synthetic(tmp_path / "pairs", n=2)
    kw = dict(flip_rotate=FlipRotateConfig(flip_probability=1.0, rotate_probability=0.0))
    plain = PairDataset([SyntheticPairSource(root)], data_config(**kw), seed=3)
    matched = PairDataset([SyntheticPairSource(root)], data_config(match_points=30, **kw), seed=3)
    for key in [(0, 0), (1, 12)]:
        a, b = plain[key], matched[key]
        for name, value in a.items():  # the guide points and everything else are the same draws
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b[name])), name
        ref = b["reference"].permute(1, 2, 0).numpy()
        tgt = b["target"].permute(1, 2, 0).numpy()
        valid = b["match_valid"].numpy()
        assert b["match_reference_xy"].shape == (30, 2) and 20 <= valid.sum() <= 24  # 24 pairs in the fixture
        rxy = b["match_reference_xy"].numpy()[valid].round().astype(int)
        txy = b["match_target_xy"].numpy()[valid].round().astype(int)
        # each correspondence shows the same colour in the flipped (and shuffled) reference and the target
        same = [np.abs(ref[ry, rx] - tgt[ty, tx]).max() < 1e-6 for (rx, ry), (tx, ty) in zip(rxy, txy)]
        assert np.mean(same) > 0.9


def test_match_loss_settings_are_checked():
    with pytest.raises(ConfigError, match="data.match_points"):
        resolve_config({"train": {"match_loss": 0.1}})
    with pytest.raises(ConfigError, match="stage 1"):
        resolve_config({"data": {"match_points": 8}, "train": {"match_loss": 0.1, "stage": 2}})
    cfg = resolve_config({"data": {"match_points": 8}, "train": {"match_loss": 0.5, "match_loss_until": 10}})
    assert match_loss_weight(cfg.train, 9) == 0.5 and match_loss_weight(cfg.train, 10) == 0.0
    with pytest.raises(ConfigError, match="'point_matches' needs correspondences and guide points"):
        resolve_config({"data": {"match_points": 8, "max_points": 0}, "train": {"match_loss": 0.1, "match_loss_branch": "point_matches"}})
    with pytest.raises(ConfigError, match="stage 1 or 2"):
        resolve_config({"data": {"match_points": 8, "max_points": 4},
                        "train": {"match_loss": 0.1, "match_loss_branch": "point_matches", "stage": 0}})


def test_match_loss_trains_the_attention_towards_the_correspondences(tmp_path):
    pairs = write_synthetic(tmp_path / "pairs", n=4)
    cfg = resolve_config({
        "model": {"init": "tiny", "seed": 0},
        "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 0, "match_points": 24,
                 "patch_shuffle": {"enabled": False}, "flip_rotate": {"flip_probability": 0.0, "rotate_probability": 0.0},
                 "drop": {"points": 0.0, "reference": 0.0, "lineart": 0.0}},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 1, "steps": 12, "batch_size": 4, "learning_rate": 3e-3,
                  "checkpoint_every": 100, "save_final": False, "match_loss": 10.0, "log_every": 1},
    })
    trainer = Trainer(cfg)
    batch = next(iter(trainer.loader(0, 1)))
    with torch.no_grad():
        trainer.compute_loss(batch, 0, 0)
    before = trainer.last_match_loss
    # a uniform attention over a 16x16 and an 8x8 bank: about (log 256 + log 64) / 2 per block pair
    assert 3.0 < before < 6.0
    trainer.train()
    with torch.no_grad():
        trainer.compute_loss(batch, 0, 0)
    assert trainer.last_match_loss < before - 0.3


def test_point_map_pairs_reads_the_guide_pairs_back():
    from manganinja.points import point_map
    from manganinja.training.losses import point_map_pairs

    ref = np.array([[3.0, 4.0], [10.0, 2.0], [7.0, 7.0]])
    tgt = np.array([[5.0, 6.0], [1.0, 12.0], [0.0, 0.0]])
    ref_map = torch.from_numpy(point_map(ref, (16, 16), (16, 16)))[None, None]
    tgt_map = torch.from_numpy(point_map(tgt[:2], (16, 16), (16, 16)))[None, None]  # pair 3 missing in the target
    r, t, ok = point_map_pairs(torch.cat([ref_map, torch.zeros_like(ref_map)]), torch.cat([tgt_map, tgt_map]), 4)
    assert ok.tolist() == [[True, True, False, False], [False, False, False, False]]
    assert r[0, :2].tolist() == ref[:2].tolist() and t[0, :2].tolist() == tgt[:2].tolist()


def test_point_branch_match_loss_trains_point_net_in_stage_2(tmp_path):
    pairs = write_synthetic(tmp_path / "pairs", n=4)
    cfg = resolve_config({
        "model": {"init": "tiny", "seed": 0},
        "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 24,
                 "patch_shuffle": {"enabled": False}, "flip_rotate": {"flip_probability": 0.0, "rotate_probability": 0.0},
                 "drop": {"points": 0.0, "reference": 0.0, "lineart": 0.0}},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 12, "batch_size": 4, "learning_rate": 1e-2,
                  "checkpoint_every": 100, "save_final": False, "match_loss": 10.0, "match_loss_branch": "point"},
    })
    trainer = Trainer(cfg)
    batch = next(iter(trainer.loader(0, 1)))
    with torch.no_grad():
        trainer.compute_loss(batch, 0, 0)
    before = trainer.last_match_loss
    unet = {n: p.detach().clone() for n, p in trainer.pipe.denoising_unet.named_parameters()}
    trainer.train()
    with torch.no_grad():
        trainer.compute_loss(batch, 0, 0)
    assert trainer.last_match_loss < before - 0.3
    assert all(torch.equal(p, unet[n]) for n, p in trainer.pipe.denoising_unet.named_parameters())


def test_point_branch_match_loss_scores_only_rows_that_keep_their_points(tmp_path):
    """Rows whose points are dropped get no point embeddings, so the point branch's loss leaves
    them out (it would otherwise score their content attention at the guide points)."""
    from manganinja.training.trainer import CorrespondenceObserver

    pairs = write_synthetic(tmp_path / "pairs", n=4)
    cfg = resolve_config({
        "model": {"init": "tiny", "seed": 0},
        "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 24,
                 "patch_shuffle": {"enabled": False}, "drop": {"points": 0.0, "reference": 0.0, "lineart": 0.0}},
        "train": {"output_dir": str(tmp_path / "run"), "stage": 2, "steps": 1, "batch_size": 4,
                  "match_loss": 1.0, "match_loss_branch": "point"},
    })
    trainer = Trainer(cfg)
    batch = next(iter(trainer.loader(0, 1)))
    keep = torch.tensor([True, False, True, True])
    observer = CorrespondenceObserver(batch, keep, 64, "point")
    assert observer.valid[0].any() and not observer.valid[1].any()
    with torch.no_grad():
        trainer.compute_loss(batch, 0, 0)
    assert trainer.last_match_loss > 0
    batch["drop_points"] = torch.ones(4, dtype=torch.bool)
    with torch.no_grad():
        trainer.compute_loss(batch, 0, 0)
    assert trainer.last_match_loss == 0.0  # no row keeps its points: nothing is scored


def test_the_point_branch_at_the_correspondences_is_the_content_attention_where_no_row_keeps_its_points(tmp_path):
    """``match_loss_branch: point_matches`` scores the attention the POINT branch uses (the
    guides' embeddings in queries and keys) at the data's correspondences: it differs from the
    content-only attention (``ref``) while rows keep their points, and is the same when none does."""
    pairs = write_synthetic(tmp_path / "pairs", n=4)

    def trainer(branch: str) -> Trainer:
        return Trainer(resolve_config({
            "model": {"init": "tiny", "seed": 0},
            "data": {"synthetic": [str(pairs)], "resolution": 64, "max_points": 24, "match_points": 24,
                     "patch_shuffle": {"enabled": False}, "drop": {"points": 0.0, "reference": 0.0, "lineart": 0.0}},
            "train": {"output_dir": str(tmp_path / branch), "stage": 1, "steps": 1, "batch_size": 4,
                      "match_loss": 1.0, "match_loss_branch": branch},
        }))

    trainers = {branch: trainer(branch) for branch in ("ref", "point_matches")}
    for t in trainers.values():  # a tiny PointNet's embeddings start near zero: give both the same larger ones
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in t.pipe.point_net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    batch = next(iter(trainers["ref"].loader(0, 1)))

    def losses() -> dict[str, float]:
        out = {}
        for branch, t in trainers.items():
            with torch.no_grad():
                t.compute_loss(batch, 0, 0)
            out[branch] = t.last_match_loss
        return out

    kept = losses()
    assert abs(kept["point_matches"] - kept["ref"]) > 1e-3
    batch["drop_points"] = torch.ones(4, dtype=torch.bool)
    dropped = losses()
    assert dropped["point_matches"] == pytest.approx(dropped["ref"], rel=1e-5)


def test_row_nll_of_gathered_queries_is_correspondence_nll_of_the_whole_attention():
    """The matching loss forms only the attention rows of the correspondences' target tokens
    (:func:`tokens_at` on the queries): the same loss, and the same gradients, as forming the
    whole (B, heads, N, M) attention and reading those rows."""
    from diffusers.models.attention_processor import Attention

    from manganinja.models.reference_attention import attention_weights
    from manganinja.training.losses import row_nll, tokens_at

    torch.manual_seed(0)
    attn = Attention(16, heads=2, dim_head=8)
    query = torch.randn(2, 64, 16, requires_grad=True)  # an 8x8 grid of tokens
    keys = torch.randn(2, 16, 16, requires_grad=True)  # a 4x4 grid
    target = torch.rand(2, 5, 2) * 32
    reference = torch.rand(2, 5, 2) * 32
    valid = torch.tensor([[True, True, False, True, True], [True, False, True, True, True]])
    whole, whole_count = correspondence_nll(attention_weights(attn, query, keys), target, reference, valid, 32)
    grads = torch.autograd.grad(whole, (query, keys))
    rows, rows_count = row_nll(attention_weights(attn, tokens_at(query, target, 32), keys), reference, valid, 32)
    assert rows.item() == pytest.approx(whole.item(), rel=1e-5) and rows_count == whole_count
    for a, b in zip(grads, torch.autograd.grad(rows, (query, keys))):
        assert torch.allclose(a, b, atol=1e-6)
