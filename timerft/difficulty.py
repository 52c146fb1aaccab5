"""Difficulty of training samples from a model's predictions (Time-R1 ``calc_difficulty.py``).

``difficulty = 100 x IoU(pred, gt)``: a model's greedy IoU in percent, so **higher means easier**. A line
whose ``pred`` is missing or holds a null is parsed from its text with Time-R1's difficulty-pass parser
(the first two numbers, ``timer1-force``); when that fails too the difficulty is 0. IoU is the core's
:func:`~tvgbench.metrics.temporal_iou_array` (a zero union gives 0, where Time-R1's numpy code gives NaN).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from tvgbench.errors import Timer1Error
from tvgbench.metrics import temporal_iou_array
from tvgbench.parsing import parse_answer
from tvgbench.schema import Sample

DIFFICULTY_PARSER = "timer1-force"


def difficulty_from_spans(pred_start, pred_end, gt_start, gt_end) -> np.ndarray:
    """``100 x IoU`` per row; a missing (NaN) prediction gives 0."""
    return 100.0 * temporal_iou_array(pred_start, pred_end, gt_start, gt_end)


def recompute_difficulty(samples: Sequence[Sample]) -> np.ndarray:
    """Difficulty of samples that carry their own ``pred`` (NaN where a sample has none)."""
    pred = np.array([s.pred if s.pred is not None else (np.nan, np.nan) for s in samples], dtype=np.float64)
    gt = np.array([s.span for s in samples], dtype=np.float64).reshape(-1, 2)
    out = difficulty_from_spans(pred[:, 0], pred[:, 1], gt[:, 0], gt[:, 1]) if len(samples) else np.zeros(0)
    out[np.isnan(pred).any(axis=1)] = np.nan
    return out


@dataclass
class DifficultyResult:
    samples: list[Sample]  # scored samples, split order, with ``difficulty`` and ``pred`` set
    stats: dict[str, Any]


def score_difficulty(pred_path: str | os.PathLike, samples: Sequence[Sample]) -> DifficultyResult:
    """Attach difficulty and prediction to every sample that has a prediction line.

    Lines are matched on ``qid`` (or the sample's ``source_id``, the id Time-R1 writes); the last line of
    a repeated qid wins, as in Time-R1. Samples without a line are left out and counted.
    """
    from tvgbench.predictions import read_predictions

    preds = read_predictions(pred_path)
    qids = preds.qid.to_pylist() if hasattr(preds.qid, "to_pylist") else list(preds.qid)
    line_of: dict[str, int] = {}
    for i, q in enumerate(qids):
        line_of[q] = i  # last wins
    index = {}
    for k, s in enumerate(samples):
        index[s.qid] = k
        if s.source_id:
            index.setdefault(s.source_id, k)
    matched: dict[int, int] = {}
    unknown = 0
    for q, i in line_of.items():
        k = index.get(q)
        if k is None:
            unknown += 1
        else:
            matched[k] = i
    if not matched:
        raise Timer1Error(f"no prediction line in {pred_path} matches a qid of the split ({unknown} unknown qids)")
    rows = sorted(matched)
    lines = np.array([matched[k] for k in rows], dtype=np.int64)
    start, end = preds.start[lines].copy(), preds.end[lines].copy()
    parsed_from_text = unparsed = 0
    for j in np.flatnonzero(~(np.isfinite(start) & np.isfinite(end))):
        text = preds.text[int(lines[j])] if preds.text is not None else None
        text = text.as_py() if hasattr(text, "as_py") else text  # the fast reader gives Arrow scalars
        span = parse_answer(text, DIFFICULTY_PARSER).span
        if span is None:
            unparsed += 1
            continue
        start[j], end[j] = span
        parsed_from_text += 1
    gt = np.array([samples[k].span for k in rows], dtype=np.float64)
    diff = difficulty_from_spans(start, end, gt[:, 0], gt[:, 1])
    scored = []
    for j, k in enumerate(rows):
        ok = np.isfinite(start[j]) and np.isfinite(end[j])
        flags = list(samples[k].flags) + ([] if ok else ["unparsed_prediction"])
        scored.append(replace(samples[k], difficulty=float(diff[j]), pred=(start[j], end[j]) if ok else None,
                              flags=flags))
    iou = diff / 100.0
    stats = {
        "split_samples": len(samples), "prediction_lines": len(qids), "scored": len(scored),
        "missing": len(samples) - len(scored), "unknown_qids": unknown,
        "parsed_from_text": parsed_from_text, "unparsed": unparsed,
        # Time-R1 prints these with a strict '>'
        "R@0.3": round(float((iou > 0.3).mean() * 100), 1), "R@0.5": round(float((iou > 0.5).mean() * 100), 1),
        "R@0.7": round(float((iou > 0.7).mean() * 100), 1), "mean_difficulty": round(float(diff.mean()), 4),
    }
    return DifficultyResult(scored, stats)
