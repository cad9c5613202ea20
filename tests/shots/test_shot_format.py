"""The shot folder format: stems, ordering, RGBA line frames, keyframes, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manganinja.shots.format import ShotError, load_line_frame, read_shot


def _line(size: tuple[int, int] = (40, 32), transparent: bool = False, red: bool = False) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 4), np.uint8)
    img[:] = (255, 255, 255, 0 if transparent else 255)
    img[8, 4:30] = (0, 0, 0, 255)
    if red:
        img[20, 4:30] = (255, 0, 0, 255)
    return img


def _gt(size: tuple[int, int] = (40, 32)) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 4), np.uint8)
    img[10:20, 5:25] = (200, 100, 50, 255)
    return img


def _write(root: Path, line_stems: list[str], gt_stems: list[str], size: tuple[int, int] = (40, 32)) -> Path:
    for s in line_stems:
        (root / "line").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_line(size)).save(root / "line" / f"{s}.png")
    for s in gt_stems:
        (root / "gt").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_gt(size)).save(root / "gt" / f"{s}.png")
    return root


def test_frames_ordered_by_number_in_stem(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", ["frame_10", "frame_2", "frame_1"], ["frame_2"])
    shot = read_shot(root)
    assert [f.stem for f in shot.frames] == ["frame_1", "frame_2", "frame_10"]
    assert [f.number for f in shot.frames] == [1, 2, 10]
    assert shot.keyframes == ("frame_2",)
    assert shot.frame("frame_2").gt is not None and shot.frame("frame_1").gt is None
    assert shot.size == (40, 32)


def test_keyframes_from_option_and_shot_json(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", ["0000", "0001", "0002"], ["0000", "0001", "0002"])
    assert read_shot(root).keyframes == ("0000", "0001", "0002")
    assert read_shot(root, ["0002"]).keyframes == ("0002",)
    (root / "shot.json").write_text('{"keyframes": ["0001"]}')
    assert read_shot(root).keyframes == ("0001",)
    with pytest.raises(ShotError, match="keyframe '0003' is not a line frame"):
        read_shot(root, ["0003"])


def test_rgba_line_on_transparency_and_colored_lines(tmp_path: Path) -> None:
    path = tmp_path / "l.png"
    Image.fromarray(_line(transparent=True, red=True)).save(path)
    frame = load_line_frame(path)
    assert frame.lines.array.dtype == np.float32 and frame.lines.array.shape == (32, 40)
    assert frame.lines.array[8, 10] == 1.0 and frame.lines.array[20, 10] == 1.0 and frame.lines.array[0, 0] == 0.0
    assert frame.colored[20, 10] and not frame.colored[8, 10]
    # Lines on a fully transparent sheet: transparency is the paper, not the background.
    assert not frame.transparent.any()


def test_transparency_marks_background_when_the_paper_is_opaque(tmp_path: Path) -> None:
    img = _line()
    img[:, :10] = (255, 255, 255, 0)
    path = tmp_path / "l.png"
    Image.fromarray(img).save(path)
    frame = load_line_frame(path)
    assert frame.transparent[:, :10].all() and not frame.transparent[:, 12:].any()


def test_white_on_black_line_art_is_read_as_is(tmp_path: Path) -> None:
    img = np.zeros((32, 40), np.uint8)
    img[8] = 255
    path = tmp_path / "l.png"
    Image.fromarray(img).save(path)
    frame = load_line_frame(path)
    assert frame.lines.array[8].min() == 1.0 and frame.lines.array[0].max() == 0.0


def test_no_keyframe_is_a_clear_error(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", ["0000", "0001"], [])
    with pytest.raises(ShotError, match="no keyframe"):
        read_shot(root)


def test_gt_without_line_frame_is_named(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", ["0000"], ["0000", "0005"])
    with pytest.raises(ShotError, match="gt frame '0005' has no line frame"):
        read_shot(root)


def test_frame_of_another_size_and_unreadable_frame_are_problems(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", ["0000", "0001", "0002"], ["0000"])
    Image.fromarray(_line((48, 32))).save(root / "line" / "0001.png")
    (root / "line" / "0002.png").write_bytes(b"not a png")
    shot = read_shot(root)
    assert [f.stem for f in shot.frames] == ["0000"]
    problems = dict(shot.problems)
    assert "48x32" in problems["0001"] and "40x32" in problems["0001"]
    assert "cannot be read" in problems["0002"]


def test_keyframes_of_different_sizes_are_fatal(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", ["0000", "0001"], ["0000"])
    Image.fromarray(_line((48, 32))).save(root / "line" / "0001.png")
    Image.fromarray(_gt((48, 32))).save(root / "gt" / "0001.png")
    with pytest.raises(ShotError, match="differ in size"):
        read_shot(root)


def test_missing_folder_and_unnumbered_frames(tmp_path: Path) -> None:
    with pytest.raises(ShotError, match="not found"):
        read_shot(tmp_path / "nope")
    root = _write(tmp_path / "s", ["intro"], ["intro"])
    with pytest.raises(ShotError, match="no number"):
        read_shot(root)
