"""Patch shuffle, flip/rotation and condition dropping (manganinja.data.augment)."""

from __future__ import annotations

import numpy as np
import pytest

from manganinja.data.augment import (
    AugmentError,
    DropConfig,
    ShuffleSchedule,
    draw_drop_flags,
    flip_rotate,
    patch_shuffle,
    shuffle_grid_size,
)


def test_progressive_schedule_doubles_from_2_to_32():
    sched = ShuffleSchedule.progressive(total_steps=1000)
    assert sched.milestones == ((0, 2), (200, 4), (400, 8), (600, 16), (800, 32))
    grids = [shuffle_grid_size(s, sched) for s in (0, 199, 200, 399, 400, 799, 800, 5000)]
    assert grids == [2, 2, 4, 4, 8, 16, 32, 32]


def test_explicit_schedule_and_before_first_milestone():
    sched = ShuffleSchedule.from_config({"milestones": [[10, 2], [20, 8]]})
    assert [shuffle_grid_size(s, sched) for s in (0, 9, 10, 19, 20, 99)] == [1, 1, 2, 2, 8, 8]
    assert shuffle_grid_size(123, ShuffleSchedule.from_config(None)) == 1


def test_schedule_rejects_bad_values():
    with pytest.raises(AugmentError, match="sorted"):
        ShuffleSchedule(milestones=((10, 2), (5, 4)))
    with pytest.raises(AugmentError, match="unknown patch-shuffle keys"):
        ShuffleSchedule.from_config({"milestones": [[0, 2]], "grids": 3})


@pytest.mark.parametrize("grid", [2, 4, 8, 32])
def test_patch_shuffle_moves_points_with_their_patches(grid):
    rng = np.random.default_rng(grid)
    image = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    pts = rng.uniform(0, 63, size=(40, 2)).round()
    out, moved, perm = patch_shuffle(image, pts, grid, np.random.default_rng(7))
    assert sorted(perm.tolist()) == list(range(grid * grid))
    assert not np.array_equal(perm, np.arange(grid * grid))
    # the same pixels, rearranged
    assert np.array_equal(np.sort(out.reshape(-1, 3), axis=0), np.sort(image.reshape(-1, 3), axis=0))
    for (x, y), (u, v) in zip(pts.astype(int), moved.astype(int)):
        assert np.array_equal(out[v, u], image[y, x])
    # the patches land where the permutation says
    p = 64 // grid
    k = 3 % (grid * grid)
    src = perm[k]
    assert np.array_equal(
        out[(k // grid) * p : (k // grid + 1) * p, (k % grid) * p : (k % grid + 1) * p],
        image[(src // grid) * p : (src // grid + 1) * p, (src % grid) * p : (src % grid + 1) * p],
    )


def test_patch_shuffle_remainder_stays_and_grid_checked():
    image = np.arange(10 * 10, dtype=np.uint8).reshape(10, 10)
    out, moved, _ = patch_shuffle(image, np.array([[9.0, 9.0]]), 3, np.random.default_rng(0))
    assert np.array_equal(out[9], image[9]) and np.array_equal(out[:, 9], image[:, 9])
    assert moved.tolist() == [[9.0, 9.0]]
    with pytest.raises(AugmentError, match="grid 11"):
        patch_shuffle(image, np.zeros((0, 2)), 11, np.random.default_rng(0))


def test_flip_rotate_points_follow_pixels():
    image = np.zeros((48, 48, 3), np.uint8)
    pts = np.array([[10.0, 20.0], [30.0, 14.0], [24.0, 24.0]])
    for i, (x, y) in enumerate(pts.astype(int)):
        image[y - 1 : y + 2, x - 1 : x + 2] = (80 * (i + 1), 0, 0)
    out, moved, keep = flip_rotate(image, pts, flip=True, angle_deg=90.0, fill=0)
    assert keep.all()
    for i, (u, v) in enumerate(np.round(moved).astype(int)):
        assert out[v, u, 0] == 80 * (i + 1)
    # rotating by 45 degrees pushes a corner point out
    _, _, keep = flip_rotate(image, np.array([[0.0, 0.0], [24.0, 24.0]]), False, 45.0)
    assert keep.tolist() == [False, True]


def test_drop_flags_hit_their_probabilities():
    cfg = DropConfig(reference=0.1, points=0.3, lineart=0.6)
    rng = np.random.default_rng(0)
    n = 20000
    flags = np.array([[f.reference, f.points, f.lineart] for f in (draw_drop_flags(cfg, rng) for _ in range(n))])
    rates = flags.mean(axis=0)
    # 4 standard deviations of a binomial proportion
    tol = 4 * np.sqrt(np.array([0.1 * 0.9, 0.3 * 0.7, 0.6 * 0.4]) / n)
    assert np.all(np.abs(rates - [0.1, 0.3, 0.6]) < tol), rates
    # independent draws: joint rate is the product
    assert abs(np.mean(flags[:, 1] & flags[:, 2]) - 0.18) < 0.02


def test_drop_config_rejects_bad_probability():
    with pytest.raises(ValueError, match=r"lineart\n.*must be in \[0, 1\], got 1.5"):
        DropConfig(lineart=1.5)
