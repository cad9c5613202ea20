"""Image I/O: atomic writes with ordinary permissions, size limits, processing sizes, CMYK
pictures decoded through their embedded ICC profile."""

import itertools
import logging
import os
import stat
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from manganinja.images import ImageInputError, fit_long_side, load_image, save_image, to_rgb


def test_saved_files_are_readable_by_others(tmp_path):
    umask = os.umask(0o022)
    try:
        path = save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.png")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_unknown_extension_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="unknown image extension '.xyz'"):
        save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.xyz")
    assert list(tmp_path.iterdir()) == []


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(path)
    with pytest.raises(ImageInputError, match=r"300x200 = 60000 pixels is over the limit of 50000"):
        load_image(path, max_pixels=50_000)


def test_fit_long_side():
    assert fit_long_side((128, 128), 128) == (128, 128)
    assert fit_long_side((1000, 500), 512) == (512, 256)
    assert fit_long_side((2480, 3508), 512) == (384, 512)
    with pytest.raises(ValueError, match="resolution 32 is below the minimum of 64"):
        fit_long_side((100, 100), 32)


def test_float_images_in_unit_range_keep_their_brightness():
    from manganinja.images import to_rgb

    img = Image.fromarray(np.full((2, 2), 0.5, np.float32), mode="F")
    assert np.asarray(to_rgb(img))[0, 0].tolist() == [128, 128, 128]
    img16 = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    assert np.asarray(to_rgb(img16))[0, 0].tolist() == [255, 255, 255]


def test_check_whole_finds_truncated_files(tmp_path):
    from manganinja.images import check_whole

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8))
    for suffix in (".png", ".jpg", ".webp"):
        path = tmp_path / f"a{suffix}"
        image.save(path)
        check_whole(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageInputError, match=f"page 'a{suffix}'|page '.*a{suffix}'"):
            check_whole(path, name="page")


def _cmyk_reference():
    """A synthetic reference (uint8 ``(256, 256, 3)``), its line art and its target, posed as
    the reference (no crop, no occlusion) so the flat engine matches it well."""
    from manganinja.data.synthetic import SynthOptions, generate_pair

    return generate_pair(1, options=SynthOptions(size=256, joint_scale=0.0, flip_prob=0.0, crop_prob=0.0,
                                                 occlusion_prob=0.0, hide_accessory_prob=0.0))


def _flat_results_agree(pair, paths) -> None:
    """The flat engine colors the line art from each reference file in ``paths`` (the first an
    RGB one) alike: as many point-pair spots right, and nearly the same picture."""
    from manganinja.engines import FlatEngine, references_rgb
    from manganinja.lines import Lines
    from manganinja.settings import FlatSettings

    engine = FlatEngine(FlatSettings())
    lines = Lines.from_input(pair.lineart_soft)
    results = []
    for path in paths:
        prepared = engine.prepare(references_rgb([path]))
        results.append(np.asarray(engine.colorize(prepared, lines, None).composite, dtype=np.int16)[..., :3])
    xy = np.rint(pair.points.lineart_xy).astype(int)
    right = [(np.abs(r[xy[:, 1], xy[:, 0]] - pair.target[xy[:, 1], xy[:, 0]]).max(axis=1) <= 24).sum() for r in results]
    assert right[0] >= 40 and all(abs(r - right[0]) <= 2 for r in right[1:]), right
    assert all(np.abs(r - results[0]).mean() < 3.0 for r in results[1:])


def test_cmyk_jpeg_reference_colors_like_its_rgb_twin(tmp_path):
    """The same reference saved as a CMYK JPEG (no profile: PIL's plain inversion, as
    ``convert -colorspace CMYK`` writes too) and as an RGB JPEG (full-resolution chroma in both)
    gives the flat engine the same picture, and the same result."""
    from manganinja.engines import references_rgb

    pair = _cmyk_reference()
    rgb = Image.fromarray(pair.reference)
    rgb.save(tmp_path / "rgb.jpg", quality=95, subsampling=0)
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    loaded = [np.asarray(im, dtype=np.int16) for im in references_rgb([tmp_path / "rgb.jpg", tmp_path / "cmyk.jpg"])]
    assert loaded[1].shape == loaded[0].shape == (256, 256, 3)
    assert np.abs(loaded[1] - loaded[0]).mean() < 2.0
    _flat_results_agree(pair, [tmp_path / "rgb.jpg", tmp_path / "cmyk.jpg"])


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def swapped_inks_profile(grid: int = 9) -> bytes:
    """An ICC v2 CMYK printer profile (its one table, A2B0: CMYK -> Lab, ``grid`` points per
    ink) of a press whose cyan and magenta inks are swapped: cyan prints what PIL's plain
    inversion calls magenta, and the other way round. A picture made for it decodes right only
    through the profile (PIL's own CMYK -> RGB swaps red and green)."""
    steps = np.linspace(0.0, 1.0, grid)
    c, m, y, k = np.array(list(itertools.product(steps, repeat=4))).T  # cyan varies slowest
    rgb = np.stack([(1 - m) * (1 - k), (1 - c) * (1 - k), (1 - y) * (1 - k)], axis=1)
    nodes = Image.fromarray(np.rint(rgb * 255).astype(np.uint8).reshape(1, -1, 3))
    lab = ImageCms.profileToProfile(nodes, ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"),
                                    outputMode="LAB")
    lab = np.asarray(lab, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    lab[:, 1:] = (lab[:, 1:] + 128) % 256  # PIL keeps a*, b* as signed bytes
    table = (lab * 256).astype(">u2")  # v2 16-bit Lab: L* 100 = 0xFF00, a* = (a* + 128) * 256
    ramp = np.array([0, 65535], dtype=">u2")
    lut = (b"mft2" + bytes(4) + bytes([4, 3, grid, 0]) + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
           + struct.pack(">HH", 2, 2) + np.tile(ramp, 4).tobytes() + table.tobytes() + np.tile(ramp, 3).tobytes())
    name = b"swapped inks\0"
    d50 = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(78)),
            (b"wtpt", b"XYZ " + bytes(4) + d50), (b"cprt", b"text" + bytes(4) + b"none\0"), (b"A2B0", lut)]
    start = 128 + 4 + 12 * len(tags)
    directory, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        directory += signature + struct.pack(">II", start + len(data), len(body))
        data += body + bytes(-len(body) % 4)
    header = (struct.pack(">I", start + len(data)) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"prtrCMYKLab "
              + bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0) + d50 + bytes(48))
    assert len(header) == 128
    return header + directory + data


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_a_cmyk_picture_with_a_profile_decodes_through_it(tmp_path, suffix):
    """A CMYK picture with an embedded ICC profile (as Photoshop or ``convert -profile`` write
    them) is converted to sRGB through the profile, not by PIL's plain inversion: with the
    swapped-inks profile, pure cyan ink is magenta, and a reference made for that press decodes
    to its RGB original."""
    icc = swapped_inks_profile()
    inks = np.array(list(itertools.product([0, 255], repeat=4)), dtype=np.uint8)  # the 16 ink corners
    patches = np.repeat(np.repeat(inks.reshape(4, 4, 4), 16, axis=0), 16, axis=1)
    Image.fromarray(patches, "CMYK").save(tmp_path / f"inks{suffix}", icc_profile=icc, quality=95)
    decoded = np.asarray(to_rgb(load_image(tmp_path / f"inks{suffix}")), dtype=np.int16)[8::16, 8::16].reshape(-1, 3)
    c, m, y, k = (inks.T / 255.0)
    expected = 255 * np.stack([(1 - m) * (1 - k), (1 - c) * (1 - k), (1 - y) * (1 - k)], axis=1)
    assert np.abs(decoded - expected).max() <= 12, np.c_[inks, decoded]

    pair = _cmyk_reference()
    c, m, y, k = Image.fromarray(pair.reference).convert("CMYK").split()
    Image.merge("CMYK", (m, c, y, k)).save(tmp_path / f"ref{suffix}", icc_profile=icc, quality=95)
    picture = np.asarray(to_rgb(load_image(tmp_path / f"ref{suffix}")), dtype=np.int16)
    foreground = pair.reference.min(axis=2) <= 240
    assert np.abs(picture - pair.reference)[foreground].mean() < 2.0


def test_a_profiled_cmyk_reference_colors_like_its_rgb_twin(tmp_path):
    """The issue's case: a reference saved as a CMYK JPEG for a press (its profile embedded)
    colors the line art like the same picture as RGB."""
    pair = _cmyk_reference()
    Image.fromarray(pair.reference).save(tmp_path / "rgb.jpg", quality=95, subsampling=0)
    c, m, y, k = Image.fromarray(pair.reference).convert("CMYK").split()
    Image.merge("CMYK", (m, c, y, k)).save(tmp_path / "cmyk.jpg", icc_profile=swapped_inks_profile(), quality=95)
    _flat_results_agree(pair, [tmp_path / "rgb.jpg", tmp_path / "cmyk.jpg"])


def test_an_unusable_cmyk_profile_falls_back_with_a_warning(tmp_path, caplog):
    cmyk = Image.fromarray(np.full((8, 8, 4), (255, 0, 0, 0), np.uint8), "CMYK")
    cmyk.save(tmp_path / "bad.tif", icc_profile=b"not a profile")
    with caplog.at_level(logging.WARNING, logger="manganinja.images"):
        rgb = np.asarray(to_rgb(load_image(tmp_path / "bad.tif")))
    assert tuple(rgb[0, 0]) == (0, 255, 255)  # PIL's plain inversion: cyan
    assert "ICC profile cannot be used" in caplog.text


def test_resize_round_trip_keeps_the_size_and_loses_less_at_a_larger_working_size():
    from manganinja.images import resize_round_trip

    rng = np.random.default_rng(0)
    flat = Image.new("RGB", (256, 192), (200, 40, 90))
    assert resize_round_trip(flat, 64).size == (256, 192)
    assert np.array_equal(np.asarray(resize_round_trip(flat, 64)), np.asarray(flat))
    busy = Image.fromarray(rng.integers(0, 256, (192, 256, 3), dtype=np.uint8))

    def err(res: int) -> float:
        return float(np.square(np.asarray(resize_round_trip(busy, res), float) - np.asarray(busy, float)).mean())

    assert err(128) < err(64) and err(64) > 0
