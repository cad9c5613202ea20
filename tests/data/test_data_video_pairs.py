"""Frame-pair index over videos and frame folders (manganinja.data.video_pairs)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from manganinja.data import video_pairs as vp
from manganinja.data.video_pairs import PairIndexSettings, build_pair_index, read_frames


def scene(key: int, size: int = 64) -> np.ndarray:
    """A smooth random picture, different for every key (uint8 RGB)."""
    small = np.random.default_rng(key).integers(0, 256, size=(6, 6, 3)).astype(np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def frame_keys(n: int = 50) -> list[int]:
    """Frame i shows scene i, except held frames 5..14 (scene 5) and 22..24 (scene 22)."""
    keys = list(range(n))
    for i in range(5, 15):
        keys[i] = 5
    for i in range(22, 25):
        keys[i] = 22
    return keys


def write_video(path: Path, keys: list[int]) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for k in keys:
            for packet in stream.encode(av.VideoFrame.from_ndarray(scene(k), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


EXPECTED = (
    [(0, 20), (1, 21), (2, 22), (3, 25), (4, 25), (5, 25)]
    + [(r, r + 20) for r in range(15, 23)]
    + [(r, r + 20) for r in range(25, 30)]
)
SETTINGS = PairIndexSettings(interval=20, ssim_threshold=0.9, max_slack=5, thumb_size=32)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("clips") / "clip.mp4", frame_keys())


def test_dedup_and_pairs_in_generated_video(video, tmp_path):
    entry = vp.scan_clip(video, SETTINGS)
    assert entry["frames"] == 50
    assert entry["kept"] == list(range(0, 6)) + list(range(15, 23)) + list(range(25, 50))
    assert [tuple(p) for p in entry["pairs"]] == EXPECTED
    # a smaller slack drops the pair whose target is 22 frames away
    tight = vp.choose_pairs(entry["kept"], 20, 1)
    assert (3, 25) not in tight and (4, 25) in tight


def test_index_is_cached_and_refreshed_when_the_clip_changes(video, tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    clip = root / "clip.mp4"
    clip.write_bytes(video.read_bytes())
    pairs = build_pair_index(root, SETTINGS, cache_dir=tmp_path / "cache")
    assert [(p.reference, p.target) for p in pairs] == EXPECTED
    assert all(p.clip == str(clip) for p in pairs)
    assert vp.index_path(root, SETTINGS, tmp_path / "cache").is_file()

    def no_scan(*_a, **_k):
        raise AssertionError("clip scanned again although unchanged")

    monkeypatch.setattr(vp, "scan_clip", no_scan)
    assert build_pair_index(root, SETTINGS, cache_dir=tmp_path / "cache") == pairs
    # other settings -> another index file, scanned again
    with pytest.raises(AssertionError, match="scanned again"):
        build_pair_index(root, PairIndexSettings(interval=10, ssim_threshold=0.9), cache_dir=tmp_path / "cache")
    # a changed file (mtime) is scanned again
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="scanned again"):
        build_pair_index(root, SETTINGS, cache_dir=tmp_path / "cache")


def test_read_frames_returns_the_indexed_frames(video):
    frames = read_frames(video, [3, 25, 12])
    keys = frame_keys()
    for n, frame in frames.items():
        # lossy codec: the decoded frame is nearest to the scene it was encoded from
        errors = [np.abs(frame.astype(int) - scene(k)).mean() for k in range(50)]
        assert int(np.argmin(errors)) == keys[n]
        assert errors[keys[n]] < 0.5 * sorted(errors)[1]


def test_frame_folder_clip_short_clip_and_broken_video(tmp_path, caplog):
    root = tmp_path / "data"
    folder = root / "show" / "cut1"
    folder.mkdir(parents=True)
    keys = frame_keys(30)
    for i, k in enumerate(keys):
        cv2.imwrite(str(folder / f"{i:04d}.png"), scene(k)[:, :, ::-1])
    write_video(root / "short.mp4", list(range(100, 110)))  # 10 frames < interval + 1
    (root / "broken.mp4").write_bytes(b"this is not a video" * 50)
    settings = PairIndexSettings(interval=20, ssim_threshold=0.9, max_slack=5, thumb_size=32)
    with caplog.at_level(logging.WARNING, logger="manganinja.data.video_pairs"):
        pairs = build_pair_index(root, settings)
    assert any("broken.mp4" in r.getMessage() for r in caplog.records)
    assert {p.clip for p in pairs} == {str(folder)}
    assert [(p.reference, p.target) for p in pairs] == [(0, 20), (1, 21), (2, 22), (3, 25), (4, 25), (5, 25)]
    frames = read_frames(folder, [0, 20])
    assert np.array_equal(frames[20], scene(20))
    # the cached index sits in the data root by default
    assert list((root / ".manganinja_cache").glob("pairs-*.json"))


def test_missing_root_and_bad_settings(tmp_path):
    with pytest.raises(vp.VideoPairsError, match="does not exist"):
        build_pair_index(tmp_path / "nope")
    with pytest.raises(vp.VideoPairsError, match="ssim_threshold"):
        PairIndexSettings(ssim_threshold=0.0)


def test_dedup_uses_the_one_ssim_of_the_metrics(monkeypatch):
    from manganinja.evaluation import metrics

    assert vp.ssim is metrics.ssim  # no second SSIM
    a = vp.thumbnail(scene(1), 32)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, vp.thumbnail(scene(2), 32)) < 0.7
    calls = []
    monkeypatch.setattr(vp, "ssim", lambda x, y: calls.append(1) or 0.5)
    assert vp.dedup_frames([a, a, a], 0.9) == [0, 1, 2] and len(calls) == 2


def test_thumbnails_fit_the_ssim_window():
    thumb = vp.thumbnail(np.zeros((20, 400, 3), np.uint8), 64)
    assert thumb.shape == (11, 64)
    with pytest.raises(vp.VideoPairsError, match="thumb_size must be >= 11"):
        PairIndexSettings(thumb_size=8)
