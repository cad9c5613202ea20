"""Input conversion shared by the flat modules: RGB pictures as arrays, and the array of a
:class:`~manganinja.lines.Lines` (the flat code takes line art only as a ``Lines``)."""

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


def load_lines(lineart: Lines | np.ndarray, name: str = "line art") -> np.ndarray:
    """The float32 ``(H, W)`` line map (1 = line) of a :class:`~manganinja.lines.Lines`, made once
    where the line art entered the program. A bare float32 array is taken as a ``Lines``' array
    and checked like one (finite, in [0, 1]); it is not normalized again. Anything else (a path,
    a picture, a uint8 drawing) is refused: make a ``Lines`` with :meth:`Lines.from_input` first.
    """
    if isinstance(lineart, Lines):
        return lineart.array
    if isinstance(lineart, np.ndarray) and lineart.ndim == 2 and np.issubdtype(lineart.dtype, np.floating):
        if not np.isfinite(lineart).all():
            raise FlatInputError(f"{name}: contains NaN or infinite values")
        try:
            return Lines(lineart.astype(np.float32, copy=False)).array
        except ValueError as exc:
            raise FlatInputError(f"{name}: {exc}") from None
    raise FlatInputError(
        f"{name}: expected a manganinja.lines.Lines (or its float32 (H, W) array), got "
        f"{type(lineart).__name__}; make one with Lines.from_input(...) where the line art is read"
    )
