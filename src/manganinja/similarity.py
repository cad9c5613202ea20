"""SSIM of two maps, the package's one structural similarity: the benchmark's metrics
(:mod:`manganinja.evaluation.metrics`, whose docstring has the definition) and the training
data's near-duplicate frame test (:mod:`manganinja.data.video_pairs`) both use it. It sits below
both so that ``data/`` does not import ``evaluation/``. Pure numpy and OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Side of the Gaussian window of SSIM and its standard deviation.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


class MetricInputError(ValueError):
    """Arrays given to a metric have the wrong shape, type or range; the message says which."""


def _gaussian_valid(channel: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means of a 2-D float64 map, only where the whole window fits."""
    kernel = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)
    blurred = cv2.sepFilter2D(channel, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    r = SSIM_WINDOW // 2
    return blurred[r : channel.shape[0] - r, r : channel.shape[1] - r]


def ssim_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Luminance map and contrast-structure map of SSIM for two 2-D maps in [0, 1], each
    ``(H - 10, W - 10)`` ("valid" window positions)."""
    c1 = (SSIM_K1 * 1.0) ** 2
    c2 = (SSIM_K2 * 1.0) ** 2
    mu_x = _gaussian_valid(x)
    mu_y = _gaussian_valid(y)
    var_x = _gaussian_valid(x * x) - mu_x**2
    var_y = _gaussian_valid(y * y) - mu_y**2
    cov = _gaussian_valid(x * y) - mu_x * mu_y
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    return lum, cs


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two same-shape 2-D maps (``(H, W)``, float in [0, 1], at least 11x11); the
    definition is in the module docstring."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise MetricInputError(f"SSIM needs two 2-D maps of one shape, got {a.shape} and {b.shape}")
    if min(a.shape) < SSIM_WINDOW:
        raise MetricInputError(f"SSIM needs maps of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {a.shape[0]}x{a.shape[1]}")
    lum, cs = ssim_maps(a, b)
    return float(np.mean(lum * cs))
