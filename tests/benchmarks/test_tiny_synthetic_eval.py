"""benchmarks/tiny_synthetic_eval.py --part hard: which runs count as hard."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _scripts import load_script


def load():
    return load_script("tiny_synthetic_eval")


def test_missing_share_is_the_share_of_the_targets_character_in_parts_the_reference_lacks():
    ev = load()
    target = np.zeros((4, 4), np.uint8)
    target[0, :] = 1      # 4 pixels of part 1
    target[1, :2] = 2     # 2 pixels of part 2
    reference = np.zeros((4, 4), np.uint8)
    reference[3, 3] = 1   # the reference shows part 1 only
    assert ev.missing_share(reference, target) == 2 / 6
    reference[2, 2] = 2
    assert ev.missing_share(reference, target) == 0.0
    assert ev.missing_share(reference, np.zeros((4, 4), np.uint8)) == 0.0


def test_a_generated_pair_with_a_cropped_reference_misses_parts():
    from manganinja.data.synthetic import generate_pair

    ev = load()
    shares = []
    for i in range(6):
        pair = generate_pair(np.random.default_rng([1, i]), size=128)
        shares.append((ev.missing_share(pair.reference_parts, pair.target_parts), bool(pair.missing_in_reference)))
    assert any(s > 0 for s, _ in shares) and any(s == 0 for s, _ in shares)
    assert all((s > 0) == missing for s, missing in shares)


def test_swapped_copies_replace_only_the_reference_of_their_direction(tmp_path):
    """--part swapped: in the direction the copy is used for, the reference is another pair's and
    the target (hence line art and score) is the pair's own."""
    from manganinja.evaluation import benchmark as B

    ev = load()
    data = B.write_synthetic_benchmark(tmp_path / "bench", pairs=3, seed=1, size=64)
    names = B.read_manifest(data)["pairs"]
    for side, direction in ev.SWAPPED_DIRECTIONS.items():
        copy = ev.write_swapped(data, tmp_path / f"swapped_{side}", side)
        for i, name in enumerate(names):
            own = B.load_pair(data, name).direction(direction)
            other = B.load_pair(data, names[(i + 1) % len(names)]).direction(direction)
            swapped = B.load_pair(copy, name).direction(direction)
            assert np.array_equal(np.asarray(swapped[1]), np.asarray(own[1]))      # same target
            assert np.array_equal(np.asarray(swapped[0]), np.asarray(other[0]))    # another's reference
            assert not np.array_equal(np.asarray(swapped[0]), np.asarray(own[0]))
