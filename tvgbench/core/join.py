"""Predictions joined to a split, defined once for the scorer, the report, the difficulty pass and the leaderboard.

:func:`match_qids` maps each prediction line to its split row: a line names a query by its ``qid`` or by
the query's Time-R1 id (``source_id``); a real qid wins over a colliding alias, and of repeated aliases the
first row wins. :func:`join` turns prediction columns into one row per scored unit: the line used, the
span scored, the IoU, a status and the parse flags. The callers differ only in their :class:`JoinRule`:

``CANONICAL``   a unit per split query; a query named twice is ``duplicate``; a finite ``pred`` is used
                (reversed spans swapped), else the text with the canonical parser (clipped to the video)
``TIMER1``      Time-R1's ``eval_all.py``: a unit per distinct predicted qid, the last line wins; a line
                holding ``pred`` uses it as written, else its text with Time-R1's eval parser; a line's own
                ``target`` is its ground truth, and an unknown qid without one is ``unknown``
``DIFFICULTY``  Time-R1's difficulty pass: a unit per split query, the last line wins; a finite ``pred`` as
                written, else the first two numbers of the text
``REPORT``      the canonical rule, the last line winning (a run's file has one line per query)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tvgbench.core.metrics import temporal_iou_array
from tvgbench.core.parsing import FLAG_REVERSED, parse_answer
from tvgbench.core.predictions import MAX_WINDOWS, PredictionColumns

STATUSES = ("scored", "missing", "unparseable", "unknown", "duplicate")
SCORED, MISSING, UNPARSEABLE, UNKNOWN, DUPLICATE = range(len(STATUSES))


@dataclass(frozen=True)
class SplitKeys:
    """What the join needs from a split: ids and ground truth, in split order."""

    qid: Any  # pyarrow StringArray
    source_id: Any  # pyarrow StringArray (Time-R1 ids; null where none)
    start: np.ndarray
    end: np.ndarray
    duration: np.ndarray


def split_keys_from_samples(samples: Sequence) -> SplitKeys:
    """:class:`SplitKeys` of in-memory :class:`~tvgbench.core.schema.Sample` objects."""
    span = np.array([s.span for s in samples], dtype=np.float64).reshape(-1, 2)
    return SplitKeys(
        qid=pa.array([s.qid for s in samples], pa.string()),
        source_id=pa.array([s.source_id or None for s in samples], pa.string()),
        start=span[:, 0].copy(), end=span[:, 1].copy(),
        duration=np.array([s.duration for s in samples], dtype=np.float64),
    )


def as_string_array(qid):
    if isinstance(qid, pa.ChunkedArray):
        return qid.combine_chunks()
    return qid if isinstance(qid, pa.Array) else pa.array(qid, type=pa.string())


def match_qids(pred_qid, split_qid, split_alias) -> np.ndarray:
    """Split row of each prediction qid (-1 when unknown); Time-R1 ids are aliases."""
    pred_qid = as_string_array(pred_qid)
    if len(pred_qid) == len(split_qid) and pred_qid.equals(split_qid):
        return np.arange(len(pred_qid), dtype=np.int64)  # predictions in split order: nothing to hash
    idx = pc.index_in(pred_qid, value_set=split_qid)
    if idx.null_count and split_alias.null_count < len(split_alias):
        idx = pc.coalesce(idx, pc.index_in(pred_qid, value_set=split_alias))
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclass(frozen=True)
class JoinRule:
    """How a caller joins; see the module docstring for the four rules."""

    per_qid: bool  # one unit per distinct predicted qid (else one per split query)
    last_wins: bool  # a query named by several lines takes the last (else its status is "duplicate")
    pred_as_written: bool  # a line holding "pred" uses it even when not finite (else only a finite pred)
    parser: str  # parse_answer variant for the text
    clip_to_duration: bool  # the parser clips to the video's duration
    swap_reversed: bool  # a finite pred with start > end is swapped (and flagged)
    line_targets: bool  # a line's own "target" replaces the split's span


CANONICAL = JoinRule(per_qid=False, last_wins=False, pred_as_written=False, parser="canonical",
                     clip_to_duration=True, swap_reversed=True, line_targets=False)
TIMER1 = JoinRule(per_qid=True, last_wins=True, pred_as_written=True, parser="timer1-eval",
                  clip_to_duration=False, swap_reversed=False, line_targets=True)
DIFFICULTY = JoinRule(per_qid=False, last_wins=True, pred_as_written=False, parser="timer1-force",
                      clip_to_duration=False, swap_reversed=False, line_targets=False)
REPORT = replace(CANONICAL, last_wins=True)


@dataclass
class Joined:
    """One row per unit (a split query, or a distinct predicted qid under ``per_qid``)."""

    query: np.ndarray  # split row per unit (-1: not in the split)
    line: np.ndarray  # prediction line used per unit (-1: none)
    status: np.ndarray  # codes into STATUSES
    start: np.ndarray  # the span scored (NaN where none)
    end: np.ndarray
    gt_start: np.ndarray
    gt_end: np.ndarray
    iou: np.ndarray  # 0 where the unit has no usable span
    reversed: np.ndarray  # bool: the span was given (or parsed) end first
    from_text: np.ndarray  # bool: the span was parsed from the text (the parser found one)
    line_query: np.ndarray  # per prediction line: its split row (-1: unknown qid)

    def __len__(self) -> int:
        return len(self.status)

    def count(self, status: int) -> int:
        return int((self.status == status).sum())


def _text_spans(texts, rows: np.ndarray, variant: str, duration: np.ndarray | None):
    """Parse the outputs of ``rows``; returns start, end and per-row reversed flags."""
    s = np.full(len(rows), np.nan)
    e = np.full(len(rows), np.nan)
    rev = np.zeros(len(rows), dtype=bool)
    if hasattr(texts, "take"):  # pyarrow array: pull only the rows we parse
        import pyarrow as pa

        picked = texts.take(pa.array(rows, type=pa.int64())).to_pylist()
    else:
        picked = [texts[i] for i in rows]
    for k, text in enumerate(picked):
        parsed = parse_answer(text, variant, None if duration is None else float(duration[k]))
        if parsed.span is not None:
            s[k], e[k] = parsed.span
            rev[k] = FLAG_REVERSED in parsed.flags
    return s, e, rev


def _units(preds: PredictionColumns, line_query: np.ndarray, n_split: int, rule: JoinRule):
    """(query, line, named-twice) per unit."""
    if rule.per_qid:
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(as_string_array(preds.qid))
        codes = enc.indices.to_numpy(zero_copy_only=False)
        line = np.full(len(enc.dictionary), -1, dtype=np.int64)
        line[codes] = np.arange(len(codes))  # the last line of each qid
        return line_query[line], line, np.zeros(len(line), dtype=bool)
    known = np.flatnonzero(line_query >= 0)
    line = np.full(n_split, -1, dtype=np.int64)
    line[line_query[known]] = known  # a repeated query keeps its last line
    twice = np.bincount(line_query[known], minlength=n_split) > 1
    return np.arange(n_split, dtype=np.int64), line, twice


def join(preds: PredictionColumns, split: SplitKeys, rule: JoinRule = CANONICAL) -> Joined:
    """Join prediction columns to a split under ``rule``; vectorised but for parsing the texts it needs."""
    line_query = match_qids(preds.qid, split.qid, split.source_id)
    query, line, twice = _units(preds, line_query, len(split.start), rule)
    has_line = line >= 0
    at = np.maximum(line, 0)
    s = np.where(has_line, preds.start[at], np.nan)
    e = np.where(has_line, preds.end[at], np.nan)
    reversed_ = np.zeros(len(line), dtype=bool)
    if rule.swap_reversed:
        reversed_ = np.isfinite(s) & np.isfinite(e) & (s > e)
        s[reversed_], e[reversed_] = e[reversed_], s[reversed_].copy()
    if rule.pred_as_written:
        needs_text = has_line & ~preds.has_pred_key[at]
    else:
        needs_text = has_line & ~(np.isfinite(s) & np.isfinite(e))
    from_text = np.zeros(len(line), dtype=bool)
    if preds.text is not None and needs_text.any():
        rows = np.flatnonzero(needs_text)
        duration = split.duration[query[rows]] if rule.clip_to_duration else None
        ts, te, trev = _text_spans(preds.text, line[rows], rule.parser, duration)
        s[rows], e[rows] = ts, te
        reversed_[rows] |= trev
        from_text[rows] = ~np.isnan(ts)  # the parser found a span (a huge number may read as inf)
    in_split = query >= 0
    gs = np.where(in_split, split.start[np.maximum(query, 0)], np.nan)
    ge = np.where(in_split, split.end[np.maximum(query, 0)], np.nan)
    if rule.line_targets and preds.target_start is not None:
        ts, te = preds.target_start[at], preds.target_end[at]
        own = has_line & np.isfinite(ts) & np.isfinite(te)
        gs, ge = np.where(own, ts, gs), np.where(own, te, ge)
    usable = np.isfinite(s) & np.isfinite(e)
    iou = temporal_iou_array(s, e, gs, ge) * usable
    status = np.full(len(line), SCORED, dtype=np.int8)
    status[~usable] = UNPARSEABLE
    status[~(np.isfinite(gs) & np.isfinite(ge))] = UNKNOWN
    status[~has_line] = MISSING
    if not rule.last_wins:
        status[twice] = DUPLICATE
    return Joined(query, line, status, s, e, gs, ge, iou, reversed_, from_text, line_query)


def best_window_iou(windows: list, joined: Joined) -> np.ndarray:
    """Per unit, the best IoU among the line's top :data:`MAX_WINDOWS` windows by score (0 without windows)."""
    best = np.zeros(len(joined))
    for u in np.flatnonzero(joined.line >= 0):
        w = windows[joined.line[u]]
        if not w:
            continue
        ranked = sorted(w, key=lambda x: -(x[2] if len(x) > 2 else 0.0))[:MAX_WINDOWS]
        arr = np.array([(x[0], x[1]) for x in ranked], dtype=np.float64)
        ious = temporal_iou_array(np.minimum(arr[:, 0], arr[:, 1]), np.maximum(arr[:, 0], arr[:, 1]),
                                  joined.gt_start[u], joined.gt_end[u])
        best[u] = max(best[u], float(ious.max()))
    return best
