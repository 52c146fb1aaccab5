"""Temporal IoU and recall, defined once for the scorer, the rewards, difficulty and the leaderboard.

IoU uses the hull union ``max(ends) - min(starts)``; a zero or negative union gives 0, never NaN
(Time-R1's numpy ``compute_IoU`` in ``eval_all.py`` and ``calc_difficulty.py`` divides by zero there
and returns NaN).
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = (0.3, 0.5, 0.7)


def temporal_iou(pred: tuple[float, float] | None, gt: tuple[float, float]) -> float:
    """IoU of two [start, end] spans; 0.0 for a missing prediction or a zero union."""
    if pred is None or pred[0] is None or pred[1] is None:
        return 0.0
    inter = max(0.0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    union = max(pred[1], gt[1]) - min(pred[0], gt[0])
    return inter / union if union > 0 else 0.0


def temporal_iou_array(ps, pe, gs, ge) -> np.ndarray:
    """Vectorised :func:`temporal_iou`; NaN predictions give 0."""
    ps, pe, gs, ge = (np.asarray(a, dtype=np.float64) for a in (ps, pe, gs, ge))
    inter = np.clip(np.minimum(pe, ge) - np.maximum(ps, gs), 0.0, None)
    union = np.maximum(pe, ge) - np.minimum(ps, gs)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.nan_to_num(iou, nan=0.0)


def hits(iou, threshold: float, strict: bool = False) -> np.ndarray:
    """The hit rule, per item: ``IoU >= threshold`` (canonical), ``IoU > threshold`` when ``strict`` (Time-R1)."""
    iou = np.asarray(iou, dtype=np.float64)
    return iou > threshold if strict else iou >= threshold


def recall_at(iou, threshold: float, strict: bool = False) -> float:
    """Percent of items that are :func:`hits` at ``threshold``; 0 for no items."""
    if len(iou) == 0:
        return 0.0
    return float(hits(iou, threshold, strict).mean() * 100.0)
