"""Layered output: a color layer (fills only), a line layer (black on transparency) and their
composite, which recompose exactly.

Conventions: the line art is float ``(H, W)`` in ``[0, 1]`` (1 = line). Its alpha is quantized
once, ``alpha = round(255 * lineart)``, and the composite is computed from that quantized alpha,
``composite = round(color * (255 - alpha) / 255)`` (black lines), so alpha-compositing the saved
line layer over the saved color layer gives the saved composite to within one level.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manganinja.images import save_image


class LayersError(ValueError):
    """Layers that do not fit together; the message names the bad value."""


@dataclass(frozen=True)
class Layers:
    """Attributes: ``composite`` uint8 ``(H, W, 3)``, ``color`` uint8 ``(H, W, 3)`` (fills only,
    no lines), ``lines`` uint8 ``(H, W, 4)`` (black, alpha = line strength)."""

    composite: np.ndarray
    color: np.ndarray
    lines: np.ndarray


def line_alpha(lineart: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` alpha of the line layer: ``round(255 * clip(lineart, 0, 1))``."""
    arr = np.asarray(lineart)
    if arr.ndim != 2:
        raise LayersError(f"line art: expected an (H, W) array, got shape {arr.shape}")
    return np.rint(np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def line_layer(lineart: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W, 4)``: black RGB, alpha = :func:`line_alpha`."""
    alpha = line_alpha(lineart)
    out = np.zeros((*alpha.shape, 4), np.uint8)
    out[..., 3] = alpha
    return out


def compose(color: np.ndarray, lineart: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W, 3)``: black lines (alpha = :func:`line_alpha`) over ``color`` (uint8
    ``(H, W, 3)``)."""
    _check_color(color, np.asarray(lineart).shape, "color layer")
    alpha = line_alpha(lineart).astype(np.uint16)[..., None]
    out = (color.astype(np.uint16) * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def split_layers(color: np.ndarray, lineart: np.ndarray) -> Layers:
    """Build the three layers from a color layer (uint8 ``(H, W, 3)``, fills only) and the line
    art (float ``(H, W)`` in [0, 1]) at the same size."""
    composite = compose(color, lineart)
    return Layers(composite=composite, color=np.ascontiguousarray(color), lines=line_layer(lineart))


def layer_paths(out_path: str | os.PathLike) -> dict[str, Path]:
    """The files :func:`write_layers` writes for ``out_path`` (``NAME.png``): ``composite``
    (``NAME.png``), ``color`` (``NAME_color.png``) and ``lines`` (``NAME_lines.png``)."""
    path = Path(out_path)
    if path.suffix.lower() != ".png":
        raise LayersError(f"layered output '{path}' must be a .png path (layers need alpha)")
    return {
        "composite": path,
        "color": path.with_name(f"{path.stem}_color.png"),
        "lines": path.with_name(f"{path.stem}_lines.png"),
    }


def write_layers(
    out_path: str | os.PathLike,
    composite: np.ndarray | None,
    color_layer: np.ndarray,
    lineart: np.ndarray,
) -> dict[str, Path]:
    """Write ``NAME.png`` (composite), ``NAME_color.png`` and ``NAME_lines.png``, each atomically.

    Args:
        out_path: the composite's path; must end in ``.png``.
        composite: uint8 ``(H, W, 3)``, or None to compute it with :func:`compose`. A given
            composite must equal ``compose(color_layer, lineart)`` within one level, otherwise the
            layers would not recompose to it.
        color_layer: uint8 ``(H, W, 3)``, fills only.
        lineart: float ``(H, W)`` in [0, 1], 1 = line.

    Returns:
        The written paths, keyed ``composite``, ``color``, ``lines``.

    Raises:
        LayersError: bad path, shapes that differ, or a composite that the layers do not give.
            Nothing is written in that case.
    """
    paths = layer_paths(out_path)
    layers = split_layers(color_layer, lineart)
    if composite is not None:
        _check_color(composite, layers.color.shape[:2], "composite")
        diff = int(np.abs(composite.astype(np.int16) - layers.composite.astype(np.int16)).max())
        if diff > 1:
            raise LayersError(
                f"composite differs from lines-over-color by up to {diff} levels; pass "
                "composite=None to write the recomposed one"
            )
        layers = Layers(composite=composite, color=layers.color, lines=layers.lines)
    save_image(layers.color, paths["color"])
    save_image(layers.lines, paths["lines"])
    save_image(layers.composite, paths["composite"])
    return paths


def _check_color(arr: np.ndarray, shape: tuple[int, ...], what: str) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        got = getattr(arr, "shape", type(arr).__name__), getattr(arr, "dtype", "")
        raise LayersError(f"{what}: expected a uint8 (H, W, 3) array, got {got}")
    if arr.shape[:2] != tuple(shape):
        raise LayersError(f"{what}: size {arr.shape[:2]} differs from the line art's {tuple(shape)}")
