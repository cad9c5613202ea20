"""benchmarks/tiny_forced_attention.py: the guides' tokens and logit bias land where the maps say,
a forced POINT branch with no bias is the REF branch, and bad arguments are one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from manganinja import PointPairs
from manganinja.lines import Lines
from manganinja.pipeline import build_pipeline

from _scripts import exit_code, load_script


def script():
    return load_script("tiny_forced_attention")


def test_a_one_pixel_guide_marks_the_token_that_holds_it():
    m = np.zeros((64, 64), np.float32)
    m[6, 5] = 3.0  # row 6, column 5: token (1, 1) of a 16x16 grid, (0, 0) of 8x8
    t16, t8 = script().token_map(m, 256), script().token_map(m, 64)
    assert t16[17] == 3 and np.count_nonzero(t16) == 1
    assert t8[0] == 3 and np.count_nonzero(t8) == 1
    with pytest.raises(ValueError, match="square tokens"):
        script().token_map(m, 200)


def test_the_bias_joins_each_guides_target_tokens_to_its_reference_tokens_only():
    t = np.zeros((8, 8), np.float32)
    r = np.zeros((8, 8), np.float32)
    t[0:4, 0:4], r[4:8, 4:8] = 1, 1  # guide 1: target top-left, reference bottom-right
    t[4:8, 4:8], r[0:4, 0:4] = 2, 2
    bias = script().region_bias(t, r, 4, 4, 7.0)[0, 0]  # 2x2 tokens each side
    assert bias.shape == (4, 8)
    assert torch.all(bias[:, :4] == 0)  # the line art's own tokens are never biased
    assert bias[0, 4 + 3] == 7.0 and bias[3, 4 + 0] == 7.0  # 1 -> 1, 2 -> 2
    assert bias[1, 4:].abs().sum() == 0 and bias[2, 4:].abs().sum() == 0  # unguided tokens
    assert float(bias.sum()) == 14.0


def test_part_shares_count_each_tokens_pixels_per_part():
    parts = np.zeros((8, 8), np.int32)
    parts[:, 4:] = 2
    parts[0:2, 0:2] = 1  # a quarter of token (0, 0) of a 2x2 grid
    shares = script().token_part_shares(parts, 4, np.array([0, 1, 2]))
    np.testing.assert_allclose(shares, [[0.75, 0.25, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="square tokens"):
        script().token_part_shares(parts, 3, np.array([0, 1, 2]))


def test_the_oracle_bias_is_beta_times_the_chance_of_the_same_part():
    t = np.zeros((8, 8), np.int32)
    r = np.zeros((8, 8), np.int32)
    t[:, 4:] = 2  # target: part 2 on the right half
    r[4:, :] = 2  # reference: part 2 on the bottom half
    t[0:4, 0:4] = 3  # a part the reference does not show
    bias = script().parts_bias(t, r, 4, 4, 10.0)[0, 0]
    assert bias.shape == (4, 8)
    assert torch.all(bias[:, :4] == 0)  # the line art's own tokens are never biased
    # target token 1 (top right, part 2) -> the reference's bottom tokens 2, 3 (part 2) only
    np.testing.assert_allclose(bias[1, 4:].numpy(), [0, 0, 10, 10])
    # target token 2 (bottom left, background) -> the reference's top tokens (background)
    np.testing.assert_allclose(bias[2, 4:].numpy(), [10, 10, 0, 0])
    assert bias[0].abs().sum() == 0  # part 3 is nowhere in the reference


def test_forced_with_no_bias_is_the_ref_branch_and_a_bias_changes_the_result():
    pipe = build_pipeline("tiny", seed=0)
    rng = np.random.default_rng(0)
    reference = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    lines = Lines((rng.random((64, 64)) > 0.9).astype(np.float32))
    guide = PointPairs.from_dict({"pairs": [{"reference": [10, 10], "lineart": [50, 50]}]})
    kw = dict(reference=reference, lineart=lines, num_inference_steps=2, resolution=64, output_type="np",
              guidance_scale_ref=2.0)

    def run(points, scale_point):
        return pipe(points=points, guidance_scale_point=scale_point, generator=torch.Generator().manual_seed(0),
                    **kw).images[0].astype(int)

    no_point_step = run(None, 0.0)
    maps = {"forced": True, "beta": 0.0, "target": np.zeros((64, 64), np.float32), "reference": np.zeros((64, 64), np.float32)}
    maps["target"][40:64, 40:64] = 1
    maps["reference"][0:24, 0:24] = 1
    script().forced_processors(pipe, maps)
    assert np.abs(run(guide, 3.0) - no_point_step).max() <= 1  # POINT = REF: the point step is zero
    maps["beta"] = 20.0
    assert np.abs(run(guide, 3.0) - no_point_step).max() > 1


def test_the_oracle_acts_without_points_and_pulls_attention_onto_the_parts():
    """Sampling without points runs the POINT branch too (no embeddings); the oracle biases every
    branch that reads the bank, and a larger beta puts more attention on the same part."""
    pipe = build_pipeline("tiny", seed=0)
    rng = np.random.default_rng(0)
    reference = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    lines = Lines((rng.random((64, 64)) > 0.9).astype(np.float32))
    t = np.zeros((64, 64), np.int32)
    r = np.zeros((64, 64), np.int32)
    t[:32], r[32:] = 1, 1
    maps = {"oracle": True, "target": t, "reference": r}
    script().forced_processors(pipe, maps)

    def run(beta):
        maps.update(forced=True, beta=beta, own=[])
        out = pipe(reference=reference, lineart=lines, points=None, num_inference_steps=2, resolution=64,
                   output_type="np", guidance_scale_ref=2.0, guidance_scale_point=3.0,
                   generator=torch.Generator().manual_seed(0)).images[0].astype(int)
        return out, float(np.mean(maps["own"]))

    (plain, own0), (pulled, own20) = run(0.0), run(20.0)
    assert np.abs(pulled - plain).max() > 1
    assert own20 > 0.9 > own0


@pytest.mark.parametrize("argv, says", [
    (["--betas", "two"], "--betas 'two'"),
    (["--pairs", "0"], "--pairs"),
])
def test_bad_arguments_are_one_line(argv, says, capsys, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "model_index.json").write_text("{}")
    assert exit_code(script().main, [str(model), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err


def test_a_folder_that_is_no_model_is_one_line(capsys, tmp_path):
    assert exit_code(script().main, [str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no model_index.json" in err and "\n" not in err
