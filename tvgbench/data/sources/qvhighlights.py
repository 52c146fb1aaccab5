"""QVHighlights in moment_detr's JSONL (``highlight_{train,val}_release.jsonl``): one query per line.

A line holds ``qid`` (int), ``query``, ``duration`` (of the clip, 150 s for most), ``vid`` =
``{youtube_id}_{start}_{end}`` (the clip's place in the YouTube video; the file ``{vid}.mp4`` is the clip
itself), ``relevant_windows`` (up to 25 true windows, seconds in the clip), ``relevant_clip_ids`` and
``saliency_scores`` (per labelled 2-second clip, three annotators' scores 0-4). Every window becomes part
of the sample's ``windows`` (``span`` is the first); moment_detr's integer qid is the ``source_id``, so its
submissions (``{"qid": 2579, "pred_relevant_windows": ...}``) name the split's queries directly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import REJECT_MALFORMED, IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested, text_of

CLIP_SECONDS = 2.0  # moment_detr's clip_length: saliency is labelled per 2-second clip
ANNOTATORS = 3
MAX_SCORE = 4


def _lines(path: Path):
    if not path.exists():
        raise Timer1Error(f"file not found: {path}")
    if path.is_dir():
        raise Timer1Error(f"expected a file, got a folder: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Timer1Error(f"{path} is not UTF-8 text") from None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            yield lineno, json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as e:
            raise Timer1Error(f"{path} line {lineno} is not valid JSON ({e})") from None


def clip_window(vid: str) -> list[float] | None:
    """``[start, end]`` of the clip in its YouTube video, from ``{youtube_id}_{start}_{end}`` (None if not so)."""
    parts = vid.rsplit("_", 2)
    if len(parts) != 3:
        return None
    try:
        return [float(parts[1]), float(parts[2])]
    except ValueError:
        return None


def _saliency(rec: dict) -> tuple[dict | None, str]:
    """The record's saliency labels, or None with why they are malformed ('' when the record has none)."""
    ids, scores = rec.get("relevant_clip_ids"), rec.get("saliency_scores")
    if ids is None and scores is None:
        return None, ""
    if not isinstance(ids, list) or not isinstance(scores, list) or len(ids) != len(scores):
        return None, "relevant_clip_ids and saliency_scores must be lists of one length"
    duration = rec.get("duration")
    # moment_detr counts int(duration / 2) clips and indexes its score matrix with these ids
    n_clips = int(duration / CLIP_SECONDS) if isinstance(duration, (int, float)) and math.isfinite(duration) else 0
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n_clips for i in ids):
        return None, f"relevant_clip_ids must be integers in [0, {n_clips}) (the video's 2-second clips)"
    ok = all(isinstance(s, list) and len(s) == ANNOTATORS
             and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SCORE for v in s) for s in scores)
    if not ok:
        return None, f"saliency_scores must hold {ANNOTATORS} integer scores 0-{MAX_SCORE} per clip"
    return {"clip_seconds": CLIP_SECONDS, "clip_ids": ids, "scores": scores}, ""


def _check(rec: dict, *, end_tolerance: float) -> Verdict:
    """One record: every window is checked as a span is; the sample's span is the first window."""
    windows = rec.get("relevant_windows")
    if not isinstance(windows, list) or not windows:
        return Verdict(None, REJECT_MALFORMED, "relevant_windows must be a non-empty list (a test release has none)")
    saliency, why = _saliency(rec)
    if why:
        return Verdict(None, REJECT_MALFORMED, why)
    vid = text_of(rec.get("vid"))
    common = dict(source="qvhighlights", video=f"{vid}.mp4" if vid else "", query=rec.get("query"),
                  duration=rec.get("duration"), window=clip_window(vid), end_tolerance=end_tolerance)
    for w in windows[1:]:  # the extra windows meet the same rules as the span
        v = check_record(span=w, **common)
        if v.sample is None:
            return v
    return check_record(span=windows[0], source_id=text_of(rec.get("qid")) or None,
                        windows=[tuple(w) for w in windows], saliency=saliency, **common)


def read(path: Path, *, end_tolerance: float) -> Ingested:
    report = IngestReport()
    samples = []
    for lineno, rec in _lines(path):
        if not isinstance(rec, dict):
            report.add(Verdict(None, REJECT_MALFORMED, "line is not a JSON object"), f"line {lineno}")
            continue
        v = _check(rec, end_tolerance=end_tolerance)
        report.add(v, f"line {lineno} (qid {text_of(rec.get('qid'), '?')})")
        if v.sample is not None:
            samples.append(v.sample)
    stem = path.stem.lower()
    split = "val" if "val" in stem else "train" if "train" in stem else "test"
    # the files are the 150-second clips themselves: the window says where each was cut from
    return Ingested(samples, report, window_mode="pretrimmed", default_split=split, source_name="qvhighlights",
                    extra={"pretty_name": "QVHighlights", "convention": "moment-detr"})
