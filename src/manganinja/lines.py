"""Line art as one value: :class:`Lines`, made once at the edge and passed as is.

The convention: a float32 ``(H, W)`` map in ``[0, 1]`` with **white lines on black** (1 = line,
0 = paper), at the source image's size. :meth:`Lines.from_input` brings line art in any common
form to it (:func:`normalize_lineart`), :meth:`Lines.from_picture` draws it from a color or gray
picture (:func:`extract_lineart`: a weight-free XDoG extractor, or the official "informative
drawings" extractor when its weights, ``models/Annotators/sk_model.pth``, are available).

The CLI, the web UI and the benchmark make a :class:`Lines` once; the engines, the pipeline,
snapping and layers take it as it is (no second normalization, no uint8 round trip). This
module imports neither torch nor diffusers.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np
from PIL import Image

from manganinja.images import ImageInput, load_image, to_rgb

#: A drawing's polarity as given ("auto": detected, :func:`detect_polarity`).
Polarity = Literal["auto", "dark-on-light", "light-on-dark"]
#: A polarity as detected.
DetectedPolarity = Literal["dark-on-light", "light-on-dark"]
#: How line art is extracted from a picture (:func:`extract_lineart`).
Extractor = Literal["auto", "xdog", "informative"]
POLARITIES: tuple[str, ...] = get_args(Polarity)
EXTRACT_METHODS: tuple[str, ...] = get_args(Extractor)

#: The model zeroes condition values at or below this (official preprocessing), so a map with no
#: value above it carries no line for the model.
MODEL_LINE_CUTOFF = 0.24

#: Where the official extractor's weights live inside the official checkpoints folder.
OFFICIAL_EXTRACTOR_PATH = Path("models") / "Annotators" / "sk_model.pth"


class LineartError(ValueError):
    """Bad line-art input or option; the message names the bad value."""


class BlankLineartWarning(UserWarning):
    """The line map has no line pixel (nothing above :data:`MODEL_LINE_CUTOFF`)."""


# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------


def _gray_and_alpha(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance float32 ``(H, W)`` in [0, 1] and alpha ``(H, W)`` in [0, 1] (or None if the
    image has no alpha channel or is fully opaque). Any PIL mode."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        gray = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float32) / 255.0
        if alpha.min() < 1.0:
            return gray, alpha
        return gray, None
    if img.mode in ("1", "L", "RGB"):
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0, None
    # 16-bit, CMYK, YCbCr, LAB, HSV, P without transparency, ... (to 8 bits, as the model reads)
    return np.asarray(to_rgb(img).convert("L"), dtype=np.float32) / 255.0, None


def _polarity_of_gray(gray: np.ndarray) -> DetectedPolarity:
    """Paper is most of a drawing: a light median means dark lines on light paper."""
    return "dark-on-light" if float(np.median(gray)) >= 0.5 else "light-on-dark"


def _composite(gray: np.ndarray, alpha: np.ndarray, polarity: str) -> tuple[np.ndarray, DetectedPolarity]:
    """Put transparent pixels on paper. ``polarity`` "auto" decides the paper from the strokes:
    when most of the image is transparent, the opaque part is the drawing, so dark opaque strokes
    go on white paper and light ones on black. When most is opaque, the opaque part holds the
    paper too, so transparency is composited on white and the usual detection decides."""
    if polarity == "auto":
        if float((alpha < 0.5).mean()) > 0.5:
            weight = alpha.sum()
            stroke = float((gray * alpha).sum() / weight) if weight > 0 else 0.0
            pol: DetectedPolarity = "dark-on-light" if stroke < 0.5 else "light-on-dark"
        else:
            pol = _polarity_of_gray(gray * alpha + (1.0 - alpha))
    else:
        pol = polarity  # type: ignore[assignment]
    paper = 1.0 if pol == "dark-on-light" else 0.0
    return gray * alpha + paper * (1.0 - alpha), pol


def _check_polarity(polarity: str) -> None:
    if polarity not in POLARITIES:
        raise LineartError(f"polarity {polarity!r} is not one of {', '.join(POLARITIES)}")


def detect_polarity(image: ImageInput) -> DetectedPolarity:
    """``"dark-on-light"`` (ink on paper) or ``"light-on-dark"`` (the model's convention).

    Transparent pixels count as paper (see :func:`normalize_lineart`). Raises
    :class:`~manganinja.images.ImageInputError` for an unreadable image.
    """
    gray, alpha = _gray_and_alpha(load_image(image, name="line art"))
    if alpha is not None:
        return _composite(gray, alpha, "auto")[1]
    return _polarity_of_gray(gray)


def _gray_of_input(image: ImageInput, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance and alpha of any line-art input. A float ``(H, W)`` array is taken as gray
    values in [0, 1] as they are (no 8-bit quantization); everything else goes through
    :func:`~manganinja.images.load_image`."""
    if isinstance(image, np.ndarray) and image.ndim == 2 and np.issubdtype(image.dtype, np.floating):
        if image.size == 0:
            raise LineartError(f"{name} (array of shape {tuple(image.shape)}): expected a non-empty HxW array")
        if not np.isfinite(image).all():
            raise LineartError(f"{name} (array of shape {tuple(image.shape)}): contains NaN or infinite values")
        return np.clip(image, 0.0, 1.0).astype(np.float32), None
    return _gray_and_alpha(load_image(image, name=name))


def ink_strength(rgba: np.ndarray) -> tuple[np.ndarray, bool]:
    """How much line each pixel of a production line frame holds, colored lines included.

    ``rgba``: uint8 ``(H, W, 4)``. Dark-on-light (the usual sheet, opaque or on a transparent
    layer): ``alpha * (1 - min(R, G, B))``, so black and colored lines (red, blue, even yellow)
    all count, where a gray reading would make a yellow line faint. An opaque image that is mostly
    dark is read light-on-dark: ``max(R, G, B)``.

    Returns ``(strength, light_on_dark)``: float32 ``(H, W)`` in [0, 1] (1 = line) and which
    reading was used; ``Lines(strength)`` is the value made from it.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise LineartError(f"ink_strength needs a uint8 (H, W, 4) array, got {rgba.dtype} {rgba.shape}")
    r, g, b, a = (np.ascontiguousarray(rgba[..., i]) for i in range(4))
    lo = np.minimum(np.minimum(r, g), b)
    if bool(a.min() == 255) and int(np.count_nonzero(lo < 128)) * 2 > lo.size:
        hi = np.maximum(np.maximum(r, g), b)
        return hi.astype(np.float32) * (1.0 / 255.0), True
    alpha = a.astype(np.float32) * (1.0 / 255.0)
    return alpha * (255 - lo).astype(np.float32) * (1.0 / 255.0), False


def normalize_lineart(image: ImageInput, polarity: str = "auto") -> np.ndarray:
    """Bring a line art to the model's convention (prefer :meth:`Lines.from_input`).

    Args:
        image: path, PIL image or array (uint8 ``(H, W[, C])``, or float ``(H, W)`` gray values in
            [0, 1], used without quantization); any PIL mode (1, L, RGB, RGBA, LA, P, I;16,
            CMYK, ...). EXIF orientation is applied. Transparent pixels are paper.
        polarity: ``"auto"`` (detect), ``"dark-on-light"`` (ink on paper) or
            ``"light-on-dark"`` (already the model's convention).

    Returns:
        float32 ``(H, W)`` in [0, 1], 1 = line. An image that is already light-on-dark
        (mode L, or gray RGB) is returned exactly as ``np.asarray(img.convert("L")) / 255``,
        which is what the official code feeds the model. Dark-on-light input is inverted
        relative to its paper level (the median gray when it is light, else 1), so white paper
        maps to exactly ``1 - gray`` and off-white scanned paper still maps to 0.

    Raises:
        LineartError: ``polarity`` is not one of :data:`POLARITIES`, or a bad float array.
        ImageInputError: unreadable, empty or too large image.

    Warns:
        BlankLineartWarning: no pixel is above :data:`MODEL_LINE_CUTOFF` (nothing for the model).
    """
    _check_polarity(polarity)
    gray, alpha = _gray_of_input(image, "line art")
    if alpha is not None:
        gray, pol = _composite(gray, alpha, polarity)
    else:
        pol = _polarity_of_gray(gray) if polarity == "auto" else polarity  # type: ignore[assignment]
    if pol == "light-on-dark":
        lines = gray
    else:
        median = float(np.median(gray))
        paper = median if median >= 0.5 else 1.0  # forced polarity on a dark image: plain inverse
        lines = np.clip((paper - gray) / paper, 0.0, 1.0)
    lines = np.ascontiguousarray(lines, dtype=np.float32)
    warn_if_blank(lines, "normalized line art")
    return lines


def warn_if_blank(lines: np.ndarray, what: str = "line art") -> bool:
    """Warn with :class:`BlankLineartWarning` when ``lines`` (``(H, W)`` in [0, 1]) has no value
    above :data:`MODEL_LINE_CUTOFF`; returns whether it warned."""
    if lines.size == 0 or float(lines.max()) <= MODEL_LINE_CUTOFF:
        warnings.warn(
            f"{what} is blank: no pixel above {MODEL_LINE_CUTOFF} (the model's cutoff); check the "
            "input or its polarity",
            BlankLineartWarning,
            stacklevel=3,
        )
        return True
    return False


# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XDoGParams:
    """Parameters of :func:`xdog_lines` (tuned on the official hz1 case, see README).

    sigma: inner Gaussian sigma in pixels for an image whose long side is ``reference_size``
    (larger images get a proportionally larger sigma, smaller ones keep it); k: outer/inner sigma ratio;
    tau: weight of the outer Gaussian; eps: threshold on the DoG response below which a pixel is
    line; phi: softness of the tanh ramp (higher = harder); color_weight: weight of the
    color-edge term (Lab chroma DoG magnitude); color_eps: threshold of that term.
    """

    sigma: float = 0.4
    k: float = 2.0
    tau: float = 1.0
    eps: float = -0.005
    phi: float = 60.0
    color_weight: float = 1.0
    color_eps: float = 0.02
    reference_size: int = 512


def _dog(channel: np.ndarray, sigma: float, k: float, tau: float) -> np.ndarray:
    g1 = cv2.GaussianBlur(channel, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    g2 = cv2.GaussianBlur(channel, (0, 0), sigmaX=sigma * k, borderType=cv2.BORDER_REFLECT)
    return g1 - tau * g2


def xdog_lines(rgb: np.ndarray, params: XDoGParams = XDoGParams()) -> np.ndarray:
    """XDoG line map of an RGB float32 ``(H, W, 3)`` image in [0, 1].

    Luminance term: XDoG (Winnemoeller et al. 2012) with a soft tanh ramp; dark thin structures
    (cel outlines) give a negative DoG response and become lines. Color term: the DoG magnitude
    of the Lab chroma channels, which fires on boundaries between flat regions of similar
    luminance but different color. Returns float32 ``(H, W)`` in [0, 1], 1 = line.
    """
    lab = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2Lab)
    sigma = params.sigma * max(1.0, max(rgb.shape[:2]) / params.reference_size)
    lum = lab[..., 0] / 100.0
    d = _dog(lum, sigma, params.k, params.tau)
    # XDoG: 1 (paper) where d >= eps, soft ramp to 0 (ink) below.
    ink = np.where(d >= params.eps, 0.0, -np.tanh(params.phi * (d - params.eps)))
    if params.color_weight > 0:
        chroma = lab[..., 1:] / 128.0
        cd = np.sqrt(sum(_dog(chroma[..., i], sigma, params.k, 1.0) ** 2 for i in range(2)))
        color = np.tanh(params.phi * np.maximum(cd - params.color_eps, 0.0))
        ink = np.maximum(ink, params.color_weight * color)
    return np.clip(ink, 0.0, 1.0).astype(np.float32)


def find_official_extractor(checkpoints_dir: str | os.PathLike | None) -> Path | None:
    """Path of the official extractor weights under an official checkpoints folder, or None."""
    if checkpoints_dir is None:
        return None
    path = Path(checkpoints_dir) / OFFICIAL_EXTRACTOR_PATH
    return path if path.is_file() else None


def extract_lineart(
    image: ImageInput,
    method: str = "auto",
    weights: str | os.PathLike | None = None,
) -> np.ndarray:
    """Draw a line art from a color or gray picture (e.g. an anime frame).

    Args:
        image: path, PIL image or array; transparency is composited on white.
        method: ``"xdog"`` (weight-free), ``"informative"`` (the official extractor; needs
            ``weights``) or ``"auto"`` (informative when ``weights`` is given, else xdog).
        weights: path of ``sk_model.pth`` (see :func:`find_official_extractor`).

    Returns:
        float32 ``(H, W)`` in [0, 1], white lines on black.

    Raises:
        LineartError: unknown ``method``, or ``"informative"`` without ``weights``.
        ImageInputError: unreadable, empty or too large image.

    Warns:
        BlankLineartWarning: nothing was extracted.
    """
    if method not in EXTRACT_METHODS:
        raise LineartError(f"method {method!r} is not one of {', '.join(EXTRACT_METHODS)}")
    if method == "informative" and weights is None:
        raise LineartError(
            "method 'informative' needs the official extractor weights (sk_model.pth, under "
            f"checkpoints/{OFFICIAL_EXTRACTOR_PATH.as_posix()}); pass weights=..."
        )
    rgb = np.asarray(to_rgb(load_image(image, name="image")), dtype=np.float32) / 255.0
    if method == "xdog" or (method == "auto" and weights is None):
        lines = xdog_lines(rgb)
    else:
        from manganinja.models.informative_drawings import run_informative_drawings

        lines = run_informative_drawings(rgb, weights)  # type: ignore[arg-type]  # ExtractorWeightsError is a ValueError
    warn_if_blank(lines, "extracted line art")
    return lines


# --------------------------------------------------------------------------------------------
# The value
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Lines:
    """A line art in the model's convention, at its source size.

    Attributes:
        array: float32 ``(H, W)`` in [0, 1], white lines on black (1 = line, 0 = paper); read
            only (the array's ``writeable`` flag is off).

    Make one with :meth:`from_input` (a drawing) or :meth:`from_picture` (a color picture), once,
    where the input enters the program; pass it on as it is. A production line frame with colored
    lines is ``Lines(ink_strength(rgba)[0])`` (what the shot reader makes).
    """

    array: np.ndarray

    def __post_init__(self) -> None:
        arr = self.array
        if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype != np.float32 or arr.size == 0:
            got = (getattr(arr, "dtype", type(arr).__name__), getattr(arr, "shape", None))
            raise LineartError(f"Lines needs a non-empty float32 (H, W) array, got {got}; use Lines.from_input")
        if float(arr.min()) < 0.0 or float(arr.max()) > 1.0:
            raise LineartError("Lines values must be in [0, 1]; use Lines.from_input to normalize")
        if arr.flags.writeable:
            arr = arr.copy()
            arr.flags.writeable = False
            object.__setattr__(self, "array", arr)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.array.shape[1]), int(self.array.shape[0])

    @classmethod
    def from_input(cls, value: "ImageInput | Lines", polarity: str = "auto") -> "Lines":
        """A drawing in any form (path, PIL image, uint8 or float array; any polarity, see
        :func:`normalize_lineart`). A :class:`Lines` is returned unchanged (already normalized)."""
        if isinstance(value, Lines):
            return value
        return cls(normalize_lineart(value, polarity))

    @classmethod
    def from_picture(
        cls, value: ImageInput, extractor: str = "auto", weights: str | os.PathLike | None = None
    ) -> "Lines":
        """The line art drawn from a color or gray picture at its size (see
        :func:`extract_lineart` for ``extractor`` and ``weights``)."""
        return cls(np.ascontiguousarray(extract_lineart(value, extractor, weights), dtype=np.float32))

    def resized(self, size: tuple[int, int]) -> np.ndarray:
        """float32 ``(h, w)`` in [0, 1] at ``size`` = (width, height): :func:`resize_line_map`."""
        return resize_line_map(self.array, size)

    def to_image(self) -> Image.Image:
        """8-bit gray PIL image (white lines on black), for saving or display only."""
        return Image.fromarray(np.rint(self.array * 255.0).astype(np.uint8), mode="L")


# --------------------------------------------------------------------------------------------
# What the model sees (sampling and training alike)
# --------------------------------------------------------------------------------------------


def resize_line_map(lines: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A line map (float ``(H, W)`` in [0, 1]) at ``size`` = (width, height): bicubic (PIL, on
    the float map), clipped to [0, 1]; float32 ``(h, w)`` (the map itself when the size is
    unchanged).

    The one resize of line art on its way to the model: sampling (:meth:`Lines.resized`) and
    training (:mod:`manganinja.data.dataset`) both call it, so the model is trained on the maps it
    is given. Bicubic because the official inference resizes the line art that way and the parity
    tests reproduce its output.
    """
    arr = np.asarray(lines, dtype=np.float32)
    if (arr.shape[1], arr.shape[0]) == tuple(size):
        return arr
    resized = Image.fromarray(arr, mode="F").resize(tuple(size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def model_condition(lines: np.ndarray) -> np.ndarray:
    """The ControlNet condition of a line map (float ``(H, W)`` in [0, 1], white lines on
    black): values <= :data:`MODEL_LINE_CUTOFF` set to 0, repeated to 3 channels and mapped to
    [-1, 1]; float32 ``(3, H, W)``. The same function serves sampling and training."""
    arr = np.asarray(lines, dtype=np.float32)
    arr = np.where(arr <= MODEL_LINE_CUTOFF, np.float32(0.0), arr).astype(np.float32)
    return np.repeat(arr[None], 3, axis=0) * np.float32(2.0) - np.float32(1.0)
