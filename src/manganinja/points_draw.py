"""Draw point pairs on the reference and the line art, side by side, to check a point file.

Pair ``i`` (1-based, the value it gets in the point maps) is a ring of one color on both images
with its number written next to it.
"""

from __future__ import annotations

import colorsys

from PIL import Image, ImageDraw, ImageFont

from manganinja.images import ImageInput, load_image, to_rgb
from manganinja.points import PointPairs, rescale_centres

#: Panels are scaled to a common height of at most this many pixels.
MAX_PANEL_HEIGHT = 1024
#: Gap between the two panels, in pixels.
PANEL_GAP = 8


def pair_color(i: int) -> tuple[int, int, int]:
    """A saturated RGB color for pair index ``i`` (0-based); neighbours differ strongly
    (hues step by the golden ratio)."""
    hue = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_points(
    reference: ImageInput,
    lineart: ImageInput,
    pairs: PointPairs,
    reference_index: int = 0,
) -> Image.Image:
    """Render the pairs of ``reference_index`` on ``reference`` (left) and ``lineart`` (right).

    Args:
        reference: the reference image that pairs with ``reference_index`` point into.
        lineart: the line art, shown as given (any polarity).
        pairs: all pairs of a point file; numbering follows their position in it.
        reference_index: which reference ``reference`` is; pairs of other references are skipped.

    Returns:
        RGB image: both panels scaled to one height (at most :data:`MAX_PANEL_HEIGHT`), a gap of
        :data:`PANEL_GAP` pixels between them, markers and numbers drawn.

    Raises:
        PointsError: a drawn pair is outside its image or repeats a line-art point.
        ImageInputError: an image cannot be read.
    """
    ref_img = to_rgb(load_image(reference, name="reference"))
    line_img = to_rgb(load_image(lineart, name="line art"))
    PointPairs(p for p in pairs if p.reference_index == reference_index).validate(
        [ref_img.size] * (reference_index + 1), line_img.size, max_pairs=None
    )

    height = _panel_height(ref_img.size, line_img.size)
    left = ref_img.resize((_scaled_width(ref_img.size, height), height), Image.Resampling.LANCZOS)
    right = line_img.resize((_scaled_width(line_img.size, height), height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (left.width + PANEL_GAP + right.width, height), (128, 128, 128))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + PANEL_GAP, 0))

    radius = max(4, round(height / 90))
    font = ImageFont.load_default(size=max(10, radius * 3))
    draw = ImageDraw.Draw(canvas)
    for number, *centres in marker_centres(pairs, ref_img.size, line_img.size, reference_index):
        for centre in centres:
            draw_marker(draw, centre, number, radius, font)
    return canvas


def draw_marker(
    draw: ImageDraw.ImageDraw,
    centre: tuple[float, float],
    number: int,
    radius: int,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> None:
    """Draw pair ``number``'s marker (1-based): a ring of :func:`pair_color` with a black edge,
    centred on ``centre`` = (x, y) canvas pixels, and the number beside it."""
    cx, cy = centre
    color = pair_color(number - 1)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    draw.ellipse(box, outline=(0, 0, 0), width=max(1, radius // 2) + 2)
    draw.ellipse(box, outline=color, width=max(1, radius // 2))
    draw.text(
        (cx + radius + 2, cy - radius - 2),
        str(number),
        fill=color,
        font=font,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )


def _panel_height(reference_size: tuple[int, int], lineart_size: tuple[int, int]) -> int:
    return min(max(reference_size[1], lineart_size[1]), MAX_PANEL_HEIGHT)


def _scaled_width(size: tuple[int, int], height: int) -> int:
    return max(1, round(size[0] * height / size[1]))


def marker_centres(
    pairs: PointPairs,
    reference_size: tuple[int, int],
    lineart_size: tuple[int, int],
    reference_index: int = 0,
) -> list[tuple[int, tuple[float, float], tuple[float, float]]]:
    """Where :func:`draw_points` puts the markers: ``(number, ref_xy, line_xy)`` per drawn pair,
    in canvas pixels, for images of ``reference_size`` and ``lineart_size`` = (width, height).
    Pixel centres map to pixel centres."""
    height = _panel_height(reference_size, lineart_size)
    ls, rs = height / reference_size[1], height / lineart_size[1]
    x0 = _scaled_width(reference_size, height) + PANEL_GAP
    out = []
    for i, p in enumerate(pairs):
        if p.reference_index != reference_index:
            continue
        ref = rescale_centres(p.reference, ls)
        line = rescale_centres(p.lineart, rs, (x0, 0))
        out.append((i + 1, (float(ref[0]), float(ref[1])), (float(line[0]), float(line[1]))))
    return out
