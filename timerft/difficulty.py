"""Difficulty of training samples from a model's predictions (Time-R1 ``calc_difficulty.py``).

``difficulty = 100 x IoU(pred, gt)``: a model's greedy IoU in percent, so **higher means easier**. A line
whose ``pred`` is missing or holds a null is parsed from its text with Time-R1's difficulty-pass parser
(the first two numbers, ``timer1-force``); when that fails too the difficulty is 0. Lines meet samples
through the core join (:data:`tvgbench.core.join.DIFFICULTY`); IoU is the core's
:func:`~tvgbench.core.metrics.temporal_iou_array` (a zero union gives 0, where Time-R1's numpy code gives NaN).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pyarrow.compute as pc

from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import DIFFICULTY, MISSING, UNPARSEABLE, as_string_array, join, split_keys_from_samples
from tvgbench.core.metrics import THRESHOLDS, recall_at, temporal_iou_array
from tvgbench.core.predictions import read_predictions
from tvgbench.core.schema import Sample

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

    Lines are matched on ``qid`` (or the sample's ``source_id``, the id Time-R1 writes); the last line naming
    a sample wins, as in Time-R1. Samples without a line are left out and counted.
    """
    preds = read_predictions(pred_path)
    joined = join(preds, split_keys_from_samples(samples), DIFFICULTY)
    unknown_lines = joined.line_query < 0  # counted as distinct qids
    unknown = pc.count_distinct(as_string_array(preds.qid).filter(unknown_lines)).as_py() if unknown_lines.any() else 0
    rows = np.flatnonzero(joined.status != MISSING)
    if not len(rows):
        raise Timer1Error(f"no prediction line in {pred_path} matches a qid of the split ({unknown} unknown qids)")
    start, end = joined.start[rows], joined.end[rows]
    ok = joined.status[rows] != UNPARSEABLE
    diff = 100.0 * joined.iou[rows]
    scored = []
    for j, k in enumerate(rows):
        flags = list(samples[k].flags) + ([] if ok[j] else ["unparsed_prediction"])
        scored.append(replace(samples[k], difficulty=float(diff[j]), pred=(start[j], end[j]) if ok[j] else None,
                              flags=flags))
    from_text = joined.from_text[rows]
    stats = {
        "split_samples": len(samples), "prediction_lines": len(preds), "scored": len(scored),
        "missing": len(samples) - len(scored), "unknown_qids": unknown,
        "parsed_from_text": int(from_text.sum()), "unparsed": int((~ok & ~from_text).sum()),
        # Time-R1 prints these with a strict '>'
        **{f"R@{t}": round(recall_at(diff / 100.0, t, strict=True), 1) for t in THRESHOLDS},
        "mean_difficulty": round(float(diff.mean()), 4),
    }
    return DifficultyResult(scored, stats)


def unknown_predictions(stats: dict[str, Any]) -> tuple[int, int]:
    """(qids naming no sample of the split, qids) of :func:`score_difficulty`'s stats: distinct qids, as
    the last line naming a sample wins (a sample met by qid and by ``source_id`` counts once)."""
    return stats["unknown_qids"], stats["scored"] + stats["unknown_qids"]
