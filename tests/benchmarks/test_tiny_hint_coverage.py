"""benchmarks/tiny_hint_coverage.py: the warp fits affine motion exactly, the spread reads the
reference where the warp sends a region, and the totals are the benchmark's point MSE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manganinja.evaluation import benchmark as B

from _scripts import SHIPPED_MODEL as SHIPPED, exit_code, load_script


def script():
    return load_script("tiny_hint_coverage")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return B.write_synthetic_benchmark(tmp_path_factory.mktemp("bench") / "b", pairs=2, seed=1, size=256)


def test_the_local_warp_is_exact_on_an_affine_motion_and_a_shift_below_three_guides():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 256, (12, 2))
    matrix, shift = np.array([[-0.9, 0.2], [0.1, 1.1]]), np.array([240.0, -8.0])  # a flip, a shear, a move
    query = rng.uniform(0, 256, (5, 2))
    np.testing.assert_allclose(script().local_affine(src, src @ matrix.T + shift, query, 4), query @ matrix.T + shift, atol=1e-6)
    np.testing.assert_allclose(script().local_affine(src[:2], src[:2] + [3.0, -2.0], query, 4), query + [3.0, -2.0])


def test_the_majority_color_is_the_most_frequent_bin():
    colors = np.array([[10, 10, 10]] * 3 + [[200, 30, 30]] * 5 + [[205, 31, 28]], np.uint8)
    np.testing.assert_array_equal(script().majority_color(colors), [200, 30, 30])


def test_the_spread_reads_the_reference_where_a_shift_sends_each_unguided_region():
    labels = np.ones((40, 40), np.int32)
    labels[:, 20:] = 2  # two regions; the guides sit in region 1
    reference = np.zeros((40, 40, 3), np.uint8)
    reference[:, :25] = [250, 0, 0]  # region 2 (x 20..39) shifted by -15 lands on x 5..24: all red
    reference[:, 25:] = [0, 0, 250]
    guides = np.array([[5.0, 5.0], [6.0, 30.0]])
    colors = script().spread_colors(labels, guides, guides - [15.0, 0.0], reference, k=2)
    assert set(colors) == {2}  # the guided region is left to the hints
    np.testing.assert_array_equal(colors[2], [250, 0, 0])
    moved = script().spread_colors(labels, guides, guides + [10.0, 0.0], reference, k=2)  # to x 30..49: blue
    np.testing.assert_array_equal(moved[2], [0, 0, 250])


def test_the_totals_are_the_benchmarks_point_mse(data, capsys):
    """Without a model: the hints' coverage and errors. With the shipped model: its totals equal
    the point MSE of the benchmark's scoring (training.reproduce.measure) on the same runs."""
    from manganinja.training.reproduce import measure, ninja_engine

    assert script().main(["--data", str(data)]) == 0
    printed = capsys.readouterr().out
    assert "60 scored points" in printed and "in a part a guide lies in" in printed and "| hint covered |" in printed and "| spread uncovered |" in printed
    assert script().main(["--data", str(data), "--model", str(SHIPPED), "--steps", "2"]) == 0
    total = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("total:"))
    engine = ninja_engine(SHIPPED, 2)
    for key, guides in (("none", 0), ("20 guides", 20)):
        expected = np.mean(measure(engine, data, guides, "point_mse", scored_outside=20))
        assert f"{key} {expected:.4f}" in total


def test_a_folder_without_a_manifest_is_one_line(tmp_path, capsys):
    assert exit_code(script().main, ["--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_a_folder_whose_pairs_are_not_the_generators_is_refused(data, tmp_path, capsys):
    import json
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(data, edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["seed"] = int(manifest["seed"]) + 1
    (edited / "manifest.json").write_text(json.dumps(manifest))
    assert exit_code(script().main, ["--data", str(edited)]) == 2
    assert "is not pair 0 of generator seed 2" in capsys.readouterr().err


@pytest.mark.parametrize("extra, named", [(["--size", "0"], "--size must be >= 1, got 0"),
                                          (["--spread-k", "-1"], "--spread-k must be >= 1, got -1"),
                                          (["--steps", "0"], "--steps must be >= 1, got 0"), (["--model", "nowhere"], "--model nowhere")])
def test_a_bad_value_is_one_line_naming_it(data, extra, named, capsys):
    assert exit_code(script().main, ["--data", str(data), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err


def test_what_the_bar_needs_of_the_unguided_regions_gives_the_bar():
    near_with, near_without, far_without, far = 5.9, 12.1, 13.6, 265
    need, reach = script().bar_needs(near_with, near_without, far_without, far)
    assert (near_with + far * need) / (near_without + far_without) == pytest.approx(0.7)
    assert (near_with + far * reach) / (near_without + far * reach) == pytest.approx(0.7)
    assert script().bar_needs(8.0, 10.0, 5.0, 10)[1] < 0  # guides that cut their regions to 0.8x: out of reach


def test_snapped_the_totals_are_the_benchmarks_point_mse_as_colorize_paints(data, capsys):
    """With --snap the totals are the point MSE of the snapped engine (guides filling their
    regions), and the points are split into guided and unguided regions."""
    from manganinja.training.reproduce import measure, ninja_engine

    assert script().main(["--data", str(data), "--model", str(SHIPPED), "--steps", "2", "--snap"]) == 0
    printed = capsys.readouterr().out
    total = next(line for line in printed.splitlines() if line.startswith("total (snapped):"))
    engine = ninja_engine(SHIPPED, 2, snap=True)
    for key, guides in (("none", 0), ("20 guides", 20)):
        expected = np.mean(measure(engine, data, guides, "point_mse", scored_outside=20))
        assert f"{key} {expected:.4f}" in total
    assert "| guides guided region |" in printed and "| snapped target unguided region |" in printed
    assert "0.7x would need the unguided regions at most at" in printed and "the snapped target itself: none" in printed


@pytest.mark.parametrize("flag", ["--snap", "--attention", "--parts"])
def test_a_model_flag_without_a_model_is_one_line(data, flag, capsys):
    assert exit_code(script().main, ["--data", str(data), flag]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{flag} needs --model" in err


def test_the_parts_without_snap_is_one_line(data, capsys):
    assert exit_code(script().main, ["--data", str(data), "--model", str(SHIPPED), "--parts"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--parts" in err and "add --snap" in err


def test_each_part_has_its_median_color_and_a_color_goes_to_the_nearest_part():
    reference = np.zeros((4, 6, 3), np.uint8)
    parts = np.zeros((4, 6), np.int64)
    reference[:, :3] = [200, 0, 0]
    reference[0, 0] = [0, 0, 0]  # one odd pixel: the median ignores it
    parts[:, 3:] = 7
    reference[:, 3:] = [0, 0, 255]
    ids, rgb = script().part_colors(reference, parts)
    np.testing.assert_array_equal(ids, [0, 7])
    np.testing.assert_allclose(rgb, [[200 / 255, 0, 0], [0, 0, 1]])
    picks = script().nearest_part(np.array([[0.7, 0.1, 0.1], [0.1, 0.1, 0.8], [0.3, 0.0, 0.6]]), ids, rgb)
    np.testing.assert_array_equal(picks, [0, 7, 7])


def test_the_patch_color_is_the_mean_of_the_patch_the_point_mse_cuts():
    from manganinja.evaluation import metrics as M

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (9, 9, 3)).astype(np.uint8)
    xy = np.array([[4.2, 3.8], [0.0, 8.0]])  # inside, and a corner (a 2 x 2 patch)
    colors = script().patch_colors(image, xy)
    np.testing.assert_allclose(colors[0], image[3:6, 3:6].reshape(-1, 3).mean(0) / 255)
    np.testing.assert_allclose(colors[1], image[7:9, 0:2].reshape(-1, 3).mean(0) / 255)
    flat = np.broadcast_to(image[3:6, 3:6].reshape(-1, 3).mean(0).round().astype(np.uint8), image.shape)
    assert M.point_mse(image, flat, xy[:1]) == pytest.approx(  # the patch's variance about its mean, up to rounding
        np.mean((image[3:6, 3:6] / 255 - colors[0]) ** 2), abs=1e-4)


def test_a_regions_size_is_counted_in_latent_cells_at_the_models_side():
    size_bin = script().size_bin
    # a 256 x 256 picture seen at 64 px through a factor-4 autoencoder: a cell is 16 x 16 px of the picture
    assert [size_bin(a, (256, 256), 64, 4) for a in (63, 64, 255, 256, 1023, 1024, 10**6)] == [
        "under 1/4 of a latent cell", "1/4 to 1 cell", "1/4 to 1 cell", "1 to 4 cells", "1 to 4 cells",
        "4 cells or more", "4 cells or more"]
    assert size_bin(255, (256, 256), 128, 4) == "1 to 4 cells"  # twice the side: four times the cells
    assert size_bin(255, (512, 128), 64, 4) == "1/4 to 1 cell"  # the picture's area, not its shape
    assert size_bin(255, (256, 256), 64, 8) == "under 1/4 of a latent cell"  # a cell four times the pixels


def test_a_pick_is_the_right_part_or_another_a_guide_lies_in_or_not():
    case = script().part_case
    cases = script().PART_CASES
    assert [case(3, 3, {3, 4}), case(4, 3, {4}), case(5, 3, {4})] == list(cases)


def test_the_parts_sort_every_scored_point_of_each_picture(data, capsys):
    """--parts: the snapped target's pick is the right one, every scored point of each picture
    is in one case, and the count the bar needs is printed."""
    assert script().main(["--data", str(data), "--model", str(SHIPPED), "--steps", "2", "--snap", "--parts"]) == 0
    printed = capsys.readouterr().out
    table = [line for line in printed.splitlines() if line.startswith(("| guided region |", "| unguided region |"))
             and line.split("|")[2].strip() in script().PART_PICTURES]
    assert len(table) == 6
    for line in table:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        shares = [int(c.split("%")[0]) for c in cells[3:]]
        assert abs(sum(shares) - 100) <= 2  # rounded shares of every point
        if cells[1] == "snapped target":
            assert cells[3].startswith("100%,") and shares[1:] == [0, 0]
    assert "points on another part's color without guides" in printed
    sizes = [line for line in printed.splitlines() if line.startswith(("| guided region | ", "| unguided region | "))
             and any(label in line for _, label in script().SIZE_BINS)]
    assert sum(int(line.split("|")[3]) for line in sizes) == 60  # every scored point in one bin
    for group in ("| guided region |", "| unguided region |"):
        shares = [int(line.split("|")[-2].strip().rstrip("%")) for line in sizes if line.startswith(group)]
        assert abs(sum(shares) - 100) <= len(shares)  # the group's error, in rounded shares


def test_the_part_shares_are_each_tokens_share_of_the_points_part():
    parts = np.zeros((8, 8), np.int64)
    parts[:, 4:] = 3  # part 3: the right half; part 0 the left
    parts[0:2, 0:2] = 5  # part 5: the top-left 2 x 2 pixels
    shares = script().part_shares(parts, np.array([3, 5]), 2)  # a 2 x 2 token grid of 4 x 4 pixels
    np.testing.assert_allclose(shares, [[0, 1, 0, 1], [0.25, 0, 0, 0]])
    np.testing.assert_allclose(shares.mean(1), [np.mean(parts == 3), np.mean(parts == 5)])  # tokens of equal area


def test_the_mass_on_the_part_is_the_weight_on_its_tokens_and_chance_when_uniform():
    shares = np.array([[0.0, 1.0, 0.0, 1.0], [0.25, 0.0, 0.0, 0.0]])
    mass = script().mass_on_part(np.array([[0.0, 0.3, 0.7, 0.0], [2.0, 2.0, 2.0, 2.0]]), shares)
    np.testing.assert_allclose(mass, [0.3, 0.25 / 4])  # rows need not sum to 1 (the own tokens' share is left out)


def test_the_attention_rows_read_the_tokens_of_the_points():
    """The observer reads the row of the token holding each point and scores it on that point's
    part: target token 0 looks only at the reference's right half, token 1 only at its left half."""
    import torch
    from diffusers.models.attention_processor import Attention

    attn = Attention(query_dim=4, heads=1, dim_head=4)  # no biases
    with torch.no_grad():
        attn.to_q.weight.copy_(torch.eye(4))
        attn.to_k.weight.copy_(torch.eye(4))
    parts = np.zeros((16, 16), np.int64)
    parts[:, 8:] = 1  # part 1: the reference's right half, part 0 its left
    # 2 x 2 token grids over 16 px: a point of part 1 in target token 0, of part 0 and of part 1 in token 1
    from manganinja.models.reference_attention import Branch

    observer = script().PartAttention(np.array([[1.0, 1.0], [14.0, 3.0], [12.0, 6.0]]), 16, parts, np.array([1, 0, 1]))
    query = torch.zeros(1, 4, 4)
    query[0, 0, 3] = query[0, 1, 2] = 1.0
    keys = torch.zeros(1, 8, 4)  # the 4 own tokens (logit 0), then the bank's 4
    keys[0, 4 + 1, 3] = keys[0, 4 + 3, 3] = 1e3  # the bank's right column answers token 0
    keys[0, 4 + 0, 2] = keys[0, 4 + 2, 2] = 1e3  # its left column token 1
    observer("block", Branch.REF, attn, query, keys, keys, None)
    observer("block", Branch.POINT, attn, query[:, [1, 0, 2, 3]], keys, keys, None)  # tokens 0 and 1 swapped
    np.testing.assert_allclose(observer.masses["REF"][0], [1.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(observer.masses["POINT"][0], [0.0, 0.0, 1.0], atol=1e-6)


def test_the_attention_is_read_during_both_samplings(data, capsys):
    assert script().main(["--data", str(data), "--model", str(SHIPPED), "--steps", "2", "--snap", "--attention"]) == 0
    printed = capsys.readouterr().out
    table = printed[printed.index("| where | points |"):].splitlines()
    assert table[0] == ("| where | points | none, REF branch | none, POINT branch | guides, REF branch | guides, POINT branch "
                        "| chance (the part's area) |")  # without points the POINT branch runs with empty point maps
    rows = {line.split("|")[1].strip(): [float(v) for v in line.split("|")[3:8]] for line in table[2:4]}
    assert set(rows) == {"guided region", "unguided region"}
    for shares in rows.values():
        assert all(0.0 <= v <= 1.0 for v in shares) and 0.0 < shares[-1] < 0.5
