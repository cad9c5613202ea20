"""Point pairs: a spot on a reference image and the matching spot on the line art.

Coordinates are ``(x, y)`` pixel indices in the images as the user gave them (column, row; the
centre of the top-left pixel is ``(0, 0)``). The model sees the pairs as two point maps drawn at
its processing resolution: 0 everywhere, value ``i`` (1-based) at the pixel of pair ``i``.

JSON format (also written by the web UI and the synthetic data generator)::

    {"pairs": [{"reference": [x, y], "lineart": [x, y], "reference_index": 0}, ...]}

``reference_index`` is optional (default 0) and picks one of several references.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, overload

import numpy as np

#: The released model saw at most 24 point pairs per sample in training.
MAX_POINT_PAIRS = 24


class PointsError(ValueError):
    """Invalid point pairs or point file; the message names the bad pair or value."""


@dataclass(frozen=True)
class PointPair:
    """One correspondence. ``reference`` and ``lineart`` are ``(x, y)`` in input-image pixels."""

    reference: tuple[float, float]
    lineart: tuple[float, float]
    reference_index: int = 0


def _xy(value: Any, what: str) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise PointsError(f"{what}: expected [x, y] with two numbers, got {value!r}")
    x, y = float(value[0]), float(value[1])
    if not (np.isfinite(x) and np.isfinite(y)):
        raise PointsError(f"{what}: coordinates must be finite, got {value!r}")
    return (x, y)


class PointPairs(Sequence[PointPair]):
    """An ordered, immutable list of :class:`PointPair`; pair ``i`` gets value ``i + 1`` in maps."""

    def __init__(self, pairs: Iterable[PointPair] = ()) -> None:
        self._pairs: tuple[PointPair, ...] = tuple(pairs)
        for i, pair in enumerate(self._pairs):
            if not isinstance(pair, PointPair):
                raise PointsError(f"pair {i + 1}: expected a PointPair, got {type(pair).__name__}")

    # -- sequence protocol -------------------------------------------------------------------
    @overload
    def __getitem__(self, index: int) -> PointPair: ...

    @overload
    def __getitem__(self, index: slice) -> "PointPairs": ...

    def __getitem__(self, index: int | slice) -> "PointPair | PointPairs":
        if isinstance(index, slice):
            return PointPairs(self._pairs[index])
        return self._pairs[index]

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[PointPair]:
        return iter(self._pairs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PointPairs) and self._pairs == other._pairs

    def __repr__(self) -> str:
        return f"PointPairs({list(self._pairs)!r})"

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        reference_xy: np.ndarray | Sequence[Sequence[float]],
        lineart_xy: np.ndarray | Sequence[Sequence[float]],
        reference_index: Sequence[int] | None = None,
    ) -> "PointPairs":
        """Build from two ``(N, 2)`` arrays of ``(x, y)``."""
        ref = np.asarray(reference_xy, dtype=np.float64).reshape(-1, 2)
        line = np.asarray(lineart_xy, dtype=np.float64).reshape(-1, 2)
        if len(ref) != len(line):
            raise PointsError(f"{len(ref)} reference points but {len(line)} line-art points")
        idx = [0] * len(ref) if reference_index is None else [int(i) for i in reference_index]
        if len(idx) != len(ref):
            raise PointsError(f"{len(idx)} reference indices for {len(ref)} pairs")
        return cls(
            PointPair((float(r[0]), float(r[1])), (float(l[0]), float(l[1])), i)
            for r, l, i in zip(ref, line, idx)
        )

    @classmethod
    def from_dict(cls, data: Any, source: str = "points") -> "PointPairs":
        """Parse the JSON structure ``{"pairs": [...]}``; errors name ``source`` and the pair."""
        if not isinstance(data, dict) or "pairs" not in data:
            raise PointsError(f"{source}: expected an object with a 'pairs' list")
        raw = data["pairs"]
        if not isinstance(raw, list):
            raise PointsError(f"{source}: 'pairs' must be a list, got {type(raw).__name__}")
        pairs = []
        for i, item in enumerate(raw):
            what = f"{source}: pair {i + 1}"
            if not isinstance(item, dict) or "reference" not in item or "lineart" not in item:
                raise PointsError(f"{what}: expected an object with 'reference' and 'lineart'")
            index = item.get("reference_index", 0)
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise PointsError(f"{what}: reference_index must be an integer >= 0, got {index!r}")
            pairs.append(
                PointPair(
                    _xy(item["reference"], f"{what} 'reference'"),
                    _xy(item["lineart"], f"{what} 'lineart'"),
                    index,
                )
            )
        return cls(pairs)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "PointPairs":
        """Read a point file in the JSON format of this module."""
        path = Path(path)
        if path.suffix.lower() == ".npy":
            raise PointsError(
                f"points file '{path}': a NumPy file, not point-pairs JSON (the official code's point maps "
                "come as two .npy files, one per picture); convert them with `manganinja points convert "
                "REFERENCE_MAP.npy LINEART_MAP.npy -o points.json` and give points.json"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PointsError(f"points file '{path}': not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PointsError(f"points file '{path}': cannot be read ({exc})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PointsError(
                f"points file '{path}': malformed JSON at line {exc.lineno} column {exc.colno}: "
                f"{exc.msg}"
            ) from exc
        return cls.from_dict(data, source=f"points file '{path}'")

    @classmethod
    def from_official_maps(
        cls,
        reference_map: str | os.PathLike | np.ndarray,
        lineart_map: str | os.PathLike | np.ndarray,
        reference_size: tuple[int, int] | None = None,
        lineart_size: tuple[int, int] | None = None,
    ) -> "PointPairs":
        """Read the official ``.npy`` point maps (pair ``i`` marked with value ``i`` on both).

        Coordinates are in the maps' own pixels (the official maps are 512x512), or, with
        ``reference_size`` / ``lineart_size`` = (width, height) of the pictures the maps were
        clicked on, scaled to those pictures, pixel centre to pixel centre (the inverse of
        :meth:`to_official_maps`). A value that covers several pixels gives their centroid, rounded.
        """
        maps = [_load_map(m, name) for m, name in ((reference_map, "reference"), (lineart_map, "lineart"))]
        ref_values = set(np.unique(maps[0]).tolist()) - {0}
        line_values = set(np.unique(maps[1]).tolist()) - {0}
        if ref_values != line_values:
            only_ref = sorted(ref_values - line_values)
            only_line = sorted(line_values - ref_values)
            raise PointsError(
                "official point maps disagree: values only on the reference map "
                f"{only_ref}, only on the line-art map {only_line}"
            )
        pairs = []
        for value in sorted(ref_values):
            xy = [_map_to_picture(_centroid(m, value), m, size) for m, size in zip(maps, (reference_size, lineart_size))]
            pairs.append(PointPair(xy[0], xy[1], 0))
        return cls(pairs)

    # -- output -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | int:
            return int(v) if float(v).is_integer() else float(v)

        return {
            "pairs": [
                {
                    "reference": [num(p.reference[0]), num(p.reference[1])],
                    "lineart": [num(p.lineart[0]), num(p.lineart[1])],
                    **({"reference_index": p.reference_index} if p.reference_index else {}),
                }
                for p in self._pairs
            ]
        }

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the JSON format atomically."""
        from manganinja.images import write_bytes_atomic

        text = json.dumps(self.to_dict(), indent=1) + "\n"
        return write_bytes_atomic(text.encode("utf-8"), path)

    def to_official_maps(
        self, reference_size: tuple[int, int], lineart_size: tuple[int, int], size: tuple[int, int] = (512, 512)
    ) -> tuple[np.ndarray, np.ndarray]:
        """Official uint8 maps at ``size`` = (width, height), coordinates scaled from the images'
        sizes (width, height). Only pairs of reference 0 are supported by that format, and two
        pairs may not share a map pixel (one would be lost): that raises :class:`PointsError`."""
        if any(p.reference_index for p in self._pairs):
            raise PointsError("the official map format holds one reference; some pairs have reference_index > 0")
        if len(self._pairs) > 255:
            raise PointsError(f"{len(self._pairs)} pairs do not fit a uint8 map (at most 255)")
        for name, xy, src in (
            ("reference", self.reference_xy, reference_size),
            ("line-art", self.lineart_xy, lineart_size),
        ):
            pix = [tuple(p) for p in scale_xy(xy, src, size).tolist()]
            first: dict[tuple[int, int], int] = {}
            for i, p in enumerate(pix):
                if p in first:
                    raise PointsError(
                        f"pairs {first[p] + 1} and {i + 1}: their {name} points fall on the same "
                        f"pixel {list(p)} of the {size[0]}x{size[1]} official map, which holds one "
                        "pair per pixel"
                    )
                first[p] = i
        ref = point_map(self.reference_xy, reference_size, size).astype(np.uint8)
        line = point_map(self.lineart_xy, lineart_size, size).astype(np.uint8)
        return ref, line

    # -- views ------------------------------------------------------------------------------
    @property
    def reference_xy(self) -> np.ndarray:
        """``(N, 2)`` float array of reference ``(x, y)``."""
        return np.array([p.reference for p in self._pairs], dtype=np.float64).reshape(-1, 2)

    @property
    def lineart_xy(self) -> np.ndarray:
        """``(N, 2)`` float array of line-art ``(x, y)``."""
        return np.array([p.lineart for p in self._pairs], dtype=np.float64).reshape(-1, 2)

    @property
    def reference_indices(self) -> np.ndarray:
        return np.array([p.reference_index for p in self._pairs], dtype=np.int64)

    def validate(
        self,
        reference_sizes: Sequence[tuple[int, int]] | tuple[int, int],
        lineart_size: tuple[int, int],
        max_pairs: int | None = MAX_POINT_PAIRS,
    ) -> "PointPairs":
        """Check the pairs against image sizes (width, height); returns ``self``.

        Raises :class:`PointsError` naming the first bad pair: a point outside its image, a
        reference index with no reference, two pairs on the same line-art pixel, or more than
        ``max_pairs`` pairs (``None`` disables that limit).
        """
        if len(reference_sizes) and isinstance(reference_sizes[0], (int, np.integer)):
            reference_sizes = [reference_sizes]  # type: ignore[list-item]
        sizes = list(reference_sizes)  # type: ignore[arg-type]
        if max_pairs is not None and len(self._pairs) > max_pairs:
            raise PointsError(
                f"{len(self._pairs)} point pairs given; at most {max_pairs} are allowed (the model "
                f"saw at most {MAX_POINT_PAIRS} in training); remove some or raise max_pairs"
            )
        seen: dict[tuple[int, int], int] = {}
        for i, pair in enumerate(self._pairs):
            what = f"pair {i + 1}"
            if pair.reference_index >= len(sizes):
                raise PointsError(
                    f"{what}: reference_index {pair.reference_index} but only {len(sizes)} "
                    f"reference image(s) given"
                )
            _inside(pair.reference, sizes[pair.reference_index], f"{what} reference point")
            _inside(pair.lineart, lineart_size, f"{what} line-art point")
            key = _pixel(pair.lineart)
            if key in seen:
                raise PointsError(
                    f"{what}: line-art point {list(pair.lineart)} duplicates pair {seen[key] + 1}"
                )
            seen[key] = i
        return self


def _pixel(xy: tuple[float, float]) -> tuple[int, int]:
    """The pixel that holds ``xy`` (half-pixel boundaries go right/down, as in :func:`scale_xy`)."""
    return int(np.floor(xy[0] + 0.5)), int(np.floor(xy[1] + 0.5))


def _inside(xy: tuple[float, float], size: tuple[int, int], what: str) -> None:
    width, height = size
    x, y = xy
    if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):
        raise PointsError(f"{what} ({x:g}, {y:g}) is outside the {width}x{height} image")


def _load_map(value: str | os.PathLike | np.ndarray, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.load(Path(value), allow_pickle=False)
        except FileNotFoundError:
            raise PointsError(f"{name} point map '{value}': not found") from None
        except (OSError, ValueError) as exc:
            raise PointsError(f"{name} point map '{value}': cannot be read ({exc})") from exc
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim != 2:
        raise PointsError(f"{name} point map: expected a 2-D map, got shape {arr.shape}")
    return arr


def _map_to_picture(xy: tuple[float, float], arr: np.ndarray, size: tuple[int, int] | None) -> tuple[float, float]:
    """``xy`` in the pixels of the map ``arr`` (H, W), in those of a picture of ``size`` =
    (width, height) (None: the map's own), pixel centre to pixel centre."""
    if size is None:
        return xy
    height, width = arr.shape
    x, y = rescale_centres(np.asarray(xy, np.float64), (size[0] / width, size[1] / height))
    return float(x), float(y)


def _centroid(arr: np.ndarray, value: int) -> tuple[float, float]:
    ys, xs = np.nonzero(arr == value)
    return (float(np.round(xs.mean())), float(np.round(ys.mean())))


def scale_xy(xy: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Map ``(N, 2)`` pixel coordinates from an image of ``src_size`` to one of ``dst_size``
    (both (width, height)), pixel centres to pixel centres; returns integer pixel indices
    clipped to the destination."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    scaled = rescale_centres(xy, (dst_size[0] / src_size[0], dst_size[1] / src_size[1]))
    return np.clip(np.floor(scaled + 0.5), 0, np.array(dst_size) - 1).astype(np.int64)


def rescale_centres(coords: np.ndarray, scale: float | tuple[float, float], offset: float | tuple[float, float] = 0.0) -> np.ndarray:
    """Pixel coordinates (float, any shape; with a pair ``scale`` or ``offset``, the last axis is
    (x, y)) in a picture scaled by ``scale`` and then moved by ``offset``, pixel centre to pixel
    centre: ``offset + (coords + 0.5) * scale - 0.5``, as ``cv2.resize`` maps pixels. Float64,
    the shape of ``coords``."""
    coords = np.asarray(coords, dtype=np.float64)
    return np.asarray(offset, np.float64) + (coords + 0.5) * np.asarray(scale, np.float64) - 0.5


def point_map(
    xy: np.ndarray,
    src_size: tuple[int, int],
    dst_size: tuple[int, int],
    values: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Draw a point map: float32 ``(H, W)`` of ``dst_size`` = (W, H), zeros except ``values[i]``
    (default ``i + 1``) at the scaled pixel of point ``i``. Later points win a shared pixel."""
    width, height = dst_size
    out = np.zeros((height, width), dtype=np.float32)
    pix = scale_xy(xy, src_size, dst_size)
    vals = np.arange(1, len(pix) + 1) if values is None else np.asarray(values)
    for (x, y), v in zip(pix, vals):
        out[y, x] = float(v)
    return out
