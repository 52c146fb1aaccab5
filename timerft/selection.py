"""Selecting training samples by difficulty (Time-R1 ``process_data.py``, ``train_rl_SF.sh``).

* :func:`gaussian_select` - draw ``k`` samples **without replacement** among those with IoU > 0, with
  probability proportional to ``exp(-(IoU - center)^2 / (2 sigma^2))`` (Time-R1's ``gaussian_03``:
  center 0.3, sigma 0.2). Seeded here; Time-R1's draw has no seed.
* :func:`keep_0_07` - the per-epoch sample-filter rule: keep 0 < IoU <= 0.7 (drop the unsolved and the
  too easy); if more than ``k`` remain, keep ``k`` evenly spaced by difficulty (descending), as Time-R1.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tvgbench.core.errors import Timer1Error

DEFAULT_CENTER = 0.3
DEFAULT_SIGMA = 0.2
KEEP_RULE = "keep-0-0.7"
KEEP_MAX_IOU = 0.7


def iou_of(difficulty: Sequence[float]) -> np.ndarray:
    """Difficulty (0-100) back to IoU (0-1); missing values become NaN."""
    return np.array([np.nan if d is None else d for d in difficulty], dtype=np.float64) / 100.0


def gaussian_weights(iou: np.ndarray, center: float = DEFAULT_CENTER, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """Unnormalised selection weight per sample; 0 for IoU <= 0 or missing."""
    if sigma <= 0:
        raise Timer1Error(f"--sigma must be > 0, got {sigma}")
    w = np.exp(-((iou - center) ** 2) / (2.0 * sigma**2))
    return np.where(np.isfinite(iou) & (iou > 0), w, 0.0)


def gaussian_select(difficulty: Sequence[float], k: int, *, center: float = DEFAULT_CENTER,
                    sigma: float = DEFAULT_SIGMA, seed: int = 0) -> np.ndarray:
    """Indices of ``k`` samples drawn without replacement (sorted ascending)."""
    iou = iou_of(difficulty)
    w = gaussian_weights(iou, center, sigma)
    eligible = int((w > 0).sum())
    _check_k(k, eligible, "with IoU > 0")
    # underflow far from the centre can zero a weight; those samples are still eligible, at the floor
    w = np.where((w == 0) & np.isfinite(iou) & (iou > 0), np.finfo(np.float64).tiny, w)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(iou), size=k, replace=False, p=w / w.sum()))


def keep_0_07(difficulty: Sequence[float], k: int | None = None) -> np.ndarray:
    """Indices kept by the sample-filter rule, ordered by difficulty descending (Time-R1's order)."""
    iou = iou_of(difficulty)
    ok = np.flatnonzero(np.isfinite(iou) & (iou > 0) & (iou <= KEEP_MAX_IOU))
    if len(ok) == 0:
        raise Timer1Error("no sample has 0 < IoU <= 0.7: nothing to keep")
    order = ok[np.argsort(-iou[ok], kind="stable")]
    if k is None or k >= len(order):
        return order
    if k < 1:
        raise Timer1Error("--k must be at least 1")
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, k)).astype(np.int64))
    return order[picks]


def _check_k(k: int, available: int, what: str) -> None:
    if available == 0:
        raise Timer1Error(f"empty pool: no sample {what}")
    if k < 1:
        raise Timer1Error("--k must be at least 1")
    if k > available:
        raise Timer1Error(f"--k {k} is larger than the pool ({available} samples {what})")
