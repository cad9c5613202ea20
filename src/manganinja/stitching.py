"""Several references on one canvas: where each goes, and where its points go.

Used by the model's ``stitch`` reference mode and by the weight-free engine (which always
stitches several references); imports neither torch nor diffusers.
"""

from __future__ import annotations

from typing import Sequence

import PIL.Image

from manganinja.points import PointPairs, rescale_centres

#: Per reference, ``(x0, y0, scale)``: a point ``(x, y)`` of the reference lands at
#: ``(x0 + x * scale, y0 + y * scale)`` on the canvas.
Placement = tuple[int, int, float]


def stitch_references(refs: Sequence[PIL.Image.Image]) -> tuple[PIL.Image.Image, list[Placement]]:
    """Place ``refs`` side by side on one white canvas, each scaled to the tallest height.

    Returns the canvas and, per reference, its :data:`Placement`.
    """
    height = max(r.size[1] for r in refs)
    placements: list[Placement] = []
    scaled = []
    x = 0
    for r in refs:
        scale = height / r.size[1]
        width = max(1, int(round(r.size[0] * scale)))
        scaled.append(r.resize((width, height), PIL.Image.Resampling.BICUBIC) if scale != 1 else r)
        placements.append((x, 0, scale))
        x += width
    canvas = PIL.Image.new("RGB", (x, height), (255, 255, 255))
    for img, (x0, y0, _) in zip(scaled, placements):
        canvas.paste(img, (x0, y0))
    return canvas, placements


def canvas_size(input_sizes: Sequence[tuple[int, int]], placements: Sequence[Placement]) -> tuple[int, int]:
    """(width, height) of the canvas that holds references of ``input_sizes`` at ``placements``."""
    width = 0
    height = 0
    for (w, h), (x0, y0, s) in zip(input_sizes, placements):
        width = max(width, x0 + int(round(w * s)))
        height = max(height, y0 + int(round(h * s)))
    return width, height


def stitched_points(pairs: PointPairs, placements: Sequence[Placement]) -> PointPairs:
    """Move each pair's reference point onto the stitched canvas of :func:`stitch_references`
    (pixel centres scaled by the reference's ``scale``, shifted by its ``(x0, y0)``); all pairs
    then point into that one canvas (``reference_index`` 0)."""
    xy = pairs.reference_xy.copy()
    for i, k in enumerate(pairs.reference_indices):
        x0, y0, s = placements[k]
        xy[i] = rescale_centres(xy[i], s, (x0, y0))
    return PointPairs.from_arrays(xy, pairs.lineart_xy)
