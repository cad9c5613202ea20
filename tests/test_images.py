"""Image I/O: atomic writes with ordinary permissions, size limits, processing sizes."""

import os
import stat

import numpy as np
import pytest
from PIL import Image

from manganinja.images import ImageInputError, fit_long_side, load_image, save_image


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


def test_cmyk_jpeg_reference_colors_like_its_rgb_twin(tmp_path):
    """The same reference saved as a CMYK JPEG and as an RGB JPEG (full-resolution chroma in both)
    gives the flat engine the same picture, and the same result."""
    from manganinja.data.synthetic import SynthOptions, generate_pair
    from manganinja.engines import FlatEngine, references_rgb
    from manganinja.lines import Lines
    from manganinja.settings import FlatSettings

    pair = generate_pair(1, options=SynthOptions(size=256, joint_scale=0.0, flip_prob=0.0, crop_prob=0.0,
                                                 occlusion_prob=0.0, hide_accessory_prob=0.0))
    rgb = Image.fromarray(pair.reference)
    rgb.save(tmp_path / "rgb.jpg", quality=95, subsampling=0)
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    loaded = [np.asarray(im, dtype=np.int16) for im in references_rgb([tmp_path / "rgb.jpg", tmp_path / "cmyk.jpg"])]
    assert loaded[1].shape == loaded[0].shape == (256, 256, 3)
    assert np.abs(loaded[1] - loaded[0]).mean() < 2.0

    engine = FlatEngine(FlatSettings())
    lines = Lines.from_input(pair.lineart_soft)
    results = []
    for name in ("rgb.jpg", "cmyk.jpg"):
        prepared = engine.prepare(references_rgb([tmp_path / name]))
        results.append(np.asarray(engine.colorize(prepared, lines, None).composite, dtype=np.int16)[..., :3])
    xy = np.rint(pair.points.lineart_xy).astype(int)
    right = [(np.abs(r[xy[:, 1], xy[:, 0]] - pair.target[xy[:, 1], xy[:, 0]]).max(axis=1) <= 24).sum() for r in results]
    assert right[0] >= 40 and abs(right[1] - right[0]) <= 2, right
    assert np.abs(results[1] - results[0]).mean() < 3.0
