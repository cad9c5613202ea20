"""Image input/output shared by every part of the package.

One place decides how a file becomes a PIL image (EXIF orientation, size limits, clear errors)
and how results are written (atomically: a crash never leaves a half-written file behind).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]

log = logging.getLogger("manganinja.images")

#: Marker in the names of this package's temporary files: ``.NAME.manganinja-tmp-<pid>-<random>``
#: beside the file ``NAME`` being written. The writer's process id lets a later run tell a stale
#: file (its writer is gone) from one another process is writing right now.
TEMP_MARKER = ".manganinja-tmp-"
_TEMP_NAME = re.compile(r"^\..+" + re.escape(TEMP_MARKER) + r"(\d+)-[^/\\]*$")

#: Largest image (in pixels) accepted by default: an A3 page at 600 dpi is about 70 MP.
MAX_IMAGE_PIXELS = 80_000_000

#: File extensions of the images the package reads as pages and frames and writes as results.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class ImageInputError(ValueError):
    """An input image could not be used; the message names the image and the reason."""


class WriteError(OSError):
    """A file could not be written (read-only folder, disk full, a file where a folder should
    be...); the message is one line naming the file and the reason, never a temporary name."""

    def __init__(self, path: str | os.PathLike, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc), os.fspath(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write '{self.path}': {self.strerror}"


def load_image(
    image: ImageInput,
    *,
    name: str = "image",
    max_pixels: int | None = MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Open ``image`` (a path, a PIL image or an ``HxW[xC]`` uint8 array) as a PIL image.

    EXIF orientation is applied, the mode is left as stored (callers convert), and the image is
    fully decoded so that a truncated file fails here rather than later.

    Raises:
        ImageInputError: the file is missing, unreadable, not an image, empty (0 pixels) or larger
            than ``max_pixels``. The message names ``name`` and the path.
    """
    if isinstance(image, Image.Image):
        img = image
        where = f"{name} (PIL image)"
    elif isinstance(image, np.ndarray):
        where = f"{name} (array of shape {tuple(image.shape)})"
        if image.ndim not in (2, 3) or image.size == 0:
            raise ImageInputError(f"{where}: expected a non-empty HxW or HxWxC array")
        arr = image
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating):
                arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            else:
                raise ImageInputError(f"{where}: dtype {arr.dtype} is not uint8 or float")
        img = Image.fromarray(arr)
    else:
        path = Path(image)
        where = f"{name} '{path}'"
        if not path.exists():
            raise ImageInputError(f"{where}: file not found")
        if path.is_dir():
            raise ImageInputError(f"{where}: is a directory, expected an image file")
        if path.stat().st_size == 0:
            raise ImageInputError(f"{where}: file is empty (0 bytes)")
        try:
            with Image.open(path) as opened:
                _check_size(opened.size, where, max_pixels)
                opened.load()
                img = opened.copy()
                exif = opened.getexif()
        except ImageInputError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageInputError(f"{where}: cannot be read as an image ({exc})") from exc
        except Image.DecompressionBombError as exc:  # PIL's own limit, met when opening
            raise ImageInputError(bomb_message(where, exc)) from None
        if exif and exif.get(0x0112, 1) != 1:
            img = ImageOps.exif_transpose(img)
    _check_size(img.size, where, max_pixels)
    return img


def bomb_message(where: str, exc: Exception) -> str:
    """One line for PIL's ``DecompressionBombError`` (raised when a file is opened, before our own
    limit is checked): the image's size and the limit, in pixels."""
    numbers = re.findall(r"\((\d+) pixels\)|limit of (\d+) pixels", str(exc))
    size = next((a for a, _ in numbers if a), None)
    limit = next((b for _, b in numbers if b), None)
    if size is None or limit is None:
        return f"{where}: too large to open ({exc}); downscale it first"
    return f"{where}: {size} pixels is over the limit of {limit} pixels; downscale it first"


def check_whole(path: str | os.PathLike, name: str = "image") -> None:
    """Check that the file at ``path`` is a whole image (not truncated or damaged) at a fraction of
    the cost of decoding it: a PNG's chunks are read to the end marker with their CRCs checked
    (PIL's ``verify``, no decompression); a JPEG is decoded at 1/8 scale (every byte of its data
    is still read); other formats are decoded fully.

    Raises:
        ImageInputError: naming ``name``, the path and PIL's reason.
    """
    path = Path(path)
    where = f"{name} '{path}'"
    try:
        with Image.open(path) as img:
            if img.format == "PNG":
                img.verify()
            else:
                if img.format == "JPEG":
                    img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(f"{where}: cannot be read as an image ({exc or type(exc).__name__})") from None
    except Image.DecompressionBombError as exc:
        raise ImageInputError(bomb_message(where, exc)) from None


def _check_size(size: tuple[int, int], where: str, max_pixels: int | None) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageInputError(f"{where}: image has zero size ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageInputError(
            f"{where}: {width}x{height} = {width * height} pixels is over the limit of "
            f"{max_pixels} pixels; downscale it first or raise the limit"
        )


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels are composited on ``background``; a CMYK
    picture with an embedded ICC profile is converted through it (:func:`cmyk_to_srgb`)."""
    if image.mode == "RGB":
        return image
    if image.mode == "CMYK":
        return cmyk_to_srgb(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        top = arr.max(initial=0)
        peak = 65535.0 if top > 255 else 1.0 if image.mode == "F" and top <= 1.0 else 255.0
        gray = (np.clip(arr / peak, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    return image.convert("RGB")


def cmyk_to_srgb(image: Image.Image) -> Image.Image:
    """A CMYK picture as sRGB. With an embedded ICC profile (``image.info["icc_profile"]``: what
    the inks mean, as written by Photoshop or ``convert -profile``) the colors are converted
    through it (LittleCMS, the profile's default rendering intent); without one, or when the
    profile cannot be used (a warning is logged), PIL's plain inversion (``255 - C`` scaled by
    ``K``), which is right for a picture made with that same inversion (``convert("CMYK")``,
    ``convert -colorspace CMYK``) and wrong by tens of levels for a profiled one."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"),
                renderingIntent=ImageCms.getDefaultIntent(source), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            log.warning("the CMYK picture's embedded ICC profile cannot be used (%s); converting without it", exc)
    return image.convert("RGB")


def _publish(tmp: str, path: Path) -> None:
    """Give the temporary file ordinary permissions (mkstemp makes it 0600) and move it in."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def save_image(image: Image.Image | np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file in the same folder, then rename).

    The format follows the suffix. Parent folders are created. Returns the final path.
    """
    path = Path(path)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if not path.suffix:
        raise ValueError(f"output path '{path}' has no file extension (e.g. .png)")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"output path '{path}': unknown image extension '{path.suffix}'")
    return _write_atomic(path, lambda handle: image.save(handle, format=fmt))


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (same-folder temporary file, then rename)."""
    return _write_atomic(Path(path), lambda handle: handle.write(data))


def write_json_atomic(
    data: object,
    path: str | os.PathLike,
    *,
    sort_keys: bool = False,
    default: Callable[[object], object] | None = None,
) -> Path:
    """Write ``data`` as UTF-8 JSON (indent 1, final newline) to ``path`` atomically, like
    :func:`write_bytes_atomic`. ``sort_keys`` and ``default`` are :func:`json.dumps`'s."""
    text = json.dumps(data, indent=1, sort_keys=sort_keys, default=default) + "\n"
    return write_bytes_atomic(text.encode("utf-8"), path)


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Create parent folders, ``write`` into a temporary file beside ``path``, then rename it
    over ``path``; on any failure the temporary file is removed and ``path`` is untouched.

    Raises:
        WriteError: the folder or the file cannot be written (naming ``path``, not the temporary).
    """
    try:
        make_folder(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARKER}{os.getpid()}-", dir=path.parent)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        _publish(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(path, exc) from exc
        raise
    return path


def make_folder(folder: str | os.PathLike) -> Path:
    """``mkdir -p folder``; :class:`WriteError` naming the folder when it cannot be made."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(folder, exc) from exc
    return folder


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete this package's temporary files in ``folder`` (not recursive) whose writing process
    is no longer running: what a process killed in the middle of an atomic write leaves behind.
    Temporary files of running processes (another worker writing now) are kept. Returns the
    removed paths; a missing folder gives ``[]``."""
    import psutil

    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or not entry.is_file() or psutil.pid_exists(int(match.group(1))):
            continue
        try:
            entry.unlink()
        except FileNotFoundError:  # another run removed it first
            continue
        removed.append(entry)
    return removed


def fit_long_side(size: tuple[int, int], long_side: int, multiple: int = 64) -> tuple[int, int]:
    """Processing size for an image of ``size`` = (width, height).

    The long side becomes ``long_side``, the aspect ratio is kept, and each side is rounded to
    the nearest multiple of ``multiple`` (at least ``multiple``).
    """
    if long_side < multiple:
        raise ValueError(f"resolution {long_side} is below the minimum of {multiple}")
    width, height = size
    scale = long_side / max(width, height)

    def snap(v: float) -> int:
        return max(multiple, int(round(v / multiple)) * multiple)

    return snap(width * scale), snap(height * scale)


def resize_round_trip(picture: Image.Image, resolution: int) -> Image.Image:
    """``picture`` (RGB) resized (bicubic) to the processing size of ``resolution``
    (:func:`fit_long_side`) and back to its own size: what a model working at ``resolution``
    loses to the resizing alone, before any autoencoder (the floor of a perfect one)."""
    small = picture.resize(fit_long_side(picture.size, resolution), Image.Resampling.BICUBIC)
    return small.resize(picture.size, Image.Resampling.BICUBIC)
