"""Tests for manganinja.data.synthetic: determinism, exact correspondences, line art, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from manganinja.data.synthetic import (
    BACKGROUND_ID,
    GENERATOR_NAME,
    GENERATOR_VERSION,
    OCCLUDER_ID,
    PAIR_FILES,
    SynthOptions,
    SyntheticDataError,
    SyntheticPair,
    generate_pair,
    write_dataset,
)
from manganinja.images import load_image
from manganinja.points import PointPairs


def _array_digest(pair: SyntheticPair) -> str:
    h = hashlib.sha256()
    for arr in (pair.reference, pair.target, pair.lineart, pair.lineart_soft,
                pair.target_mask, pair.reference_mask):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(json.dumps(pair.points.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def _tree_bytes(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def _part_change(parts: np.ndarray) -> np.ndarray:
    """Pixels next to a place where the part map changes (both sides), computed independently."""
    change = np.zeros(parts.shape, bool)
    dx = parts[:, 1:] != parts[:, :-1]
    dy = parts[1:, :] != parts[:-1, :]
    change[:, 1:] |= dx
    change[:, :-1] |= dx
    change[1:, :] |= dy
    change[:-1, :] |= dy
    return change


@pytest.fixture(scope="module")
def pairs_128() -> list[SyntheticPair]:
    return [generate_pair([7, i], 128) for i in range(12)]


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_same_arrays_and_pinned_digest() -> None:
    a = generate_pair([0, 0], 64)
    b = generate_pair(np.random.default_rng([0, 0]), 64)
    assert _array_digest(a) == _array_digest(b)
    # Pinned output of generator version 1.2 for seed [0, 0] at 64x64 (bump GENERATOR_VERSION
    # and this digest together when the generator's output changes on purpose).
    assert GENERATOR_VERSION == "1.2"
    assert _array_digest(a) == PINNED_DIGEST


PINNED_DIGEST = "199e7bcbaffde8fb5303bc089bb60078c0da68919877e60e355427b093f58925"


def test_two_runs_give_identical_bytes(tmp_path: Path) -> None:
    first = write_dataset(tmp_path / "a", 3, size=64, seed=5)
    second = write_dataset(tmp_path / "b", 3, size=64, seed=5)
    a, b = _tree_bytes(first), _tree_bytes(second)
    assert sorted(a) == sorted(b)
    assert a == b
    third = write_dataset(tmp_path / "c", 3, size=64, seed=6)
    assert _tree_bytes(third)["pair_00000/target.png"] != a["pair_00000/target.png"]


def test_characters_differ_and_share_colors(pairs_128: list[SyntheticPair]) -> None:
    palettes = {json.dumps(p.params["palette"], sort_keys=True) for p in pairs_128}
    assert len(palettes) == len(pairs_128)
    part_sets = {p.part_names for p in pairs_128}
    assert len(part_sets) > 3
    for pair in pairs_128:
        colors = [part["color"] for part in pair.params["parts"]]
        counts = {c: colors.count(c) for c in colors}
        assert max(counts.values()) >= 3  # e.g. skin on head, neck and hands
        assert counts["eye"] == 2  # both eyes: one colour, two places
        assert counts["mouth"] == 1  # a small part with a colour of its own


# -- correspondences -------------------------------------------------------------------------


def test_points_are_exact_color_matches(pairs_128: list[SyntheticPair]) -> None:
    for pair in pairs_128:
        ref = pair.points.reference_xy
        tgt = pair.points.lineart_xy
        assert len(pair.points) > 10
        assert np.array_equal(ref, np.round(ref)) and np.array_equal(tgt, np.round(tgt))
        rx, ry = ref[:, 0].astype(int), ref[:, 1].astype(int)
        tx, ty = tgt[:, 0].astype(int), tgt[:, 1].astype(int)
        assert np.array_equal(pair.target[ty, tx], pair.reference[ry, rx])
        assert np.array_equal(pair.target_flat[ty, tx], pair.reference_flat[ry, rx])
        assert np.array_equal(pair.target_parts[ty, tx], pair.reference_parts[ry, rx])
        assert np.array_equal(pair.target_parts[ty, tx], pair.point_parts)
        assert pair.target_mask[ty, tx].all() and pair.reference_mask[ry, rx].all()
        # away from outlines in both frames
        assert not pair.lineart[ty, tx].any() and not pair.reference_lineart[ry, rx].any()
        for lines, (x, y) in ((pair.lineart, (tx, ty)), (pair.reference_lineart, (rx, ry))):
            dist = ndimage.distance_transform_edt(lines == 0)
            assert dist[y, x].min() >= 2.0  # SynthOptions.margin at size 128


def test_fifty_points_at_256() -> None:
    for i in range(3):
        pair = generate_pair([11, i], 256)
        assert len(pair.points) == 50
        assert len(set(map(tuple, pair.points.lineart_xy.tolist()))) == 50


def test_parts_missing_in_reference_never_carry_points() -> None:
    options = SynthOptions(crop_prob=1.0, occlusion_prob=1.0, hide_accessory_prob=1.0)
    seen_missing = 0
    for i in range(6):
        pair = generate_pair([3, i], 128, options)
        in_ref = set(np.unique(pair.reference_parts).tolist())
        missing_ids = {pid for pid, name in enumerate(pair.part_names, start=1)
                       if name in pair.missing_in_reference}
        assert missing_ids.isdisjoint(in_ref)
        assert all(name in pair.part_names for name in pair.missing_in_reference)
        seen_missing += len(missing_ids)
        tx, ty = pair.points.lineart_xy.T.astype(int)
        on = set(pair.target_parts[ty, tx].tolist())
        assert on.isdisjoint(missing_ids)
        assert on <= in_ref
        assert OCCLUDER_ID not in on and BACKGROUND_ID not in on
    assert seen_missing > 0  # the check above was exercised


# -- line art -------------------------------------------------------------------------------


def test_lineart_lies_on_part_boundaries(pairs_128: list[SyntheticPair]) -> None:
    for pair in pairs_128:
        lines = pair.lineart > 0
        assert set(np.unique(pair.lineart).tolist()) == {0, 255}
        # the line art is exactly the black outline pixels of the target
        assert np.array_equal(lines, (pair.target == 0).all(axis=2))
        change = _part_change(pair.target_parts)
        dist = ndimage.distance_transform_edt(~change)
        width = pair.params["line_width"]["outer"]
        assert dist[lines].max() <= width / 2 + 0.5
        # ...and every boundary is drawn: one of the two pixels on each side of it is a line
        parts = pair.target_parts
        dx = parts[:, 1:] != parts[:, :-1]
        dy = parts[1:, :] != parts[:-1, :]
        assert (lines[:, 1:] | lines[:, :-1])[dx].all()
        assert (lines[1:, :] | lines[:-1, :])[dy].all()
        # inside one part the flat colour changes only where the cel shadow starts (no line)
        flat = pair.target_flat.astype(int)
        shade = pair.target_shade
        same_part = (parts[:, 1:] == parts[:, :-1]) & (parts[:, 1:] != BACKGROUND_ID)
        color_diff = np.abs(flat[:, 1:] - flat[:, :-1]).sum(-1) > 0
        assert np.array_equal(color_diff[same_part], (shade[:, 1:] != shade[:, :-1])[same_part])


def test_lineart_variants(pairs_128: list[SyntheticPair]) -> None:
    for pair in pairs_128:
        soft, binary, hard = pair.lineart_soft, pair.lineart_binary, pair.lineart > 0
        assert soft.dtype == np.uint8 and binary.dtype == np.uint8
        assert ((soft > 0) & (soft < 255)).sum() > 0.05 * (soft > 0).sum()  # anti-aliased
        assert set(np.unique(binary).tolist()) <= {0, 255}
        near = ndimage.binary_dilation(hard, iterations=1)
        assert (soft[~near] == 0).mean() > 0.99
        overlap = ((binary > 0) & hard).sum() / max(1, ((binary > 0) | hard).sum())
        assert overlap > 0.6


def test_masks_and_small_size() -> None:
    pair = generate_pair([1, 2], 64)
    assert pair.reference.shape == pair.target.shape == (64, 64, 3)
    n = len(pair.part_names)
    for mask, parts, lines in ((pair.target_mask, pair.target_parts, pair.lineart),
                               (pair.reference_mask, pair.reference_parts, pair.reference_lineart)):
        body = (parts >= 1) & (parts <= n)
        assert (mask >= body).all()  # every part pixel...
        assert (lines[mask & ~body] > 0).all()  # ...plus outline pixels only
        assert not (mask & (parts == OCCLUDER_ID)).any()
    assert pair.target_mask.any() and pair.reference_mask.any()
    counts = [len(generate_pair([1, i], 64).points) for i in range(8)]
    assert min(counts) >= 10 and np.mean(counts) > 40  # usable for fast tests elsewhere


# -- files --------------------------------------------------------------------------------


def test_dataset_files_and_manifest(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "set", 2, size=64, seed=9)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"] == GENERATOR_NAME and manifest["version"] == GENERATOR_VERSION
    assert manifest["seed"] == 9 and manifest["size"] == 64 and manifest["n_pairs"] == 2
    assert len(manifest["pairs"]) == 2
    for entry in manifest["pairs"]:
        folder = out / entry["dir"]
        assert set(entry["files"].values()) == set(PAIR_FILES.values())
        for name in PAIR_FILES.values():
            assert (folder / name).is_file()
        assert "palette" in entry["params"] and "reference" in entry["params"]
        pair = generate_pair([9, entry["index"]], 64)
        assert PointPairs.from_json(folder / "points.json") == pair.points
        assert np.array_equal(np.asarray(load_image(folder / "target.png")), pair.target)
        assert np.array_equal(np.asarray(load_image(folder / "lineart.png")), pair.lineart)
        assert entry["n_points"] == len(pair.points)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(n_pairs=0), "0"),
        (dict(n_pairs=-3), "-3"),
        (dict(size=100), "100"),
        (dict(size=56), "56"),
        (dict(seed=-1), "-1"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path: Path, kwargs: dict, needle: str) -> None:
    args = dict(n_pairs=2, size=64, seed=0) | kwargs
    with pytest.raises(SyntheticDataError, match=needle):
        write_dataset(tmp_path / "out", **args)
    assert list(tmp_path.iterdir()) == []


def test_non_empty_folder_needs_overwrite(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "set", 1, size=64, seed=0)
    before = _tree_bytes(out)
    with pytest.raises(SyntheticDataError, match="not empty"):
        write_dataset(out, 2, size=64, seed=1)
    assert _tree_bytes(out) == before
    write_dataset(out, 2, size=64, seed=1, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "pair_00000", "pair_00001"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no temporary folders left
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SyntheticDataError, match="refusing"):
        write_dataset(foreign, 1, size=64, seed=0, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_bad_options() -> None:
    with pytest.raises(SyntheticDataError, match="flip_prob"):
        generate_pair(0, 64, SynthOptions(flip_prob=1.5))
    with pytest.raises(SyntheticDataError, match="73"):
        generate_pair(0, 73)
