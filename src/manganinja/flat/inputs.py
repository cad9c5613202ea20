"""Input conversion shared by the flat modules: RGB pictures and line arts as arrays."""

from __future__ import annotations

import numpy as np

from manganinja.images import ImageInput, load_image, to_rgb
from manganinja.lines import Lines


class FlatInputError(ValueError):
    """An input the flat modules cannot use; the message names the bad value."""


def load_rgb(image: ImageInput, name: str) -> np.ndarray:
    """uint8 ``(H, W, 3)`` RGB of a path, PIL image or array (alpha composited on white)."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    return np.asarray(to_rgb(load_image(image, name=name)), dtype=np.uint8)


def load_lines(lineart: ImageInput | Lines, name: str = "line art") -> np.ndarray:
    """float32 ``(H, W)`` line art in [0, 1] (1 = line): a :class:`~manganinja.lines.Lines`
    gives its array as it is, float arrays pass through (clipped), anything else goes through
    :meth:`Lines.from_input`."""
    if isinstance(lineart, Lines):
        return lineart.array
    if isinstance(lineart, np.ndarray) and lineart.ndim == 2 and np.issubdtype(lineart.dtype, np.floating):
        if not np.isfinite(lineart).all():
            raise FlatInputError(f"{name}: contains NaN or infinite values")
        return np.clip(lineart, 0.0, 1.0).astype(np.float32, copy=False)
    return Lines.from_input(lineart).array
