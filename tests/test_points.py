"""PointPairs: parsing, validation and the official map format."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from manganinja.points import MAX_POINT_PAIRS, PointPair, PointPairs, PointsError, rescale_centres, scale_xy


def pairs_of(*items: tuple[tuple[float, float], tuple[float, float]]) -> PointPairs:
    return PointPairs(PointPair(r, l) for r, l in items)


def test_valid_pairs_pass_and_return_self() -> None:
    pairs = pairs_of(((0, 0), (0, 0)), ((99, 49), (63, 31)))
    assert pairs.validate((100, 50), (64, 32)) is pairs
    assert pairs.validate([(100, 50)], (64, 32)) is pairs
    assert pairs.validate((np.int64(100), np.int64(50)), (64, 32)) is pairs  # numpy sizes


@pytest.mark.parametrize(
    "ref, line, message",
    [
        ((100, 10), (5, 5), "pair 1 reference point \\(100, 10\\) is outside the 100x50 image"),
        ((-1, 10), (5, 5), "reference point \\(-1, 10\\) is outside"),
        ((10, 10), (5, 32), "pair 1 line-art point \\(5, 32\\) is outside the 64x32 image"),
        ((10, 10), (64.5, 3), "line-art point \\(64.5, 3\\) is outside"),
    ],
)
def test_points_outside_the_images(ref, line, message: str) -> None:
    with pytest.raises(PointsError, match=message):
        pairs_of((ref, line)).validate((100, 50), (64, 32))


def test_duplicate_lineart_points() -> None:
    pairs = pairs_of(((1, 1), (5, 5)), ((2, 2), (6, 6)), ((3, 3), (5.2, 4.9)))
    with pytest.raises(PointsError, match="pair 3: line-art point .* duplicates pair 1"):
        pairs.validate((10, 10), (10, 10))
    # Half-pixel boundaries are assigned like scale_xy does (to the right): 0.5 and 1.4 share pixel 1.
    with pytest.raises(PointsError, match="duplicates pair 1"):
        pairs_of(((1, 1), (0.5, 3)), ((2, 2), (1.4, 3))).validate((10, 10), (10, 10))
    # The same reference point for two line-art points is allowed (e.g. both eyes' highlight).
    pairs_of(((1, 1), (5, 5)), ((1, 1), (7, 7))).validate((10, 10), (10, 10))


def test_too_many_pairs() -> None:
    many = PointPairs.from_arrays([[i, 0] for i in range(25)], [[i, 0] for i in range(25)])
    with pytest.raises(PointsError, match=f"25 point pairs given; at most {MAX_POINT_PAIRS}"):
        many.validate((30, 30), (30, 30))
    many.validate((30, 30), (30, 30), max_pairs=None)
    many[:24].validate((30, 30), (30, 30))


def test_reference_index_beyond_the_references() -> None:
    pairs = PointPairs([PointPair((1, 1), (1, 1)), PointPair((2, 2), (2, 2), reference_index=2)])
    with pytest.raises(PointsError, match="pair 2: reference_index 2 but only 2 reference"):
        pairs.validate([(10, 10), (10, 10)], (10, 10))
    pairs.validate([(10, 10), (10, 10), (5, 5)], (10, 10))
    with pytest.raises(PointsError, match="reference point \\(2, 2\\) is outside the 2x2"):
        pairs.validate([(10, 10), (10, 10), (2, 2)], (10, 10))


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"pairs": [', "malformed JSON at line 1"),
        ("[]", "expected an object with a 'pairs' list"),
        ('{"pairs": {}}', "'pairs' must be a list"),
        ('{"pairs": [{"reference": [1, 2]}]}', "pair 1: expected an object with 'reference' and 'lineart'"),
        ('{"pairs": [{"reference": [1, 2], "lineart": [1]}]}', "pair 1 'lineart': expected \\[x, y\\]"),
        ('{"pairs": [{"reference": [1, "a"], "lineart": [1, 2]}]}', "pair 1 'reference'"),
        ('{"pairs": [{"reference": [1, 2], "lineart": [1, 2], "reference_index": -1}]}', "reference_index must be"),
        ('{"pairs": [{"reference": [1, 2], "lineart": [true, 2]}]}', "pair 1 'lineart'"),
    ],
)
def test_malformed_point_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "points.json"
    path.write_text(text)
    with pytest.raises(PointsError, match=message) as info:
        PointPairs.from_json(path)
    assert str(path) in str(info.value)


def test_missing_point_file(tmp_path: Path) -> None:
    with pytest.raises(PointsError, match="not found"):
        PointPairs.from_json(tmp_path / "nope.json")
    with pytest.raises(PointsError, match="cannot be read"):
        PointPairs.from_json(tmp_path)


def test_rescale_centres_maps_pixel_centres_as_cv2_resize_does() -> None:
    # Doubling: the centre of pixel 0 (0.0) lies between pixels 0 and 1 of the larger picture.
    np.testing.assert_allclose(rescale_centres(np.array([0.0, 1.0, 3.0]), 2), [0.5, 2.5, 6.5])
    # Per-axis scale and offset on (N, 2); the picture's edges (-0.5, size - 0.5) map to edges.
    xy = np.array([[-0.5, -0.5], [9.5, 19.5], [4.0, 9.0]])
    out = rescale_centres(xy, (0.5, 2.0), (10, 0))
    np.testing.assert_allclose(out, [[9.5, -0.5], [14.5, 39.5], [11.75, 18.5]])
    # Scaling there and back is the identity.
    np.testing.assert_allclose(rescale_centres(rescale_centres(xy, (3.0, 0.25)), (1 / 3, 4.0)), xy)
    # What cv2.resize samples: a ramp halved (linear) takes at pixel j the value at rescale_centres(j).
    ramp = np.tile(np.arange(16, dtype=np.float32), (4, 1))
    small = cv2.resize(ramp, (8, 4), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(small[0], rescale_centres(np.arange(8), 2.0), atol=1e-6)


def test_scale_xy_is_the_pixel_of_the_rescaled_centre() -> None:
    xy = np.array([[0.0, 0.0], [0.49, 1.5], [3.0, 3.9], [7.9, 7.9]])
    want = np.clip(np.floor(rescale_centres(xy, (24 / 8, 4 / 8)) + 0.5), 0, [23, 3]).astype(np.int64)
    np.testing.assert_array_equal(scale_xy(xy, (8, 8), (24, 4)), want)
    np.testing.assert_array_equal(scale_xy(np.array([[1.4, 0.5]]), (8, 8), (8, 8)), [[1, 1]])


def test_json_round_trip(tmp_path: Path) -> None:
    pairs = PointPairs([PointPair((1, 2), (3.5, 4)), PointPair((5, 6), (7, 8), reference_index=1)])
    path = pairs.to_json(tmp_path / "sub" / "p.json")
    assert PointPairs.from_json(path) == pairs
    data = json.loads(path.read_text())
    assert data["pairs"][0] == {"reference": [1, 2], "lineart": [3.5, 4]}
    assert data["pairs"][1]["reference_index"] == 1


def test_official_maps_round_trip() -> None:
    ref_map = np.zeros((512, 512), np.uint8)
    line_map = np.zeros((512, 512), np.uint8)
    for value, (rx, ry), (lx, ly) in [(1, (10, 20), (30, 40)), (2, (500, 3), (0, 511)), (3, (256, 256), (100, 7))]:
        ref_map[ry, rx] = value
        line_map[ly, lx] = value
    pairs = PointPairs.from_official_maps(ref_map, line_map)
    assert pairs.reference_xy.tolist() == [[10, 20], [500, 3], [256, 256]]
    assert pairs.lineart_xy.tolist() == [[30, 40], [0, 511], [100, 7]]
    back_ref, back_line = pairs.to_official_maps((512, 512), (512, 512))
    assert back_ref.dtype == np.uint8
    np.testing.assert_array_equal(back_ref, ref_map)
    np.testing.assert_array_equal(back_line, line_map)
    # From 1024-pixel images, coordinates are scaled to the 512 map.
    big = PointPairs.from_arrays(pairs.reference_xy * 2, pairs.lineart_xy * 2)
    np.testing.assert_array_equal(big.to_official_maps((1024, 1024), (1024, 1024))[0], ref_map)


def test_official_maps_scaled_to_the_pictures_they_were_clicked_on() -> None:
    ref_map = np.zeros((512, 512), np.uint8)
    line_map = np.zeros((256, 128), np.uint8)  # (H, W): maps need not be square or alike
    ref_map[0, 511], line_map[255, 0] = 1, 1
    ref_map[100, 50], line_map[10, 20] = 2, 2
    pairs = PointPairs.from_official_maps(ref_map, line_map, (1024, 1024), (128, 256))
    np.testing.assert_allclose(pairs.reference_xy, [[1022.5, 0.5], [100.5, 200.5]])  # pixel centre to pixel centre
    np.testing.assert_allclose(pairs.lineart_xy, [[0, 255], [20, 10]])  # the map's own size: unchanged
    assert PointPairs.from_official_maps(ref_map, line_map, None, (128, 256)).reference_xy.tolist() == [[511, 0], [50, 100]]
    back_ref, _ = pairs.to_official_maps((1024, 1024), (128, 256))
    np.testing.assert_array_equal(back_ref, ref_map)


def test_official_maps_from_files_and_mismatch(tmp_path: Path) -> None:
    a = np.zeros((8, 8), np.uint8)
    b = np.zeros((8, 8), np.uint8)
    a[1, 2], b[3, 4] = 1, 1
    a[5, 5] = 2
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    with pytest.raises(PointsError, match="only on the reference map \\[2\\]"):
        PointPairs.from_official_maps(tmp_path / "a.npy", tmp_path / "b.npy")
    a[5, 5] = 0
    np.save(tmp_path / "a.npy", a)
    pairs = PointPairs.from_official_maps(tmp_path / "a.npy", tmp_path / "b.npy")
    assert pairs == PointPairs([PointPair((2, 1), (4, 3))])
    with pytest.raises(PointsError, match="not found"):
        PointPairs.from_official_maps(tmp_path / "zz.npy", tmp_path / "b.npy")


def test_official_maps_reject_pairs_sharing_a_map_pixel() -> None:
    # Distinct pixels in a 1024 image, one pixel of the 512 map: one pair would be lost.
    pairs = PointPairs.from_arrays([[10, 10], [11, 10]], [[100, 100], [300, 300]])
    with pytest.raises(PointsError, match="pairs 1 and 2: their reference points fall on the same pixel"):
        pairs.to_official_maps((1024, 1024), (1024, 1024))
    with pytest.raises(PointsError, match="reference_index > 0"):
        PointPairs([PointPair((1, 1), (1, 1), reference_index=1)]).to_official_maps((8, 8), (8, 8))


def test_official_case_maps(official_cases: Path) -> None:
    ref = np.load(official_cases / "hz01_0.npy")
    line = np.load(official_cases / "hz01_1.npy")
    pairs = PointPairs.from_official_maps(ref, line)
    assert len(pairs) == 14
    pairs.validate((512, 512), (512, 512))
    back = pairs.to_official_maps((512, 512), (512, 512))
    np.testing.assert_array_equal(back[0], ref)
    np.testing.assert_array_equal(back[1], line)
