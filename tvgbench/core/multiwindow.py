"""Metrics over several true windows per query and several scored predicted windows: moment_detr's
definitions for QVHighlights (``standalone_eval``), one function per metric, vectorised over queries.

Windows come padded: ``(Q, W)`` start and end arrays with a ``(Q, W)`` validity mask (:func:`pad_windows`).

* R1@θ: the first predicted window against the true window with the highest IoU with it (the first of
  equal ones), a hit by :func:`tvgbench.core.metrics.hits`.
* AP@θ (:func:`average_precision`): the first :data:`MAX_PRED_WINDOWS` predicted windows as written, sorted by
  score, highest first (a stable sort); each in turn matches the unmatched true window of highest IoU when
  that IoU is ≥ θ (a true positive), else it is a false positive; the AP is VOC's interpolated area under
  precision/recall. mAP is its mean over queries and over θ ∈ :data:`MAP_THRESHOLDS`.
* length buckets (:data:`LENGTH_BUCKETS`): a query's true windows of length in (lo, hi]; queries with none
  are left out of the bucket.
* highlights: per 2-second clip, three annotators' 0-4 scores, positive at ≥ 2 / 3 / 4 (Fair / Good /
  VeryGood); HIT@1 (:func:`highlight_hit1`) is whether the clip of highest predicted score is positive for
  any annotator; HL-AP (:func:`highlight_ap`) is the interpolated AP of the clip scores per annotator.

Two IoUs, as moment_detr has them: matching uses the true union (``len_a + len_b - inter``), the R1 IoU the
hull union (``max(ends) - min(starts)``, :func:`tvgbench.core.metrics.temporal_iou_array`); they differ only
for windows that do not overlap, where both are 0. A zero union gives 0, never NaN.
"""

from __future__ import annotations

import numpy as np

from tvgbench.core.metrics import temporal_iou_array

MAP_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))  # 0.5, 0.55, ..., 0.95
MAX_PRED_WINDOWS = 10  # moment_detr scores the first 10 windows of a line
LENGTH_BUCKETS = {"short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0)}  # (lo, hi] seconds
SALIENCY_LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}  # the lowest positive score


def pad_windows(windows: list, width: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(start, end, score, valid)`` arrays of shape (Q, width) from per-query lists of ``(s, e[, score])``
    (None or empty: no window); a window without a score scores 0; only the first ``width`` are kept."""
    lengths = np.array([len(w) if w else 0 for w in windows], dtype=np.int64)
    width = int(lengths.max(initial=0)) if width is None else width
    lengths = np.minimum(lengths, width)
    out = np.zeros((len(windows), max(width, 1), 3))
    for q, w in enumerate(windows):
        for k in range(lengths[q]):
            x = w[k]
            out[q, k] = (x[0], x[1], x[2] if len(x) > 2 else 0.0)
    valid = np.arange(out.shape[1])[None, :] < lengths[:, None]
    return out[..., 0], out[..., 1], out[..., 2], valid


def cross_iou(ps, pe, gs, ge) -> np.ndarray:
    """(Q, K, G) IoU of each query's K windows with its G windows, over the true union; 0 for a zero union."""
    inter = np.clip(np.minimum(pe[:, :, None], ge[:, None, :]) - np.maximum(ps[:, :, None], gs[:, None, :]), 0.0, None)
    union = (pe - ps)[:, :, None] + (ge - gs)[:, None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def best_window(ts, te, gs, ge, gvalid) -> np.ndarray:
    """Per query, the index of the true window with the highest IoU with ``[ts, te]`` (the first of equals)."""
    iou = cross_iou(ts[:, None], te[:, None], gs, ge)[:, 0, :]
    return np.argmax(np.where(gvalid, iou, -np.inf), axis=1)


def recall1_iou(ts, te, gs, ge, gvalid) -> np.ndarray:
    """R1's IoU per query: the first predicted window against its best-matching true window (hull union)."""
    j = best_window(ts, te, gs, ge, gvalid)
    rows = np.arange(len(ts))
    return temporal_iou_array(ts, te, gs[rows, j], ge[rows, j])


def in_bucket(gs, ge, gvalid, bucket: tuple[float, float]) -> np.ndarray:
    """The valid true windows whose length is in ``(lo, hi]``."""
    lo, hi = bucket
    length = ge - gs
    return gvalid & (length > lo) & (length <= hi)


def _greedy_hits(iou: np.ndarray, pvalid: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(Q, T, K) true positives: predictions in score order each take the free true window of highest IoU ≥ θ.

    Of true windows with equal IoU the later one is taken (moment_detr walks ``argsort()[::-1]``); it only
    matters when both are free and above θ, where either choice gives the same counts.
    """
    q_n, k_n, g_n = iou.shape
    iou = np.ascontiguousarray(iou[..., ::-1])  # windows last to first: argmax's first of equals is the later
    locked = np.zeros((q_n, len(thresholds), g_n), dtype=bool)
    tp = np.zeros((q_n, len(thresholds), k_n), dtype=bool)
    for k in range(k_n):  # sequential by nature: a match locks the window for the later predictions
        cand = (iou[:, k, None, :] >= thresholds[None, :, None]) & ~locked
        masked = np.where(cand, iou[:, k, None, :], -np.inf)
        j = np.argmax(masked, axis=-1)
        hit = cand.any(axis=-1) & pvalid[:, k, None]
        q_idx, t_idx = np.nonzero(hit)
        locked[q_idx, t_idx, j[q_idx, t_idx]] = True
        tp[:, :, k] = hit
    return tp


def voc_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """VOC's interpolated AP along the last axis: the steps of recall times the best precision at or after
    them, summed left to right (padding that repeats the last point adds nothing)."""
    zeros = np.zeros(precision.shape[:-1] + (1,))
    mprec = np.concatenate([zeros, precision, zeros], axis=-1)
    mrec = np.concatenate([zeros, recall, zeros + 1.0], axis=-1)
    mprec = np.maximum.accumulate(mprec[..., ::-1], axis=-1)[..., ::-1]
    steps = np.where(mrec[..., 1:] != mrec[..., :-1], (mrec[..., 1:] - mrec[..., :-1]) * mprec[..., 1:], 0.0)
    ap = np.zeros(steps.shape[:-1])
    for i in range(steps.shape[-1]):
        ap = ap + steps[..., i]
    return ap


def average_precision(ps, pe, score, pvalid, gs, ge, gvalid, thresholds=MAP_THRESHOLDS) -> np.ndarray:
    """(Q, T) AP per query and threshold (0 for a query without windows on either side)."""
    key = np.where(pvalid, -score, np.inf)  # padding last; ties keep the order written
    order = np.argsort(key, axis=1, kind="stable")
    ps, pe, pvalid = (np.take_along_axis(a, order, axis=1) for a in (ps, pe, pvalid))
    iou = np.where(gvalid[:, None, :], cross_iou(ps, pe, gs, ge), -1.0)
    tp = _greedy_hits(iou, pvalid, np.asarray(thresholds, dtype=np.float64))
    fp = pvalid[:, None, :] & ~tp
    tp_cum = np.cumsum(tp, axis=-1, dtype=np.float64)
    fp_cum = np.cumsum(fp, axis=-1, dtype=np.float64)
    n_true = gvalid.sum(axis=1).astype(np.float64)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(tp_cum / n_true)
        precision = np.nan_to_num(tp_cum / (tp_cum + fp_cum))
    ap = voc_ap(precision, recall)
    return np.where((pvalid.any(axis=1) & gvalid.any(axis=1))[:, None], ap, 0.0)


# ---- highlights (saliency) ---------------------------------------------------------------------------


def saliency_labels(saliency: list, duration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q, N, 3) annotator scores per clip (0 where unlabelled) and the clip count per query,
    ``int(duration / clip_seconds)`` as moment_detr counts them."""
    n_clips = np.array([int(d / s["clip_seconds"]) for d, s in zip(duration, saliency)], dtype=np.int64)
    labels = np.zeros((len(saliency), max(int(n_clips.max(initial=0)), 1), 3), dtype=np.int64)
    for q, s in enumerate(saliency):
        if s["clip_ids"]:
            labels[q, np.asarray(s["clip_ids"])] = np.asarray(s["scores"])
    return labels, n_clips


def clip_scores(pred: list, n_clips: np.ndarray) -> np.ndarray:
    """(Q, N) predicted scores cut or zero-filled to each query's clip count, -inf past it."""
    width = max(int(n_clips.max(initial=0)), 1)
    out = np.full((len(pred), width), -np.inf)
    for q, p in enumerate(pred):
        n = int(n_clips[q])
        out[q, :n] = 0.0
        k = min(len(p), n)
        out[q, :k] = p[:k]
    return out


def top_clips(pred: list) -> np.ndarray:
    """Per query, the clip of highest predicted score over the whole list (the first of equals; -1: none)."""
    width = max((len(p) for p in pred), default=0)
    padded = np.full((len(pred), max(width, 1)), -np.inf)
    for q, p in enumerate(pred):
        padded[q, :len(p)] = p
    top = np.argmax(padded, axis=1)
    return np.where([len(p) > 0 for p in pred], top, -1)


def highlight_hit1(top: np.ndarray, labels: np.ndarray, n_clips: np.ndarray, level: int) -> np.ndarray:
    """Per query, 1.0 when its :func:`top_clips` clip is positive for any annotator, else 0.0."""
    inside = (top >= 0) & (top < n_clips)
    at = np.clip(top, 0, labels.shape[1] - 1)
    positive = (labels[np.arange(len(top)), at] >= level).any(axis=1)
    return (inside & positive).astype(np.float64)


def highlight_ap(scores: np.ndarray, positive: np.ndarray, n_clips: np.ndarray) -> np.ndarray:
    """(Q, M) interpolated AP of clip ``scores`` (Q, N; -inf past ``n_clips``) against each of the M label
    columns of ``positive`` (Q, N, M).

    Tied scores form one threshold; at each threshold whose clips hold a positive (a recall step) the
    precision is the best at that recall or more; the AP is their mean, summed from the lowest threshold up.
    All-negative columns score 0 and all-positive ones 1.
    """
    rows, width = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    y = np.take_along_axis(positive, order[:, :, None], axis=1)
    tp = np.cumsum(y, axis=1)
    real = np.arange(width)[None, :] < n_clips[:, None]
    ends = real.copy()
    ends[:, :-1] &= s[:, :-1] != s[:, 1:]  # a threshold's last clip
    ends = ends[:, :, None]
    precision = np.where(ends, tp / np.arange(1, width + 1)[None, :, None], 0.0)
    best = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    before = np.zeros_like(tp)
    before[:, 1:] = np.maximum.accumulate(np.where(ends, tp, 0), axis=1)[:, :-1]
    steps = ends & (tp != before)
    total = np.zeros((rows, positive.shape[2]))
    for i in range(width - 1, -1, -1):
        total = total + np.where(steps[:, i], best[:, i], 0.0)
    n_pos = (positive & real[:, :, None]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = total / steps.sum(axis=1)
    return np.where(n_pos == 0, 0.0, np.where(n_pos == n_clips[:, None], 1.0, ap))
