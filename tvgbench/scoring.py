"""The scorer: predictions + split → R1@θ, mIoU, breakdowns and bootstrap intervals.

Two modes, both auditable in one sitting:

``canonical`` (default)
    hit = IoU ≥ θ; the denominator is every query of the split; a missing or unparseable prediction
    counts as IoU 0 and is counted. Numeric ``pred`` spans are used as given (reversed ones are
    swapped and counted); lines without a usable ``pred`` are parsed from ``text``/``output_text``
    with the canonical parser. Duplicate qids are an error.
``timer1``
    Time-R1's ``eval_all.py``: hit = IoU > θ; the denominator is the distinct qids
    loaded (the last duplicate wins); ``pred`` is used exactly as written ([null, null] → 0), or
    parsed with Time-R1's eval parser when only text is given; the ground truth is the line's
    ``target`` when present; ``avg`` = mean(mIoU, R1@0.3, R1@0.5, R1@0.7). NaN IoUs become 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import Timer1Error
from .metrics import THRESHOLDS, temporal_iou_array
from .parsing import FLAG_REVERSED, parse_answer
from .predictions import MAX_WINDOWS, PredictionColumns, read_predictions

SCORER_VERSION = "1.0.0"
MODES = ("canonical", "timer1")
HEADLINE = tuple(f"R1@{t}" for t in THRESHOLDS) + ("mIoU",)
BREAKDOWN_KEYS = ("qtype", "source", "videolen")


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
    import pyarrow.compute as pc

    from .splits import read_sidecar, read_split_table, resolve_split

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


def _join(pred_qid, split: SplitColumns) -> np.ndarray:
    """Index of each prediction's query in the split (-1 when unknown); Time-R1 ids are aliases."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(pred_qid, (pa.Array, pa.ChunkedArray)):
        pred_qid = pa.array(pred_qid, type=pa.string())
    if len(pred_qid) == len(split.qid) and pred_qid.equals(split.qid):
        return np.arange(len(pred_qid), dtype=np.int64)  # predictions in split order: nothing to hash
    idx = pc.index_in(pred_qid, value_set=split.qid)
    if idx.null_count and split.source_id.null_count < len(split.source_id):
        alias = pc.index_in(pred_qid, value_set=split.source_id)
        idx = pc.coalesce(idx, alias)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


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


def _group_metrics(iou: np.ndarray, keys, strict: bool) -> dict[str, dict[str, Any]]:
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(keys).combine_chunks() if hasattr(keys, "chunks") else pc.dictionary_encode(keys)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    labels = [str(x) for x in enc.dictionary.to_pylist()]
    n = np.bincount(codes, minlength=len(labels))
    out = {}
    sums = {"mIoU": np.bincount(codes, weights=iou, minlength=len(labels))}
    for t in THRESHOLDS:
        hit = (iou > t) if strict else (iou >= t)
        sums[f"R1@{t}"] = np.bincount(codes, weights=hit.astype(np.float64), minlength=len(labels))
    order = sorted(range(len(labels)), key=lambda j: (not labels[j].isdigit(), int(labels[j]) if labels[j].isdigit() else 0, labels[j]))
    for j in order:
        if n[j] == 0:
            continue
        out[labels[j]] = {"n": int(n[j]), **{m: round(float(sums[m][j] / n[j] * 100), 4) for m in HEADLINE}}
    return out


def bootstrap_ci(iou: np.ndarray, units, *, strict: bool, samples: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> dict[str, list[float]]:
    """Percentile intervals of the headline metrics, resampling whole videos with replacement."""
    import pyarrow.compute as pc

    if len(iou) == 0 or samples <= 0:
        return {}
    codes = pc.dictionary_encode(units).indices.to_numpy(zero_copy_only=False)
    n_units = int(codes.max()) + 1
    per_item = np.stack([iou] + [((iou > t) if strict else (iou >= t)).astype(np.float64) for t in THRESHOLDS]
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


def _recall5(windows, rows: np.ndarray, idx: np.ndarray, split: SplitColumns, n_total: int, strict: bool):
    best = np.zeros(n_total)
    for r, q in zip(rows, idx):
        w = windows[r]
        if not w:
            continue
        ranked = sorted(w, key=lambda x: -(x[2] if len(x) > 2 else 0.0))[:MAX_WINDOWS]
        arr = np.array([(x[0], x[1]) for x in ranked], dtype=np.float64)
        ious = temporal_iou_array(np.minimum(arr[:, 0], arr[:, 1]), np.maximum(arr[:, 0], arr[:, 1]),
                                  split.start[q], split.end[q])
        best[q] = max(best[q], float(ious.max()))
    return {f"R5@{t}": round(float(((best > t) if strict else (best >= t)).mean() * 100), 4) for t in THRESHOLDS}


def score(pred_path: str | os.PathLike, split_dir: str | os.PathLike, *, mode: str = "canonical",
          split_name: str | None = None, bootstrap: int = 1000, seed: int = 0,
          predictions: PredictionColumns | None = None) -> dict[str, Any]:
    """Score a prediction file against a split; returns the documented result object."""
    if mode not in MODES:
        raise Timer1Error(f"unknown scoring mode {mode!r}; choose one of {', '.join(MODES)}")
    split = read_split_columns(split_dir, split_name)
    preds = predictions if predictions is not None else read_predictions(pred_path)
    idx = _join(preds.qid, split)
    n_lines = len(preds)
    strict = mode == "timer1"
    counts: dict[str, int] = {"split_queries": len(split.start), "prediction_lines": n_lines,
                              "unknown_qids": int((idx < 0).sum())}

    if mode == "canonical":
        known = np.flatnonzero(idx >= 0)
        qidx = idx[known]
        dup = np.bincount(qidx, minlength=len(split.start))
        if (dup > 1).any():
            first = int(np.flatnonzero(dup > 1)[0])
            raise Timer1Error(
                f"{int((dup > 1).sum())} qids appear more than once (first: {split.qid[first].as_py()}); "
                "canonical scoring needs one line per qid (--compat timer1 keeps the last)")
        s, e = preds.start[known].copy(), preds.end[known].copy()
        usable = np.isfinite(s) & np.isfinite(e)
        reversed_ = usable & (s > e)
        s[reversed_], e[reversed_] = e[reversed_], s[reversed_].copy()
        parsed_from_text = 0
        if preds.text is not None and (~usable).any():
            rows = np.flatnonzero(~usable)
            ts, te, trev = _text_spans(preds.text, known[rows], "canonical", split.duration[qidx[rows]])
            s[rows], e[rows] = ts, te
            reversed_[rows] |= trev
            parsed_from_text = int(np.isfinite(ts).sum())
            usable = np.isfinite(s) & np.isfinite(e)
        iou = np.zeros(len(split.start))
        iou[qidx] = temporal_iou_array(s, e, split.start[qidx], split.end[qidx]) * usable
        counts.update(
            scored=len(split.start), matched=int(len(known)), missing=int(len(split.start) - len(known)),
            unparseable=int((~usable).sum()), reversed=int(reversed_.sum()), parsed_from_text=parsed_from_text,
        )
        units = split.video
        groups = split.groups
        r5 = _recall5(preds.windows, known, qidx, split, len(split.start), False) if preds.windows else None
    else:
        # last duplicate wins: keep each qid's final line
        import pyarrow as pa
        import pyarrow.compute as pc

        qarr = preds.qid if isinstance(preds.qid, (pa.Array, pa.ChunkedArray)) else pa.array(preds.qid, pa.string())
        enc = pc.dictionary_encode(qarr)
        codes = enc.indices.to_numpy(zero_copy_only=False)
        last = np.full(len(enc.dictionary), -1, dtype=np.int64)
        last[codes] = np.arange(len(codes))
        rows = last
        counts["duplicates_dropped"] = int(n_lines - len(rows))
        s, e = preds.start[rows].copy(), preds.end[rows].copy()
        no_pred_key = ~preds.has_pred_key[rows]
        if preds.text is not None and no_pred_key.any():
            sub = np.flatnonzero(no_pred_key)
            ts, te, _ = _text_spans(preds.text, rows[sub], "timer1-eval", None)
            s[sub], e[sub] = ts, te
        q = idx[rows]
        gs = np.where(q >= 0, split.start[np.maximum(q, 0)], np.nan)
        ge = np.where(q >= 0, split.end[np.maximum(q, 0)], np.nan)
        if preds.target_start is not None:
            has_t = np.isfinite(preds.target_start[rows]) & np.isfinite(preds.target_end[rows])
            gs = np.where(has_t, preds.target_start[rows], gs)
            ge = np.where(has_t, preds.target_end[rows], ge)
        scorable = np.isfinite(gs) & np.isfinite(ge)
        counts["unscorable_no_target"] = int((~scorable).sum())
        rows, q, s, e, gs, ge = rows[scorable], q[scorable], s[scorable], e[scorable], gs[scorable], ge[scorable]
        ok = np.isfinite(s) & np.isfinite(e)
        iou = temporal_iou_array(s, e, gs, ge) * ok
        counts.update(scored=int(len(rows)), unparseable=int((~ok).sum()))
        # queries unknown to the split (scored on their own target) form their own groups
        known = pa.array(q >= 0)
        at = pa.array(np.maximum(q, 0))
        units = pc.if_else(known, split.video.take(at), qarr.take(pa.array(rows)))
        outside = {"qtype": "(not in split)", "source": "(not in split)", "videolen": -1}
        groups = {k: pc.if_else(known, v.take(at), pa.scalar(outside[k], v.type)) for k, v in split.groups.items()}
        r5 = None

    metrics = {f"R1@{t}": round(float((((iou > t) if strict else (iou >= t)).mean() if len(iou) else 0.0) * 100), 4)
               for t in THRESHOLDS}
    metrics["mIoU"] = round(float(iou.mean() * 100) if len(iou) else 0.0, 4)
    if r5:
        metrics.update(r5)
    if mode == "timer1":
        metrics["avg"] = round(float(np.mean([metrics[m] for m in HEADLINE])), 4)
    result = {
        "scorer_version": SCORER_VERSION,
        "mode": mode,
        "hit_rule": "IoU > θ" if strict else "IoU >= θ",
        "denominator": "distinct predicted qids" if strict else "all split queries",
        "split": {"name": split.name, "path": str(split_dir), "content_hash": split.content_hash,
                  "queries": len(split.start)},
        "predictions": str(pred_path),
        "counts": counts,
        "metrics": metrics,
        "ci95": bootstrap_ci(iou, units, strict=strict, samples=bootstrap, seed=seed),
        "bootstrap": {"unit": "video", "samples": bootstrap, "seed": seed, "method": "percentile"},
        "breakdowns": {k: _group_metrics(iou, groups[k], strict) for k in BREAKDOWN_KEYS},
    }
    return result
