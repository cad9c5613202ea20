"""Image similarity metrics of the paper's benchmark (section 3.4), as pure numpy functions.

Conventions (all functions):

- Images are ``(H, W, 3)`` arrays, either ``uint8`` in [0, 255] or floating point in [0, 1];
  they are converted to float64 in [0, 1] with :func:`to_unit`. Two images compared must have
  the same shape.
- Masks are ``(H, W)`` boolean (or 0/1, or uint8 with foreground > 127) arrays, True on the
  foreground. "On the foreground" means: both images are composited on white outside the mask
  (:func:`composite_on_white`), then the whole-image metric is computed. With no mask, the whole
  image is used as it is.

Definitions chosen where the paper is not precise (documented here, used everywhere):

- :func:`psnr`: ``10 log10(1 / MSE)`` over all pixels and channels in [0, 1]. Identical images
  give MSE 0; the value is then capped at :data:`PSNR_CAP_DB` (100 dB) so means stay finite.
- :func:`ssim`: mean SSIM (Wang et al. 2004) of two 2-D maps: 11x11 Gaussian window with
  sigma 1.5, K1 = 0.01, K2 = 0.03, dynamic range 1, "valid" filtering (no padding). The one SSIM
  of the package (the training data's near-duplicate test uses it too).
- :func:`ms_ssim`: Wang et al. 2003 multi-scale SSIM with the standard 5 weights and the window
  and constants of :func:`ssim`, 2x2 average pooling between scales: the product over the finer
  scales of the mean contrast-structure term, times the mean SSIM at the coarsest scale, each to
  its weight; computed per RGB channel and averaged over channels. Negative terms are clipped to
  0 before the fractional powers (otherwise they are undefined). On images of at least 176
  pixels a side with even sizes at the first 4 scales this equals ``pytorch_msssim.ms_ssim``
  (tested within 1e-4).
  Small images: each scale needs a side of at least 11 pixels (the window must fit), i.e. 176
  for all 5 scales. A smaller image (the library refuses those under 161 pixels) uses as many
  scales as fit (at least 1) with those scales' weights renormalised to sum to 1, so that the
  value stays in [0, 1] with the same relative weighting of the scales it has; with 5 scales the
  published weights are used as they are (they sum to 0.9999). An odd last row or column is
  dropped when halving (the library pads it with zeros instead), so odd sizes differ slightly.
- :func:`point_mse`: for each annotated point ``(x, y)`` on the target, the 3x3 patch of the
  RESULT centred at ``(x, y)`` is compared with the 3x3 patch of the GROUND-TRUTH target at the
  same place: mean squared difference over the patch's pixels and the 3 channels, colors in
  [0, 1]. Patches are cut at the image border (only pixels inside count). The value is the mean
  over points.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from manganinja.similarity import SSIM_WINDOW, MetricInputError, ssim, ssim_maps  # noqa: F401 (ssim: the metric, re-exported)

#: PSNR of identical images (MSE 0) and the largest value :func:`psnr` returns, in dB.
PSNR_CAP_DB = 100.0

#: Standard MS-SSIM weights (Wang, Simoncelli, Bovik 2003), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)



def to_unit(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``(H, W, 3)`` uint8 [0, 255] or float [0, 1] -> float64 ``(H, W, 3)`` in [0, 1]."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise MetricInputError(f"{name}: expected an (H, W, 3) RGB array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float64)
        if out.size and (not np.isfinite(out).all() or out.min() < 0.0 or out.max() > 1.0):
            raise MetricInputError(f"{name}: float values must be finite and in [0, 1]")
        return out
    raise MetricInputError(f"{name}: dtype {arr.dtype} is not uint8 or float")


def as_mask(mask: np.ndarray, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Any ``(H, W)`` mask (bool, 0/1, or uint8 with foreground > 127) -> bool ``(H, W)``.

    Raises :class:`MetricInputError` when its shape is not ``shape``.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        arr = arr[..., 0]
    if arr.shape != tuple(shape):
        raise MetricInputError(f"{name}: shape {arr.shape} does not match the image's {tuple(shape)}")
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype == np.uint8 and arr.max(initial=0) > 1:
        return arr > 127
    return arr > 0.5


def composite_on_white(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The foreground of ``image`` on white: float64 ``(H, W, 3)`` in [0, 1].

    ``mask`` (``(H, W)``, True = foreground) keeps the image's pixels; all others become 1.0.
    With ``mask=None`` the image is returned unchanged (as float in [0, 1]).
    """
    out = to_unit(image)
    if mask is None:
        return out
    keep = as_mask(mask, out.shape[:2])
    return np.where(keep[..., None], out, 1.0)


def _pair(result: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    a = to_unit(result, "result")
    b = to_unit(target, "target")
    if a.shape != b.shape:
        raise MetricInputError(f"result shape {a.shape} differs from target shape {b.shape}")
    if mask is not None:
        a = composite_on_white(a, mask)
        b = composite_on_white(b, mask)
    return a, b


def psnr(result: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0), capped at :data:`PSNR_CAP_DB`.

    Args:
        result, target: ``(H, W, 3)`` images (uint8 or float in [0, 1]).
        mask: optional ``(H, W)`` foreground; both images are composited on white outside it.
    """
    a, b = _pair(result, target, mask)
    mse = float(np.mean((a - b) ** 2))
    if mse <= 10.0 ** (-PSNR_CAP_DB / 10.0):
        return PSNR_CAP_DB
    return float(10.0 * math.log10(1.0 / mse))


def ms_ssim_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales that fit an image of this size (1 to 5): the short side at the
    coarsest scale (after ``scales - 1`` halvings) must be at least :data:`SSIM_WINDOW`."""
    short = min(height, width)
    if short < SSIM_WINDOW:
        raise MetricInputError(
            f"MS-SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {height}x{width}"
        )
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and short // (2**scales) >= SSIM_WINDOW:
        scales += 1
    return scales


def _halve(channel: np.ndarray) -> np.ndarray:
    """2x2 average pooling (an odd last row/column is dropped)."""
    h, w = (channel.shape[0] // 2) * 2, (channel.shape[1] // 2) * 2
    c = channel[:h, :w]
    return 0.25 * (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2])


def ms_ssim(
    result: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
) -> float:
    """Multi-scale SSIM in [0, 1] (1 for identical images); definition in the module docstring.

    Args:
        result, target: ``(H, W, 3)`` images (uint8 or float in [0, 1]), at least 11x11.
        mask: optional ``(H, W)`` foreground; both images are composited on white outside it.
        weights: per-scale exponents, finest first, used as given when all fit; truncated to
            the scales that fit the image and renormalised to sum to 1 otherwise.
    """
    a, b = _pair(result, target, mask)
    scales = min(ms_ssim_scales(a.shape[0], a.shape[1]), len(weights))
    w = np.asarray(weights[:scales], dtype=np.float64)
    if scales < len(weights):
        w = w / w.sum()
    per_channel = []
    for ch in range(3):
        x, y = a[..., ch], b[..., ch]
        value = 1.0
        for s in range(scales):
            lum, cs = ssim_maps(x, y)
            if s == scales - 1:
                value *= max(float(np.mean(lum * cs)), 0.0) ** w[s]
            else:
                value *= max(float(np.mean(cs)), 0.0) ** w[s]
                x, y = _halve(x), _halve(y)
        per_channel.append(value)
    return float(np.mean(per_channel))


def point_mse(
    result: np.ndarray,
    target: np.ndarray,
    points_xy: np.ndarray | Sequence[Sequence[float]],
    patch: int = 3,
) -> float:
    """Mean over points of the MSE between ``patch`` x ``patch`` patches of ``result`` and
    ``target`` centred at each point (colors in [0, 1]; patches cut at the border).

    Args:
        result, target: ``(H, W, 3)`` images (uint8 or float in [0, 1]) of the same size.
        points_xy: ``(N, 2)`` points ``(x, y)`` = (column, row) in target pixels, N >= 1;
            rounded to the nearest pixel.
        patch: odd patch side (3 in the paper).

    Raises:
        MetricInputError: no points, an even patch, or a point outside the image.
    """
    a, b = _pair(result, target, None)
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise MetricInputError("point_mse needs at least one point")
    if patch < 1 or patch % 2 == 0:
        raise MetricInputError(f"patch side must be odd and positive, got {patch}")
    h, w = a.shape[:2]
    values = []
    for i, (x, y) in enumerate(pts):
        col, row = int(round(x)), int(round(y))
        if not (0 <= col < w and 0 <= row < h):
            raise MetricInputError(f"point {i + 1} ({x:g}, {y:g}) is outside the {w}x{h} image")
        sl = patch_slices((x, y), patch)
        values.append(float(np.mean((a[sl] - b[sl]) ** 2)))
    return float(np.mean(values))


def patch_slices(xy: Sequence[float], patch: int = 3) -> tuple[slice, slice]:
    """The rows and columns of the ``patch`` x ``patch`` patch centred at the point ``xy`` =
    (x, y), rounded to the nearest pixel, as :func:`point_mse` cuts it (cut at the image's
    border when indexing an ``(H, W, ...)`` array)."""
    col, row, r = int(round(xy[0])), int(round(xy[1])), patch // 2
    return slice(max(row - r, 0), row + r + 1), slice(max(col - r, 0), col + r + 1)


def cosine_similarity(u: np.ndarray, v: np.ndarray) -> float:
    """Cosine of the angle between two 1-D embeddings, in [-1, 1]."""
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    if u.shape != v.shape:
        raise MetricInputError(f"embeddings differ in size: {u.shape} vs {v.shape}")
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0.0 or nv == 0.0:
        raise MetricInputError("cosine similarity of a zero embedding is undefined")
    return float(np.dot(u, v) / (nu * nv))


def mean_ci95(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, half-width of the 95% confidence interval (Student t) and count of finite values.

    The half-width is NaN for fewer than 2 values; the mean is NaN for none.
    """
    from scipy import stats

    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = int(arr.size)
    if n == 0:
        return float("nan"), float("nan"), 0
    mean = float(arr.mean())
    if n < 2:
        return mean, float("nan"), n
    sem = float(arr.std(ddof=1) / math.sqrt(n))
    return mean, float(stats.t.ppf(0.975, n - 1) * sem), n
