"""benchmarks/tiny_synthetic_eval.py --part hard: which runs count as hard."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tiny_synthetic_eval.py"


def load():
    spec = importlib.util.spec_from_file_location("tiny_synthetic_eval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
