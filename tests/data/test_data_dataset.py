"""Training samples (manganinja.data.dataset)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from manganinja.data.augment import DropConfig, FlipRotateConfig, ShuffleConfig
from manganinja.data.dataset import (
    DataConfig,
    DatasetError,
    PairDataset,
    StepSampler,
    SyntheticPairSource,
    VideoPairSource,
)
from manganinja.data.video_pairs import PairIndexSettings
from manganinja.points import PointPairs


def blocks(size: int, seed: int) -> np.ndarray:
    """An image of flat colored 8x8 blocks (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(size // 8, size // 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))


def write_synthetic(root: Path, n: int = 3, size: int = 64) -> Path:
    """Pair folders like ``manganinja synth`` writes: the target is the reference shifted by
    (8, 16); points are block centres, exact."""
    for i in range(n):
        folder = root / f"pair_{i:04d}"
        folder.mkdir(parents=True)
        ref = blocks(size, i)
        tgt = np.roll(ref, (16, 8), axis=(0, 1))
        cv2.imwrite(str(folder / "reference.png"), ref[:, :, ::-1])
        cv2.imwrite(str(folder / "target.png"), tgt[:, :, ::-1])
        lines = cv2.Canny(cv2.cvtColor(tgt, cv2.COLOR_RGB2GRAY), 10, 30)
        cv2.imwrite(str(folder / "lineart.png"), lines)
        cv2.imwrite(str(folder / "mask.png"), np.full((size, size), 255, np.uint8))
        centres = np.array([[x + 3, y + 4] for y in range(8, 40, 8) for x in range(0, 48, 8)], float)
        PointPairs.from_arrays(centres, centres + [8, 16]).to_json(folder / "points.json")
        (folder / "manifest.json").write_text(json.dumps({"index": i}))
    return root


def config(**kw) -> DataConfig:
    base = dict(
        resolution=64,
        patch_shuffle=ShuffleConfig(milestones=[[0, 2], [10, 8]]),
        flip_rotate=FlipRotateConfig(flip_probability=0.5, rotate_probability=0.0),
        drop=DropConfig(reference=0.0, points=0.0, lineart=0.0),
    )
    base.update(kw)
    return DataConfig(**base)


@pytest.fixture
def synth_root(tmp_path) -> Path:
    return write_synthetic(tmp_path / "synth")


def test_sample_layout_and_ranges(synth_root):
    ds = PairDataset([SyntheticPairSource(synth_root)], config())
    assert len(ds) == 3
    s = ds[(1, 0)]
    for name in ("reference", "target", "lineart"):
        assert s[name].shape == (3, 64, 64) and s[name].dtype == torch.float32
        assert s[name].min() >= -1 and s[name].max() <= 1
    assert s["reference_points"].shape == s["target_points"].shape == (1, 64, 64)
    assert s["grid"] == 2
    assert ds[(1, 25)]["grid"] == 8
    # deterministic per (index, step), different across steps
    assert torch.equal(ds[(1, 3)]["reference"], ds[(1, 3)]["reference"])
    assert not torch.equal(ds[(1, 3)]["reference"], ds[(1, 4)]["reference"])


def test_points_keep_their_colors_through_flip_and_shuffle(synth_root):
    ds = PairDataset([SyntheticPairSource(synth_root)], config())
    seen = 0
    for step in range(0, 30, 3):
        s = ds[(step % 3, step)]
        n = s["num_points"]
        assert n == int(s["reference_points"].max()) == int(s["target_points"].max())
        for i in range(1, n + 1):
            ry, rx = np.argwhere(s["reference_points"][0].numpy() == i)[0]
            ty, tx = np.argwhere(s["target_points"][0].numpy() == i)[0]
            assert torch.equal(s["reference"][:, ry, rx], s["target"][:, ty, tx])
            seen += 1
    assert seen > 20


def test_drops_blank_their_conditions(synth_root):
    ds = PairDataset([SyntheticPairSource(synth_root)], config(drop=DropConfig(reference=1.0, points=1.0, lineart=1.0)))
    s = ds[(0, 0)]
    assert s["drop_reference"] and s["drop_points"] and s["drop_lineart"]
    assert torch.all(s["lineart"] == -1)
    assert s["reference_points"].abs().sum() == 0 and s["target_points"].abs().sum() == 0
    no_ref = PairDataset([SyntheticPairSource(synth_root)], config(drop=DropConfig(reference=1.0, points=0.0, lineart=0.0)))
    s = no_ref[(0, 0)]
    assert s["drop_reference"] and not s["drop_points"] and s["num_points"] == 0
    assert s["reference_points"].abs().sum() == 0
    kept = PairDataset([SyntheticPairSource(synth_root)], config())[(0, 0)]
    assert not kept["drop_lineart"] and kept["lineart"].max() == 1


def test_lineart_condition_cutoff():
    from manganinja.lines import model_condition

    cond = model_condition(np.array([[0.0, 0.2, 0.24, 0.5, 1.0]], np.float32))
    assert cond.shape == (3, 1, 5) and cond.dtype == np.float32
    assert cond[0, 0].tolist() == pytest.approx([-1.0, -1.0, -1.0, 0.0, 1.0])


def test_training_resizes_line_art_as_sampling_does():
    """The training square of a line map is the sampling resize (bicubic) of its centre square,
    not an area average: the model is trained on the maps it is given."""
    from manganinja.data.dataset import fit_square_lines
    from manganinja.lines import Lines

    rng = np.random.default_rng(0)
    lines = (rng.random((90, 120)) > 0.8).astype(np.float32)
    square = lines[:, 15:105]
    got = fit_square_lines(lines, 64)
    assert got.shape == (64, 64) and got.dtype == np.float32
    assert np.array_equal(got, Lines(square).resized((64, 64)))
    area = cv2.resize(square, (64, 64), interpolation=cv2.INTER_AREA)
    assert not np.allclose(got, area, atol=1e-3)


def test_dataloader_with_step_sampler_batches(synth_root):
    ds = PairDataset([SyntheticPairSource(synth_root)], config())
    sampler = StepSampler(len(ds), batch_size=2, seed=0, start_step=0, total_steps=4)
    batches = list(DataLoader(ds, batch_size=2, sampler=sampler))
    assert len(batches) == 4
    assert batches[0]["reference"].shape == (2, 3, 64, 64)
    assert batches[0]["drop_points"].dtype == torch.bool
    # resuming at step 2 gives the same batches as the uninterrupted stream
    resumed = list(DataLoader(ds, batch_size=2, sampler=StepSampler(len(ds), 2, 0, start_step=2, total_steps=4)))
    for a, b in zip(batches[2:], resumed):
        assert torch.equal(a["reference"], b["reference"]) and torch.equal(a["target_points"], b["target_points"])
    # every pair is seen once per epoch
    keys = [k for k, _ in StepSampler(5, 5, seed=1, total_steps=1)]
    assert sorted(keys) == list(range(5))


def test_empty_data_set_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no training pair found in"):
        PairDataset([SyntheticPairSource(tmp_path / "empty")], config(), describe=str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="not a folder"):
        SyntheticPairSource(tmp_path / "missing")


def test_video_source_extracts_lineart_and_matches_points(tmp_path):
    import av

    size = 96
    base = blocks(160, 7)
    root = tmp_path / "videos"
    root.mkdir()
    with av.open(str(root / "clip.mp4"), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for i in range(12):  # a camera pan: every frame moves 2 px
            frame = np.ascontiguousarray(base[20 + 2 * i : 20 + 2 * i + size, 10 : 10 + size])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    calls = []

    def extractor(rgb: np.ndarray) -> np.ndarray:
        calls.append(rgb.shape)
        return cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 20, 60).astype(np.float32) / 255.0

    src = VideoPairSource(root, PairIndexSettings(interval=6, ssim_threshold=0.99, max_slack=2, thumb_size=32), tmp_path / "cache")
    assert len(src) == 6
    ds = PairDataset([src], config(cache_dir=str(tmp_path / "cache"), resolution=64), extractor=extractor)
    s = ds[(0, 0)]
    assert calls == [(size, size, 3)]
    assert s["lineart"].max() > 0  # lines survive the 96 -> 64 resize
    (cached,) = (tmp_path / "cache" / "matches").glob("*.json")
    matches = PointPairs.from_json(cached)
    assert len(matches) > 5
    # a pan of 2 px per frame over 6 frames: targets sit 12 px above their references
    shift = np.median(matches.lineart_xy - matches.reference_xy, axis=0)
    assert shift == pytest.approx([0.0, -12.0], abs=1.0)


def test_points_keep_their_colors_on_generated_synthetic_pairs(tmp_path):
    synthetic = pytest.importorskip("manganinja.data.synthetic")  # branch `synth` until merged
    root = synthetic.write_dataset(tmp_path / "synth", 4, size=64, seed=0)
    ds = PairDataset([SyntheticPairSource(root)], config(patch_shuffle=ShuffleConfig(milestones=[[0, 32]])))
    assert len(ds) == 4
    seen = 0
    for i in range(4):
        s = ds[(i, i)]
        for k in range(1, s["num_points"] + 1):
            ry, rx = np.argwhere(s["reference_points"][0].numpy() == k)[0]
            ty, tx = np.argwhere(s["target_points"][0].numpy() == k)[0]
            assert torch.equal(s["reference"][:, ry, rx], s["target"][:, ty, tx])
            seen += 1
    assert seen > 10


def test_curriculum_steps_draw_only_from_their_phase_and_resume_exactly():
    from manganinja.data.dataset import curriculum_pools

    names = ["copy", "small", "full"]
    offsets = [0, 3, 7, 17]                       # copy 0..2, small 3..6, full 7..16
    pools = curriculum_pools([(0, ["copy"]), (4, ["small", "copy"]), (9, ["full"])], names, offsets)
    assert [s for s, _ in pools] == [0, 4, 9]
    assert list(pools[1][1]) == [0, 1, 2, 3, 4, 5, 6]
    sampler = StepSampler(17, batch_size=2, seed=3, total_steps=20, pools=pools)
    keys = list(sampler)
    assert len(keys) == 40
    for index, step in keys:
        allowed = pools[0][1] if step < 4 else pools[1][1] if step < 9 else pools[2][1]
        assert index in allowed
    # each phase walks a permutation of its pool: the first len(pool) draws of the last phase are distinct
    last = [i for i, s in keys if s >= 9][:10]
    assert sorted(last) == list(range(7, 17))
    # resuming mid-phase gives the same keys
    resumed = list(StepSampler(17, batch_size=2, seed=3, start_step=11, total_steps=20, pools=pools))
    assert resumed == keys[22:]
    # two processes draw different pairs at a phase's start
    rank0 = list(StepSampler(17, 2, 3, start_step=9, total_steps=10, num_replicas=2, rank=0, pools=pools))
    rank1 = list(StepSampler(17, 2, 3, start_step=9, total_steps=10, num_replicas=2, rank=1, pools=pools))
    assert not set(k for k, _ in rank0) & set(k for k, _ in rank1)
    with pytest.raises(DatasetError, match="hold no pair"):
        curriculum_pools([(0, ["copy"])], names, [0, 0, 4, 14])


def test_curriculum_config_names_its_mistakes():
    ok = DataConfig(synthetic=["a", "b"], curriculum=[(0, ["a"]), (10, ["b"])])
    assert ok.curriculum == [(0, ["a"]), (10, ["b"])]
    for bad, message in (([(5, ["a"])], "start with a phase at step 0"),
                         ([(0, ["a"]), (0, ["b"])], "must increase"),
                         ([(0, [])], "lists no source"),
                         ([(0, ["c"])], "'c' is not in data.synthetic")):
        with pytest.raises(ValueError, match=message):
            DataConfig(synthetic=["a", "b"], curriculum=bad)


def test_region_maps_fill_regions_and_stay_pixel_maps_without_line_art(synth_root):
    plain = PairDataset([SyntheticPairSource(synth_root)], config())
    regions = PairDataset([SyntheticPairSource(synth_root)], config(), region_maps=True)
    a, b = plain[(0, 0)], regions[(0, 0)]
    n = a["num_points"]
    assert n == b["num_points"] > 2 and torch.equal(a["lineart"], b["lineart"])
    for key in ("target_points", "reference_points"):
        assert int((a[key] > 0).sum()) == n
        assert int((b[key] > 0).sum()) > 2 * n
        assert set(b[key].unique().tolist()) == set(a[key].unique().tolist())  # every pair keeps its value
        assert torch.equal(b[key][a[key] > 0], a[key][a[key] > 0])  # and its own pixel
    dropped = PairDataset([SyntheticPairSource(synth_root)], config(drop=DropConfig(reference=0.0, points=0.0, lineart=1.0)),
                          region_maps=True)[(0, 0)]
    assert int((dropped["target_points"] > 0).sum()) == dropped["num_points"]
    assert int((dropped["reference_points"] > 0).sum()) > dropped["num_points"]


def test_hints_follow_the_condition_with_each_guides_reference_color_over_its_region(synth_root):
    plain = PairDataset([SyntheticPairSource(synth_root)], config())[(0, 0)]
    hinted = PairDataset([SyntheticPairSource(synth_root)], config(), hints=True)[(0, 0)]
    assert hinted["lineart"].shape == (7, 64, 64)
    assert torch.equal(hinted["lineart"][:3], plain["lineart"]) and torch.equal(hinted["target_points"], plain["target_points"])
    mask, tgt = hinted["lineart"][6], plain["target_points"][0]  # channels: 3 line art, 3 hint colors, 1 mask
    assert bool(mask[tgt > 0].all()) and int(mask.sum()) > int((tgt > 0).sum())  # the guides' regions, not their pixels
    # at each guide's pixel the hint is its reference color: the target's there (the points keep their colors)
    target = plain["target"]
    ys, xs = torch.nonzero(tgt, as_tuple=True)
    assert torch.allclose(hinted["lineart"][3:6, ys, xs], target[:, ys, xs], atol=1e-5)
    dropped = PairDataset([SyntheticPairSource(synth_root)], config(drop=DropConfig(reference=0.0, points=1.0, lineart=0.0)),
                          hints=True)[(0, 0)]
    assert dropped["lineart"].shape == (7, 64, 64) and float(dropped["lineart"][3:].abs().sum()) == 0.0
