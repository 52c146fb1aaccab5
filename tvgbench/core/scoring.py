"""The scorer: predictions + split → R1@θ, mIoU, breakdowns and bootstrap intervals.

Two modes, both auditable in one sitting:

``canonical`` (default)
    hit = IoU ≥ θ; the denominator is every query of the split; a missing or unparseable prediction
    counts as IoU 0 and is counted. Numeric ``pred`` spans are used as given (reversed ones are
    swapped and counted); lines without a finite ``pred`` are parsed from ``text``/``output_text``
    with the canonical parser. Duplicate qids are an error. On a multi-window split (QVHighlights) a
    span scores against the true window of highest IoU with it, and R5 against any true window.
``timer1``
    Time-R1's ``eval_all.py``: hit = IoU > θ; the denominator is the distinct qids
    loaded (the last duplicate wins); ``pred`` is used exactly as written ([null, null] → 0), or
    parsed with Time-R1's eval parser when only text is given (``"pred": null`` is no pred, as every
    null is an absent key); the ground truth is the line's
    ``target`` when present; ``avg`` = mean(mIoU, R1@0.3, R1@0.5, R1@0.7). NaN IoUs become 0.

``timelens`` / ``lmms-eval``
    TimeLens's ``compute_metrics.py`` and lmms-eval's ``temporal_grounding_charades``: hit = IoU ≥ θ; the
    denominator is the entries in the file (one per distinct qid or result key, the last one winning);
    a line's raw text is parsed with the peer's parser (``tvgbench.core.parsing``: the first pair; none →
    IoU 0, counted), as the peers parse every answer themselves (a run's lines also carry the canonical
    parser's span, which these modes ignore); a numeric span (TimeLens's ``timestamps``) is used as
    written where there is no text; the ground truth is the span in the entry's key (a line's
    ``target``) when it has one. Metric names as the peer prints them are in ``peer_metrics``.

``moment-detr``
    moment_detr's ``standalone_eval`` for QVHighlights (:mod:`tvgbench.core.moment_detr`): the queries in
    both the split and the file; R1 of the first window against the best true window, mAP over ten IoU
    thresholds and three length buckets, highlight mAP / HIT@1; its names and 2-decimal rounding.

What a prediction line means is :func:`tvgbench.core.predictions.read_line`; how lines meet the split's queries
is :func:`tvgbench.core.join.join` (rules ``CANONICAL`` and ``TIMER1``); the hit rule is :func:`tvgbench.core.metrics.hits`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tvgbench.core import moment_detr
from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import CANONICAL, DUPLICATE, SCORED, TIMER1, UNKNOWN, UNPARSEABLE, best_window_iou, join
from tvgbench.core.metrics import THRESHOLDS, hits, recall_at
from tvgbench.core.predictions import PredictionColumns, read_predictions
from tvgbench.core.splits import read_sidecar, read_split_table, resolve_split
from tvgbench.core.timer1_ids import realign_timer1_ids
from tvgbench.core.version import SCORER_VERSION

MODES = ("canonical", "timer1", "timelens", "lmms-eval", "moment-detr")
# the peers' scorers: one unit per entry of the file (last wins), the peer's parser, the entry's own span
PEER_RULES = {
    "timelens": replace(TIMER1, pred_as_written=False, parser="timelens"),
    "lmms-eval": replace(TIMER1, pred_as_written=False, parser="lmms-eval"),
}
# our headline names -> the names each peer prints (TimeLens: R1@0.3..., mIoU; lmms-eval charades_sta task)
PEER_METRIC_NAMES = {
    "timelens": {"R1@0.3": "R1@0.3", "R1@0.5": "R1@0.5", "R1@0.7": "R1@0.7", "mIoU": "mIoU"},
    "lmms-eval": {"R1@0.3": "iou_0.3", "R1@0.5": "iou_0.5", "R1@0.7": "iou_0.7", "mIoU": "m_iou"},
}
HEADLINE = tuple(f"R1@{t}" for t in THRESHOLDS) + ("mIoU",)
BREAKDOWN_KEYS = ("qtype", "source", "videolen")
DENOMINATORS = {"timer1": "distinct predicted qids", "timelens": "entries in the file", "lmms-eval": "entries in the file"}


@dataclass
class SplitColumns:
    qid: Any  # pyarrow StringArray
    source_id: Any
    start: np.ndarray
    end: np.ndarray
    duration: np.ndarray
    video: Any
    groups: dict[str, Any]  # breakdown key -> pyarrow array
    name: str
    content_hash: str | None


def read_split_columns(split_dir: str | os.PathLike, split: str | None = None) -> SplitColumns:
    d, name, _ = resolve_split(split_dir, split)
    t = read_split_table(d, name, columns=["qid", "source_id", "span", "duration", "video", "source", "qtype",
                                           "bins"])
    span = t.column("span").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)
    # a raw video with several windows is one correlated unit: key the bootstrap on the file
    groups = {
        "qtype": pc.fill_null(t.column("qtype").combine_chunks(), "(none)"),
        "source": t.column("source").combine_chunks(),
        "videolen": pc.struct_field(t.column("bins").combine_chunks(), "videolen"),
    }
    info = read_sidecar(d).get("splits", {}).get(name, {})
    return SplitColumns(
        qid=t.column("qid").combine_chunks(), source_id=t.column("source_id").combine_chunks(),
        start=span[:, 0].copy(), end=span[:, 1].copy(), duration=t.column("duration").to_numpy(),
        video=t.column("video").combine_chunks(), groups=groups, name=name,
        content_hash=info.get("content_hash"),
    )


def _group_metrics(iou: np.ndarray, keys, strict: bool) -> dict[str, dict[str, Any]]:
    enc = pc.dictionary_encode(keys).combine_chunks() if hasattr(keys, "chunks") else pc.dictionary_encode(keys)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    labels = [str(x) for x in enc.dictionary.to_pylist()]
    n = np.bincount(codes, minlength=len(labels))
    out = {}
    sums = {"mIoU": np.bincount(codes, weights=iou, minlength=len(labels))}
    for t in THRESHOLDS:
        sums[f"R1@{t}"] = np.bincount(codes, weights=hits(iou, t, strict).astype(np.float64), minlength=len(labels))
    order = sorted(range(len(labels)), key=lambda j: (not labels[j].isdigit(), int(labels[j]) if labels[j].isdigit() else 0, labels[j]))
    for j in order:
        if n[j] == 0:
            continue
        out[labels[j]] = {"n": int(n[j]), **{m: round(float(sums[m][j] / n[j] * 100), 4) for m in HEADLINE}}
    return out


def bootstrap_ci(iou: np.ndarray, units, *, strict: bool, samples: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> dict[str, list[float]]:
    """Percentile intervals of the headline metrics, resampling whole videos with replacement."""
    if len(iou) == 0 or samples <= 0:
        return {}
    codes = pc.dictionary_encode(units).indices.to_numpy(zero_copy_only=False)
    n_units = int(codes.max()) + 1
    per_item = np.stack([iou] + [hits(iou, t, strict).astype(np.float64) for t in THRESHOLDS]
                        + [np.ones_like(iou)], 1)
    # per-video sums; the last column counts queries, so a resampled mean is sum/count
    sums = np.stack([np.bincount(codes, weights=col, minlength=n_units) for col in per_item.T], 1)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(samples, 4_000_000 // n_units))
    stats = []
    for lo in range(0, samples, chunk):
        b = min(chunk, samples - lo)
        draws = rng.integers(0, n_units, size=(b, n_units))
        # how often each video was drawn in each resample, then one matrix product for all metrics
        weights = np.bincount((draws + np.arange(b)[:, None] * n_units).ravel(), minlength=b * n_units)
        tot = weights.reshape(b, n_units).astype(np.float64) @ sums
        stats.append(tot[:, :-1] / np.maximum(tot[:, -1:], 1.0))
    stats = np.concatenate(stats) * 100.0
    lo_q, hi_q = 100 * alpha / 2, 100 * (1 - alpha / 2)
    names = ["mIoU"] + [f"R1@{t}" for t in THRESHOLDS]
    return {m: [round(float(np.percentile(stats[:, k], lo_q)), 4), round(float(np.percentile(stats[:, k], hi_q)), 4)]
            for k, m in enumerate(names)}


def _canonical(joined, preds: PredictionColumns, split: SplitColumns, counts: dict):
    """Every split query counts; a query named twice is an error."""
    twice = joined.status == DUPLICATE
    if twice.any():
        first = int(np.flatnonzero(twice)[0])
        raise Timer1Error(
            f"{int(twice.sum())} qids appear more than once (first: {split.qid[first].as_py()}); "
            "canonical scoring needs one line per qid (--compat timer1 keeps the last)")
    matched = int((joined.line_query >= 0).sum())
    counts.update(
        scored=len(joined), matched=matched, missing=len(joined) - matched,
        unparseable=joined.count(UNPARSEABLE), reversed=int(joined.reversed.sum()),
        parsed_from_text=int((joined.from_text & np.isfinite(joined.start)).sum()),
    )
    r5 = None
    if preds.windows:
        best = best_window_iou(preds.windows, joined)
        r5 = {f"R5@{t}": round(recall_at(best, t), 4) for t in THRESHOLDS}
    return joined.iou, split.video, split.groups, r5


def _timer1(joined, preds: PredictionColumns, split: SplitColumns, counts: dict):
    """The distinct predicted qids count, each scored on its own target when it has one."""
    counts["duplicates_dropped"] = int(len(preds) - len(joined))
    counts["unscorable_no_target"] = joined.count(UNKNOWN)
    keep = (joined.status == SCORED) | (joined.status == UNPARSEABLE)
    q, rows = joined.query[keep], joined.line[keep]
    counts.update(scored=int(keep.sum()), unparseable=joined.count(UNPARSEABLE))
    # queries unknown to the split (scored on their own target) form their own groups
    known = pa.array(q >= 0)
    at = pa.array(np.maximum(q, 0))
    qarr = preds.qid if isinstance(preds.qid, (pa.Array, pa.ChunkedArray)) else pa.array(preds.qid, pa.string())
    units = pc.if_else(known, split.video.take(at), qarr.take(pa.array(rows)))
    outside = {"qtype": "(not in split)", "source": "(not in split)", "videolen": -1}
    groups = {k: pc.if_else(known, v.take(at), pa.scalar(outside[k], v.type)) for k, v in split.groups.items()}
    return joined.iou[keep], units, groups, None


def text_first(preds: PredictionColumns) -> PredictionColumns:
    """The peers parse every raw answer themselves: a line's text, when it has one, replaces its ``pred``
    (a run's lines carry both: the text and the canonical parser's span)."""
    if preds.text is None:
        return preds
    if isinstance(preds.text, (pa.Array, pa.ChunkedArray)):
        has_text = pc.is_valid(preds.text).to_numpy(zero_copy_only=False)
    else:
        has_text = np.array([t is not None for t in preds.text], dtype=bool)
    return replace(preds, start=np.where(has_text, np.nan, preds.start), end=np.where(has_text, np.nan, preds.end))


def unknown_predictions(result: dict[str, Any]) -> tuple[int, int]:
    """(predictions naming a qid the split does not hold, predictions) of a :func:`score` result.

    Canonical mode counts lines; timer1 mode counts distinct qids, and a qid scored on its line's own
    ``target`` is not unknown there (Time-R1's files carry their ground truth).
    """
    counts = result["counts"]
    if result["mode"] in DENOMINATORS:  # one unit per predicted entry: timer1 and the peers' modes
        unknown = counts["unscorable_no_target"]
        return unknown, counts["scored"] + unknown
    return counts["unknown_qids"], counts["prediction_lines"]


def unknown_warning(unknown: int, total: int, split_name: str, split_dir: str | os.PathLike, *,
                    allow: bool = False) -> str | None:
    """The stderr warning when ``unknown`` of ``total`` predictions name qids split ``split_name`` does
    not hold (None when none do). Most of them unknown is an error unless ``allow``: predictions for
    another split would otherwise give near-zero results in silence (``eval score``, ``data difficulty``).
    """
    if not unknown:
        return None
    what = f"{unknown} of {total} predictions name qids that are not in split '{split_name}' of {split_dir}"
    if 2 * unknown > total and not allow:
        raise Timer1Error(f"{what}: are these predictions for another split? (--allow-unknown scores them anyway)")
    return f"warning: {what}; they are not scored"


def score(pred_path: str | os.PathLike, split_dir: str | os.PathLike, *, mode: str = "canonical",
          split_name: str | None = None, bootstrap: int = 1000, seed: int = 0,
          predictions: PredictionColumns | None = None, timer1_videos: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score a prediction file against a split; returns the documented result object.

    Time-R1 ids shifted by a run that skipped videos are put back first (:mod:`tvgbench.core.timer1_ids`,
    from the lines' targets or the ``timer1_videos`` list).
    """
    if mode not in MODES:
        raise Timer1Error(f"unknown scoring mode {mode!r}; choose one of {', '.join(MODES)}")
    split = read_split_columns(split_dir, split_name)
    peer_rule = PEER_RULES.get(mode)
    preds = predictions if predictions is not None else read_predictions(pred_path, split_dir, split_name,
                                                                         keep_text=peer_rule is not None)
    if peer_rule is not None:
        preds = text_first(preds)
    realigned = realign_timer1_ids(preds, split_dir, split_name, timer1_videos, name=str(pred_path), split_qid=split.qid)
    strict = mode == "timer1"
    joined = join(preds, split, peer_rule or (TIMER1 if strict else CANONICAL))
    counts: dict[str, int] = {"split_queries": len(split.start), "prediction_lines": len(preds),
                              "unknown_qids": int((joined.line_query < 0).sum())}
    extra: dict[str, Any] = {}  # keys a compat mode adds to the result
    if mode == "canonical":
        true_windows = moment_detr.read_truth(split_dir, split_name)[0]
        if true_windows is not None:  # several true windows: a span scores against the best-matching one
            moment_detr.match_best_windows(joined, true_windows)
        iou, units, groups, r5 = _canonical(joined, preds, split, counts)
        if true_windows is not None and r5:
            best = moment_detr.best_of_windows_iou(preds, joined, true_windows)
            r5 = {f"R5@{t}": round(recall_at(best, t), 4) for t in THRESHOLDS}
    elif mode == moment_detr.MODE:  # its R1 / mAP / highlight metrics, 2 decimals, override the headline ones
        truth = moment_detr.read_truth(split_dir, split_name)
        iou, units, groups, r5, extra = moment_detr.score_units(joined, preds, split, truth, counts)
    else:
        iou, units, groups, r5 = _timer1(joined, preds, split, counts)

    metrics = {f"R1@{t}": round(recall_at(iou, t, strict), 4) for t in THRESHOLDS}
    metrics["mIoU"] = round(float(iou.mean() * 100) if len(iou) else 0.0, 4)
    if r5:
        metrics.update(r5)
    if mode == "timer1":
        metrics["avg"] = round(float(np.mean([metrics[m] for m in HEADLINE])), 4)
    result = {
        "scorer_version": SCORER_VERSION,
        "mode": mode,
        "hit_rule": "IoU > θ" if strict else "IoU >= θ",
        "denominator": DENOMINATORS.get(mode, "all split queries"),
        "split": {"name": split.name, "path": str(split_dir), "content_hash": split.content_hash,
                  "queries": len(split.start)},
        "predictions": str(pred_path),
        "counts": counts,
        "metrics": metrics,
        "ci95": bootstrap_ci(iou, units, strict=strict, samples=bootstrap, seed=seed),
        "bootstrap": {"unit": "video", "samples": bootstrap, "seed": seed, "method": "percentile"},
        "breakdowns": {k: _group_metrics(iou, groups[k], strict) for k in BREAKDOWN_KEYS},
    }
    if preds.peer_report:
        result["peer_file"] = preds.peer_report
    if realigned:
        result["timer1_ids"] = realigned
    if mode in PEER_METRIC_NAMES:
        result["peer_metrics"] = {theirs: float(recall_at(iou, float(ours[3:])) if ours != "mIoU" else
                                                (iou.mean() * 100 if len(iou) else 0.0))
                                  for ours, theirs in PEER_METRIC_NAMES[mode].items()}
    result.update(extra)
    return result
