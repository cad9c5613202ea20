"""Line art normalization, XDoG extraction and the line F1 score."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from manganinja.images import ImageInputError
from manganinja.evaluation.line_metrics import line_f1
from manganinja.lines import (
    BlankLineartWarning,
    LineartError,
    Lines,
    XDoGParams,
    detect_polarity,
    extract_lineart,
    find_official_extractor,
    normalize_lineart,
    xdog_lines,
)


def drawing(size: int = 64) -> np.ndarray:
    """White anti-aliased strokes on black, uint8 (size, size); asymmetric (for orientation)."""
    img = np.zeros((size, size), np.uint8)
    cv2.circle(img, (20, 22), 12, 255, 2, lineType=cv2.LINE_AA)
    cv2.line(img, (5, 55), (60, 40), 255, 1, lineType=cv2.LINE_AA)
    cv2.rectangle(img, (40, 5), (58, 18), 255, 1)
    return img


def as_float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) / 255.0


# ---------------------------------------------------------------------------- normalization


def test_white_on_black_is_passed_through_exactly() -> None:
    """Parity with the official code: light-on-dark input is exactly convert('L') / 255."""
    img = Image.fromarray(drawing())
    out = normalize_lineart(img)
    assert out.dtype == np.float32 and out.shape == (64, 64)
    np.testing.assert_array_equal(out, np.asarray(img.convert("L"), np.float32) / 255.0)
    rgb = img.convert("RGB")
    np.testing.assert_array_equal(
        normalize_lineart(rgb), np.asarray(rgb.convert("L"), np.float32) / 255.0
    )


def test_official_lineart_is_passed_through_exactly(official_cases: Path) -> None:
    path = official_cases / "hz1_lineart_official.png"
    img = Image.open(path)
    assert detect_polarity(path) == "light-on-dark"
    np.testing.assert_array_equal(normalize_lineart(path), np.asarray(img.convert("L"), np.float32) / 255.0)


def test_white_on_black_with_gray_paper_is_untouched() -> None:
    a = np.maximum(drawing(), 30).astype(np.uint8)  # dark gray paper, not pure black
    np.testing.assert_array_equal(normalize_lineart(a), as_float(a))


def test_same_drawing_in_four_forms_gives_the_same_map(tmp_path: Path) -> None:
    lines = drawing()
    expected = as_float(lines)
    black_on_white = 255 - lines
    binarized = np.where(lines > 127, 0, 255).astype(np.uint8)  # black ink, no anti-aliasing
    rgba = np.zeros((64, 64, 4), np.uint8)  # black strokes, alpha = coverage, transparent paper
    rgba[..., 3] = lines
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(path)

    np.testing.assert_allclose(normalize_lineart(black_on_white), expected, atol=1e-6)
    np.testing.assert_allclose(normalize_lineart(path), expected, atol=1.5 / 255)
    soft_vs_binary = normalize_lineart(binarized)
    assert set(np.unique(soft_vs_binary).tolist()) == {0.0, 1.0}
    # Binarization only moves anti-aliased edge pixels: same line pixels at 0.5, small mean gap.
    assert np.mean((soft_vs_binary > 0.5) == (expected > 0.5)) > 0.995
    assert np.abs(soft_vs_binary - expected).mean() < 0.03


def test_transparent_light_strokes_go_on_black() -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = drawing()
    img = Image.fromarray(rgba, "RGBA")
    assert detect_polarity(img) == "light-on-dark"
    np.testing.assert_allclose(normalize_lineart(img), as_float(drawing()), atol=1.5 / 255)


def test_opaque_page_with_transparent_holes_keeps_ink_polarity() -> None:
    rgba = np.full((64, 64, 4), 255, np.uint8)
    rgba[..., :3] = (255 - drawing())[..., None]
    rgba[:4, :4, 3] = 0  # a few transparent pixels on the paper
    out = normalize_lineart(Image.fromarray(rgba, "RGBA"))
    np.testing.assert_allclose(out, as_float(drawing()), atol=1.5 / 255)


@pytest.mark.parametrize("mode", ["P", "LA", "CMYK", "1", "I;16"])
def test_other_modes(mode: str) -> None:
    ink = 255 - drawing()
    if mode == "I;16":
        img = Image.fromarray(ink.astype(np.uint16) * 257)
        assert img.mode.startswith("I;16")
    elif mode == "1":
        img = Image.fromarray(ink).convert("1", dither=Image.Dither.NONE)
    elif mode == "P":
        img = Image.fromarray(ink).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        img = Image.fromarray(ink).convert("RGB").convert(mode)
    out = normalize_lineart(img)
    assert out.shape == (64, 64) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    expected = as_float(drawing())
    tol = 0.5 if mode == "1" else 2.5 / 255  # mode "1" is binarized
    assert np.abs(out - expected).max() <= tol
    assert np.mean((out > 0.5) == (expected > 0.5)) > 0.995


def test_palette_with_transparency(tmp_path: Path) -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 3] = np.where(drawing() > 127, 255, 0)
    path = tmp_path / "p.png"
    Image.fromarray(rgba, "RGBA").convert("P").save(path, transparency=0)
    img = Image.open(path)
    assert img.mode == "P" and "transparency" in img.info
    out = normalize_lineart(path)
    assert np.mean((out > 0.5) == (drawing() > 127)) > 0.995


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    upright = drawing()
    stored = np.rot90(upright, k=-1)  # orientation 8: stored rotated 90 deg clockwise
    img = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "rotated.png"
    img.save(path, exif=exif)
    out = normalize_lineart(path)
    np.testing.assert_array_equal(out, as_float(upright))


def test_explicit_polarity_overrides_detection() -> None:
    lines = drawing()
    # Forcing "dark-on-light" on a white-on-black image inverts it plainly.
    np.testing.assert_allclose(
        normalize_lineart(lines, polarity="dark-on-light"), 1.0 - as_float(lines), atol=1e-6
    )
    np.testing.assert_array_equal(normalize_lineart(lines, polarity="light-on-dark"), as_float(lines))
    np.testing.assert_allclose(
        normalize_lineart(255 - lines, polarity="dark-on-light"), as_float(lines), atol=1e-6
    )


def test_detect_polarity() -> None:
    assert detect_polarity(drawing()) == "light-on-dark"
    assert detect_polarity(255 - drawing()) == "dark-on-light"
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 3] = drawing()
    assert detect_polarity(Image.fromarray(rgba, "RGBA")) == "dark-on-light"


def test_bad_polarity_names_the_value() -> None:
    with pytest.raises(LineartError, match="'upside-down'"):
        normalize_lineart(drawing(), polarity="upside-down")
    assert issubclass(LineartError, ValueError)


@pytest.mark.parametrize("value", [0, 255, 128])
def test_blank_lineart_warns(value: int) -> None:
    with pytest.warns(BlankLineartWarning, match="blank"):
        out = normalize_lineart(np.full((16, 16), value, np.uint8))
    assert out.max() <= 0.24


def test_real_lineart_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlankLineartWarning)
        normalize_lineart(255 - drawing())


# ---------------------------------------------------------------------------- bad input


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (no pixel data needed to hit the size check)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
    data += struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    for name, body in ((b"IDAT", zlib.compress(b"\x00")), (b"IEND", b"")):
        data += struct.pack(">I", len(body)) + name + body
        data += struct.pack(">I", zlib.crc32(name + body) & 0xFFFFFFFF)
    path.write_bytes(data)


@pytest.mark.parametrize("func", [normalize_lineart, extract_lineart])
def test_bad_files_give_clear_errors(func, tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="not found"):
        func(tmp_path / "missing.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        func(empty)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(ImageInputError, match="cannot be read"):
        func(junk)
    huge = tmp_path / "huge.png"
    _png_header_only(huge, 9000, 9000)  # 81 MP: over the 80 MP limit
    with pytest.raises(ImageInputError, match="over the limit"):
        func(huge)
    with pytest.raises(ImageInputError, match="zero size"):
        func(Image.new("L", (0, 8)))


# ---------------------------------------------------------------------------- extraction


def test_xdog_finds_outlines_and_color_boundaries() -> None:
    rgb = np.full((64, 64, 3), 0.9, np.float32)
    cv2.circle(rgb, (32, 32), 20, (0.05, 0.05, 0.05), 1)  # a dark cel outline
    out = xdog_lines(rgb)
    assert out.shape == (64, 64) and out.dtype == np.float32
    assert out[32, 12] > 0.5 and out[32, 32] == 0.0 and out[2, 2] == 0.0
    # Two flat regions of (nearly) equal luminance, different hue: only the color term sees it.
    flat = np.zeros((32, 32, 3), np.float32)
    flat[:, :16] = (0.8, 0.3, 0.3)
    flat[:, 16:] = (0.3, 0.55, 0.3)
    with_color = xdog_lines(flat)
    without = xdog_lines(flat, XDoGParams(color_weight=0.0))
    assert with_color[:, 15:17].max() > 0.5
    assert with_color[:, :12].max() == 0.0 and with_color[:, 20:].max() == 0.0
    assert with_color[:, 15:17].max() > without[:, 15:17].max()


def test_extract_lineart_gray_and_rgba_inputs() -> None:
    ink = np.full((48, 48), 230, np.uint8)
    cv2.line(ink, (4, 24), (44, 24), 10, 1)
    out = extract_lineart(ink)
    assert out.shape == (48, 48) and out[24, 10:40].min() > 0.5 and out[5:15].max() == 0.0
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[24, 4:44, 3] = 255  # black opaque stroke on transparent: composited on white
    np.testing.assert_allclose(extract_lineart(rgba)[24, 10:40], out[24, 10:40], atol=0.1)


def test_extract_lineart_bad_method_and_missing_weights() -> None:
    with pytest.raises(LineartError, match="'canny'"):
        extract_lineart(drawing(), method="canny")
    with pytest.raises(LineartError, match="sk_model.pth"):
        extract_lineart(drawing(), method="informative")


def test_extract_blank_warns() -> None:
    with pytest.warns(BlankLineartWarning):
        extract_lineart(np.full((16, 16, 3), 200, np.uint8))


def test_find_official_extractor(tmp_path: Path) -> None:
    assert find_official_extractor(tmp_path) is None
    assert find_official_extractor(None) is None
    target = tmp_path / "models" / "Annotators" / "sk_model.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert find_official_extractor(tmp_path) == target


#: Measured with the default XDoGParams on hz1 (see README, "Line art"): F1 = 0.931 at
#: threshold 0.5 and 0.963 at the model's cutoff 0.24, 2-pixel tolerance.
HZ1_F1_FLOOR = {0.5: 0.91, 0.24: 0.94}


@pytest.mark.parametrize("threshold", [0.5, 0.24])
def test_xdog_matches_official_extractor_on_hz1(official_cases: Path, threshold: float) -> None:
    official = as_float(np.asarray(Image.open(official_cases / "hz1_lineart_official.png").convert("L")))
    ours = extract_lineart(official_cases / "hz1.png", method="xdog")
    precision, recall, f1 = line_f1(ours, official, tolerance=2, threshold=threshold)
    assert f1 >= HZ1_F1_FLOOR[threshold], (precision, recall, f1)


# ---------------------------------------------------------------------------- line_f1


def test_line_f1_tolerance() -> None:
    ref = np.zeros((32, 32), np.float32)
    ref[16, 4:28] = 1.0
    assert line_f1(ref, ref) == (1.0, 1.0, 1.0)
    shifted = np.roll(ref, 2, axis=0)
    assert line_f1(shifted, ref, tolerance=2)[2] == 1.0
    assert line_f1(shifted, ref, tolerance=1)[2] == 0.0
    extra = ref.copy()
    extra[2, 4:28] = 1.0  # as many false pixels as true ones
    p, r, f = line_f1(extra, ref)
    assert (p, r) == (0.5, 1.0) and f == pytest.approx(2 / 3)
    assert line_f1(np.zeros_like(ref), ref) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        line_f1(ref, ref[:5])


def test_off_white_scan_paper_maps_to_zero() -> None:
    scan = np.where(drawing() > 127, 20, 230).astype(np.uint8)  # yellowed paper, dark ink
    out = normalize_lineart(scan)
    assert out[scan == 230].max() == 0.0
    np.testing.assert_allclose(out[scan == 20], (230 - 20) / 230, atol=1e-6)


# ---------------------------------------------------------------------------- Lines


def test_lines_is_one_frozen_value_made_once() -> None:
    white = drawing()
    lines = Lines.from_input(Image.fromarray(white))
    assert lines.array.dtype == np.float32 and lines.size == (64, 64)
    np.testing.assert_array_equal(lines.array, as_float(white))
    assert Lines.from_input(lines) is lines  # passed through, never normalized twice
    assert Lines.from_input(lines, polarity="dark-on-light") is lines
    with pytest.raises(ValueError):
        lines.array[0, 0] = 1.0  # read only
    with pytest.raises(Exception):
        lines.array = np.zeros((2, 2), np.float32)  # type: ignore[misc]
    with pytest.raises(LineartError, match="float32"):
        Lines(white)  # uint8: use from_input
    with pytest.raises(LineartError, match=r"\[0, 1\]"):
        Lines(np.full((4, 4), 2.0, np.float32))


def test_float_arrays_are_not_quantized() -> None:
    """A float line map keeps its values (no uint8 round trip), in either polarity."""
    soft = np.zeros((64, 64), np.float32)
    soft[::8] = 0.9013  # not multiples of 1/255
    soft[3] = np.linspace(0.3, 0.4, 64, dtype=np.float32)
    np.testing.assert_array_equal(Lines.from_input(soft).array, soft)
    ink = 1.0 - soft  # white paper, dark lines
    np.testing.assert_allclose(Lines.from_input(ink, polarity="dark-on-light").array, soft, atol=1e-6)


def test_lines_from_picture_and_resized(tmp_path) -> None:
    rgb = np.full((40, 60, 3), 230, np.uint8)
    rgb[10:30, 28:32] = 20  # a dark stroke
    lines = Lines.from_picture(Image.fromarray(rgb), "xdog")
    assert lines.size == (60, 40) and lines.array[20, 29] > 0.5 and lines.array[5, 5] == 0
    np.testing.assert_array_equal(lines.array, extract_lineart(Image.fromarray(rgb), "xdog"))
    assert lines.resized((60, 40)) is lines.array
    small = lines.resized((30, 20))
    assert small.shape == (20, 30) and small.dtype == np.float32 and 0 <= small.min() and small.max() <= 1


def test_ink_reads_colored_lines_as_lines_where_gray_makes_them_faint():
    """A production sheet: a black, a red and a yellow line on white. ink_strength counts the
    yellow line as fully inked (1 - min channel); the gray reading of from_input makes it faint."""
    from manganinja.lines import Lines, ink_strength

    rgba = np.full((8, 12, 4), 255, np.uint8)
    rgba[2, :, :3] = (0, 0, 0)
    rgba[4, :, :3] = (255, 0, 0)
    rgba[6, :, :3] = (255, 255, 0)
    strength, light_on_dark = ink_strength(rgba)
    assert not light_on_dark
    ink = Lines(strength).array
    assert ink[2].min() == 1.0 and ink[4].min() == 1.0 and ink[6].min() == 1.0 and ink[0].max() == 0.0
    gray = Lines.from_input(rgba[..., :3]).array
    assert gray[6].max() < 0.5  # yellow is faint when read as gray
    # transparency scales the ink; white lines on an opaque black sheet are read as they are
    rgba[..., 3] = 0
    assert ink_strength(rgba)[0].max() == 0.0
    dark = np.zeros((8, 12, 4), np.uint8)
    dark[..., 3] = 255
    dark[3, :, :3] = 255
    strength, light_on_dark = ink_strength(dark)
    assert light_on_dark and strength[3].min() == 1.0 and strength[0].max() == 0.0


def test_ink_refuses_what_is_not_rgba8():
    from manganinja.lines import LineartError, ink_strength

    with pytest.raises(LineartError, match="uint8 \\(H, W, 4\\)"):
        ink_strength(np.zeros((4, 4, 3), np.uint8))
