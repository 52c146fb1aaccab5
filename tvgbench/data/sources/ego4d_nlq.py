"""Ego4D Episodic Memory NLQ annotations (``nlq_train.json``, ``nlq_val.json``; v1 and v2 alike).

``{"videos": [{video_uid, clips: [{clip_uid, video_start_sec, video_end_sec, annotations: [{annotation_uid,
language_queries: [{query, template, clip_start_sec, clip_end_sec, video_start_sec, ...}]}]}]}]}``.
A query's ``clip_start_sec``/``clip_end_sec`` are relative to its clip, and the clip is a stretch
``[video_start_sec, video_end_sec]`` of the full video: so a record is the full video
``<video_uid>.mp4`` with the clip as its window (cropped when frames are sampled) and the span
relative to the window, the way TVGBench stores its Ego4D-NLQ items. Who holds the clip files instead
(the Ego4D CLI's ``clips`` dataset, ``<clip_uid>.mp4``) reads with ``videos="clips"``: each record is
then its clip's file, no window. ``clip_uid`` is kept in ``meta`` either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested, load_json, text_of

SOURCE = "egonlq"  # TVGBench's name for this source (its bins.dataset)
VIDEO_FILES = ("full", "clips")  # full videos <video_uid>.mp4 cropped to the clip, or the clip files <clip_uid>.mp4


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def clip_window(clip: dict) -> list | None:
    """The clip's stretch of the full video: ``video_start_sec``/``video_end_sec`` (some re-releases
    carry only the clip-level ``clip_start_sec``/``clip_end_sec``)."""
    for a, b in (("video_start_sec", "video_end_sec"), ("clip_start_sec", "clip_end_sec")):
        if clip.get(a) is not None and clip.get(b) is not None:
            return [clip[a], clip[b]]
    return None


def _clip_records(video_uid: str, clip: dict, report: IngestReport, end_tolerance: float, videos: str) -> list:
    clip_uid = text_of(clip.get("clip_uid"), "?")
    window = clip_window(clip)
    if window is None:
        report.add(Verdict(None, "malformed_record", "clip has no video_start_sec/video_end_sec"), f"clip {clip_uid}")
        return []
    start, end = (_seconds(w) for w in window)
    duration = end - start if start is not None and end is not None else None  # None: rejected as non-numeric
    video, window = (f"{video_uid}.mp4", window) if videos == "full" else (f"{clip_uid}.mp4", None)
    samples = []
    for ann in _list(clip.get("annotations")):
        ann_uid = text_of(ann.get("annotation_uid"), "?") if isinstance(ann, dict) else "?"
        queries = _list(ann.get("language_queries")) if isinstance(ann, dict) else []
        for j, q in enumerate(queries):
            where = f"{clip_uid}/{ann_uid}[{j}]"
            if not isinstance(q, dict):
                report.add(Verdict(None, "malformed_record", "language query is not an object"), where)
                continue
            if q.get("clip_start_sec") is None or q.get("clip_end_sec") is None:
                report.add(Verdict(None, "malformed_record", "no clip_start_sec/clip_end_sec (an unannotated "
                                                            "test file?)"), where)
                continue
            v = check_record(
                source=SOURCE, video=video, query=q.get("query"),
                span=[q["clip_start_sec"], q["clip_end_sec"]], duration=duration, window=window,
                end_tolerance=end_tolerance, source_id=f"{clip_uid}_{ann_uid}_{j}",
                meta={"clip_uid": clip_uid, "annotation_uid": ann_uid, "query_idx": j,
                      **({"template": q["template"]} if isinstance(q.get("template"), str) else {})},
            )
            report.add(v, where)
            if v.sample is not None:
                samples.append(v.sample)
    return samples


def read(path: Path, *, end_tolerance: float, videos: str = "full") -> Ingested:
    if videos not in VIDEO_FILES:
        raise Timer1Error(f"videos must be one of {', '.join(VIDEO_FILES)}, got {videos!r}")
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise Timer1Error(f"{path}: an Ego4D NLQ file is a JSON object with a 'videos' list")
    report = IngestReport()
    samples = []
    for i, video in enumerate(data["videos"]):
        uid = text_of(video.get("video_uid")) if isinstance(video, dict) else ""
        if not uid:
            report.add(Verdict(None, "malformed_record", "video entry has no video_uid"), f"video {i}")
            continue
        for clip in _list(video.get("clips")):
            if isinstance(clip, dict):
                samples += _clip_records(uid, clip, report, end_tolerance, videos)
            else:
                report.add(Verdict(None, "malformed_record", "clip is not an object"), f"video {uid}")
    stem = path.stem.lower()
    split = "train" if "train" in stem else "val" if "val" in stem else "test"
    return Ingested(samples, report, window_mode="crop", default_split=split, source_name=SOURCE,
                    extra={"pretty_name": "Ego4D-NLQ"})
