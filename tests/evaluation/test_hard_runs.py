"""manganinja.evaluation.hard_runs: which runs of a synthetic benchmark are hard, and one engine
against another on them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from manganinja.evaluation import benchmark as B
from manganinja.evaluation import hard_runs as H


def test_missing_share_is_the_share_of_the_targets_character_in_parts_the_reference_lacks():
    target = np.zeros((4, 4), np.uint8)
    target[0, :] = 1      # 4 pixels of part 1
    target[1, :2] = 2     # 2 pixels of part 2
    reference = np.zeros((4, 4), np.uint8)
    reference[3, 3] = 1   # the reference shows part 1 only
    assert H.missing_share(reference, target) == 2 / 6
    reference[2, 2] = 2
    assert H.missing_share(reference, target) == 0.0
    assert H.missing_share(reference, np.zeros((4, 4), np.uint8)) == 0.0


def test_a_generated_pair_with_a_cropped_reference_misses_parts():
    from manganinja.data.synthetic import generate_pair

    shares = []
    for i in range(6):
        pair = generate_pair(np.random.default_rng([1, i]), size=128)
        shares.append((H.missing_share(pair.reference_parts, pair.target_parts), bool(pair.missing_in_reference)))
    assert any(s > 0 for s, _ in shares) and any(s == 0 for s, _ in shares)
    assert all((s > 0) == missing for s, missing in shares)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory):
    return B.write_synthetic_benchmark(tmp_path_factory.mktemp("hard") / "bench", pairs=6, seed=1, size=128)


def test_a_benchmarks_shares_come_from_its_regenerated_pairs_in_both_directions(bench):
    from manganinja.data.synthetic import generate_pair

    shares = H.synthetic_missing_shares(bench)
    names = B.read_manifest(bench)["pairs"]
    assert sorted(shares) == sorted((n, d) for n in names for d in B.DIRECTIONS)
    for i, name in enumerate(names):
        pair = generate_pair(np.random.default_rng([1, i]), size=128)
        assert shares[(name, "a->b")] == H.missing_share(pair.reference_parts, pair.target_parts)
        assert shares[(name, "b->a")] == H.missing_share(pair.target_parts, pair.reference_parts)
    assert any(v > H.HARD_THRESHOLD for v in shares.values()) and any(v <= H.HARD_THRESHOLD for v in shares.values())


def test_a_folder_the_generator_did_not_draw_is_refused(bench, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bench, copy)
    manifest = json.loads((copy / B.MANIFEST).read_text())
    (copy / B.MANIFEST).write_text(json.dumps({**manifest, "seed": 2}))
    with pytest.raises(B.BenchmarkError, match="pair_00000: its pictures are not generate_pair\\(default_rng\\(\\[2, 0\\]\\)\\)"):
        H.synthetic_missing_shares(copy)
    (copy / B.MANIFEST).write_text(json.dumps({**manifest, "generator_version": "0.1"}))
    with pytest.raises(B.BenchmarkError, match="generator version '0.1'"):
        H.synthetic_missing_shares(copy)
    (copy / B.MANIFEST).write_text(json.dumps({k: v for k, v in manifest.items() if k != "seed"}))
    with pytest.raises(B.BenchmarkError, match="is not a synthetic benchmark"):
        H.synthetic_missing_shares(copy)


def test_the_comparison_splits_hard_runs_from_the_others_and_pairs_the_engines():
    shares = {("p0", "a->b"): 0.5, ("p0", "b->a"): 0.0, ("p1", "a->b"): 0.1, ("p1", "b->a"): 0.02, ("p2", "a->b"): 0.3}
    baseline = {k: 10.0 for k in shares}
    model = {("p0", "a->b"): 12.0, ("p0", "b->a"): 9.0, ("p1", "a->b"): 11.0, ("p1", "b->a"): 10.0}  # p2 unscored
    hard, others, every = H.compare_on_hard_runs(shares, baseline, model)
    assert (hard.group, hard.runs, hard.model_better) == ("hard", 2, 2)
    assert hard.missing_share == pytest.approx(0.3) and hard.difference == pytest.approx(1.5)
    assert hard.model == pytest.approx(11.5) and hard.baseline == 10.0 and hard.half_width > 0
    assert (others.runs, others.difference, others.model_better) == (2, -0.5, 0)  # 0.02 is not above the threshold
    assert (every.runs, every.difference, every.model_better) == (4, 0.5, 2)
    none = H.compare_on_hard_runs({("p", "a->b"): 0.0}, {("p", "a->b"): 1.0}, {("p", "a->b"): 2.0})[0]
    assert none.runs == 0 and math.isnan(none.difference)
    table = H.comparison_markdown([hard, others, every, none], "flat", "ninja")
    assert table[0] == ("| runs | n | missing share (mean) | flat | ninja | ninja − flat (paired) | ninja better |")
    assert table[2].startswith("| hard | 2 | 0.300 | 10.00 | 11.50 | +1.50 ± ") and table[2].endswith(" | 2 / 2 |")
    assert table[-1] == "| hard | 0 | | | | | |"


def test_each_pair_comes_as_stored_and_as_regenerated(bench):
    names = []
    for name, stored, pair in H.synthetic_pairs(bench):
        names.append(name)
        assert np.array_equal(np.asarray(stored.a.convert("RGB")), pair.reference)
        assert np.array_equal(stored.points.lineart_xy, pair.points.lineart_xy)
    assert names == B.read_manifest(bench)["pairs"]
