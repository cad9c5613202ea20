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
