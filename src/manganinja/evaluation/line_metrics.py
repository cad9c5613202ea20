"""Scoring one line map against another (the line-art extractor's tests and comparisons)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def line_f1(
    pred: np.ndarray,
    ref: np.ndarray,
    tolerance: float = 2.0,
    threshold: float = 0.5,
) -> tuple[float, float, float]:
    """Precision, recall and F1 of line map ``pred`` against ``ref`` with a pixel tolerance.

    Both are ``(H, W)`` arrays in [0, 1], white lines on black, binarized at ``value >
    threshold``. Precision: fraction of ``pred`` line pixels within ``tolerance`` pixels
    (Euclidean) of a ``ref`` line pixel; recall: the same the other way. Empty maps score 0
    (both empty: 1).
    """
    if pred.shape != ref.shape:
        raise ValueError(f"line maps differ in shape: {pred.shape} vs {ref.shape}")
    p = np.asarray(pred) > threshold
    r = np.asarray(ref) > threshold
    if not p.any() and not r.any():
        return 1.0, 1.0, 1.0
    if not p.any() or not r.any():
        return 0.0, 0.0, 0.0
    dist_to_r = ndimage.distance_transform_edt(~r)
    dist_to_p = ndimage.distance_transform_edt(~p)
    precision = float((dist_to_r[p] <= tolerance).mean())
    recall = float((dist_to_p[r] <= tolerance).mean())
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1
