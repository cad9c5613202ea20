"""Several references: concat (separate banks) and stitch (one canvas), points in the right place."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from manganinja import PointPairs
from manganinja.stitching import stitch_references


@pytest.fixture(scope="module")
def refs():
    rng = np.random.default_rng(1)
    a = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))  # 64x64
    b = Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))  # 48 wide, 32 high
    return a, b


@pytest.fixture(scope="module")
def lineart():
    line = np.zeros((64, 64), np.uint8)
    line[::10, :] = 255
    return Image.fromarray(line)


PAIRS = PointPairs.from_dict(
    {
        "pairs": [
            {"reference": [10, 20], "lineart": [5, 6]},
            {"reference": [40, 8], "lineart": [30, 40], "reference_index": 1},
            {"reference": [60, 60], "lineart": [50, 12]},
        ]
    }
)


def test_concat_encodes_each_reference_and_concatenates_banks(pipe, refs):
    enc = pipe.encode_reference(list(refs), resolution=64, mode="concat")
    assert enc.mode == "concat" and enc.map_sizes == [(64, 64), (64, 64)]
    name = next(iter(enc.bank))
    assert len(enc.bank[name]) == 2
    single = pipe.encode_reference(refs[0], resolution=64)
    assert single.bank[name][0].shape == enc.bank[name][0].shape


def test_concat_points_go_to_their_own_reference_map(pipe, refs):
    enc = pipe.encode_reference(list(refs), resolution=64, mode="concat")
    target, maps = pipe.point_maps(PAIRS, enc, (64, 64), (64, 64))
    assert len(maps) == 2
    assert target[6, 5] == 1 and target[40, 30] == 2 and target[12, 50] == 3
    # reference 0 is 64x64 encoded at 64x64: identity
    assert maps[0][20, 10] == 1 and maps[0][60, 60] == 3 and np.count_nonzero(maps[0]) == 2
    # reference 1 is 48x32 encoded at 64x64 (long side 64, short side 42.7 -> 64): x*64/48, y*2
    ys, xs = np.nonzero(maps[1])
    assert list(maps[1][ys, xs]) == [2]
    assert (xs[0], ys[0]) == (int((40 + 0.5) * 64 / 48), int((8 + 0.5) * 2))


def test_stitch_places_references_side_by_side(pipe, refs):
    canvas, placements = stitch_references(list(refs))
    # b is scaled to height 64 (x2): 96 wide, placed after a
    assert canvas.size == (64 + 96, 64)
    assert placements == [(0, 0, 1.0), (64, 0, 2.0)]
    assert np.array_equal(np.asarray(canvas)[:, :64], np.asarray(refs[0]))
    enc = pipe.encode_reference(list(refs), resolution=64, mode="stitch")
    assert enc.mode == "stitch" and len(enc.map_sizes) == 1
    name = next(iter(enc.bank))
    assert len(enc.bank[name]) == 1
    target, maps = pipe.point_maps(PAIRS, enc, (64, 64), (64, 64))
    (m,) = maps
    cw, ch = enc.map_sizes[0]
    sx, sy = cw / 160, ch / 64

    def at(x, y):
        return int(np.floor((x + 0.5) * sx)), int(np.floor((y + 0.5) * sy))

    for value, (x, y) in ((1, (10, 20)), (3, (60, 60)), (2, (64 + (40 + 0.5) * 2 - 0.5, (8 + 0.5) * 2 - 0.5))):
        px, py = at(x, y)
        assert m[py, px] == value, (value, px, py)
    assert np.count_nonzero(m) == 3


@pytest.mark.parametrize("mode", ["concat", "stitch"])
def test_both_modes_run_end_to_end(pipe, refs, lineart, mode):
    out = pipe(
        reference=list(refs), lineart=lineart, points=PAIRS, reference_mode=mode,
        num_inference_steps=2, resolution=64, progress=False, output_type="np",
    ).images[0]
    assert out.shape == (64, 64, 3) and out.std() > 0


def test_point_for_missing_reference_is_named(pipe, refs, lineart):
    pts = PointPairs.from_dict({"pairs": [{"reference": [1, 1], "lineart": [2, 2], "reference_index": 2}]})
    with pytest.raises(ValueError, match="reference_index 2 but only 2 reference"):
        pipe(reference=list(refs), lineart=lineart, points=pts, num_inference_steps=1, resolution=64, progress=False)


def test_pairs_colliding_at_processing_size_warn(pipe, refs):
    enc = pipe.encode_reference(refs[0], resolution=64)
    close = PointPairs.from_arrays([[1, 1], [5, 5]], [[100, 100], [101, 100]])
    with pytest.warns(UserWarning, match=r"point pair\(s\) \[1\] share a line-art pixel"):
        target, _ = pipe.point_maps(close, enc, (512, 512), (64, 64))
    assert target[12, 12] == 2
