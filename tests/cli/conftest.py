"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from manganinja.pipeline import build_pipeline


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random model saved in the diffusers layout (``save_pretrained``)."""
    path = tmp_path_factory.mktemp("model") / "tiny"
    build_pipeline("tiny", seed=0).save_pretrained(path)
    return path


@pytest.fixture
def chapter(tmp_path) -> tuple[Path, Path]:
    """A random 64x64 reference and a folder of three 64x64 line-art pages ``p0..p2.png``."""
    rng = np.random.default_rng(0)
    ref = tmp_path / "ref.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(ref)
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(3):
        line = np.zeros((64, 64), np.uint8)
        line[:: 6 + i, :] = 255
        Image.fromarray(line).save(pages / f"p{i}.png")
    return ref, pages


@pytest.fixture
def damage_pixels() -> Callable[[Path], None]:
    """:func:`corrupt_pixels`, for the tests that need a page failing while the others run."""
    return corrupt_pixels


def corrupt_pixels(path: Path) -> None:
    """Corrupt the compressed pixel data of the PNG at ``path`` but keep every chunk's CRC right:
    the file passes the request's check (:func:`manganinja.images.check_whole` walks the chunks)
    and fails only when its page decodes it (a page that fails while the others are written)."""
    data = bytearray(path.read_bytes())
    pos = 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        if bytes(data[pos + 4:pos + 8]) == b"IDAT":
            start = pos + 8
            for i in range(start + 2 + length // 4, start + length // 2):
                data[i] ^= 0xFF
            data[start + length:start + length + 4] = zlib.crc32(bytes(data[pos + 4:start + length])).to_bytes(4, "big")
            break
        pos += 12 + length
    path.write_bytes(bytes(data))
