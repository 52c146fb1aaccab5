"""``--compat moment-detr``: moment_detr's ``standalone_eval`` (QVHighlights) on timer1's join.

What counts, as moment_detr's ``eval_submission(..., match_number=False)`` has it:

* the queries scored are those both in the split and in the file with at least one window (moment_detr
  asserts the two sets are equal by default; without the check it scores their intersection, and a line
  without windows has no place in its mAP); a qid named twice is an error (moment_detr would merge its
  windows for mAP but keep the last line for R1);
* a line's windows are ``pred_relevant_windows`` (or ``windows``) as written, else its ``pred`` span;
  R1 takes the first, mAP the first :data:`~tvgbench.core.multiwindow.MAX_PRED_WINDOWS` by score;
* the ground truth is every true window of the query (``windows``; a single-window split's ``span``);
* metrics are percentages rounded to 2 decimals (``float(f"{100 * v:.2f}")``) under moment_detr's names:
  ``MR-full-mAP``, ``MR-full-mAP@0.5``, ``MR-full-mAP@0.75``, ``MR-{short,middle,long}-mAP``,
  ``MR-full-R1@0.5``, ``MR-full-R1@0.7``, and with saliency ``HL-min-{Fair,Good,VeryGood}-{mAP,Hit1}``;
  the whole table (every θ, every bucket) is the result's ``moment_detr`` object.

Definitions: :mod:`tvgbench.core.multiwindow`. Means are exact sums (``math.fsum``) divided by the count.

Where moment_detr's code has no defined answer, timer1 says what it does: two windows with a zero union
have IoU 0 (moment_detr divides by zero, and its matching walk takes the NaN as a match); a line with an
empty window list is left out (moment_detr's R1 fails on it); of true windows with equal IoU the matching
takes the later (moment_detr's order depends on numpy's argsort of ties). On real submissions none of
these arise (the tests compare every θ and bucket with a loop reference on QVHighlights val).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import DUPLICATE
from tvgbench.core.metrics import THRESHOLDS, hits, temporal_iou_array
from tvgbench.core.multiwindow import (
    LENGTH_BUCKETS, MAP_THRESHOLDS, MAX_PRED_WINDOWS, SALIENCY_LEVELS, average_precision, best_window, clip_scores,
    cross_iou, highlight_ap, highlight_hit1, in_bucket, pad_windows, recall1_iou, saliency_labels, top_clips,
)
from tvgbench.core.predictions import MAX_WINDOWS
from tvgbench.core.splits import read_sidecar, read_split_table, resolve_split

MODE = "moment-detr"
DENOMINATOR = "queries in both the split and the file"
ANNOTATORS = 3


def pct(v: float) -> float:
    """moment_detr's rounding: a fraction as a percentage with 2 decimals."""
    return float(f"{100 * v:.2f}")


def mean(values) -> float:
    values = np.asarray(values, dtype=np.float64).ravel()
    return math.fsum(values) / len(values) if len(values) else 0.0


def read_truth(split_dir, split_name: str | None = None) -> tuple[list | None, list | None]:
    """The split's true windows and saliency per row (None where the split has no such column)."""
    d, name, _ = resolve_split(split_dir, split_name)
    optional = read_sidecar(d).get("splits", {}).get(name, {}).get("optional_columns") or []
    if not optional:
        return None, None
    t = read_split_table(d, name, columns=list(optional))
    windows = t.column("windows").to_pylist() if "windows" in optional else None
    saliency = t.column("saliency").to_pylist() if "saliency" in optional else None
    return windows, saliency


def line_windows(preds, joined, units: np.ndarray) -> list:
    """Each unit's windows as its line wrote them, else the span the canonical join read (its ``pred``, or
    its text through the canonical parser) as one window scoring 0."""
    out = []
    for u in units:
        w = preds.windows[joined.line[u]] if preds.windows is not None else None
        if not w and np.isfinite(joined.start[u]) and np.isfinite(joined.end[u]):
            w = [(float(joined.start[u]), float(joined.end[u]), 0.0)]
        out.append(w or [])
    return out


def retrieval_metrics(pred: tuple, truth: tuple, bucket: tuple[float, float] | None = None) -> dict:
    """``{"MR-mAP": {θ: v, ..., "average": v}, "MR-R1": {θ: v, ...}, "n": queries, "iou": R1 IoUs}`` at full
    precision (fractions) over the queries with a true window in ``bucket`` (all when None); ``pred`` and
    ``truth`` are :func:`~tvgbench.core.multiwindow.pad_windows` arrays."""
    ps, pe, score, pvalid = pred
    gs, ge, _, gvalid = truth
    if bucket is not None:
        gvalid = in_bucket(gs, ge, gvalid, bucket)
    keep = gvalid.any(axis=1) & pvalid.any(axis=1)
    ps, pe, score, pvalid, gs, ge, gvalid = (a[keep] for a in (ps, pe, score, pvalid, gs, ge, gvalid))
    ap = average_precision(ps, pe, score, pvalid, gs, ge, gvalid, MAP_THRESHOLDS)
    per_theta = [mean(ap[:, k]) for k in range(len(MAP_THRESHOLDS))]
    iou = recall1_iou(ps[:, 0], pe[:, 0], gs, ge, gvalid)
    r1 = {str(t): mean(hits(iou, t)) for t in MAP_THRESHOLDS}
    return {"MR-mAP": {**{str(t): v for t, v in zip(MAP_THRESHOLDS, per_theta)}, "average": mean(per_theta)},
            "MR-R1": r1, "n": int(keep.sum()), "iou": iou}


def highlight_metrics(pred_saliency: list, saliency: list, duration: np.ndarray) -> dict:
    """``{"HL-min-Fair": {"HL-mAP": v, "HL-Hit1": v}, ...}`` at full precision (fractions)."""
    labels, n_clips = saliency_labels(saliency, duration)
    scores = clip_scores(pred_saliency, n_clips)
    levels = list(SALIENCY_LEVELS.values())
    # every (level, annotator) label column at once: the clips are sorted by score once
    positive = np.concatenate([labels >= level for level in levels], axis=2)
    ap = highlight_ap(scores, positive, n_clips).reshape(len(scores), len(levels), ANNOTATORS)
    top = top_clips(pred_saliency)
    out = {}
    for k, (name, level) in enumerate(SALIENCY_LEVELS.items()):
        hit = highlight_hit1(top, labels, n_clips, level)
        out[f"HL-min-{name}"] = {"HL-mAP": mean(ap[:, k, :]), "HL-Hit1": mean(hit)}
    return out


def full_table(pred_windows, true_windows, pred_saliency=None, saliency=None, duration=None) -> dict:
    """Every metric moment_detr reports, at full precision: buckets ``short``/``middle``/``long``/``full``
    and, with saliency on both sides, ``HL-min-*``."""
    pred, truth = pad_windows(pred_windows, MAX_PRED_WINDOWS), pad_windows(true_windows)
    table = {name: retrieval_metrics(pred, truth, b) for name, b in LENGTH_BUCKETS.items()}
    table["full"] = retrieval_metrics(pred, truth)
    if pred_saliency is not None and saliency is not None:
        table.update(highlight_metrics(pred_saliency, saliency, duration))
    return table


def brief(table: dict) -> dict[str, float]:
    """moment_detr's ``brief`` block: its names, its key order, its rounding."""
    mr = {
        "MR-full-mAP": table["full"]["MR-mAP"]["average"], "MR-full-mAP@0.5": table["full"]["MR-mAP"]["0.5"],
        "MR-full-mAP@0.75": table["full"]["MR-mAP"]["0.75"], "MR-short-mAP": table["short"]["MR-mAP"]["average"],
        "MR-middle-mAP": table["middle"]["MR-mAP"]["average"], "MR-long-mAP": table["long"]["MR-mAP"]["average"],
        "MR-full-R1@0.5": table["full"]["MR-R1"]["0.5"], "MR-full-R1@0.7": table["full"]["MR-R1"]["0.7"],
    }
    out = {k: pct(v) for k, v in sorted(mr.items())}
    for level in SALIENCY_LEVELS:
        for key, v in table.get(f"HL-min-{level}", {}).items():
            out[f"HL-min-{level}-{key.split('-')[1]}"] = pct(v)
    return out


def rounded(table: dict) -> dict:
    """The table as moment_detr writes it (2 decimals; the counts and per-query IoUs left out)."""
    out = {}
    for name, block in table.items():
        out[name] = {k: ({kk: pct(vv) for kk, vv in v.items()} if isinstance(v, dict) else pct(v))
                     for k, v in block.items() if k not in ("n", "iou")}
    return out


def match_best_windows(joined, true_windows: list) -> None:
    """Canonical scoring on a multi-window split: each unit's span scores against the true window of its
    query with the highest IoU with it (moment_detr's R1 rule); ``joined``'s ground truth and IoU follow."""
    units = np.flatnonzero(joined.query >= 0)
    if not len(units):
        return
    gs, ge, _, gvalid = pad_windows([true_windows[q] for q in joined.query[units]])
    s, e = joined.start[units], joined.end[units]
    usable = np.isfinite(s) & np.isfinite(e)
    j = best_window(np.where(usable, s, 0.0), np.where(usable, e, 0.0), gs, ge, gvalid)
    rows = np.arange(len(units))
    joined.gt_start[units], joined.gt_end[units] = gs[rows, j], ge[rows, j]
    joined.iou[units] = np.where(usable, temporal_iou_array(s, e, gs[rows, j], ge[rows, j]), 0.0)


def best_of_windows_iou(preds, joined, true_windows: list) -> np.ndarray:
    """R5's IoU on a multi-window split: per unit, the best IoU of the line's top windows by score
    (:data:`~tvgbench.core.predictions.MAX_WINDOWS`) with any true window of its query (0 without windows)."""
    best = np.zeros(len(joined))
    units = np.flatnonzero((joined.line >= 0) & (joined.query >= 0))
    ranked = [sorted(preds.windows[joined.line[u]] or [], key=lambda w: -(w[2] if len(w) > 2 else 0.0))[:MAX_WINDOWS]
              for u in units]
    ranked = [[(min(w[0], w[1]), max(w[0], w[1])) for w in r] for r in ranked]  # reversed windows swapped
    ps, pe, _, pvalid = pad_windows(ranked)
    gs, ge, _, gvalid = pad_windows([true_windows[q] for q in joined.query[units]])
    iou = cross_iou(ps, pe, gs, ge)
    iou = np.where(pvalid[:, :, None] & gvalid[:, None, :], iou, 0.0)
    best[units] = iou.max(axis=(1, 2), initial=0.0)
    return best


def _scored_units(joined, preds) -> tuple[np.ndarray, np.ndarray, list]:
    twice = joined.status == DUPLICATE
    if twice.any():
        raise Timer1Error(f"{int(twice.sum())} qids appear more than once; moment_detr's scorer needs one line "
                          "per qid (it would merge their windows for mAP and keep the last for R1)")
    rows = np.flatnonzero(joined.line >= 0)
    windows = line_windows(preds, joined, rows)
    has = np.array([len(w) > 0 for w in windows], dtype=bool)
    return rows[has], joined.line[rows[has]], [w for w, h in zip(windows, has) if h]


def score_units(joined, preds, split, truth: tuple[list | None, list | None], counts: dict):
    """``(iou, units, groups, metrics, extra)`` for :func:`tvgbench.core.scoring.score`: per scored query the
    R1 IoU, its video and breakdown groups; the headline metrics; and the result's extra keys."""
    true_windows, saliency = truth
    rows, lines, pred_windows = _scored_units(joined, preds)
    if true_windows is None:
        true_windows = [[(float(s), float(e))] for s, e in zip(split.start, split.end)]
    gt = [true_windows[q] for q in rows]
    pred_sal = None
    if preds.saliency is not None and saliency is not None:
        pred_sal = [preds.saliency[line] for line in lines]
        if any(p is None for p in pred_sal):
            missing = sum(p is None for p in pred_sal)
            raise Timer1Error(f"{missing} of {len(pred_sal)} scored lines have no pred_saliency_scores; "
                              "moment_detr scores highlights only when every line has them")
    table = full_table(pred_windows, gt, pred_sal, None if pred_sal is None else [saliency[q] for q in rows],
                       split.duration[rows])
    iou = table["full"]["iou"]
    counts.update(scored=len(rows), matched=int((joined.line >= 0).sum()),
                  missing=int(len(split.start) - (joined.line >= 0).sum()),
                  no_windows=int((joined.line >= 0).sum() - len(rows)), unparseable=0)
    metrics = {f"R1@{t}": pct(mean(hits(iou, t))) for t in THRESHOLDS}
    metrics["mIoU"] = pct(mean(iou))
    short = brief(table)
    metrics.update({"mAP": short["MR-full-mAP"], "mAP@0.5": short["MR-full-mAP@0.5"],
                    "mAP@0.75": short["MR-full-mAP@0.75"], **short})
    units = split.video.take(rows)
    groups = {k: v.take(rows) for k, v in split.groups.items()}
    extra = {"denominator": DENOMINATOR, "peer_metrics": short, "moment_detr": rounded(table)}
    return iou, units, groups, metrics, extra
