"""The correspondence probe on tiny random components: a picture matched against itself scores
1.0 on every measure; two frames of a pair in different poses score less."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from manganinja.pipeline import build_pipeline
from manganinja.training import correspondence as C


@pytest.fixture(scope="module")
def probe_setup():
    torch.manual_seed(0)
    pipe = build_pipeline("tiny", seed=0, start="paper")
    unet = pipe.denoising_unet.eval()
    blocks = C.attention_block_names(unet, ["up_blocks.0", "up_blocks.1"])
    pairs = C.synthetic_probe_pairs(seed=5, pairs=3, size=64)
    return pipe, unet, blocks, pairs


def test_block_names_follow_the_prefixes_and_refuse_an_unknown_one(probe_setup):
    _, unet, blocks, _ = probe_setup
    assert blocks and all(b.startswith("up_blocks.") for b in blocks)
    assert C.attention_block_names(unet, ["up_blocks.1"]) == [b for b in blocks if b.startswith("up_blocks.1.")]
    with pytest.raises(ValueError, match="up_blocks.9"):
        C.attention_block_names(unet, ["up_blocks.9"])


def test_attn1_inputs_are_the_norm1_outputs_as_maps(probe_setup):
    pipe, unet, blocks, _ = probe_setup
    latents = torch.randn(2, 4, 8, 8)
    context = pipe.condition_tokens(2)
    maps = C.attn1_inputs(unet, latents, 261, context, blocks)
    block = unet.get_submodule(blocks[-1])
    seen = {}
    hook = block.norm1.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        unet(latents, torch.full((2,), 261), encoder_hidden_states=context)
    hook.remove()
    out = seen["out"]
    side = int(out.shape[1] ** 0.5)
    assert torch.allclose(maps[-1], out.transpose(1, 2).reshape(2, -1, side, side))


def test_a_picture_against_itself_matches_every_point_to_itself(probe_setup):
    pipe, unet, blocks, pairs = probe_setup
    feats = C.unet_features(pipe, unet, blocks, timestep=261, resolution=64, ensemble=2)
    same = [C.same_picture_pair(p) for p in pairs]
    res = C.run_probe(same, feats, k=1.0).summary()
    assert res["points"] == sum(len(p.target_points) for p in pairs) > 0
    assert res["part"] == res["pck10"] == res["pck_k"] == 1.0


def test_two_poses_score_below_the_identity(probe_setup):
    pipe, unet, blocks, pairs = probe_setup
    feats = C.unet_features(pipe, unet, blocks, timestep=261, resolution=64, ensemble=2)
    res = C.run_probe(pairs, feats, k=1.0).summary()
    assert res["pck_k"] < 0.9 and res["part"] < 1.0


def test_scores_count_part_and_distance_per_point():
    parts = np.zeros((64, 64), np.uint8)
    parts[:, 32:] = 2
    parts[:, :32] = 1
    pair = C.ProbePair(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), parts,
                       reference_points=np.array([[40, 10], [10, 10]]), target_points=np.array([[0, 0], [1, 1]]),
                       point_parts=np.array([2, 1]))
    # first match: 5 px away on part 2 (right part, within 6.4 = PCK@0.1, not within 3); second:
    # 30 px away on part 2 (wrong part)
    part, p10, pk = C.score_matches(pair, np.array([[45, 10], [40, 10]]), k=3.0)
    assert part.tolist() == [True, False]
    assert p10.tolist() == [True, False]
    assert pk.tolist() == [False, False]


def test_color_baseline_matches_by_nearest_rgb():
    ref = np.zeros((8, 8, 3), np.uint8)
    ref[2, 5] = (200, 10, 10)
    tgt = np.zeros((8, 8, 3), np.uint8)
    tgt[6, 1] = (190, 12, 8)
    r, t = C.pixel_features(ref, tgt)
    assert C.match_points(r, t, np.array([[1, 6]]), metric="l2").tolist() == [[5, 2]]
